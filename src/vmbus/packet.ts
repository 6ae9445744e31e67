// Codecs for what travels in a ring: the packet descriptor, the trailer, and the
// extended headers that carry page lists (GPA-direct / page-buffer / mpb packets,
// transfer-page packets). Decoders take hostile bytes and return a VmbusFault
// instead of throwing; encoders take the model's own values and throw on a bug.
import { PacketType, VmbusSize } from "./constants.ts";
import { fault, type VmbusFault } from "./errors.ts";
import {
  GPA_RANGE,
  HV_PAGE_BUFFER,
  VMBUS_PKT_TRAILER,
  VMDATA_GPA_DIRECT,
  VMPACKET_DESCRIPTOR,
  VMTRANSFER_PAGE_PACKET_HEADER,
  VMTRANSFER_PAGE_RANGE,
} from "./layout.ts";

const D = VMPACKET_DESCRIPTOR.off;
const PAGE = VmbusSize.HV_HYP_PAGE_SIZE;
/** Largest PFN a Number holds exactly: hi half ≤ 0x1fffff. */
const PFN_HI_MAX = 0x1fffff;

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export interface PacketDescriptor {
  /** enum vmbus_packet_type; a peer may send any u16. */
  type: number;
  offset8: number;
  len8: number;
  flags: number;
  transId: bigint;
}

export function encodeDescriptor(d: PacketDescriptor, dst: Uint8Array, off = 0): void {
  const v = dv(dst);
  v.setUint16(off + D.type, d.type, true);
  v.setUint16(off + D.offset8, d.offset8, true);
  v.setUint16(off + D.len8, d.len8, true);
  v.setUint16(off + D.flags, d.flags, true);
  v.setBigUint64(off + D.trans_id, d.transId, true);
}

export function decodeDescriptor(
  src: Uint8Array,
  off = 0,
  len = src.length - off,
): PacketDescriptor | VmbusFault {
  if (len < VMPACKET_DESCRIPTOR.size)
    return fault("HVCOCO_ERR_VMBUS_TRUNCATED", `descriptor needs 16 bytes, got ${len}`);
  const v = dv(src);
  return {
    type: v.getUint16(off + D.type, true),
    offset8: v.getUint16(off + D.offset8, true),
    len8: v.getUint16(off + D.len8, true),
    flags: v.getUint16(off + D.flags, true),
    transId: v.getBigUint64(off + D.trans_id, true),
  };
}

/** The trailer after a packet: u64 whose high half is the packet's start offset. */
export function encodeTrailer(prevWriteIndex: number, dst: Uint8Array, off = 0): void {
  const v = dv(dst);
  v.setUint32(off + VMBUS_PKT_TRAILER.off.reserved, 0, true);
  v.setUint32(off + VMBUS_PKT_TRAILER.off.prev_write_index, prevWriteIndex, true);
}

export function decodeTrailer(src: Uint8Array, off = 0): number {
  return dv(src).getUint32(off + VMBUS_PKT_TRAILER.off.prev_write_index, true);
}

/** struct gpa_range: a byte range over a list of 4 KiB pages. */
export interface GpaRange {
  byteCount: number;
  byteOffset: number;
  pfns: readonly number[];
}

/** Pages a range spans: ceil((byte_offset + byte_count) / 4096). */
export function gpaRangePageCount(byteOffset: number, byteCount: number): number {
  return Math.ceil((byteOffset + byteCount) / PAGE);
}

export function gpaRangeSize(r: GpaRange): number {
  return GPA_RANGE.size + 8 * r.pfns.length;
}

/** Write a gpa_range at off; returns bytes written. */
export function encodeGpaRange(r: GpaRange, dst: Uint8Array, off: number): number {
  if (r.pfns.length !== gpaRangePageCount(r.byteOffset, r.byteCount))
    throw new Error(`gpa_range: ${r.pfns.length} PFNs for offset ${r.byteOffset} + count ${r.byteCount}`);
  const v = dv(dst);
  v.setUint32(off + GPA_RANGE.off.byte_count, r.byteCount, true);
  v.setUint32(off + GPA_RANGE.off.byte_offset, r.byteOffset, true);
  let at = off + GPA_RANGE.off.pfn_array;
  for (const pfn of r.pfns) {
    if (!Number.isSafeInteger(pfn) || pfn < 0) throw new Error(`gpa_range: bad PFN ${pfn}`);
    v.setUint32(at, pfn % 0x100000000, true);
    v.setUint32(at + 4, Math.floor(pfn / 0x100000000), true);
    at += 8;
  }
  return at - off;
}

/** Read one u64 PFN as a Number, or fault if it cannot be a page number. */
export function readPfn(v: DataView, at: number): number | VmbusFault {
  const lo = v.getUint32(at, true);
  const hi = v.getUint32(at + 4, true);
  if (hi > PFN_HI_MAX)
    return fault("HVCOCO_ERR_VMBUS_PFN_OVERFLOW", `PFN 0x${hi.toString(16)}_${lo.toString(16)}`);
  return hi * 0x100000000 + lo;
}

