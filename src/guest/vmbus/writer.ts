// The guest's ring writer: what it puts in shared memory holds only the intended
// bytes; padding and unused (reserved) fields are zero (coco.rst, C18).
//
// The guest builds a packet's header in a private staging buffer that it reuses
// from packet to packet, as a driver reuses a request struct. With `zeroPadding`
// (the default) the header is zeroed before its fields are set, and the padding
// after the payload is written as zeros labelled PUBLIC, as the kernel's writer
// does with its zero kvec. With `zeroPadding: false` (the negative control) the
// whole packet is assembled in the staging buffer without clearing it, so reserved
// fields and padding carry whatever the buffer held before, with its labels: the
// buffer starts out as recycled private memory, SECRET.
import { Label } from "../../audit/labels.ts";
import { trackWrites, type WriteRange } from "../../util/snapshot-hints.ts";
import { PacketType, VmbusSize } from "../../vmbus/constants.ts";
import type { VmbusFault } from "../../vmbus/errors.ts";
import { GPA_RANGE, VMDATA_GPA_DIRECT } from "../../vmbus/layout.ts";
import { type GpaRange, gpaDirectHeaderSize, gpaRangePageCount } from "../../vmbus/packet.ts";
import {
  DESC_SIZE,
  encodeDescriptorFast,
  type RingMemory,
  RingWriter,
  type WriteOutcome,
} from "../../vmbus/ring.ts";

export interface GuestWriterOptions {
  /** The C18 hardening; false only for negative controls. Default true. */
  zeroPadding?: boolean;
  /** Bytes of the private staging buffer (the largest packet when zeroPadding is off). */
  stagingSize?: number;
}

export class GuestRingWriter {
  readonly ring: RingWriter;
  readonly zeroPadding: boolean;
  /** Private staging buffer, reused for every packet. */
  readonly staging: Uint8Array;
  /** Labels of the staging bytes (what a leak of them would reveal). */
  readonly stagingLabels: Uint8Array;
  readonly #sv: DataView;
  /** What the writer changed of staging and its labels (for snapshots: util/snapshot-hints.ts). */
  readonly #stagingWrites: WriteRange;
  readonly #labelWrites: WriteRange;

  constructor(mem: RingMemory, opts: GuestWriterOptions = {}) {
    this.ring = new RingWriter(mem);
    this.zeroPadding = opts.zeroPadding ?? true;
    const size = opts.stagingSize ?? VmbusSize.VMBUS_DEFAULT_MAX_PKT_SIZE;
    this.staging = new Uint8Array(size);
    // Recycled private memory: earlier contents, all of them secret.
    for (let i = 0; i < size; i++) this.staging[i] = (i * 131 + 7) & 0xff;
    this.stagingLabels = new Uint8Array(size).fill(Label.SECRET);
    this.#sv = new DataView(this.staging.buffer);
    this.#stagingWrites = trackWrites(this.staging);
    this.#labelWrites = trackWrites(this.stagingLabels);
  }

