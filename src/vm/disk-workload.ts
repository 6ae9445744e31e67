// The guest's disk workload for `hvcoco run` and bench/io.ts: write a pattern to
// the synthetic SCSI disk in fixed-size writes (64 KiB by default, up to 8 in
// flight as blk-mq sends a large sequential write), SYNCHRONIZE CACHE, read it all
// back and compare. What it costs is measured on the way:
// throughput of the simulated I/O (wall clock of this process), and per MiB moved
// the bytes bounced through swiotlb, payload copies, hypercalls, interrupts and
// the bytes the host could read in plaintext (from the auditor).
import { Label } from "../audit/labels.ts";
import { scsiHostOf } from "../guest/drivers/storvsc.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import type { Vm } from "./vm.ts";

export interface DiskWorkloadOptions {
  /** Bytes written and then read (default 1 MiB). */
  bytes?: number;
  /** Bytes per command (default 64 KiB). */
  chunk?: number;
  /** First block (default 0). */
  lba?: number;
  /** Called once SYNCHRONIZE CACHE completed (the kill test acknowledges here). */
  onFlushed?: () => void;
  /** Skip the read-back (a bench can time writes alone). */
  writeOnly?: boolean;
  /** Commands in flight at once (default: the SCSI host's, 8). */
  queueDepth?: number;
}

/** Per MiB of payload moved (written plus read). */
export interface IoCostPerMiB {
  /** Bytes swiotlb copied into or out of its pool. */
  bounced: number;
  /** Copies of payload: the guest's bounces and the VSP's moves through its view of guest memory. */
  copies: number;
  /** Hypercalls the guest made (straight to the hypervisor, or through the paravisor). */
  hypercalls: number;
  /** Interrupts delivered to the guest's local APICs. */
  interrupts: number;
  /** Bytes the host read in plaintext (exposed payload, protocol fields, and any secret). */
  hostReadable: number;
}

export interface DiskWorkloadResult {
  ok: boolean;
  /** Why it failed, when it did. */
  reason?: string;
  /** Payload moved: written plus read. */
  bytes: number;
  /** MB/s (10^6) of payload moved, over the wall-clock time of the I/O. */
  mbPerSec: number;
  seconds: number;
  flushed: boolean;
  verified: boolean;
  perMiB: IoCostPerMiB;
  /** Of the bytes the host read in plaintext, how many were SECRET (must be 0 in a CoCo VM). */
  secretBytesRead: number;
}

/** The pattern block `lba` carries: every byte depends on its block and position. */
export function diskPattern(dst: Uint8Array, lba: number, blockSize: number): void {
  for (let i = 0; i < dst.length; i++) {
    const b = lba + Math.floor(i / blockSize);
    dst[i] = (b * 31 + (i % blockSize) * 7 + (b >>> 8)) & 0xff;
  }
}

interface Counters {
  bounced: number;
  copies: number;
  hypercalls: number;
  interrupts: number;
  plain: number;
  secret: number;
}

/** Payload moves of the storage VSPs through their memory views: the host's, and a paravisor's (C24). */
export function vspCopies(vm: Vm): number {
  return vm.host.storvsp.stats.copies + (vm.paravisor?.storage?.vsp.stats.copies ?? 0);
}

function counters(vm: Vm): Counters {
  const pool = vm.guest.swiotlb?.stats;
  const a = vm.audit;
  return {
    bounced: (pool?.bytesToDevice ?? 0) + (pool?.bytesFromDevice ?? 0),
    copies: (pool?.copies ?? 0) + vspCopies(vm),
    hypercalls: vm.hypervisor.byCaller.guest + (vm.paravisor?.served ?? 0),
    interrupts: vm.apics.reduce((n, x) => n + x.delivered, 0),
    plain: a.exposedBytesRead + a.publicBytesRead + a.secretBytesLeaked,
    secret: a.secretBytesLeaked,
  };
}

function fail(reason: string, bytes = 0): DiskWorkloadResult {
  return {
    ok: false,
    reason,
    bytes,
    mbPerSec: 0,
    seconds: 0,
    flushed: false,
    verified: false,
    perMiB: { bounced: 0, copies: 0, hypercalls: 0, interrupts: 0, hostReadable: 0 },
    secretBytesRead: 0,
  };
}

