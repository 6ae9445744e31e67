// The VMBus ring algorithm (drivers/hv/ring_buffer.c), over an abstract memory so
// that the same code runs on the guest's view of a ring and on the host's audited
// view. A ring is a 4 KiB control page (struct hv_ring_buffer) followed by a data
// area; indices are byte offsets into the data area. Every packet is followed by an
// 8-byte trailer, and a writer may never fill the ring exactly (read == write
// always means empty). The kernel maps the data pages twice so a copy can run past
// the end; here each copy is split at the end instead.
//
// Nothing here trusts the other side: indices read from the ring are validated
// before use, and a hostile value is returned as a VmbusFault. The guest's hardened
// reader (copy before validate) is src/guest/vmbus/reader.ts; RingReader below is the
// host's plain reader, which must not crash either.
import { Label } from "../audit/labels.ts";
import { scratch } from "../util/snapshot-hints.ts";
import { VmbusSize } from "./constants.ts";
import { fault, type VmbusFault } from "./errors.ts";
import { HV_RING_BUFFER, VMPACKET_DESCRIPTOR } from "./layout.ts";

export { ArrayRingMemory } from "./array-memory.ts";

/** Bytes of guest memory one ring covers, and how to reach them. */
export interface RingMemory {
  readonly size: number; // bytes of this ring including the 4 KiB control page
  getU32(off: number): number;
  setU32(off: number, v: number): void;
  /** copy len bytes at off into dst[dstOff..] */
  read(off: number, dst: Uint8Array, dstOff: number, len: number): void;
  /** copy src[srcOff..srcOff+len) to off; labels: one label for all bytes, or a label array parallel to src */
  write(off: number, src: Uint8Array, srcOff: number, len: number, labels: number | Uint8Array): void;
  /** fill len bytes at off with value, labelled label */
  fill(off: number, len: number, value: number, label: number): void;
}

const R = HV_RING_BUFFER.off;
/** Byte offset of the data area within a ring. */
export const RING_DATA = VmbusSize.RING_HEADER_SIZE;
export const TRAILER = VmbusSize.VMBUS_PKT_TRAILER;
export const DESC_SIZE = VMPACKET_DESCRIPTOR.size;
const D = VMPACKET_DESCRIPTOR.off;

/** hv_ringbuffer_init's header step: zero the control page, indices 0, feature_bits = 1. */
export function initRing(mem: RingMemory, label: number = Label.PUBLIC): void {
  mem.fill(0, RING_DATA, 0, label);
  mem.setU32(R.feature_bits, VmbusSize.RING_FEAT_PENDING_SEND_SZ);
}

export function ringDataSize(mem: RingMemory): number {
  return mem.size - RING_DATA;
}

/** Bytes a reader at r may read when the writer is at w. */
export function bytesToRead(w: number, r: number, dataSize: number): number {
  return w >= r ? w - r : dataSize - r + w;
}

/** Bytes a writer at w may use when the reader is at r (one byte must stay free). */
export function bytesToWrite(w: number, r: number, dataSize: number): number {
  return w >= r ? dataSize - (w - r) : r - w;
}

/** A ring index read from shared memory is usable: inside the data area and 8-byte aligned. */
export function indexOk(idx: number, dataSize: number): boolean {
  return idx < dataSize && (idx & 7) === 0;
}

/** The fault for an unusable index (call only when !indexOk). */
export function indexFault(name: string, idx: number, dataSize: number): VmbusFault {
  return idx >= dataSize
    ? fault("HVCOCO_ERR_RING_INDEX_RANGE", `${name} ${idx} >= data size ${dataSize}`)
    : fault("HVCOCO_ERR_RING_INDEX_ALIGN", `${name} ${idx} is not 8-byte aligned`);
}

/** Length checks of a descriptor's len8 read once from the ring, in the order hvcoco rejects. */
export function packetLengthFault(pktLen: number, avail: number, bufLen: number): VmbusFault | undefined {
  if (pktLen < DESC_SIZE) return fault("HVCOCO_ERR_PKT_LEN_SHORT", `len8*8 = ${pktLen} < 16`);
  if (pktLen + TRAILER > avail)
    return fault("HVCOCO_ERR_PKT_LEN_AVAIL", `len8*8 = ${pktLen} + trailer > ${avail} bytes available`);
  if (pktLen > bufLen) return fault("HVCOCO_ERR_PKT_TOO_BIG", `len8*8 = ${pktLen} > packet buffer ${bufLen}`);
  return undefined;
}

