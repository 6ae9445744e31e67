// Shared set-up for the storvsc tests: a VM whose storvsp reaches guest memory
// through a recording wrapper of the host's view (so a test can say which GPAs the
// host was handed), and the guest's buffers.
import assert from "node:assert/strict";
import { Label } from "../../../src/audit/labels.ts";
import type { ScsiDisk, ScsiHost } from "../../../src/guest/drivers/storvsc/sd.ts";
import { scsiHostOf } from "../../../src/guest/drivers/storvsc.ts";
import type { Disk } from "../../../src/host/backends/disk.ts";
import { MemoryDisk } from "../../../src/host/backends/memory-disk.ts";
import { StorVsp, type StorVspOptions } from "../../../src/host/vsp/storvsp.ts";
import type { DmaMemory } from "../../../src/host/vsp/storvsp-dma.ts";
import { PAGE_SIZE } from "../../../src/platform/page.ts";
import { Vm } from "../../../src/vm/vm.ts";
import { config } from "../../helpers.ts";

/** The host's view, recording every GPA the VSP touched. */
export class RecordingMemory implements DmaMemory {
  inner: DmaMemory | undefined;
  readonly reads: { gpa: number; len: number }[] = [];
  readonly writes: { gpa: number; len: number }[] = [];
  read(gpa: number, len: number, dst: Uint8Array, dstOff: number): unknown {
    this.reads.push({ gpa, len });
    return this.inner!.read(gpa, len, dst, dstOff);
  }
  write(gpa: number, src: Uint8Array): unknown {
    this.writes.push({ gpa, len: src.length });
    return this.inner!.write(gpa, src);
  }
}

export interface StorageVm {
  vm: Vm;
  vsp: StorVsp;
  mem: RecordingMemory;
  disk: Disk;
}

/** A VM with a recording storvsp over `disk` (default: an 8 MiB memory disk), booted. */
export function storageVm(
  c: Record<string, unknown>,
  o: Partial<Omit<StorVspOptions, "memory">> & { disk?: Disk } = {},
): StorageVm {
  const mem = new RecordingMemory();
  const disk = o.disk ?? new MemoryDisk({ bytes: 8 * 1024 * 1024, serial: "test-disk-1" });
  const vsp = new StorVsp({ ...o, memory: mem, disk });
  const vm = new Vm(config(c), { host: { vsps: { scsi: vsp } } });
  mem.inner = vm.host.memory;
  const boot = vm.boot();
  assert.ok(boot.ok, boot.crash);
  return { vm, vsp, mem, disk };
}

export function scsi(vm: Vm): { host: ScsiHost; disk: ScsiDisk } {
  const host = scsiHostOf(vm.guest);
  assert.ok(host, "storvsc bound and scanned");
  const disk = host.disks[0];
  assert.ok(disk, `a disk was found (scan: ${host.scanLog.join("; ")})`);
  return { host, disk };
}

/** A private guest buffer of `bytes`, filled with `fill` labelled SECRET when given. */
export function guestBuffer(vm: Vm, bytes: number, fill?: Uint8Array): number {
  const pfn = vm.guest.alloc.alloc(Math.ceil(bytes / PAGE_SIZE));
  assert.ok(pfn !== undefined);
  const gpa = pfn * PAGE_SIZE;
  if (fill) vm.guest.hw.mem.write(gpa, fill, Label.SECRET);
  return gpa;
}

export function pattern(len: number, seed: number): Uint8Array {
  return new Uint8Array(len).map((_, i) => (i * 29 + seed * 7 + (i >> 9)) & 0xff);
}
