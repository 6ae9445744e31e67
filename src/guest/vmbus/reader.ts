// The guest's hardened ring reader (hv_pkt_iter_first / __hv_pkt_iter_next /
// hv_pkt_iter_close; coco.rst: validate what is read from shared memory, C19).
//
// The host owns the bytes of the inbound ring and may change them at any moment,
// including between two reads the guest makes of the same field. So the reader
// reads write_index once and validates it, reads the descriptor's length once and
// validates it against the bytes available and its private buffer, copies the whole
// packet into that private buffer FIRST, overwrites len8/offset8 in the copy with the
// values it validated, and hands out only the copy. read_index is published at the
// end (commit).
//
// Where the kernel clamps a bad length or offset, hvcoco rejects it with a typed
// fault so that the run can log the reason; the reader then stays on that packet.
//
// `copyBeforeValidate: false` is the negative control: the reader validates the
// descriptor in shared memory and then reads it again from shared memory whenever
// a field is used, the window a host exploits by changing it at "after-validate".

import { scratch, trackWrites, type WriteRange } from "../../util/snapshot-hints.ts";
import { VmbusSize } from "../../vmbus/constants.ts";
import type { VmbusFault } from "../../vmbus/errors.ts";
import { HV_RING_BUFFER, VMPACKET_DESCRIPTOR } from "../../vmbus/layout.ts";
import {
  bytesToRead,
  DESC_SIZE,
  indexFault,
  indexOk,
  packetLengthFault,
  packetOffsetFault,
  RING_DATA,
  type RingMemory,
  ringCopyOut,
  ringDataSize,
  shouldWakeWriter,
  TRAILER,
} from "../../vmbus/ring.ts";

const R = HV_RING_BUFFER.off;
const D = VMPACKET_DESCRIPTOR.off;

/** Named points between the reader's steps, where an adversary may change shared bytes. */
export const READ_POINTS = [
  "after-index-read",
  "after-length-read",
  "after-validate",
  "after-copy",
  "before-commit",
] as const;
export type ReadPoint = (typeof READ_POINTS)[number];

export interface GuestReaderOptions {
  /** Size of the private packet buffer (max_pkt_size; VMBUS_DEFAULT_MAX_PKT_SIZE by default). */
  maxPacketSize?: number;
  /** The C19 hardening; false only for negative controls. Default true. */
  copyBeforeValidate?: boolean;
  /** Called at each named point of a read (the adversary's interleaving hook). */
  onPoint?: (point: ReadPoint) => void;
}

export class GuestRingReader {
  readonly mem: RingMemory;
  readonly dataSize: number;
  /** The private (encrypted) packet buffer: the only place a handed-out packet lives. */
  /** What the reader changed of buf since a snapshot (util/snapshot-hints.ts). */
  readonly #bufWrites: WriteRange;
  readonly buf: Uint8Array;
  readonly view: DataView;
  readonly copyBeforeValidate: boolean;
  onPoint: ((point: ReadPoint) => void) | undefined;
  /** priv_read_index: where the next packet starts. */
  #priv = 0;
  /** The read_index this reader last published. */
  #committed = 0;
  /** Where the current packet starts in the ring (for the unhardened re-reads). */
  #base = 0;
  #length = 0;
  #validated = 0;
  readonly #scratch = scratch(new Uint8Array(8));

  constructor(mem: RingMemory, opts: GuestReaderOptions = {}) {
    this.mem = mem;
    this.dataSize = ringDataSize(mem);
    const size = opts.maxPacketSize ?? VmbusSize.VMBUS_DEFAULT_MAX_PKT_SIZE;
    if (!(size >= DESC_SIZE && size % 8 === 0)) throw new Error(`packet buffer size ${size}`);
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.#bufWrites = trackWrites(this.buf);
    this.copyBeforeValidate = opts.copyBeforeValidate ?? true;
    this.onPoint = opts.onPoint;
  }