  /** An in-band packet: descriptor, payload, padding (vmbus_sendpacket). */
  sendInband(
    type: number,
    flags: number,
    transId: number | bigint,
    payload: Uint8Array,
    payloadOff: number,
    payloadLen: number,
    labels: number | Uint8Array,
  ): WriteOutcome | VmbusFault {
    const len = (DESC_SIZE + payloadLen + 7) & ~7;
    this.#wrote(0, DESC_SIZE);
    // Every byte of the 16-byte descriptor is a field the writer sets: nothing to clear.
    encodeDescriptorFast(this.#sv, 0, type, DESC_SIZE / 8, len / 8, flags, transId);
    this.#public(0, DESC_SIZE);
    return this.#send(DESC_SIZE, len, payload, payloadOff, payloadLen, labels);
  }

  /**
   * A GPA-direct packet (vmbus_sendpacket_mpb_desc; also page-buffer packets, whose
   * hv_page_buffers are one-PFN ranges): descriptor, reserved, range_cnt, ranges,
   * then the in-band payload and padding.
   */
  sendGpaDirect(
    flags: number,
    transId: number | bigint,
    ranges: readonly GpaRange[],
    payload: Uint8Array,
    payloadOff: number,
    payloadLen: number,
    labels: number | Uint8Array,
  ): WriteOutcome | VmbusFault {
    const hdr = gpaDirectHeaderSize(ranges);
    const len = (hdr + payloadLen + 7) & ~7;
    if (hdr > this.staging.length) throw new Error(`GPA-direct header of ${hdr} bytes > staging buffer`);
    this.#wrote(0, hdr);
    this.#clearHeader(hdr);
    const v = this.#sv;
    encodeDescriptorFast(v, 0, PacketType.VM_PKT_DATA_USING_GPA_DIRECT, hdr / 8, len / 8, flags, transId);
    this.#public(0, DESC_SIZE);
    // `reserved` is an unused field: only the zeroing above clears it.
    v.setUint32(VMDATA_GPA_DIRECT.off.range_cnt, ranges.length, true);
    let at = VMDATA_GPA_DIRECT.off.range;
    for (const r of ranges) {
      if (r.pfns.length !== gpaRangePageCount(r.byteOffset, r.byteCount))
        throw new Error("gpa_range PFN count");
      v.setUint32(at + GPA_RANGE.off.byte_count, r.byteCount, true);
      v.setUint32(at + GPA_RANGE.off.byte_offset, r.byteOffset, true);
      at += GPA_RANGE.off.pfn_array;
      for (const pfn of r.pfns) {
        v.setUint32(at, pfn % 0x100000000, true);
        v.setUint32(at + 4, Math.floor(pfn / 0x100000000), true);
        at += 8;
      }
    }
    this.#public(VMDATA_GPA_DIRECT.off.range_cnt, hdr - VMDATA_GPA_DIRECT.off.range_cnt);
    return this.#send(hdr, len, payload, payloadOff, payloadLen, labels);
  }

  /** set_channel_pending_send_size on this (outbound) ring. */
  setPendingSendSize(bytes: number): void {
    this.ring.setPendingSendSize(bytes);
  }

  /** Report staging bytes [from, to) (and their labels) as written, before writing them. */
  #wrote(from: number, to: number): void {
    this.#stagingWrites.wrote(from, to);
    this.#labelWrites.wrote(from, to);
  }

  /** Zero the header before its fields are set (hardened; the negative control leaves it stale). */
  #clearHeader(hdr: number): void {
    if (this.zeroPadding) this.staging.fill(0, 0, hdr);
  }

  /** Mark header bytes the writer set as PUBLIC (only the negative control copies staging labels). */
  #public(off: number, len: number): void {
    if (!this.zeroPadding) this.stagingLabels.fill(Label.PUBLIC, off, off + len);
  }

  #send(
    hdr: number,
    len: number,
    payload: Uint8Array,
    payloadOff: number,
    payloadLen: number,
    labels: number | Uint8Array,
  ): WriteOutcome | VmbusFault {
    const ring = this.ring;
    if (!this.zeroPadding) {
      this.#wrote(hdr, len);
      // The negative control: assemble everything in the reused buffer and copy it out whole.
      if (len > this.staging.length) throw new Error(`packet of ${len} bytes > staging buffer`);
      const b = ring.begin(len);
      if (b !== "ok") return b;
      this.staging.set(payload.subarray(payloadOff, payloadOff + payloadLen), hdr);
      if (typeof labels === "number") this.stagingLabels.fill(labels, hdr, hdr + payloadLen);
      else this.stagingLabels.set(labels.subarray(payloadOff, payloadOff + payloadLen), hdr);
      ring.put(this.staging, 0, len, this.stagingLabels);
      return ring.end();
    }
    const b = ring.begin(len);
    if (b !== "ok") return b;
    ring.put(this.staging, 0, hdr, Label.PUBLIC);
    ring.put(payload, payloadOff, payloadLen, labels);
    const pad = len - hdr - payloadLen;
    if (pad > 0) ring.fill(pad, 0, Label.PUBLIC);
    return ring.end();
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#sv];
  }
}
