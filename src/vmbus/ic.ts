// The Hyper-V integration-component (IC) wire format that heartbeat, time sync and
// shutdown (and KVP, VSS, file copy) put in their VMBus packets: a vmbuspipe_hdr,
// then an icmsg_hdr, then the message data (include/linux/hyperv.h), and the
// version lists hv_utils negotiates (drivers/hv/hv_util.c). Both ends import these.
import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf, defineStruct } from "../layout/struct.ts";

const H = "include/linux/hyperv.h (Linux 6.19)";
const U = "drivers/hv/hv_util.c (Linux 6.19)";
const VH = "drivers/hv/hyperv_vmbus.h (Linux 6.19)";

// include/linux/hyperv.h: struct vmbuspipe_hdr (packed)
export const VMBUSPIPE_HDR = defineStruct("vmbuspipe_hdr", H, [
  { name: "flags", size: 4 },
  { name: "msgsize", size: 4, note: "not read by Linux" },
]);

// include/linux/hyperv.h: struct ic_version (packed)
export const IC_VERSION = defineStruct("ic_version", H, [
  { name: "major", size: 2 },
  { name: "minor", size: 2 },
]);

// include/linux/hyperv.h: struct icmsg_hdr (packed)
export const ICMSG_HDR_STRUCT = defineStruct("icmsg_hdr", H, [
  { name: "icverframe", size: 4, note: "struct ic_version: framework version" },
  { name: "icmsgtype", size: 2, note: "ICMSGTYPE_*" },
  { name: "icvermsg", size: 4, note: "struct ic_version: service version" },
  { name: "icmsgsize", size: 2, note: "bytes of message data after the header" },
  { name: "status", size: 4, note: "HV_S_OK / HV_E_FAIL" },
  { name: "ictransaction_id", size: 1 },
  { name: "icflags", size: 1, note: "ICMSGHDRFLAG_*" },
  { name: "reserved", size: 1, count: 2 },
]);

// include/linux/hyperv.h: struct icmsg_negotiate (packed)
export const ICMSG_NEGOTIATE = defineStruct("icmsg_negotiate", H, [
  { name: "icframe_vercnt", size: 2 },
  { name: "icmsg_vercnt", size: 2 },
  { name: "reserved", size: 4 },
  { name: "icversion_data", size: 4, count: 0, note: "framework versions, then service versions" },
]);

// include/linux/hyperv.h: struct shutdown_msg_data (packed)
export const SHUTDOWN_MSG_DATA = defineStruct("shutdown_msg_data", H, [
  { name: "reason_code", size: 4 },
  { name: "timeout_seconds", size: 4 },
  { name: "flags", size: 4, note: "0 shut down, 2 reboot, 4 hibernate; | 1 = forced" },
  { name: "display_message", size: 1, count: 2048 },
]);

// include/linux/hyperv.h: struct heartbeat_msg_data (packed)
export const HEARTBEAT_MSG_DATA = defineStruct("heartbeat_msg_data", H, [
  { name: "seq_num", size: 8, note: "the guest answers seq_num + 1" },
  { name: "reserved", size: 4, count: 8 },
]);

// include/linux/hyperv.h: struct ictimesync_data (packed; service versions up to 3.0)
export const ICTIMESYNC_DATA = defineStruct("ictimesync_data", H, [
  { name: "parenttime", size: 8, note: "host time, 100 ns units since 1601-01-01" },
  { name: "childtime", size: 8 },
  { name: "roundtriptime", size: 8 },
  { name: "flags", size: 1, note: "ICTIMESYNCFLAG_*" },
]);

// include/linux/hyperv.h: struct ictimesync_ref_data (packed; service version 4.0)
export const ICTIMESYNC_REF_DATA = defineStruct("ictimesync_ref_data", H, [
  { name: "parenttime", size: 8 },
  { name: "vmreferencetime", size: 8, note: "the partition reference counter when sampled" },
  { name: "flags", size: 1 },
  { name: "leapflags", size: 1 },
  { name: "stratum", size: 1 },
  { name: "reserved", size: 1, count: 3 },
]);

