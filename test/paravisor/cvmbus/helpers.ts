// Test helpers for Confidential VMBus: boot a VM with the paravisor's VMBus, drive
// the paravisor's storage channel with a small VSC that maps its DMA as a 6.19
// guest must for the offer (encrypted external memory: the buffer itself, private;
// otherwise a bounce through the decrypted swiotlb), and look at pages the way the
// host does.
import assert from "node:assert/strict";
import type { Crossing } from "../../../src/audit/crossings.ts";
import { Label } from "../../../src/audit/labels.ts";
import { DmaDirection, swiotlbMapWait, swiotlbUnmap } from "../../../src/guest/mm/swiotlb.ts";
import type { VmbusChannel } from "../../../src/guest/vmbus/channel.ts";
import { vmbusOpen } from "../../../src/guest/vmbus/channel_open.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../../src/platform/page.ts";
import type { VmOptions } from "../../../src/vm/vm.ts";
import { Vm } from "../../../src/vm/vm.ts";
import { PacketFlag, PacketType } from "../../../src/vmbus/constants.ts";
import type { GpaRange } from "../../../src/vmbus/packet.ts";
import {
  decodeVstorPacket,
  encodeVstorPacket,
  isStorvscFault,
  newSrb,
  readSrb,
  StorvscRequestType,
  VmstorProtoVersion,
  VstorFlag,
  VstorOperation,
} from "../../../src/vmbus/storvsc-proto.ts";
import { config } from "../../helpers.ts";

export const CVMBUS = { isolation: "snp", mode: "paravisor", vmbus: "confidential" } as const;

export function bootCvm(c: Record<string, unknown> = {}, opts: VmOptions = {}): Vm {
  const vm = new Vm(config({ ...CVMBUS, ...c }), opts);
  const b = vm.boot();
  assert.equal(b.ok, true, b.crash);
  return vm;
}

/** Boot while recording every crossing (kind, from, to, what). */
export function bootRecording(
  c: Record<string, unknown> = {},
  opts: VmOptions = {},
): { vm: Vm; crossings: Crossing[] } {
  const vm = new Vm(config({ ...CVMBUS, ...c }), opts);
  const crossings: Crossing[] = [];
  vm.audit.boundary.subscribe((x) => crossings.push(x));
  const b = vm.boot();
  assert.equal(b.ok, true, b.crash);
  return { vm, crossings };
}

/** Crossings of a kind, by "from>to". */
export function tally(crossings: readonly Crossing[], kind: Crossing["kind"]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of crossings)
    if (x.kind === kind) out[`${x.from}>${x.to}`] = (out[`${x.from}>${x.to}`] ?? 0) + 1;
  return out;
}

/** The hardware state of the page holding `gpa` and whether the host's SLAT maps it. */
export function pageOf(vm: Vm, gpa: number): { state: number; hostVisible: boolean } {
  const f = vm.platform.memory.flags(Math.floor(vm.guest.hw.mem.canonical(gpa) / PAGE_SIZE));
  return { state: f & PageFlag.STATE_MASK, hostVisible: (f & PageFlag.HOST_VISIBLE) !== 0 };
}

export const isPrivate = (vm: Vm, gpa: number) => pageOf(vm, gpa).state === PageState.PRIVATE;

/** The guest's channel of a device by name. */
export function channelOf(vm: Vm, name: string): VmbusChannel {
  const d = vm.guest.vmbus?.devices.find((x) => x.name === name);
  assert.ok(d, `no ${name} device in the guest`);
  return d.channel;
}

/** The host reads `pages` through its own view; how many of the data's plaintext bytes (secret or exposed) it got. */
export function hostReads(vm: Vm, pfns: Iterable<number>): number {
  const a = vm.audit;
  const before = a.secretBytesLeaked + a.exposedBytesRead;
  const view = vm.platform.untrustedView("host");
  const buf = new Uint8Array(PAGE_SIZE);
  for (const pfn of pfns) view.read(pfn * PAGE_SIZE, PAGE_SIZE, buf);
  return a.secretBytesLeaked + a.exposedBytesRead - before;
}

