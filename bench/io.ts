// Storage and network I/O end to end, against a plain memcpy (Uint8Array.set) of
// the same bytes measured in the same run.
//
//   node --import tsx bench/io.ts [--json]
//
// Storage: 64 KiB sequential writes then reads of the same blocks (8 commands in
// flight, as sd sends a large sequential transfer, and 1 at a time), from a booted
// guest's storvsc through the ring, the host's storvsp and an in-memory disk, in a
// normal VM (DMA straight to the guest's buffers) and in each CoCo configuration
// (bounced through decrypted swiotlb memory, C21). Reported: MB/s of payload moved
// (written plus read), the ratio to memcpy of the same bytes in 64 KiB copies over
// an equally large region, and per MiB moved: copies, bytes bounced, hypercalls.
// Goal (one core): disk write + read >= 0.1x memcpy in every configuration.
//
// Network: packets/s of 1500-byte frames — the section at the end of main() is the
// network engineer's to fill (bench/net.ts may hold the code).

import { Label } from "../src/audit/labels.ts";
import { scsiHostOf } from "../src/guest/drivers/storvsc.ts";
import { PAGE_SIZE } from "../src/platform/page.ts";
import { parseConfig, STANDARD_CONFIGS } from "../src/vm/config.ts";
import { vspCopies } from "../src/vm/disk-workload.ts";
import { Vm } from "../src/vm/vm.ts";
import { benchFlags } from "./args.ts";

const CHUNK = 64 * 1024;
/** The region written and read round after round (and the memcpy's source and destination size). */
const REGION = 16 * 1024 * 1024;
const ROUNDS = 5;
const ROUND_NS = 150_000_000n;
const GOAL = 0.1;
/** Commands in flight: as sd sends a large sequential transfer (the goal's), and one at a time. */
const DEPTHS = [8, 1] as const;

interface StorageResult {
  config: string;
  /** 64 KiB commands in flight at once. */
  depth: number;
  mbPerSec: number;
  memcpyMbPerSec: number;
  ratioToMemcpy: number;
  perMiB: { copies: number; bounced: number; hypercalls: number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Run `body` (returns bytes moved) for about ROUND_NS; bytes per second. */
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

/** The baseline: one Uint8Array.set per 64 KiB, walking a REGION-sized source into a REGION-sized destination. */
function benchMemcpy(): number {
  const src = new Uint8Array(REGION).map((_, i) => (i * 7) & 0xff);
  const dst = new Uint8Array(REGION);
  let at = 0;
  const body = (): number => {
    for (let i = 0; i < 16; i++) {
      dst.set(src.subarray(at, at + CHUNK), at);
      at = (at + CHUNK) % REGION;
    }
    return 16 * CHUNK;
  };
  timed(body);
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(timed(body));
  return median(rates);
}

function benchStorage(input: Record<string, unknown>, memcpy: number, depth: number): StorageResult {
  const r = parseConfig({ memory: "512M", ...input });
  if (!r.ok) throw new Error(r.error.message);
  const vm = new Vm(r.config);
  const boot = vm.boot();
  if (!boot.ok) throw new Error(`${r.config.name}: boot failed: ${boot.crash}`);
  const k = vm.guest;
  const host = scsiHostOf(k);
  const disk = host?.disks[0];
  if (!host || !disk) throw new Error(`${r.config.name}: no disk`);
  host.queueDepth = depth;
  // One step moves STEP bytes each way: `depth` 64 KiB commands in flight at a time.
  const STEP = 8 * CHUNK;
  const pfn = k.alloc.alloc(2 * (STEP / PAGE_SIZE));
  if (pfn === undefined) throw new Error("no guest memory");
  const wgpa = pfn * PAGE_SIZE;
  const rgpa = wgpa + STEP;
  k.hw.mem.write(
    wgpa,
    new Uint8Array(STEP).map((_, i) => (i * 13) & 0xff),
    Label.SECRET,
  );
  const blocks = STEP / disk.blockSize;
  const span = REGION / disk.blockSize;
  let lba = 0;
  const body = (): number => {
    const w = host.write(disk, lba, blocks, wgpa, CHUNK);
    const rd = host.read(disk, lba, blocks, rgpa, CHUNK);
    if (!w.ok || !rd.ok) throw new Error(`I/O failed: ${w.ok ? "" : w.reason} ${rd.ok ? "" : rd.reason}`);
    lba = (lba + blocks) % span;
    return 2 * STEP;
  };
  timed(body);
  const pool = k.swiotlb?.stats;
  const copies = () => (pool?.copies ?? 0) + vspCopies(vm);
  const bounced = () => (pool?.bytesToDevice ?? 0) + (pool?.bytesFromDevice ?? 0);
  const hypercalls = () => vm.hypervisor.byCaller.guest + (vm.paravisor?.served ?? 0);
  const moved = () => host.dev.stats.bytesRead + host.dev.stats.bytesWritten;
  const before = { copies: copies(), bounced: bounced(), hypercalls: hypercalls(), bytes: moved() };
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(timed(body));
  const mib = (moved() - before.bytes) / (1024 * 1024);
  const per = (x: number) => +(x / mib).toFixed(2);
  const rate = median(rates);
  return {
    config: r.config.name,
    depth,
    mbPerSec: +(rate / 1e6).toFixed(1),
    memcpyMbPerSec: +(memcpy / 1e6).toFixed(1),
    ratioToMemcpy: +(rate / memcpy).toFixed(3),
    perMiB: {
      copies: per(copies() - before.copies),
      bounced: per(bounced() - before.bounced),
      hypercalls: per(hypercalls() - before.hypercalls),
    },
  };
}

function main(): void {
  const { json } = benchFlags("io.ts", {});
  const memcpy = benchMemcpy();
  const storage = STANDARD_CONFIGS.flatMap((c) => DEPTHS.map((d) => benchStorage(c, memcpy, d)));
  const goals = {
    [`disk 64KiB write+read >= ${GOAL}x memcpy (every configuration, ${DEPTHS[0]} in flight)`]: storage
      .filter((s) => s.depth === DEPTHS[0])
      .every((s) => s.ratioToMemcpy >= GOAL),
  };
  // ---- network (packets/s of 1500-byte frames): filled in by the network side ----

  if (json) {
    console.log(
      JSON.stringify(
        { bench: "io", chunk: CHUNK, region: REGION, node: process.version, storage, goals },
        null,
        2,
      ),
    );
    return;
  }
  console.log(`storage: 64 KiB sequential write + read of the same blocks, node ${process.version}`);
  console.log(
    "configuration                 qd      MB/s   memcpy MB/s   ratio   copies/MiB   bounced/MiB   hypercalls/MiB",
  );
  for (const s of storage)
    console.log(
      `${s.config.padEnd(28)} ${String(s.depth).padStart(3)} ${s.mbPerSec.toFixed(1).padStart(9)} ${s.memcpyMbPerSec.toFixed(1).padStart(13)} ${s.ratioToMemcpy
        .toFixed(3)
        .padStart(
          7,
        )} ${s.perMiB.copies.toFixed(1).padStart(12)} ${String(s.perMiB.bounced).padStart(13)} ${s.perMiB.hypercalls
        .toFixed(1)
        .padStart(16)}`,
    );
  for (const [k, ok] of Object.entries(goals)) console.log(`${ok ? "met " : "MISS"}  ${k}`);
}

main();