/** ICMSG_HDR: sizeof(vmbuspipe_hdr) + sizeof(icmsg_hdr) = 28. */
export const ICMSG_HDR = VMBUSPIPE_HDR.size + ICMSG_HDR_STRUCT.size;

/** ICMSG_NEGOTIATE_PKT_SIZE(icframe_vercnt, icmsg_vercnt). */
export function icmsgNegotiatePktSize(framework: number, message: number): number {
  return ICMSG_HDR + ICMSG_NEGOTIATE.size + (framework + message) * IC_VERSION.size;
}

// include/linux/hyperv.h: ICMSGTYPE_*
export const IcMsgType = {
  ICMSGTYPE_NEGOTIATE: 0,
  ICMSGTYPE_HEARTBEAT: 1,
  ICMSGTYPE_KVPEXCHANGE: 2,
  ICMSGTYPE_SHUTDOWN: 3,
  ICMSGTYPE_TIMESYNC: 4,
  ICMSGTYPE_VSS: 5,
  ICMSGTYPE_FCOPY: 7,
} as const;

// include/linux/hyperv.h: ICMSGHDRFLAG_*
export const IcMsgFlag = {
  ICMSGHDRFLAG_TRANSACTION: 1,
  ICMSGHDRFLAG_REQUEST: 2,
  ICMSGHDRFLAG_RESPONSE: 4,
} as const;

// include/linux/hyperv.h: ICTIMESYNCFLAG_*
export const TimeSyncFlag = {
  ICTIMESYNCFLAG_PROBE: 0,
  ICTIMESYNCFLAG_SYNC: 1,
  ICTIMESYNCFLAG_SAMPLE: 2,
} as const;

// include/linux/hyperv.h: status values in icmsg_hdr
export const IcStatus = {
  HV_S_OK: 0x00000000,
  HV_E_FAIL: 0x80004005,
} as const;

/** IC version word: major << 16 | minor (as hv_util.c writes them). */
export function icVersion(major: number, minor: number): number {
  return ((major << 16) | minor) >>> 0;
}

export const IcConst = {
  IC_VERSION_NEGOTIATION_MAX_VER_COUNT: 100,
  ICMSG_HDR,
  /** WLTIMEDELTA: 100 ns units from 1601-01-01 to 1970-01-01. */
  WLTIMEDELTA: 116444736000000000n,
  /** HV_UTIL_RING_SEND_SIZE / _RECV_SIZE = VMBUS_RING_SIZE(3 * HV_HYP_PAGE_SIZE). */
  HV_UTIL_RING_SIZE: 4 * 4096,
  /** hv_util.c recv_buffer: HV_HYP_PAGE_SIZE * 4 (vmbus_recvpacket is given one page of it). */
  HV_UTIL_RECV_BUFFER: 4096,
} as const;

// drivers/hv/hyperv_vmbus.h: UTIL_FW_VERSION / UTIL_WS2K8_FW_VERSION
export const UTIL_FW_VERSIONS: readonly number[] = [icVersion(3, 0), icVersion(1, 0)];
// drivers/hv/hv_util.c: sd_versions[], ts_versions[], hb_versions[] (newest first)
export const SD_VERSIONS: readonly number[] = [
  icVersion(3, 2),
  icVersion(3, 1),
  icVersion(3, 0),
  icVersion(1, 0),
];
export const TS_VERSIONS: readonly number[] = [icVersion(4, 0), icVersion(3, 0), icVersion(1, 0)];
export const HB_VERSIONS: readonly number[] = [icVersion(3, 0), icVersion(1, 0)];
/** TS_VERSION_3: above it, time samples carry ictimesync_ref_data. */
export const TS_VERSION_3 = icVersion(3, 0);

const I = ICMSG_HDR_STRUCT.off;
const P = VMBUSPIPE_HDR.size;