/** Decode `count` gpa_ranges from src[off, end); returns the ranges and where they ended. */
export function decodeGpaRanges(
  src: Uint8Array,
  off: number,
  end: number,
  count: number,
): { ranges: GpaRange[]; end: number } | VmbusFault {
  const v = dv(src);
  const ranges: GpaRange[] = [];
  let at = off;
  for (let i = 0; i < count; i++) {
    if (at + GPA_RANGE.size > end)
      return fault("HVCOCO_ERR_VMBUS_RANGE_COUNT", `range ${i} of ${count} starts past the header end`);
    const byteCount = v.getUint32(at + GPA_RANGE.off.byte_count, true);
    const byteOffset = v.getUint32(at + GPA_RANGE.off.byte_offset, true);
    if (byteOffset >= PAGE || byteOffset + byteCount > 0xffffffff)
      return fault(
        "HVCOCO_ERR_VMBUS_GPA_RANGE",
        `range ${i}: byte_offset ${byteOffset}, byte_count ${byteCount}`,
      );
    const n = gpaRangePageCount(byteOffset, byteCount);
    at += GPA_RANGE.size;
    if (at + 8 * n > end)
      return fault("HVCOCO_ERR_VMBUS_RANGE_COUNT", `range ${i} needs ${n} PFNs past the end`);
    const pfns: number[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const p = readPfn(v, at);
      if (typeof p !== "number") return p;
      pfns[k] = p;
      at += 8;
    }
    ranges.push({ byteCount, byteOffset, pfns });
  }
  return { ranges, end: at };
}

/** A GPA-direct packet (vmdata_gpa_direct, also the page-buffer and mpb-array packets). */
export interface GpaDirectHeader {
  flags: number;
  transId: bigint;
  ranges: readonly GpaRange[];
}

/** Header bytes (descriptor, reserved, range_cnt, ranges) of a GPA-direct packet. */
export function gpaDirectHeaderSize(ranges: readonly GpaRange[]): number {
  let n = VMDATA_GPA_DIRECT.size;
  for (const r of ranges) n += gpaRangeSize(r);
  return n;
}

/**
 * Write a GPA-direct header that `payloadLen` bytes of inline payload will follow
 * (vmbus_sendpacket_mpb_desc: offset8 = header/8, len8 = ALIGN(header + payload, 8)/8,
 * reserved = 0). Returns the header size.
 */
export function encodeGpaDirect(h: GpaDirectHeader, payloadLen: number, dst: Uint8Array, off = 0): number {
  const size = gpaDirectHeaderSize(h.ranges);
  encodeDescriptor(
    {
      type: PacketType.VM_PKT_DATA_USING_GPA_DIRECT,
      offset8: size / 8,
      len8: Math.ceil((size + payloadLen) / 8),
      flags: h.flags,
      transId: h.transId,
    },
    dst,
    off,
  );
  const v = dv(dst);
  v.setUint32(off + VMDATA_GPA_DIRECT.off.reserved, 0, true);
  v.setUint32(off + VMDATA_GPA_DIRECT.off.range_cnt, h.ranges.length, true);
  let at = off + VMDATA_GPA_DIRECT.off.range;
  for (const r of h.ranges) at += encodeGpaRange(r, dst, at);
  return size;
}

/** Decode the GPA-direct header of a packet of `len` bytes (the ranges must end by offset8*8). */
export function decodeGpaDirect(
  src: Uint8Array,
  off = 0,
  len = src.length - off,
): GpaDirectHeader | VmbusFault {
  if (len < VMDATA_GPA_DIRECT.size)
    return fault(
      "HVCOCO_ERR_VMBUS_TRUNCATED",
      `vmdata_gpa_direct needs ${VMDATA_GPA_DIRECT.size} bytes, got ${len}`,
    );
  const d = decodeDescriptor(src, off, len) as PacketDescriptor;
  const hdrEnd = Math.min(d.offset8 * 8, len);
  const count = dv(src).getUint32(off + VMDATA_GPA_DIRECT.off.range_cnt, true);
  const r = decodeGpaRanges(src, off + VMDATA_GPA_DIRECT.off.range, off + hdrEnd, count);
  if ("code" in r) return r;
  return { flags: d.flags, transId: d.transId, ranges: r.ranges };
}

/** struct hv_page_buffer: one page of a page-buffer packet (a gpa_range with one PFN). */
export interface PageBuffer {
  len: number;
  offset: number;
  pfn: number;
}