export function packetOffsetFault(pktOff: number, pktLen: number): VmbusFault | undefined {
  if (pktOff < DESC_SIZE || pktOff > pktLen)
    return fault("HVCOCO_ERR_PKT_OFFSET", `offset8*8 = ${pktOff} outside [16, ${pktLen}]`);
  return undefined;
}

/** Copy len bytes of the data area from index idx (wrapping at the end) into dst. */
export function ringCopyOut(
  mem: RingMemory,
  dataSize: number,
  idx: number,
  dst: Uint8Array,
  dstOff: number,
  len: number,
): void {
  const first = dataSize - idx;
  if (len <= first) mem.read(RING_DATA + idx, dst, dstOff, len);
  else {
    mem.read(RING_DATA + idx, dst, dstOff, first);
    mem.read(RING_DATA, dst, dstOff + first, len - first);
  }
}

/** Copy src into the data area from index idx (wrapping); labels as RingMemory.write. */
export function ringCopyIn(
  mem: RingMemory,
  dataSize: number,
  idx: number,
  src: Uint8Array,
  srcOff: number,
  len: number,
  labels: number | Uint8Array,
): void {
  const first = dataSize - idx;
  if (len <= first) mem.write(RING_DATA + idx, src, srcOff, len, labels);
  else {
    mem.write(RING_DATA + idx, src, srcOff, first, labels);
    mem.write(RING_DATA, src, srcOff + first, len - first, labels);
  }
}

function ringFill(
  mem: RingMemory,
  dataSize: number,
  idx: number,
  len: number,
  value: number,
  label: number,
): void {
  const first = dataSize - idx;
  if (len <= first) mem.fill(RING_DATA + idx, len, value, label);
  else {
    mem.fill(RING_DATA + idx, first, value, label);
    mem.fill(RING_DATA, len - first, value, label);
  }
}

/** Result of a write: signal the reader, don't, or the ring had no room (nothing written). */
export type WriteOutcome = "signal" | "quiet" | "full";

/**
 * The producer of one ring (hv_ringbuffer_write). A packet is written in pieces:
 * begin(len) checks the room, put/fill copy the pieces, end() appends the trailer,
 * publishes write_index and says whether to signal. writePacket does all for an
 * in-band packet. No allocation per packet.
 */
export class RingWriter {
  readonly mem: RingMemory;
  readonly dataSize: number;
  #start = -1;
  #at = 0;
  #left = 0;
  readonly #scratch = scratch(new Uint8Array(16));
  readonly #sv = new DataView(this.#scratch.buffer);

  constructor(mem: RingMemory) {
    this.mem = mem;
    this.dataSize = ringDataSize(mem);
    if (this.dataSize <= 0 || this.dataSize % 8 !== 0) throw new Error(`ring data size ${this.dataSize}`);
  }

  /** True between a successful begin() and end()/abort(). */
  get busy(): boolean {
    return this.#start >= 0;
  }

  /** Where the packet in progress starts (its old write_index); -1 when none. */
  get packetStart(): number {
    return this.#start;
  }

