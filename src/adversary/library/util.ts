// Helpers the library's attacks share: which configurations they apply to, and the
// bytes a host builds (IC requests, raw packet descriptors, SynIC messages).
import { HV_MESSAGE, HV_MESSAGE_SIZE, HvMessageType } from "../../hyperv/synic-abi.ts";
import { PacketType } from "../../vmbus/constants.ts";
import {
  HEARTBEAT_MSG_DATA,
  ICMSG_HDR,
  IcMsgFlag,
  IcMsgType,
  icVersion,
  writeIcHeader,
} from "../../vmbus/ic.ts";
import type { OfferChannelMsg } from "../../vmbus/messages.ts";
import { DESC_SIZE, encodeDescriptorFast } from "../../vmbus/ring.ts";
import type { AttackContext, ChannelHandle } from "../api.ts";

type Cfg = { isolation: string; mode: string; restrictedInjection?: boolean };

export const coco = (c: Cfg): boolean => c.isolation !== "none";
export const paravisor = (c: Cfg): boolean => c.isolation !== "none" && c.mode === "paravisor";

/** A heartbeat request with sequence number `seq`, as a host's heartbeat IC writes it. */
export function heartbeatRequest(seq: bigint): Uint8Array {
  const b = new Uint8Array(ICMSG_HDR + HEARTBEAT_MSG_DATA.size);
  const v = new DataView(b.buffer);
  writeIcHeader(v, {
    frameworkVersion: icVersion(3, 0),
    msgType: IcMsgType.ICMSGTYPE_HEARTBEAT,
    messageVersion: icVersion(3, 0),
    msgSize: HEARTBEAT_MSG_DATA.size,
    status: 0,
    transactionId: 1,
    flags: IcMsgFlag.ICMSGHDRFLAG_TRANSACTION | IcMsgFlag.ICMSGHDRFLAG_REQUEST,
  });
  v.setBigUint64(ICMSG_HDR + HEARTBEAT_MSG_DATA.off.seq_num, seq, true);
  return b;
}

/** Raw packet bytes: a descriptor with whatever offset8/len8 the host claims, then `payload`. */
export function rawPacket(
  offset8: number,
  len8: number,
  payload: Uint8Array,
  type: number = PacketType.VM_PKT_DATA_INBAND,
  transId: number | bigint = 1,
): Uint8Array {
  const b = new Uint8Array((DESC_SIZE + payload.length + 7) & ~7);
  encodeDescriptorFast(new DataView(b.buffer), 0, type, offset8, len8, 0, transId);
  b.set(payload, DESC_SIZE);
  return b;
}

/** A well-formed in-band heartbeat packet's length in 8-byte units. */
export const HB_LEN8 = (DESC_SIZE + ICMSG_HDR + HEARTBEAT_MSG_DATA.size + 7) >>> 3;

/** The heartbeat channel at the host end, or a note that it is not open. */
export function heartbeat(ctx: AttackContext): ChannelHandle | undefined {
  const ch = ctx.host.vmbus.channel("heartbeat");
  if (!ch) ctx.note("the heartbeat channel is not open");
  return ch;
}

/** A 256-byte hv_message: type, payload_size (as claimed), flags, payload. */
export function synicMessage(
  payload: Uint8Array,
  size = payload.length,
  type: number = HvMessageType.HVMSG_VMBUS,
  flags = 0,
): Uint8Array {
  const m = new Uint8Array(HV_MESSAGE_SIZE);
  const v = new DataView(m.buffer);
  v.setUint32(HV_MESSAGE.off.message_type, type >>> 0, true);
  m[HV_MESSAGE.off.payload_size] = size & 0xff;
  m[HV_MESSAGE.off.message_flags] = flags & 0xff;
  m.set(payload.subarray(0, HV_MESSAGE_SIZE - HV_MESSAGE.off.payload), HV_MESSAGE.off.payload);
  return m;
}

/** A channel-message header alone: msgtype and padding, then `extra` zero bytes. */
export function msgOfType(msgtype: number, extra = 0): Uint8Array {
  const b = new Uint8Array(8 + extra);
  new DataView(b.buffer).setUint32(0, msgtype >>> 0, true);
  return b;
}

/** An OFFERCHANNEL the host makes up: class `ifType`, a fresh instance, any relid and flags. */
export function offer(
  relid: number,
  ifType: string,
  instance: number,
  chnFlags = 0,
  subChannelIndex = 0,
): OfferChannelMsg {
  return {
    kind: "offer",
    offer: {
      ifType,
      ifInstance: `bad0c0c0-0000-4000-8000-${instance.toString(16).padStart(12, "0")}`,
      reserved1: 0n,
      reserved2: 0n,
      chnFlags,
      mmioMegabytes: 0,
      userDefined: new Uint8Array(120),
      subChannelIndex,
      reserved3: 0,
    },
    childRelid: relid,
    monitorId: 0,
    monitorAllocated: 0,
    isDedicatedInterrupt: 0,
    connectionId: relid | (2 << 12),
  };
}
