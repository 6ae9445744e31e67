// Network benchmark: 1500-byte Ethernet frames end to end — the guest sends a UDP
// datagram through netvsc (copied into a send section of the decrypted send
// buffer), the host's netvsp reads it, its responder echoes it, the reply comes
// back through the receive buffer and is copied out and checked — in a booted VM,
// against a plain memcpy (Uint8Array.set) of the same bytes measured in the same run.
//
//   node --import tsx bench/net.ts [--json]
//
// Reported per configuration: frames/s (both directions), MB/s of frame bytes, the
// ratio to memcpy, and copies, bytes bounced and hypercalls per MiB of frames.

import { GuestNetStack } from "../src/guest/net/stack.ts";
import { NET_DEFAULTS } from "../src/host/vsp/netvsp.ts";
import { parseConfig } from "../src/vm/config.ts";
import { guestNic } from "../src/vm/network.ts";
import { Vm } from "../src/vm/vm.ts";
import { benchFlags } from "./args.ts";

const FRAME = 1500;
const PAYLOAD = FRAME - 14 - 20 - 8;
const ROUNDS = 7;
const ROUND_NS = 150_000_000n;
const CONFIGS = [
  { isolation: "none" },
  { isolation: "snp", mode: "paravisor" },
  { isolation: "tdx", mode: "enlightened" },
];

interface Result {
  config: string;
  framesPerSec: number;
  mbPerSec: number;
  memcpyMbPerSec: number;
  ratioToMemcpy: number;
  copiesPerMiB: number;
  bytesBouncedPerMiB: number;
  hypercallsPerMiB: number;
}

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

/** Frames per second through one VM (each echo is two frames of FRAME bytes). */
function benchVm(c: Record<string, unknown>): Omit<Result, "memcpyMbPerSec" | "ratioToMemcpy"> {
  const r = parseConfig({ memory: "256M", ...c });
  if (!r.ok) throw new Error(r.error.message);
  const vm = new Vm(r.config);
  if (!vm.boot().ok) throw new Error(`${r.config.name} did not boot`);
  const nd = guestNic(vm);
  if (!nd) throw new Error(`${r.config.name}: no NIC`);
  const stack = new GuestNetStack(nd, NET_DEFAULTS.guestIp);
  const data = Uint8Array.from({ length: PAYLOAD }, (_, i) => (i * 7) & 0xff);
  const batch = (): number => {
    for (let i = 0; i < 16; i++)
      if (!stack.udpEcho(NET_DEFAULTS.hostIp, NET_DEFAULTS.udpEchoPort, data)) throw new Error("echo lost");
    return 32;
  };
  timed(batch);
  const pool = vm.guest.swiotlb;
  const c0 = nd.stats.copies + (pool?.stats.copies ?? 0);
  const b0 = (pool?.stats.bytesToDevice ?? 0) + (pool?.stats.bytesFromDevice ?? 0);
  const h0 = vm.audit.boundary.counts.hypercall;
  const bytes0 = nd.stats.txBytes + nd.stats.rxBytes;
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(timed(batch));
  const mib = (nd.stats.txBytes + nd.stats.rxBytes - bytes0) / (1024 * 1024);
  const fps = median(rates);
  return {
    config: r.config.name,
    framesPerSec: Math.round(fps),
    mbPerSec: +((fps * FRAME) / 1e6).toFixed(2),
    copiesPerMiB: Math.round((nd.stats.copies + (pool?.stats.copies ?? 0) - c0) / mib),
    bytesBouncedPerMiB: Math.round(
      ((pool?.stats.bytesToDevice ?? 0) + (pool?.stats.bytesFromDevice ?? 0) - b0) / mib,
    ),
    hypercallsPerMiB: Math.round((vm.audit.boundary.counts.hypercall - h0) / mib),
  };
}

/** The baseline: frames of the same size copied with Uint8Array.set, per second. */
function benchMemcpy(): number {
  const src = Uint8Array.from({ length: FRAME }, (_, i) => (i * 7) & 0xff);
  const dst = new Uint8Array(256 * 1024);
  let at = 0;
  const body = (): number => {
    for (let i = 0; i < 64; i++) {
      dst.set(src, at);
      at += FRAME;
      if (at + FRAME > dst.length) at = 0;
    }
    return 64;
  };
  timed(body);
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(timed(body));
  return median(rates);
}

function main(): void {
  const { json } = benchFlags("net.ts", {});
  const copyFps = benchMemcpy();
  const memcpyMbPerSec = +((copyFps * FRAME) / 1e6).toFixed(1);
  const results: Result[] = CONFIGS.map((c) => {
    const r = benchVm(c);
    return { ...r, memcpyMbPerSec, ratioToMemcpy: +(r.framesPerSec / copyFps).toFixed(5) };
  });
  if (json) {
    console.log(JSON.stringify({ bench: "net", frameBytes: FRAME, node: process.version, results }, null, 2));
    return;
  }
  console.log(`network: ${FRAME}-byte frames, UDP echo through netvsc and netvsp, node ${process.version}`);
  console.log(
    "configuration      frames/s     MB/s  memcpy MB/s  ratio     copies/MiB  bounced/MiB  hypercalls/MiB",
  );
  for (const x of results)
    console.log(
      `${x.config.padEnd(16)} ${String(x.framesPerSec).padStart(10)} ${x.mbPerSec.toFixed(2).padStart(8)} ${x.memcpyMbPerSec.toFixed(1).padStart(12)}  ${x.ratioToMemcpy.toFixed(5)}  ${String(x.copiesPerMiB).padStart(10)}  ${String(x.bytesBouncedPerMiB).padStart(11)}  ${String(x.hypercallsPerMiB).padStart(14)}`,
    );
}

main();