/** The fields of an icmsg_hdr that a handler reads (at byte 8 of an IC packet). */
export interface IcHeader {
  frameworkVersion: number;
  msgType: number;
  messageVersion: number;
  msgSize: number;
  status: number;
  transactionId: number;
  flags: number;
}

/** Read the icmsg_hdr of an IC packet held in `b` (at least ICMSG_HDR bytes: the caller checks). */
export function readIcHeader(v: DataView): IcHeader {
  return {
    frameworkVersion: icVersion(v.getUint16(P + I.icverframe, true), v.getUint16(P + I.icverframe + 2, true)),
    msgType: v.getUint16(P + I.icmsgtype, true),
    messageVersion: icVersion(v.getUint16(P + I.icvermsg, true), v.getUint16(P + I.icvermsg + 2, true)),
    msgSize: v.getUint16(P + I.icmsgsize, true),
    status: v.getUint32(P + I.status, true),
    transactionId: v.getUint8(P + I.ictransaction_id),
    flags: v.getUint8(P + I.icflags),
  };
}

/** Write a vmbuspipe_hdr and an icmsg_hdr at the start of `v` (reserved bytes zero). */
export function writeIcHeader(v: DataView, h: IcHeader, pipeFlags = 0): void {
  for (let i = 0; i < ICMSG_HDR; i++) v.setUint8(i, 0);
  v.setUint32(VMBUSPIPE_HDR.off.flags, pipeFlags, true);
  v.setUint32(VMBUSPIPE_HDR.off.msgsize, ICMSG_HDR_STRUCT.size + h.msgSize, true);
  v.setUint16(P + I.icverframe, h.frameworkVersion >>> 16, true);
  v.setUint16(P + I.icverframe + 2, h.frameworkVersion & 0xffff, true);
  v.setUint16(P + I.icmsgtype, h.msgType, true);
  v.setUint16(P + I.icvermsg, h.messageVersion >>> 16, true);
  v.setUint16(P + I.icvermsg + 2, h.messageVersion & 0xffff, true);
  v.setUint16(P + I.icmsgsize, h.msgSize, true);
  v.setUint32(P + I.status, h.status >>> 0, true);
  v.setUint8(P + I.ictransaction_id, h.transactionId & 0xff);
  v.setUint8(P + I.icflags, h.flags);
}

/** Byte offsets of the icmsg_hdr fields within an IC packet (after the pipe header). */
export const IC_OFF = {
  icmsgtype: P + I.icmsgtype,
  icmsgsize: P + I.icmsgsize,
  status: P + I.status,
  icflags: P + I.icflags,
  data: ICMSG_HDR,
} as const;

export const VMBUS_IC_LAYOUT: LayoutSection = {
  section: "vmbus-ic",
  structs: [
    VMBUSPIPE_HDR,
    IC_VERSION,
    ICMSG_HDR_STRUCT,
    ICMSG_NEGOTIATE,
    SHUTDOWN_MSG_DATA,
    HEARTBEAT_MSG_DATA,
    ICTIMESYNC_DATA,
    ICTIMESYNC_REF_DATA,
  ],
  constants: [
    ...constantsOf("icmsg_type", H, IcMsgType),
    ...constantsOf("icmsg_hdr_flag", H, IcMsgFlag),
    ...constantsOf("ictimesync_flag", H, TimeSyncFlag),
    ...constantsOf("ic_status", H, IcStatus),
    ...constantsOf("ic_constant", `${H}; ${U}`, IcConst),
    ...constantsOf("ic_versions", `${VH}; ${U}`, {
      fw_versions: UTIL_FW_VERSIONS.map((x) => `0x${x.toString(16)}`).join(","),
      sd_versions: SD_VERSIONS.map((x) => `0x${x.toString(16)}`).join(","),
      ts_versions: TS_VERSIONS.map((x) => `0x${x.toString(16)}`).join(","),
      hb_versions: HB_VERSIONS.map((x) => `0x${x.toString(16)}`).join(","),
    }),
  ],
};