  /**
   * Take the next packet: its length in bytes (without trailer), 0 if the ring is
   * empty, or a fault for hostile ring contents (the reader does not move then).
   */
  next(): number | VmbusFault {
    const ds = this.dataSize;
    const mem = this.mem;
    const w = mem.getU32(R.write_index);
    if (!indexOk(w, ds)) return indexFault("write_index", w, ds);
    const p = this.#priv;
    const avail = bytesToRead(w, p, ds);
    if (avail < DESC_SIZE) return 0;
    this.onPoint?.("after-index-read");
    // The descriptor starts 8-aligned, so its first 8 bytes never wrap.
    const lenWord = mem.getU32(RING_DATA + p + D.len8);
    const offWord = mem.getU32(RING_DATA + p + D.type);
    const pktLen = (lenWord & 0xffff) * 8;
    const pktOff = (offWord >>> 16) * 8;
    this.onPoint?.("after-length-read");
    const bad = packetLengthFault(pktLen, avail, this.buf.length);
    if (bad) return bad;
    if (!this.copyBeforeValidate) return this.#unhardened(p, pktLen, pktOff);
    this.onPoint?.("after-validate");
    this.#bufWrites.wrote(0, pktLen);
    ringCopyOut(mem, ds, p, this.buf, 0, pktLen);
    this.onPoint?.("after-copy");
    // The host may have changed the descriptor between the length read and the copy.
    this.view.setUint16(D.len8, pktLen / 8, true);
    this.view.setUint16(D.offset8, pktOff / 8, true);
    const offBad = packetOffsetFault(pktOff, pktLen);
    if (offBad) return offBad;
    this.#base = p;
    this.#length = this.#validated = pktLen;
    const np = p + pktLen + TRAILER;
    this.#priv = np >= ds ? np - ds : np;
    return pktLen;
  }

  /** The pre-hardening shape: validate in place, then re-read shared fields when using them. */
  #unhardened(p: number, pktLen: number, pktOff: number): number | VmbusFault {
    const offBad = packetOffsetFault(pktOff, pktLen);
    if (offBad) return offBad;
    this.onPoint?.("after-validate");
    this.#base = p;
    this.#validated = pktLen;
    const used = this.#shared16(D.len8) * 8; // the TOCTOU: read again, not the value validated
    this.#length = used;
    const np = (p + used + TRAILER) % this.dataSize;
    this.#priv = np;
    return used;
  }

  #shared16(field: number): number {
    ringCopyOut(this.mem, this.dataSize, (this.#base + field) % this.dataSize, this.#scratch, 0, 2);
    return this.#scratch[0]! | (this.#scratch[1]! << 8);
  }

  #field16(field: number): number {
    return this.copyBeforeValidate ? this.view.getUint16(field, true) : this.#shared16(field);
  }

  /** Publish read_index (hv_pkt_iter_close); true = signal the host (it was waiting for room). */
  commit(): boolean {
    this.onPoint?.("before-commit");
    const start = this.#committed;
    this.mem.setU32(R.read_index, this.#priv);
    this.#committed = this.#priv;
    return shouldWakeWriter(this.mem, this.dataSize, start, this.#priv);
  }

  /** The length the reader validated for the current packet. */
  get validatedLength(): number {
    return this.#validated;
  }
  /** The length the reader uses for the current packet (== validatedLength when hardened). */
  get packetLength(): number {
    return this.copyBeforeValidate ? this.#length : this.#shared16(D.len8) * 8;
  }
  get type(): number {
    return this.#field16(D.type);
  }
  get flags(): number {
    return this.#field16(D.flags);
  }
  get payloadOffset(): number {
    return this.#field16(D.offset8) * 8;
  }
  get payloadLength(): number {
    return this.packetLength - this.payloadOffset;
  }
  /** Low and high halves of trans_id (no BigInt on the hot path). */
  get transIdLo(): number {
    return this.copyBeforeValidate ? this.view.getUint32(D.trans_id, true) : this.#shared32(D.trans_id);
  }
  get transIdHi(): number {
    return this.copyBeforeValidate
      ? this.view.getUint32(D.trans_id + 4, true)
      : this.#shared32(D.trans_id + 4);
  }
  get transId(): bigint {
    return (BigInt(this.transIdHi) << 32n) | BigInt(this.transIdLo);
  }

  #shared32(field: number): number {
    const s = this.#scratch;
    ringCopyOut(this.mem, this.dataSize, (this.#base + field) % this.dataSize, s, 0, 4);
    return (s[0]! | (s[1]! << 8) | (s[2]! << 16) | (s[3]! << 24)) >>> 0;
  }

  /**
   * Copy the current packet's payload into dst[dstOff..]; returns the payload length
   * the reader believes (hardened: the validated one; it never copies more than fits).
   */
  readPayload(dst: Uint8Array, dstOff = 0): number {
    const off = this.payloadOffset;
    const len = this.packetLength - off;
    const n = Math.max(0, Math.min(len, dst.length - dstOff));
    if (this.copyBeforeValidate) dst.set(this.buf.subarray(off, off + n), dstOff);
    else
      ringCopyOut(
        this.mem,
        this.dataSize,
        (this.#base + off) % this.dataSize,
        dst,
        dstOff,
        Math.min(n, this.dataSize),
      );
    return len;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#priv, this.#committed, this.#base, this.#length, this.#validated, this.#scratch];
  }
  load(s: unknown[]): void {
    this.#priv = s[0] as never;
    this.#committed = s[1] as never;
    this.#base = s[2] as never;
    this.#length = s[3] as never;
    this.#validated = s[4] as never;
  }
}