  /**
   * Steps 3-5: read both indices once, validate them, and require room strictly
   * greater than the packet plus its trailer. `len` (the packet without trailer)
   * must be a multiple of 8.
   */
  begin(len: number): "ok" | "full" | VmbusFault {
    if (this.#start >= 0) throw new Error("RingWriter.begin: a packet is already in progress");
    if (!(len >= DESC_SIZE && len % 8 === 0)) throw new Error(`RingWriter.begin: packet length ${len}`);
    const ds = this.dataSize;
    const w = this.mem.getU32(R.write_index);
    const r = this.mem.getU32(R.read_index);
    if (!indexOk(w, ds)) return indexFault("write_index", w, ds);
    if (!indexOk(r, ds)) return indexFault("read_index", r, ds);
    if (bytesToWrite(w, r, ds) <= len + TRAILER) return "full";
    this.#start = w;
    this.#at = w;
    this.#left = len;
    return "ok";
  }

  #advance(len: number): void {
    if (len > this.#left || this.#start < 0)
      throw new Error(`RingWriter: ${len} bytes exceed the packet begun`);
    this.#left -= len;
    const at = this.#at + len;
    this.#at = at >= this.dataSize ? at - this.dataSize : at;
  }

  /** Copy a piece of the packet. */
  put(src: Uint8Array, srcOff: number, len: number, labels: number | Uint8Array): void {
    const at = this.#at;
    this.#advance(len);
    ringCopyIn(this.mem, this.dataSize, at, src, srcOff, len, labels);
  }

  /** Fill a piece of the packet (zero padding, labelled PUBLIC by the caller). */
  fill(len: number, value: number, label: number): void {
    const at = this.#at;
    this.#advance(len);
    ringFill(this.mem, this.dataSize, at, len, value, label);
  }

  /** Steps 7-9: trailer (old write_index << 32), publish write_index, then hv_signal_on_write. */
  end(): "signal" | "quiet" {
    if (this.#start < 0 || this.#left !== 0)
      throw new Error(`RingWriter.end: ${this.#left} bytes of the packet unwritten`);
    const start = this.#start;
    this.#sv.setUint32(0, 0, true);
    this.#sv.setUint32(4, start, true);
    this.#left = TRAILER;
    this.put(this.#scratch, 0, TRAILER, Label.PUBLIC);
    this.mem.setU32(R.write_index, this.#at);
    this.#start = -1;
    if (this.mem.getU32(R.interrupt_mask) !== 0) return "quiet";
    return start === this.mem.getU32(R.read_index) ? "signal" : "quiet";
  }

  /** Drop the packet in progress: nothing was published. */
  abort(): void {
    this.#start = -1;
    this.#left = 0;
  }

  /**
   * An in-band packet (vmbus_sendpacket): descriptor (offset8 = 2, len8 =
   * ALIGN(16 + len, 8) / 8), payload, zero padding to 8 bytes (PUBLIC), trailer.
   */
  writePacket(
    type: number,
    flags: number,
    transId: number | bigint,
    payload: Uint8Array,
    payloadOff: number,
    payloadLen: number,
    labels: number | Uint8Array,
  ): WriteOutcome | VmbusFault {
    const len = (DESC_SIZE + payloadLen + 7) & ~7;
    const b = this.begin(len);
    if (b !== "ok") return b;
    encodeDescriptorFast(this.#sv, 0, type, DESC_SIZE / 8, len / 8, flags, transId);
    this.put(this.#scratch, 0, DESC_SIZE, Label.PUBLIC);
    this.put(payload, payloadOff, payloadLen, labels);
    if (len > DESC_SIZE + payloadLen) this.fill(len - DESC_SIZE - payloadLen, 0, Label.PUBLIC);
    return this.end();
  }

  /** set_channel_pending_send_size: ask the reader to signal once `bytes` are free (0 = not blocked). */
  setPendingSendSize(bytes: number): void {
    this.mem.setU32(R.pending_send_sz, bytes);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#start, this.#at, this.#left, this.#scratch, this.#sv];
  }
  load(s: unknown[]): void {
    this.#start = s[0] as never;
    this.#at = s[1] as never;
    this.#left = s[2] as never;
  }
}

/** Write a 16-byte descriptor into a DataView without allocating (transId: safe integer or bigint). */
export function encodeDescriptorFast(
  v: DataView,
  off: number,
  type: number,
  offset8: number,
  len8: number,
  flags: number,
  transId: number | bigint,
): void {
  v.setUint16(off + D.type, type, true);
  v.setUint16(off + D.offset8, offset8, true);
  v.setUint16(off + D.len8, len8, true);
  v.setUint16(off + D.flags, flags, true);
  if (typeof transId === "bigint") v.setBigUint64(off + D.trans_id, BigInt.asUintN(64, transId), true);
  else {
    if (!(transId >= 0 && Number.isSafeInteger(transId))) throw new Error(`transaction id ${transId}`);
    v.setUint32(off + D.trans_id, transId % 0x100000000, true);
    v.setUint32(off + D.trans_id + 4, Math.floor(transId / 0x100000000), true);
  }
}

/**
 * hv_pkt_iter_close's wake-up decision, after read_index was published as
 * `newRead`: signal the writer only if it asked (feature bit and pending_send_sz),
 * it was short of room before this batch, and it now has more than it asked for.
 * `start` is where the batch began (the previously published read_index).
 */
export function shouldWakeWriter(mem: RingMemory, dataSize: number, start: number, newRead: number): boolean {
  if ((mem.getU32(R.feature_bits) & VmbusSize.RING_FEAT_PENDING_SEND_SZ) === 0) return false;
  const pending = mem.getU32(R.pending_send_sz);
  if (pending === 0) return false;
  const w = mem.getU32(R.write_index);
  if (!indexOk(w, dataSize)) return false;
  const room = bytesToWrite(w, newRead, dataSize);
  const read = bytesToRead(newRead, start, dataSize);
  if (room - read > pending) return false;
  return room > pending;
}

/** hv_begin_read: tell the writer not to interrupt while this side drains. */
export function beginRead(mem: RingMemory): void {
  mem.setU32(R.interrupt_mask, 1);
}

/** hv_end_read: clear the mask; non-zero return = data arrived meanwhile, drain again. */
export function endRead(mem: RingMemory): number {
  mem.setU32(R.interrupt_mask, 0);
  const ds = ringDataSize(mem);
  const w = mem.getU32(R.write_index);
  const r = mem.getU32(R.read_index);
  return indexOk(w, ds) && indexOk(r, ds) ? bytesToRead(w, r, ds) : 0;
}

/**
 * The host's reader: copies each packet out of the ring into `buf` and validates
 * its length and offset, so it never reads outside the ring or its buffer. next()
 * returns the packet length (0 = empty) and moves a private read index; commit()
 * publishes read_index and says whether to signal the writer.
 */
export class RingReader {
  readonly mem: RingMemory;
  readonly dataSize: number;
  readonly buf: Uint8Array;
  readonly view: DataView;
  #priv: number;
  #committed: number;
  /** Length of the packet in buf (0 before the first). */
  length = 0;

  constructor(mem: RingMemory, maxPacketSize: number = VmbusSize.VMBUS_DEFAULT_MAX_PKT_SIZE) {
    this.mem = mem;
    this.dataSize = ringDataSize(mem);
    this.buf = scratch(new Uint8Array(maxPacketSize));
    this.view = new DataView(this.buf.buffer);
    const r = mem.getU32(R.read_index);
    this.#priv = this.#committed = indexOk(r, this.dataSize) ? r : 0;
  }

  next(): number | VmbusFault {
    const ds = this.dataSize;
    const w = this.mem.getU32(R.write_index);
    if (!indexOk(w, ds)) return indexFault("write_index", w, ds);
    const p = this.#priv;
    const avail = bytesToRead(w, p, ds);
    if (avail < DESC_SIZE) return 0;
    const pktLen = (this.mem.getU32(RING_DATA + p + D.len8) & 0xffff) * 8;
    const bad = packetLengthFault(pktLen, avail, this.buf.length);
    if (bad) return bad;
    ringCopyOut(this.mem, ds, p, this.buf, 0, pktLen);
    this.view.setUint16(D.len8, pktLen / 8, true);
    const offBad = packetOffsetFault(this.view.getUint16(D.offset8, true) * 8, pktLen);
    if (offBad) return offBad;
    const np = p + pktLen + TRAILER;
    this.#priv = np >= ds ? np - ds : np;
    this.length = pktLen;
    return pktLen;
  }

  commit(): boolean {
    const start = this.#committed;
    this.mem.setU32(R.read_index, this.#priv);
    this.#committed = this.#priv;
    return shouldWakeWriter(this.mem, this.dataSize, start, this.#priv);
  }

  get type(): number {
    return this.view.getUint16(D.type, true);
  }
  get flags(): number {
    return this.view.getUint16(D.flags, true);
  }
  get transId(): bigint {
    return this.view.getBigUint64(D.trans_id, true);
  }
  get payloadOffset(): number {
    return this.view.getUint16(D.offset8, true) * 8;
  }
  get payloadLength(): number {
    return this.length - this.payloadOffset;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#priv, this.#committed];
  }
  load(s: unknown[]): void {
    this.#priv = s[0] as never;
    this.#committed = s[1] as never;
  }
}