export function encodePageBuffer(pb: PageBuffer, dst: Uint8Array, off: number): void {
  const v = dv(dst);
  v.setUint32(off + HV_PAGE_BUFFER.off.len, pb.len, true);
  v.setUint32(off + HV_PAGE_BUFFER.off.offset, pb.offset, true);
  v.setUint32(off + HV_PAGE_BUFFER.off.pfn, pb.pfn % 0x100000000, true);
  v.setUint32(off + HV_PAGE_BUFFER.off.pfn + 4, Math.floor(pb.pfn / 0x100000000), true);
}

export function decodePageBuffer(src: Uint8Array, off = 0, len = src.length - off): PageBuffer | VmbusFault {
  if (len < HV_PAGE_BUFFER.size)
    return fault("HVCOCO_ERR_VMBUS_TRUNCATED", `hv_page_buffer needs 16 bytes, got ${len}`);
  const v = dv(src);
  const pfn = readPfn(v, off + HV_PAGE_BUFFER.off.pfn);
  if (typeof pfn !== "number") return pfn;
  return {
    len: v.getUint32(off + HV_PAGE_BUFFER.off.len, true),
    offset: v.getUint32(off + HV_PAGE_BUFFER.off.offset, true),
    pfn,
  };
}

/** A page-buffer list as GPA-direct ranges (each hv_page_buffer is a one-PFN gpa_range). */
export function pageBuffersAsRanges(pbs: readonly PageBuffer[]): GpaRange[] {
  return pbs.map((pb) => ({ byteCount: pb.len, byteOffset: pb.offset, pfns: [pb.pfn] }));
}

/** struct vmtransfer_page_packet_header (netvsc receive, type 7). */
export interface XferPageHeader {
  flags: number;
  transId: bigint;
  xferPagesetId: number;
  senderOwnsSet: number;
  ranges: readonly { byteCount: number; byteOffset: number }[];
}

export function xferPageHeaderSize(rangeCount: number): number {
  return VMTRANSFER_PAGE_PACKET_HEADER.size + VMTRANSFER_PAGE_RANGE.size * rangeCount;
}

/** Write a transfer-page header (offset8 = header/8, len8 = header/8: the data is in the pages). */
export function encodeXferPageHeader(h: XferPageHeader, dst: Uint8Array, off = 0): number {
  const size = xferPageHeaderSize(h.ranges.length);
  const X = VMTRANSFER_PAGE_PACKET_HEADER.off;
  encodeDescriptor(
    {
      type: PacketType.VM_PKT_DATA_USING_XFER_PAGES,
      offset8: size / 8,
      len8: size / 8,
      flags: h.flags,
      transId: h.transId,
    },
    dst,
    off,
  );
  const v = dv(dst);
  v.setUint16(off + X.xfer_pageset_id, h.xferPagesetId, true);
  v.setUint8(off + X.sender_owns_set, h.senderOwnsSet);
  v.setUint8(off + X.reserved, 0);
  v.setUint32(off + X.range_cnt, h.ranges.length, true);
  let at = off + X.ranges;
  for (const r of h.ranges) {
    v.setUint32(at + VMTRANSFER_PAGE_RANGE.off.byte_count, r.byteCount, true);
    v.setUint32(at + VMTRANSFER_PAGE_RANGE.off.byte_offset, r.byteOffset, true);
    at += VMTRANSFER_PAGE_RANGE.size;
  }
  return size;
}

export function decodeXferPageHeader(
  src: Uint8Array,
  off = 0,
  len = src.length - off,
): XferPageHeader | VmbusFault {
  const X = VMTRANSFER_PAGE_PACKET_HEADER.off;
  if (len < VMTRANSFER_PAGE_PACKET_HEADER.size)
    return fault("HVCOCO_ERR_VMBUS_TRUNCATED", `vmtransfer_page_packet_header needs 24 bytes, got ${len}`);
  const v = dv(src);
  const d = decodeDescriptor(src, off, len) as PacketDescriptor;
  const count = v.getUint32(off + X.range_cnt, true);
  const hdrEnd = Math.min(d.offset8 * 8, len);
  if (count > (hdrEnd - X.ranges) / VMTRANSFER_PAGE_RANGE.size)
    return fault("HVCOCO_ERR_VMBUS_RANGE_COUNT", `range_cnt ${count} does not fit in ${hdrEnd} header bytes`);
  const ranges: { byteCount: number; byteOffset: number }[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = off + X.ranges + i * VMTRANSFER_PAGE_RANGE.size;
    ranges[i] = {
      byteCount: v.getUint32(at + VMTRANSFER_PAGE_RANGE.off.byte_count, true),
      byteOffset: v.getUint32(at + VMTRANSFER_PAGE_RANGE.off.byte_offset, true),
    };
  }
  return {
    flags: d.flags,
    transId: d.transId,
    xferPagesetId: v.getUint16(off + X.xfer_pageset_id, true),
    senderOwnsSet: v.getUint8(off + X.sender_owns_set),
    ranges,
  };
}