/**
 * Whether the host, reading `pfns` through its own view, finds the data: how many of
 * its 512-byte blocks appear (by their first 32 bytes) in what it got in plaintext.
 */
export function hostFinds(vm: Vm, pfns: Iterable<number>, data: Uint8Array): number {
  const view = vm.platform.untrustedView("host");
  const seen = new Set<string>();
  const buf = new Uint8Array(PAGE_SIZE);
  for (const pfn of pfns) {
    if (view.outcome(pfn, false) !== "plaintext") continue;
    view.read(pfn * PAGE_SIZE, PAGE_SIZE, buf);
    for (let at = 0; at + 32 <= PAGE_SIZE; at += 512)
      seen.add(Buffer.from(buf.subarray(at, at + 32)).toString("hex"));
  }
  let found = 0;
  for (let at = 0; at + 32 <= data.length; at += 512)
    if (seen.has(Buffer.from(data.subarray(at, at + 32)).toString("hex"))) found++;
  return found;
}

/** Take the paravisor's SCSI channel from storvsc (which bound it at boot) for the test's own VSC. */
export function takeScsi(vm: Vm): VmbusChannel {
  const d = vm.guest.vmbus?.devices.find((x) => x.name === "scsi" && x.channel.coRingBuffer);
  assert.ok(d, "no paravisor SCSI channel");
  d.driver?.remove?.(d);
  d.driver = undefined;
  vm.scheduler.runUntilIdle();
  return d.channel;
}

const RING = 64 * 1024;

/**
 * A minimal storvsc: init, then one WRITE(10) or READ(10) at a time. Its DMA follows
 * the offer (6.19's co_external_memory): the private buffer's own pages when the
 * external memory is confidential, else a bounce through the decrypted swiotlb.
 */
export class TestVsc {
  readonly vm: Vm;
  readonly ch: VmbusChannel;
  readonly #done = new Map<number, Uint8Array>();
  #id = 1;
  /** Pages each request's data went through in the guest (its buffer or swiotlb slots). */
  readonly dataPfns = new Set<number>();

  constructor(vm: Vm, ch: VmbusChannel) {
    this.vm = vm;
    this.ch = ch;
  }

