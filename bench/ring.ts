// Ring-buffer path benchmark: packets through the guest's writer (descriptor,
// payload, zero padding, trailer) and the guest's hardened reader (copy into the
// private buffer before validation), on a 256 KiB ring, against a plain memcpy
// (Uint8Array.set) of the same payload bytes measured in the same run.
//
//   node --import tsx bench/ring.ts [--json]
//
// Goals (one core): 64 B >= 2 M packets/s; 16 KiB >= 0.2x memcpy of the payload.
import { Label } from "../src/audit/labels.ts";
import { GuestRingReader } from "../src/guest/vmbus/reader.ts";
import { GuestRingWriter } from "../src/guest/vmbus/writer.ts";
import { isFault } from "../src/vmbus/errors.ts";
import { ArrayRingMemory, initRing } from "../src/vmbus/ring.ts";
import { benchFlags } from "./args.ts";

const RING_DATA_BYTES = 256 * 1024;
const SIZES = [64, 1024, 16384] as const;
const ROUNDS = 7;
const ROUND_NS = 150_000_000n;

interface Result {
  payload: number;
  packetsPerSec: number;
  mbPerSec: number;
  memcpyMbPerSec: number;
  ratioToMemcpy: number;
}

/** Run `body` (which returns how many packets it moved) for about ROUND_NS; packets per second. */
function timed(body: () => number): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  let t = t0;
  while (t - t0 < ROUND_NS) {
    n += body();
    t = process.hrtime.bigint();
  }
  return (n * 1e9) / Number(t - t0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function benchRing(size: number): number {
  const mem = new ArrayRingMemory(4096 + RING_DATA_BYTES);
  initRing(mem);
  const w = new GuestRingWriter(mem);
  const r = new GuestRingReader(mem, { maxPacketSize: 32 * 1024 });
  const payload = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
  let id = 0;
  // One batch: fill the ring, then drain it and publish read_index once.
  const batch = (): number => {
    let sent = 0;
    for (;;) {
      const out = w.sendInband(6, 1, ++id, payload, 0, size, Label.EXPOSED);
      if (out === "full") break;
      if (isFault(out)) throw new Error(out.code);
      sent++;
    }
    let got = 0;
    for (;;) {
      const n = r.next();
      if (n === 0) break;
      if (typeof n !== "number") throw new Error(n.code);
      got++;
    }
    r.commit();
    if (got !== sent) throw new Error(`sent ${sent}, read ${got}`);
    return got;
  };
  timed(batch); // warm-up
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(timed(batch));
  return median(rates);
}

/** The baseline: one Uint8Array.set of the payload per packet, into a region as large as the ring. */
function benchMemcpy(size: number): number {
  const src = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
  const dst = new Uint8Array(RING_DATA_BYTES);
  const per = Math.max(1, Math.floor(RING_DATA_BYTES / (size + 24)));
  let at = 0;
  const body = (): number => {
    for (let i = 0; i < per; i++) {
      dst.set(src, at);
      at += size;
      if (at + size > dst.length) at = 0;
    }
    return per;
  };
  timed(body);
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(timed(body));
  return median(rates);
}

function main(): void {
  const { json } = benchFlags("ring.ts", {});
  const results: Result[] = [];
  for (const size of SIZES) {
    const pps = benchRing(size);
    const copyPps = benchMemcpy(size);
    results.push({
      payload: size,
      packetsPerSec: Math.round(pps),
      mbPerSec: +((pps * size) / 1e6).toFixed(1),
      memcpyMbPerSec: +((copyPps * size) / 1e6).toFixed(1),
      ratioToMemcpy: +(pps / copyPps).toFixed(3),
    });
  }
  const goals = {
    "64B >= 2M packets/s": (results[0]?.packetsPerSec ?? 0) >= 2e6,
    "16KiB >= 0.2x memcpy": (results[2]?.ratioToMemcpy ?? 0) >= 0.2,
  };
  if (json) {
    console.log(
      JSON.stringify(
        { bench: "ring", ringDataBytes: RING_DATA_BYTES, node: process.version, results, goals },
        null,
        2,
      ),
    );
    return;
  }
  console.log(
    `ring path: guest writer + hardened reader, ${RING_DATA_BYTES / 1024} KiB ring, node ${process.version}`,
  );
  console.log("payload     packets/s        MB/s   memcpy MB/s   ratio");
  for (const x of results) {
    console.log(
      `${String(x.payload).padStart(7)}  ${x.packetsPerSec.toLocaleString("en-US").padStart(12)}  ${x.mbPerSec
        .toFixed(1)
        .padStart(
          10,
        )}  ${x.memcpyMbPerSec.toFixed(1).padStart(12)}  ${x.ratioToMemcpy.toFixed(3).padStart(6)}`,
    );
  }
  for (const [k, ok] of Object.entries(goals)) console.log(`${ok ? "met " : "MISS"}  ${k}`);
}

main();
