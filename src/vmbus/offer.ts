// struct vmbus_channel_offer (176 bytes) and its helpers: the confidential flags
// of Linux 6.19 (is_co_ring_buffer / is_co_external_memory) and the pipe mode.
import { OfferFlag } from "./constants.ts";
import { readGuid, writeGuid } from "./guid.ts";
import { CHANNEL_OFFER } from "./layout.ts";

const O = CHANNEL_OFFER.off;

export interface ChannelOffer {
  /** GUID of the device class (HV_SCSI_GUID, ...). */
  ifType: string;
  /** GUID of this device instance. */
  ifInstance: string;
  reserved1: bigint;
  reserved2: bigint;
  /** VMBUS_CHANNEL_* bits; unknown bits are kept. */
  chnFlags: number;
  mmioMegabytes: number;
  /** 120 bytes: std.user_def, or pipe { u32 pipe_mode; user_def[116] }. */
  userDefined: Uint8Array;
  subChannelIndex: number;
  reserved3: number;
}

export function encodeOffer(o: ChannelOffer, dst: Uint8Array, off: number): void {
  if (o.userDefined.length > 120) throw new Error(`offer user_def is ${o.userDefined.length} > 120 bytes`);
  const v = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  writeGuid(o.ifType, dst, off + O.if_type);
  writeGuid(o.ifInstance, dst, off + O.if_instance);
  v.setBigUint64(off + O.reserved1, o.reserved1, true);
  v.setBigUint64(off + O.reserved2, o.reserved2, true);
  v.setUint16(off + O.chn_flags, o.chnFlags, true);
  v.setUint16(off + O.mmio_megabytes, o.mmioMegabytes, true);
  dst.fill(0, off + O.user_def, off + O.user_def + 120);
  dst.set(o.userDefined, off + O.user_def);
  v.setUint16(off + O.sub_channel_index, o.subChannelIndex, true);
  v.setUint16(off + O.reserved3, o.reserved3, true);
}

/** Decode 176 bytes at off (the caller has checked they are there). */
export function decodeOffer(src: Uint8Array, off: number): ChannelOffer {
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  return {
    ifType: readGuid(src, off + O.if_type),
    ifInstance: readGuid(src, off + O.if_instance),
    reserved1: v.getBigUint64(off + O.reserved1, true),
    reserved2: v.getBigUint64(off + O.reserved2, true),
    chnFlags: v.getUint16(off + O.chn_flags, true),
    mmioMegabytes: v.getUint16(off + O.mmio_megabytes, true),
    userDefined: src.slice(off + O.user_def, off + O.user_def + 120),
    subChannelIndex: v.getUint16(off + O.sub_channel_index, true),
    reserved3: v.getUint16(off + O.reserved3, true),
  };
}

/** is_co_ring_buffer(): the ring must live in encrypted memory (paravisor channel). */
export function isCoRingBuffer(o: Pick<ChannelOffer, "chnFlags">): boolean {
  return (o.chnFlags & OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER) !== 0;
}

/** is_co_external_memory(): GPA-direct packets and additional GPADLs must use encrypted memory. */
export function isCoExternalMemory(o: Pick<ChannelOffer, "chnFlags">): boolean {
  return (o.chnFlags & OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY) !== 0;
}

/** Pipe mode (u32 at user_def[0]) when NAMED_PIPE_MODE is set, else undefined. */
export function offerPipeMode(o: ChannelOffer): number | undefined {
  if ((o.chnFlags & OfferFlag.VMBUS_CHANNEL_NAMED_PIPE_MODE) === 0) return undefined;
  const u = o.userDefined;
  return ((u[0] ?? 0) | ((u[1] ?? 0) << 8) | ((u[2] ?? 0) << 16) | ((u[3] ?? 0) << 24)) >>> 0;
}