  open(): void {
    const rx = new Uint8Array(256);
    const ret = vmbusOpen(this.ch, {
      sendSize: RING,
      recvSize: RING,
      userData: new Uint8Array(24),
      callback: (ch) => {
        for (;;) {
          const n = ch.recvPacket(rx);
          if (n <= 0) return;
          this.#done.set(ch.requestIdLo, rx.slice(0, n));
        }
      },
    });
    assert.equal(ret, 0, "vmbus_open of the paravisor's storage channel");
    for (const op of [
      VstorOperation.VSTOR_OPERATION_BEGIN_INITIALIZATION,
      VstorOperation.VSTOR_OPERATION_QUERY_PROTOCOL_VERSION,
      VstorOperation.VSTOR_OPERATION_QUERY_PROPERTIES,
      VstorOperation.VSTOR_OPERATION_END_INITIALIZATION,
    ]) {
      const payload =
        op === VstorOperation.VSTOR_OPERATION_QUERY_PROTOCOL_VERSION
          ? { version: { majorMinor: VmstorProtoVersion.VMSTOR_PROTO_VERSION_WIN10, revision: 0 } }
          : {};
      const r = this.#request(
        encodeVstorPacket({ operation: op, flags: VstorFlag.REQUEST_COMPLETION_FLAG }, payload),
      );
      assert.equal(r.status, 0, `init step ${op}`);
    }
  }

  #request(pkt: Uint8Array, ranges?: GpaRange[]): { status: number; srbStatus: number } {
    const id = this.#id++;
    const ret = ranges
      ? this.ch.sendGpaDirect(ranges, pkt, 0, pkt.length, id)
      : this.ch.sendPacket(
          pkt,
          0,
          pkt.length,
          id,
          PacketType.VM_PKT_DATA_INBAND,
          PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED,
        );
    assert.equal(ret, 0, "send");
    assert.ok(
      this.vm.guest.hw.waitFor(() => this.#done.has(id), "storage completion"),
      "completion",
    );
    const p = decodeVstorPacket(this.#done.get(id)!);
    this.#done.delete(id);
    if (isStorvscFault(p)) throw new Error(p.detail);
    return { status: p.status, srbStatus: readSrb(p).srbStatus };
  }

  /** The guest's DMA mapping of [gpa, gpa + len) for this channel: the ranges, and how to undo it. */
  #map(gpa: number, len: number, dir: DmaDirection): { ranges: GpaRange[]; unmap: () => void } {
    const k = this.vm.guest;
    let dma = k.hw.mem.translate(gpa);
    let unmap = () => {};
    if (!this.ch.coExternalMemory) {
      const r = swiotlbMapWait(k, k.swiotlb!, gpa, len, dir, {
        minAlignMask: PAGE_SIZE - 1,
        label: dir === DmaDirection.DMA_TO_DEVICE ? Label.EXPOSED : Label.PUBLIC,
      });
      assert.ok(r.ok);
      dma = r.dmaAddr;
      unmap = () => swiotlbUnmap(k, k.swiotlb!, r.tlbAddr, len, dir);
    }
    const first = Math.floor(dma / PAGE_SIZE);
    const pfns = Array.from(
      { length: Math.ceil(((dma % PAGE_SIZE) + len) / PAGE_SIZE) },
      (_, i) => first + i,
    );
    for (const p of pfns) this.dataPfns.add(Math.floor(k.hw.mem.canonical(p * PAGE_SIZE) / PAGE_SIZE));
    return { ranges: [{ byteCount: len, byteOffset: dma % PAGE_SIZE, pfns }], unmap };
  }

  #srb(write: boolean, lba: number, len: number): Uint8Array {
    const s = newSrb();
    const blocks = len / 512;
    s.cdb.set([
      write ? 0x2a : 0x28,
      0,
      lba >>> 24,
      (lba >>> 16) & 0xff,
      (lba >>> 8) & 0xff,
      lba & 0xff,
      0,
      blocks >>> 8,
      blocks & 0xff,
      0,
    ]);
    s.cdbLength = 10;
    s.dataIn = write ? StorvscRequestType.WRITE_TYPE : StorvscRequestType.READ_TYPE;
    s.dataTransferLength = len;
    s.srbFlags = write ? 0x80 : 0x40;
    return encodeVstorPacket(
      { operation: VstorOperation.VSTOR_OPERATION_EXECUTE_SRB, flags: VstorFlag.REQUEST_COMPLETION_FLAG },
      { srb: s },
    );
  }

  /** WRITE(10) of the guest's buffer at `gpa` (len bytes) at block `lba`; the SRB status. */
  write(lba: number, gpa: number, len: number): number {
    const m = this.#map(gpa, len, DmaDirection.DMA_TO_DEVICE);
    const r = this.#request(this.#srb(true, lba, len), m.ranges);
    m.unmap();
    return r.srbStatus;
  }

  /** READ(10) into the guest's buffer at `gpa`. */
  read(lba: number, gpa: number, len: number): number {
    const m = this.#map(gpa, len, DmaDirection.DMA_FROM_DEVICE);
    const r = this.#request(this.#srb(false, lba, len), m.ranges);
    m.unmap();
    return r.srbStatus;
  }
}

/** A private buffer of `pages` pages holding `data` (SECRET: the guest's own). */
export function secretBuffer(vm: Vm, data: Uint8Array): number {
  const pfn = vm.guest.alloc.alloc(Math.ceil(data.length / PAGE_SIZE));
  assert.ok(pfn !== undefined);
  vm.guest.hw.mem.write(pfn * PAGE_SIZE, data, Label.SECRET);
  return pfn * PAGE_SIZE;
}

/** The guest's secret data for a test: `len` bytes from the VM's generator. */
export function secretData(vm: Vm, len: number): Uint8Array {
  return vm.prng.fork().fill(new Uint8Array(len));
}