/** Run the workload in a booted VM. Never throws for an I/O failure: the result says why. */
export function runDiskWorkload(vm: Vm, o: DiskWorkloadOptions = {}): DiskWorkloadResult {
  const k = vm.guest;
  const host = scsiHostOf(k);
  const disk = host?.disks[0];
  if (!host || !disk) return fail("no SCSI disk found by the guest");
  const chunk = o.chunk ?? 64 * 1024;
  const total = o.bytes ?? 1024 * 1024;
  const bs = disk.blockSize;
  if (chunk % bs !== 0 || total % chunk !== 0 || chunk % PAGE_SIZE !== 0)
    return fail(`chunk ${chunk} / total ${total} not whole blocks and pages`);
  const lba0 = o.lba ?? 0;
  if (lba0 + total / bs > disk.blocks) return fail(`${total} bytes at block ${lba0} exceed the disk`);
  // The guest's buffers: private pages of its own, as large as the transfer.
  const pages = total / PAGE_SIZE;
  const wpfn = k.alloc.alloc(pages);
  const rpfn = k.alloc.alloc(pages);
  if (wpfn === undefined || rpfn === undefined) return fail("no guest memory for the I/O buffers");
  const wgpa = wpfn * PAGE_SIZE;
  const rgpa = rpfn * PAGE_SIZE;
  const pattern = new Uint8Array(chunk);
  const back = new Uint8Array(chunk);
  const blocks = total / bs;
  const n = total / chunk;
  // The guest's data, in its private memory.
  for (let i = 0; i < n; i++) {
    diskPattern(pattern, lba0 + (i * chunk) / bs, bs);
    k.hw.mem.write(wgpa + i * chunk, pattern, Label.SECRET);
  }
  const depth0 = host.queueDepth;
  if (o.queueDepth !== undefined) host.queueDepth = o.queueDepth;
  const before = counters(vm);
  let moved = 0;
  const t0 = process.hrtime.bigint();
  const w = host.write(disk, lba0, blocks, wgpa, chunk);
  let ioNs = process.hrtime.bigint() - t0;
  const release = () => {
    host.queueDepth = depth0;
    k.alloc.free(wpfn, pages);
    k.alloc.free(rpfn, pages);
  };
  if (!w.ok) {
    release();
    return fail(`write at block ${lba0}: ${w.reason}`, moved);
  }
  moved += total;
  const t1 = process.hrtime.bigint();
  const sy = host.sync(disk);
  ioNs += process.hrtime.bigint() - t1;
  if (!sy.ok) {
    release();
    return fail(`SYNCHRONIZE CACHE: ${sy.reason}`, moved);
  }
  o.onFlushed?.();
  let verified = true;
  if (!o.writeOnly) {
    const t2 = process.hrtime.bigint();
    const r = host.read(disk, lba0, blocks, rgpa, chunk);
    ioNs += process.hrtime.bigint() - t2;
    if (!r.ok) {
      release();
      return fail(`read at block ${lba0}: ${r.reason}`, moved);
    }
    moved += total;
    for (let i = 0; i < n && verified; i++) {
      diskPattern(pattern, lba0 + (i * chunk) / bs, bs);
      k.hw.mem.read(rgpa + i * chunk, chunk, back);
      for (let j = 0; j < chunk; j++)
        if (back[j] !== pattern[j]) {
          verified = false;
          break;
        }
    }
  }
  release();
  const after = counters(vm);
  const mib = moved / (1024 * 1024);
  const per = (x: number) => +(x / mib).toFixed(2);
  const seconds = Number(ioNs) / 1e9;
  return {
    ok: verified,
    ...(verified ? {} : { reason: "the data read back differs from what was written" }),
    bytes: moved,
    mbPerSec: seconds > 0 ? +(moved / 1e6 / seconds).toFixed(1) : 0,
    seconds,
    flushed: true,
    verified,
    perMiB: {
      bounced: per(after.bounced - before.bounced),
      copies: per(after.copies - before.copies),
      hypercalls: per(after.hypercalls - before.hypercalls),
      interrupts: per(after.interrupts - before.interrupts),
      hostReadable: per(after.plain - before.plain),
    },
    secretBytesRead: after.secret - before.secret,
  };
}
