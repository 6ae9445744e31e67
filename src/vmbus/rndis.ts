// RNDIS, carried inside NVSP SEND_RNDIS_PKT messages (include/linux/rndis.h for
// the numbers, drivers/net/hyperv/hyperv_net.h for the structs, rndis_filter.c
// and netvsc_drv.c for how Linux fills them; Linux 0291023e).
//
//   struct rndis_message: u32 ndis_msg_type, u32 msg_len (bytes, header included),
//   then the message body. Offsets inside a body (info_buf_offset, data_offset,
//   per_pkt_info_offset, ...) count from the start of the body, i.e. from byte 8.
//
// Control messages go through encodeRndis / decodeRndis (tagged union, copies).
// Data packets, one per frame, go through writeRndisPacketHeader and
// parseRndisPacket, which never allocate. Decoders return an RndisFault on hostile
// bytes (the checks of rndis_filter_receive, rndis_filter_receive_data,
// rndis_get_ppi and rndis_filter_query_device) and never throw.
import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf, defineStruct } from "../layout/struct.ts";

const R = "include/linux/rndis.h (Linux 0291023e)";
const N = "drivers/net/hyperv/hyperv_net.h (Linux 0291023e)";
const F = "drivers/net/hyperv/rndis_filter.c (Linux 0291023e)";

// ---- layouts ----

// hyperv_net.h: struct rndis_message (header + union rndis_message_container, 44 B max)
export const RNDIS_MESSAGE = defineStruct("rndis_message", N, [
  { name: "ndis_msg_type", size: 4, note: "RNDIS_MSG_*" },
  { name: "msg_len", size: 4, note: "bytes from the start of the header" },
  { name: "msg", size: 1, count: 44, note: "union; largest: rndis_initialize_complete (44 B)" },
]);

/** RNDIS_HEADER_SIZE: sizeof(struct rndis_message) - sizeof(union rndis_message_container). */
export const RNDIS_HEADER_SIZE = 8;

// hyperv_net.h: struct rndis_initialize_request
export const RNDIS_INITIALIZE_REQUEST = defineStruct("rndis_initialize_request", N, [
  { name: "req_id", size: 4 },
  { name: "major_ver", size: 4 },
  { name: "minor_ver", size: 4 },
  { name: "max_xfer_size", size: 4, note: "Linux sends 0x4000" },
]);

// hyperv_net.h: struct rndis_initialize_complete
export const RNDIS_INITIALIZE_COMPLETE = defineStruct("rndis_initialize_complete", N, [
  { name: "req_id", size: 4 },
  { name: "status", size: 4 },
  { name: "major_ver", size: 4 },
  { name: "minor_ver", size: 4 },
  { name: "dev_flags", size: 4 },
  { name: "medium", size: 4 },
  { name: "max_pkt_per_msg", size: 4 },
  { name: "max_xfer_size", size: 4 },
  { name: "pkt_alignment_factor", size: 4, note: "log2 of the alignment" },
  { name: "af_list_offset", size: 4 },
  { name: "af_list_size", size: 4 },
]);

// hyperv_net.h: struct rndis_halt_request / rndis_keepalive_request
export const RNDIS_HALT_REQUEST = defineStruct("rndis_halt_request", N, [{ name: "req_id", size: 4 }]);
export const RNDIS_KEEPALIVE_REQUEST = defineStruct("rndis_keepalive_request", N, [
  { name: "req_id", size: 4 },
]);

// hyperv_net.h: struct rndis_query_request
export const RNDIS_QUERY_REQUEST = defineStruct("rndis_query_request", N, [
  { name: "req_id", size: 4 },
  { name: "oid", size: 4 },
  { name: "info_buflen", size: 4 },
  { name: "info_buf_offset", size: 4, note: "from the start of this struct; Linux: 20" },
  { name: "dev_vc_handle", size: 4 },
]);

// hyperv_net.h: struct rndis_query_complete
export const RNDIS_QUERY_COMPLETE = defineStruct("rndis_query_complete", N, [
  { name: "req_id", size: 4 },
  { name: "status", size: 4 },
  { name: "info_buflen", size: 4 },
  { name: "info_buf_offset", size: 4, note: "from the start of this struct; >= 16" },
]);

// hyperv_net.h: struct rndis_set_request (info_buf[] follows)
export const RNDIS_SET_REQUEST = defineStruct("rndis_set_request", N, [
  { name: "req_id", size: 4 },
  { name: "oid", size: 4 },
  { name: "info_buflen", size: 4 },
  { name: "info_buf_offset", size: 4, note: "from the start of this struct; Linux: 20" },
  { name: "dev_vc_handle", size: 4 },
  { name: "info_buf", size: 1, count: 0 },
]);

// hyperv_net.h: struct rndis_set_complete / rndis_keepalive_complete
export const RNDIS_SET_COMPLETE = defineStruct("rndis_set_complete", N, [
  { name: "req_id", size: 4 },
  { name: "status", size: 4 },
]);
export const RNDIS_KEEPALIVE_COMPLETE = defineStruct("rndis_keepalive_complete", N, [
  { name: "req_id", size: 4 },
  { name: "status", size: 4 },
]);

// hyperv_net.h: struct rndis_reset_request / rndis_reset_complete
export const RNDIS_RESET_REQUEST = defineStruct("rndis_reset_request", N, [{ name: "reserved", size: 4 }]);
export const RNDIS_RESET_COMPLETE = defineStruct("rndis_reset_complete", N, [
  { name: "status", size: 4 },
  { name: "addressing_reset", size: 4 },
]);

// hyperv_net.h: struct rndis_indicate_status
export const RNDIS_INDICATE_STATUS = defineStruct("rndis_indicate_status", N, [
  { name: "status", size: 4, note: "RNDIS_STATUS_MEDIA_CONNECT, ..." },
  { name: "status_buflen", size: 4 },
  { name: "status_buf_offset", size: 4, note: "from the start of this struct" },
]);

// hyperv_net.h: struct rndis_packet (offsets count from the start of this struct)
export const RNDIS_PACKET = defineStruct("rndis_packet", N, [
  { name: "data_offset", size: 4 },
  { name: "data_len", size: 4 },
  { name: "oob_data_offset", size: 4 },
  { name: "oob_data_len", size: 4 },
  { name: "num_oob_data_elements", size: 4 },
  { name: "per_pkt_info_offset", size: 4 },
  { name: "per_pkt_info_len", size: 4 },
  { name: "vc_handle", size: 4 },
  { name: "reserved", size: 4 },
]);

// hyperv_net.h: struct rndis_per_packet_info (ppi_offset from the start of this struct)
export const RNDIS_PER_PACKET_INFO = defineStruct("rndis_per_packet_info", N, [
  { name: "size", size: 4, note: "this header + its data" },
  { name: "type", size: 4, note: "bits 30:0 type, bit 31 internal" },
  { name: "ppi_offset", size: 4, note: "12: the data follows the header" },
]);

// hyperv_net.h: struct rndis_pktinfo_id (internal PPI RNDIS_PKTINFO_ID)
export const RNDIS_PKTINFO_ID = defineStruct("rndis_pktinfo_id", N, [
  { name: "ver", size: 1 },
  { name: "flag", size: 1, note: "bit 0 SUBALLOC, 1 1ST_FRAG, 2 LAST_FRAG" },
  { name: "pkt_id", size: 2 },
]);

// hyperv_net.h: struct ndis_object_header
export const NDIS_OBJECT_HEADER = defineStruct("ndis_object_header", N, [
  { name: "type", size: 1 },
  { name: "revision", size: 1 },
  { name: "size", size: 2 },
]);

// hyperv_net.h: struct rndis_config_parameter_info (OID_GEN_RNDIS_CONFIG_PARAMETER)
export const RNDIS_CONFIG_PARAMETER_INFO = defineStruct("rndis_config_parameter_info", N, [
  { name: "parameter_name_offset", size: 4 },
  { name: "parameter_name_length", size: 4 },
  { name: "parameter_type", size: 4, note: "0 integer, 2 string" },
  { name: "parameter_value_offset", size: 4 },
  { name: "parameter_value_length", size: 4 },
]);

// hyperv_net.h: struct ndis_offload (NDIS_OFFLOAD_SIZE 156; 6.0: up to ipsecv2, 6.1: up to rsc)
export const NDIS_OFFLOAD = defineStruct("ndis_offload", N, [
  {
    name: "header",
    size: 4,
    note: "ndis_object_header: type 0xa7 (NDIS_OBJECT_TYPE_OFFLOAD), revision, size",
  },
  {
    name: "csum",
    size: 32,
    note: "ndis_csum_offload: ip4_txenc, ip4_txcsum, ip4_rxenc, ip4_rxcsum, ip6_* (u32 each)",
  },
  { name: "lsov1", size: 16, note: "ndis_lsov1_offload: encap, maxsize, minsegs, opts" },
  { name: "ipsecv1", size: 28, note: "ndis_ipsecv1_offload: 7 x u32" },
  {
    name: "lsov2",
    size: 28,
    note: "ndis_lsov2_offload: ip4_encap, ip4_maxsz, ip4_minsg, ip6_encap, ip6_maxsz, ip6_minsg, ip6_opts",
  },
  { name: "flags", size: 4 },
  { name: "ipsecv2", size: 32, note: "NDIS >= 6.1: u32 encap, 11 x u8, pad, 4 x u32" },
  { name: "rsc", size: 2, note: "NDIS >= 6.30: u8 ip4, u8 ip6" },
  { name: "pad", size: 2, note: "alignment of encap_gre" },
  { name: "encap_gre", size: 8, note: "ndis_encap_offload: flags, maxhdr" },
]);

// ---- constants ----

// include/linux/rndis.h: message types
export const RndisMsgType = {
  RNDIS_MSG_COMPLETION: 0x80000000,
  RNDIS_MSG_PACKET: 0x00000001,
  RNDIS_MSG_INIT: 0x00000002,
  RNDIS_MSG_INIT_C: 0x80000002,
  RNDIS_MSG_HALT: 0x00000003,
  RNDIS_MSG_QUERY: 0x00000004,
  RNDIS_MSG_QUERY_C: 0x80000004,
  RNDIS_MSG_SET: 0x00000005,
  RNDIS_MSG_SET_C: 0x80000005,
  RNDIS_MSG_RESET: 0x00000006,
  RNDIS_MSG_RESET_C: 0x80000006,
  RNDIS_MSG_INDICATE: 0x00000007,
  RNDIS_MSG_KEEPALIVE: 0x00000008,
  RNDIS_MSG_KEEPALIVE_C: 0x80000008,
  RNDIS_MSG_BUS: 0xff000001,
} as const;

// include/linux/rndis.h: the status codes hvcoco uses
export const RndisStatus = {
  RNDIS_STATUS_SUCCESS: 0x00000000,
  RNDIS_STATUS_PENDING: 0x00000103,
  RNDIS_STATUS_NOT_RECOGNIZED: 0x00010001,
  RNDIS_STATUS_MEDIA_CONNECT: 0x4001000b,
  RNDIS_STATUS_MEDIA_DISCONNECT: 0x4001000c,
  RNDIS_STATUS_LINK_SPEED_CHANGE: 0x40010013,
  RNDIS_STATUS_NETWORK_CHANGE: 0x40010018,
  RNDIS_STATUS_BUFFER_OVERFLOW: 0x80000005,
  RNDIS_STATUS_FAILURE: 0xc0000001,
  RNDIS_STATUS_RESOURCES: 0xc000009a,
  RNDIS_STATUS_NOT_SUPPORTED: 0xc00000bb,
  RNDIS_STATUS_INVALID_LENGTH: 0xc0010014,
  RNDIS_STATUS_INVALID_DATA: 0xc0010015,
  RNDIS_STATUS_BUFFER_TOO_SHORT: 0xc0010016,
  RNDIS_STATUS_INVALID_OID: 0xc0010017,
} as const;

// include/linux/rndis.h: version, device flags, medium, media state
export const RndisConst = {
  RNDIS_MAJOR_VERSION: 1,
  RNDIS_MINOR_VERSION: 0,
  RNDIS_DF_CONNECTIONLESS: 0x1,
  RNDIS_DF_CONNECTION_ORIENTED: 0x2,
  RNDIS_DF_RAW_DATA: 0x4,
  RNDIS_MEDIUM_802_3: 0,
  RNDIS_MEDIA_STATE_CONNECTED: 0,
  RNDIS_MEDIA_STATE_DISCONNECTED: 1,
  /** rndis_filter_init_device: init->max_xfer_size. */
  LINUX_MAX_XFER_SIZE: 0x4000,
  /** RNDIS_EXT_LEN: the response buffer beyond struct rndis_message. */
  RNDIS_EXT_LEN: 4096,
  /** RNDIS_MESSAGE_SIZE(struct rndis_packet). */
  RNDIS_PACKET_MESSAGE_SIZE: 8 + 36,
  /** sizeof(struct rndis_message). */
  RNDIS_MESSAGE_SIZE: 52,
  RNDIS_CONFIG_PARAM_TYPE_INTEGER: 0,
  RNDIS_CONFIG_PARAM_TYPE_STRING: 2,
  NDIS_OBJECT_TYPE_DEFAULT: 0x80,
  NDIS_OBJECT_TYPE_RSS_CAPABILITIES: 0x88,
  NDIS_OBJECT_TYPE_RSS_PARAMETERS: 0x89,
  NDIS_OBJECT_TYPE_OFFLOAD: 0xa7,
  NDIS_OFFLOAD_PARAMETERS_REVISION_1: 1,
  NDIS_OFFLOAD_PARAMETERS_REVISION_2: 2,
  NDIS_OFFLOAD_PARAMETERS_REVISION_3: 3,
  /** sizeof(struct ndis_offload), and offsetof ipsecv2 (6.0) and rsc (6.1). */
  NDIS_OFFLOAD_SIZE: 156,
  NDIS_OFFLOAD_SIZE_6_0: 112,
  NDIS_OFFLOAD_SIZE_6_1: 144,
  /** sizeof(struct ndis_offload_params) and the size for NVSP <= 4. */
  NDIS_OFFLOAD_PARAMS_SIZE: 28,
  VERSION_4_OFFLOAD_SIZE: 22,
} as const;

// include/linux/rndis.h, hyperv_net.h: the OIDs Linux's rndis_filter.c uses
export const RndisOid = {
  RNDIS_OID_GEN_SUPPORTED_LIST: 0x00010101,
  RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE: 0x00010106,
  RNDIS_OID_GEN_LINK_SPEED: 0x00010107,
  RNDIS_OID_GEN_CURRENT_PACKET_FILTER: 0x0001010e,
  RNDIS_OID_GEN_MEDIA_CONNECT_STATUS: 0x00010114,
  RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER: 0x0001021b,
  RNDIS_OID_GEN_FRIENDLY_NAME: 0x00020216,
  RNDIS_OID_802_3_PERMANENT_ADDRESS: 0x01010101,
  RNDIS_OID_802_3_CURRENT_ADDRESS: 0x01010102,
  RNDIS_OID_802_3_MULTICAST_LIST: 0x01010103,
  OID_GEN_RECEIVE_SCALE_CAPABILITIES: 0x00010203,
  OID_GEN_RECEIVE_SCALE_PARAMETERS: 0x00010204,
  OID_TCP_OFFLOAD_CURRENT_CONFIG: 0xfc01020b,
  OID_TCP_OFFLOAD_PARAMETERS: 0xfc01020c,
  OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES: 0xfc01020d,
  OID_OFFLOAD_ENCAPSULATION: 0x0101010a,
} as const;

// include/linux/rndis.h / hyperv_net.h: packet filter bits (OID_GEN_CURRENT_PACKET_FILTER)
export const NdisPacketType = {
  NDIS_PACKET_TYPE_DIRECTED: 0x00000001,
  NDIS_PACKET_TYPE_MULTICAST: 0x00000002,
  NDIS_PACKET_TYPE_ALL_MULTICAST: 0x00000004,
  NDIS_PACKET_TYPE_BROADCAST: 0x00000008,
  NDIS_PACKET_TYPE_PROMISCUOUS: 0x00000020,
} as const;

// hyperv_net.h: enum ndis_per_pkt_info_type and the internal type
export const PpiType = {
  TCPIP_CHKSUM_PKTINFO: 0,
  IPSEC_PKTINFO: 1,
  TCP_LARGESEND_PKTINFO: 2,
  CLASSIFICATION_HANDLE_PKTINFO: 3,
  NDIS_RESERVED: 4,
  SG_LIST_PKTINFO: 5,
  IEEE_8021Q_INFO: 6,
  ORIGINAL_PKTINFO: 7,
  PACKET_CANCEL_ID: 8,
  NBL_HASH_VALUE: 8,
  ORIGINAL_NET_BUFLIST: 9,
  CACHED_NET_BUFLIST: 10,
  SHORT_PKT_PADINFO: 11,
  /** Internal (bit 31 set): enum rndis_per_pkt_info_interal_type. */
  RNDIS_PKTINFO_ID: 1,
  RNDIS_PKTINFO_SUBALLOC: 0x1,
  RNDIS_PKTINFO_1ST_FRAG: 0x2,
  RNDIS_PKTINFO_LAST_FRAG: 0x4,
} as const;

// ---- hostile-input faults ----

/** Every reject reason of the RNDIS codec, with its one-line meaning. Codes are stable. */
export const RNDIS_ERRORS = {
  HVCOCO_ERR_RNDIS_TRUNCATED: "buffer shorter than the 8-byte RNDIS header or than its message body",
  HVCOCO_ERR_RNDIS_MSG_LEN: "msg_len below the header or beyond the bytes received",
  HVCOCO_ERR_RNDIS_INFO_RANGE: "info/status buffer offset or length outside the message",
  HVCOCO_ERR_RNDIS_DATA_RANGE: "rndis_packet data_offset/data_len outside the message",
  HVCOCO_ERR_RNDIS_PPI: "per-packet-info area or one of its entries outside the message, or malformed",
} as const;

export type RndisErrorCode = keyof typeof RNDIS_ERRORS;

export interface RndisFault {
  readonly code: RndisErrorCode;
  readonly detail: string;
}

function fault(code: RndisErrorCode, detail: string): RndisFault {
  return { code, detail };
}

/** Tell a fault from a decoded value (decoded values never carry `code`). */
export function isRndisFault(x: unknown): x is RndisFault {
  return typeof x === "object" && x !== null && "code" in x && typeof x.code === "string";
}

// ---- control messages ----

export interface RndisInitComplete {
  reqId: number;
  status: number;
  majorVer: number;
  minorVer: number;
  devFlags: number;
  medium: number;
  maxPktPerMsg: number;
  maxXferSize: number;
  pktAlignmentFactor: number;
  afListOffset: number;
  afListSize: number;
}

/** One per-packet-info entry: its type, the internal bit, its data. */
export interface Ppi {
  type: number;
  internal: boolean;
  data: Uint8Array;
}

export type RndisMessage =
  | { kind: "init"; reqId: number; majorVer: number; minorVer: number; maxXferSize: number }
  | ({ kind: "init-complete" } & RndisInitComplete)
  | { kind: "halt"; reqId: number }
  | { kind: "query"; reqId: number; oid: number; info: Uint8Array; devVcHandle: number }
  | { kind: "query-complete"; reqId: number; status: number; info: Uint8Array }
  | { kind: "set"; reqId: number; oid: number; info: Uint8Array; devVcHandle: number }
  | { kind: "set-complete"; reqId: number; status: number }
  | { kind: "reset"; reserved: number }
  | { kind: "reset-complete"; status: number; addressingReset: number }
  | { kind: "indicate-status"; status: number; statusBuf: Uint8Array }
  | { kind: "keepalive"; reqId: number }
  | { kind: "keepalive-complete"; reqId: number; status: number }
  | { kind: "packet"; data: Uint8Array; ppis: Ppi[] }
  | { kind: "unknown"; msgType: number; body: Uint8Array };

export type RndisKind = RndisMessage["kind"];

const TYPE_OF: Record<Exclude<RndisKind, "unknown">, number> = {
  init: RndisMsgType.RNDIS_MSG_INIT,
  "init-complete": RndisMsgType.RNDIS_MSG_INIT_C,
  halt: RndisMsgType.RNDIS_MSG_HALT,
  query: RndisMsgType.RNDIS_MSG_QUERY,
  "query-complete": RndisMsgType.RNDIS_MSG_QUERY_C,
  set: RndisMsgType.RNDIS_MSG_SET,
  "set-complete": RndisMsgType.RNDIS_MSG_SET_C,
  reset: RndisMsgType.RNDIS_MSG_RESET,
  "reset-complete": RndisMsgType.RNDIS_MSG_RESET_C,
  "indicate-status": RndisMsgType.RNDIS_MSG_INDICATE,
  keepalive: RndisMsgType.RNDIS_MSG_KEEPALIVE,
  "keepalive-complete": RndisMsgType.RNDIS_MSG_KEEPALIVE_C,
  packet: RndisMsgType.RNDIS_MSG_PACKET,
};

/** Size of one PPI entry: its 12-byte header and data. */
export function ppiSize(p: Ppi): number {
  return RNDIS_PER_PACKET_INFO.size + p.data.length;
}

/** msg_len of a message: header and body, with variable parts. */
export function rndisMessageLength(m: RndisMessage): number {
  const H = RNDIS_HEADER_SIZE;
  switch (m.kind) {
    case "init":
      return H + RNDIS_INITIALIZE_REQUEST.size;
    case "init-complete":
      return H + RNDIS_INITIALIZE_COMPLETE.size;
    case "halt":
    case "keepalive":
    case "reset":
      return H + 4;
    case "query":
    case "set":
      return H + RNDIS_QUERY_REQUEST.size + m.info.length;
    case "query-complete":
      return H + RNDIS_QUERY_COMPLETE.size + m.info.length;
    case "set-complete":
    case "keepalive-complete":
    case "reset-complete":
      return H + 8;
    case "indicate-status":
      return H + RNDIS_INDICATE_STATUS.size + m.statusBuf.length;
    case "packet":
      return H + RNDIS_PACKET.size + m.ppis.reduce((n, p) => n + ppiSize(p), 0) + m.data.length;
    case "unknown":
      return H + m.body.length;
  }
}

/**
 * Encode a message, laid out as Linux does: the info buffer of a query or set
 * right after the request (info_buf_offset = 20), a completion's info right after
 * it (offset 16), a packet's PPIs right after the rndis_packet and the frame after
 * them. Every byte is written; padding is zero.
 */
export function encodeRndis(m: RndisMessage): Uint8Array {
  const len = rndisMessageLength(m);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  const u32 = (at: number, x: number) => v.setUint32(RNDIS_HEADER_SIZE + at, x >>> 0, true);
  v.setUint32(0, m.kind === "unknown" ? m.msgType >>> 0 : TYPE_OF[m.kind], true);
  v.setUint32(4, len, true);
  switch (m.kind) {
    case "init":
      u32(0, m.reqId);
      u32(4, m.majorVer);
      u32(8, m.minorVer);
      u32(12, m.maxXferSize);
      break;
    case "init-complete": {
      const o = RNDIS_INITIALIZE_COMPLETE.off;
      u32(o.req_id, m.reqId);
      u32(o.status, m.status);
      u32(o.major_ver, m.majorVer);
      u32(o.minor_ver, m.minorVer);
      u32(o.dev_flags, m.devFlags);
      u32(o.medium, m.medium);
      u32(o.max_pkt_per_msg, m.maxPktPerMsg);
      u32(o.max_xfer_size, m.maxXferSize);
      u32(o.pkt_alignment_factor, m.pktAlignmentFactor);
      u32(o.af_list_offset, m.afListOffset);
      u32(o.af_list_size, m.afListSize);
      break;
    }
    case "halt":
    case "keepalive":
      u32(0, m.reqId);
      break;
    case "reset":
      u32(0, m.reserved);
      break;
    case "query":
    case "set": {
      const o = RNDIS_QUERY_REQUEST.off;
      u32(o.req_id, m.reqId);
      u32(o.oid, m.oid);
      u32(o.info_buflen, m.info.length);
      u32(o.info_buf_offset, RNDIS_QUERY_REQUEST.size);
      u32(o.dev_vc_handle, m.devVcHandle);
      b.set(m.info, RNDIS_HEADER_SIZE + RNDIS_QUERY_REQUEST.size);
      break;
    }
    case "query-complete": {
      const o = RNDIS_QUERY_COMPLETE.off;
      u32(o.req_id, m.reqId);
      u32(o.status, m.status);
      u32(o.info_buflen, m.info.length);
      u32(o.info_buf_offset, RNDIS_QUERY_COMPLETE.size);
      b.set(m.info, RNDIS_HEADER_SIZE + RNDIS_QUERY_COMPLETE.size);
      break;
    }
    case "set-complete":
    case "keepalive-complete":
      u32(0, m.reqId);
      u32(4, m.status);
      break;
    case "reset-complete":
      u32(0, m.status);
      u32(4, m.addressingReset);
      break;
    case "indicate-status": {
      const o = RNDIS_INDICATE_STATUS.off;
      u32(o.status, m.status);
      u32(o.status_buflen, m.statusBuf.length);
      u32(o.status_buf_offset, RNDIS_INDICATE_STATUS.size);
      b.set(m.statusBuf, RNDIS_HEADER_SIZE + RNDIS_INDICATE_STATUS.size);
      break;
    }
    case "packet": {
      let ppiLen = 0;
      let at = RNDIS_HEADER_SIZE + RNDIS_PACKET.size;
      for (const p of m.ppis) {
        v.setUint32(at, ppiSize(p), true);
        v.setUint32(at + 4, ((p.type & 0x7fffffff) | (p.internal ? 0x80000000 : 0)) >>> 0, true);
        v.setUint32(at + 8, RNDIS_PER_PACKET_INFO.size, true);
        b.set(p.data, at + RNDIS_PER_PACKET_INFO.size);
        at += ppiSize(p);
        ppiLen += ppiSize(p);
      }
      writePacketFields(v, 0, m.data.length, ppiLen);
      b.set(m.data, at);
      break;
    }
    case "unknown":
      b.set(m.body, RNDIS_HEADER_SIZE);
      break;
  }
  return b;
}

function writePacketFields(v: DataView, off: number, dataLen: number, ppiLen: number): void {
  const o = RNDIS_PACKET.off;
  const p = off + RNDIS_HEADER_SIZE;
  v.setUint32(p + o.data_offset, RNDIS_PACKET.size + ppiLen, true);
  v.setUint32(p + o.data_len, dataLen, true);
  v.setUint32(p + o.oob_data_offset, 0, true);
  v.setUint32(p + o.oob_data_len, 0, true);
  v.setUint32(p + o.num_oob_data_elements, 0, true);
  v.setUint32(p + o.per_pkt_info_offset, ppiLen > 0 ? RNDIS_PACKET.size : 0, true);
  v.setUint32(p + o.per_pkt_info_len, ppiLen, true);
  v.setUint32(p + o.vc_handle, 0, true);
  v.setUint32(p + o.reserved, 0, true);
}

/**
 * Check that [offset, offset+len) lies inside a body of `bodyLen` bytes whose
 * fixed part is `fixed` bytes (offsets count from the body's start).
 */
function inBody(offset: number, len: number, fixed: number, bodyLen: number): boolean {
  if (len === 0) return true;
  return offset >= fixed && offset <= bodyLen && len <= bodyLen - offset;
}

/**
 * Decode one RNDIS message from `len` bytes at `off` (a copy: nothing aliases
 * `src`). The header checks are rndis_filter_receive's; a packet's those of
 * rndis_filter_receive_data and rndis_get_ppi; a query completion's those of
 * rndis_filter_query_device.
 */
export function decodeRndis(src: Uint8Array, off = 0, len = src.length - off): RndisMessage | RndisFault {
  if (off < 0 || len < 0 || off + len > src.length)
    return fault("HVCOCO_ERR_RNDIS_TRUNCATED", "outside buffer");
  if (len < RNDIS_HEADER_SIZE) return fault("HVCOCO_ERR_RNDIS_TRUNCATED", `${len} bytes < 8-byte header`);
  const v = new DataView(src.buffer, src.byteOffset + off, len);
  const msgType = v.getUint32(0, true);
  const msgLen = v.getUint32(4, true);
  if (msgLen < RNDIS_HEADER_SIZE || msgLen > len)
    return fault("HVCOCO_ERR_RNDIS_MSG_LEN", `msg_len ${msgLen} outside [8, ${len}]`);
  const bodyLen = msgLen - RNDIS_HEADER_SIZE;
  const u32 = (at: number) => v.getUint32(RNDIS_HEADER_SIZE + at, true);
  const body = (at: number, n: number) =>
    src.slice(off + RNDIS_HEADER_SIZE + at, off + RNDIS_HEADER_SIZE + at + n);
  const need = (n: number): RndisFault | undefined =>
    bodyLen < n
      ? fault("HVCOCO_ERR_RNDIS_TRUNCATED", `type 0x${msgType.toString(16)}: body ${bodyLen} < ${n}`)
      : undefined;
  switch (msgType) {
    case RndisMsgType.RNDIS_MSG_INIT:
      return (
        need(16) ?? { kind: "init", reqId: u32(0), majorVer: u32(4), minorVer: u32(8), maxXferSize: u32(12) }
      );
    case RndisMsgType.RNDIS_MSG_INIT_C: {
      const o = RNDIS_INITIALIZE_COMPLETE.off;
      return (
        need(RNDIS_INITIALIZE_COMPLETE.size) ?? {
          kind: "init-complete",
          reqId: u32(o.req_id),
          status: u32(o.status),
          majorVer: u32(o.major_ver),
          minorVer: u32(o.minor_ver),
          devFlags: u32(o.dev_flags),
          medium: u32(o.medium),
          maxPktPerMsg: u32(o.max_pkt_per_msg),
          maxXferSize: u32(o.max_xfer_size),
          pktAlignmentFactor: u32(o.pkt_alignment_factor),
          afListOffset: u32(o.af_list_offset),
          afListSize: u32(o.af_list_size),
        }
      );
    }
    case RndisMsgType.RNDIS_MSG_HALT:
      return need(4) ?? { kind: "halt", reqId: u32(0) };
    case RndisMsgType.RNDIS_MSG_KEEPALIVE:
      return need(4) ?? { kind: "keepalive", reqId: u32(0) };
    case RndisMsgType.RNDIS_MSG_RESET:
      return need(4) ?? { kind: "reset", reserved: u32(0) };
    case RndisMsgType.RNDIS_MSG_QUERY:
    case RndisMsgType.RNDIS_MSG_SET: {
      const short = need(RNDIS_QUERY_REQUEST.size);
      if (short) return short;
      const o = RNDIS_QUERY_REQUEST.off;
      const infoLen = u32(o.info_buflen);
      const infoOff = u32(o.info_buf_offset);
      if (!inBody(infoOff, infoLen, RNDIS_QUERY_REQUEST.size, bodyLen))
        return fault("HVCOCO_ERR_RNDIS_INFO_RANGE", `info ${infoOff}+${infoLen} outside body of ${bodyLen}`);
      return {
        kind: msgType === RndisMsgType.RNDIS_MSG_QUERY ? "query" : "set",
        reqId: u32(o.req_id),
        oid: u32(o.oid),
        info: body(infoOff, infoLen),
        devVcHandle: u32(o.dev_vc_handle),
      };
    }
    case RndisMsgType.RNDIS_MSG_QUERY_C: {
      const short = need(RNDIS_QUERY_COMPLETE.size);
      if (short) return short;
      const o = RNDIS_QUERY_COMPLETE.off;
      const infoLen = u32(o.info_buflen);
      const infoOff = u32(o.info_buf_offset);
      if (!inBody(infoOff, infoLen, RNDIS_QUERY_COMPLETE.size, bodyLen))
        return fault("HVCOCO_ERR_RNDIS_INFO_RANGE", `info ${infoOff}+${infoLen} outside body of ${bodyLen}`);
      return {
        kind: "query-complete",
        reqId: u32(o.req_id),
        status: u32(o.status),
        info: body(infoOff, infoLen),
      };
    }
    case RndisMsgType.RNDIS_MSG_SET_C:
      return need(8) ?? { kind: "set-complete", reqId: u32(0), status: u32(4) };
    case RndisMsgType.RNDIS_MSG_KEEPALIVE_C:
      return need(8) ?? { kind: "keepalive-complete", reqId: u32(0), status: u32(4) };
    case RndisMsgType.RNDIS_MSG_RESET_C:
      return need(8) ?? { kind: "reset-complete", status: u32(0), addressingReset: u32(4) };
    case RndisMsgType.RNDIS_MSG_INDICATE: {
      const short = need(RNDIS_INDICATE_STATUS.size);
      if (short) return short;
      const o = RNDIS_INDICATE_STATUS.off;
      const sLen = u32(o.status_buflen);
      const sOff = u32(o.status_buf_offset);
      if (!inBody(sOff, sLen, RNDIS_INDICATE_STATUS.size, bodyLen))
        return fault(
          "HVCOCO_ERR_RNDIS_INFO_RANGE",
          `status buffer ${sOff}+${sLen} outside body of ${bodyLen}`,
        );
      return { kind: "indicate-status", status: u32(o.status), statusBuf: body(sOff, sLen) };
    }
    case RndisMsgType.RNDIS_MSG_PACKET: {
      const view = newRndisPacketView();
      const f = parseRndisPacket(src, off, len, view);
      if (f) return f;
      const ppis: Ppi[] = [];
      let at = view.ppiOffset;
      for (let i = 0; i < view.ppiCount; i++) {
        const size = v.getUint32(at - off, true);
        const word = v.getUint32(at - off + 4, true);
        const po = v.getUint32(at - off + 8, true);
        ppis.push({
          type: word & 0x7fffffff,
          internal: word >>> 31 === 1,
          data: src.slice(at + po, at + size),
        });
        at += size;
      }
      return { kind: "packet", data: src.slice(view.dataOffset, view.dataOffset + view.dataLength), ppis };
    }
    default:
      return { kind: "unknown", msgType, body: body(0, bodyLen) };
  }
}

// ---- the data path, without allocation ----

/**
 * Where a packet's frame and per-packet info are, as absolute offsets into the
 * buffer parseRndisPacket was given (valid, checked ranges only).
 */
export interface RndisPacketView {
  msgLen: number;
  dataOffset: number;
  dataLength: number;
  /** Absolute offset of the first PPI entry, and how many there are. */
  ppiOffset: number;
  ppiCount: number;
  /** Offsets (absolute) of the data of the PPIs hvcoco reads; -1 when absent. */
  vlanOffset: number;
  csumOffset: number;
  hashOffset: number;
  pktinfoIdOffset: number;
}

export function newRndisPacketView(): RndisPacketView {
  return {
    msgLen: 0,
    dataOffset: 0,
    dataLength: 0,
    ppiOffset: 0,
    ppiCount: 0,
    vlanOffset: -1,
    csumOffset: -1,
    hashOffset: -1,
    pktinfoIdOffset: -1,
  };
}

/**
 * Parse an RNDIS_MSG_PACKET in place into `out`. The checks:
 * rndis_filter_receive (8 <= msg_len <= buflen), rndis_filter_receive_data
 * (buflen >= 8 + 36; data_offset < buflen - 8; data_len fits after it) and
 * rndis_get_ppi (per_pkt_info_offset >= 36, the area inside the packet, each
 * entry's size >= 12 and within what is left, ppi_offset < size; a malformed
 * entry fails the packet instead of looping as the kernel would).
 */
export function parseRndisPacket(
  src: Uint8Array,
  off: number,
  len: number,
  out: RndisPacketView,
): RndisFault | undefined {
  const H = RNDIS_HEADER_SIZE;
  if (off < 0 || len < 0 || off + len > src.length)
    return fault("HVCOCO_ERR_RNDIS_TRUNCATED", "outside buffer");
  if (len < H + RNDIS_PACKET.size)
    return fault("HVCOCO_ERR_RNDIS_TRUNCATED", `packet of ${len} bytes < ${H + RNDIS_PACKET.size}`);
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const msgLen = v.getUint32(off + 4, true);
  if (msgLen < H || msgLen > len)
    return fault("HVCOCO_ERR_RNDIS_MSG_LEN", `msg_len ${msgLen} outside [8, ${len}]`);
  const p = off + H;
  const o = RNDIS_PACKET.off;
  const dataOffset = v.getUint32(p + o.data_offset, true);
  const dataLen = v.getUint32(p + o.data_len, true);
  const rpktLen = len - H;
  if (dataOffset >= rpktLen)
    return fault("HVCOCO_ERR_RNDIS_DATA_RANGE", `data_offset ${dataOffset} >= ${rpktLen}`);
  if (dataLen > rpktLen - dataOffset)
    return fault("HVCOCO_ERR_RNDIS_DATA_RANGE", `data_len ${dataLen} > ${rpktLen - dataOffset} after offset`);
  out.msgLen = msgLen;
  out.dataOffset = p + dataOffset;
  out.dataLength = dataLen;
  out.ppiOffset = 0;
  out.ppiCount = 0;
  out.vlanOffset = -1;
  out.csumOffset = -1;
  out.hashOffset = -1;
  out.pktinfoIdOffset = -1;
  const ppiOff = v.getUint32(p + o.per_pkt_info_offset, true);
  if (ppiOff === 0) return undefined;
  const ppiLen = v.getUint32(p + o.per_pkt_info_len, true);
  const PH = RNDIS_PER_PACKET_INFO.size;
  if (ppiOff < RNDIS_PACKET.size || ppiOff > rpktLen)
    return fault("HVCOCO_ERR_RNDIS_PPI", `per_pkt_info_offset ${ppiOff} outside [36, ${rpktLen}]`);
  if (ppiLen < PH || ppiLen > rpktLen - ppiOff)
    return fault("HVCOCO_ERR_RNDIS_PPI", `per_pkt_info_len ${ppiLen} outside [12, ${rpktLen - ppiOff}]`);
  out.ppiOffset = p + ppiOff;
  let at = p + ppiOff;
  let left = ppiLen;
  while (left > 0) {
    if (left < PH) return fault("HVCOCO_ERR_RNDIS_PPI", `${left} trailing bytes < a 12-byte entry`);
    const size = v.getUint32(at, true);
    const word = v.getUint32(at + 4, true);
    const po = v.getUint32(at + 8, true);
    if (size < PH || size > left)
      return fault("HVCOCO_ERR_RNDIS_PPI", `ppi size ${size} outside [12, ${left}]`);
    if (po >= size) return fault("HVCOCO_ERR_RNDIS_PPI", `ppi_offset ${po} >= size ${size}`);
    const type = word & 0x7fffffff;
    const internal = word >>> 31 === 1;
    const dataAt = at + po;
    const room = size - po;
    if (!internal && type === PpiType.IEEE_8021Q_INFO && room >= 4) out.vlanOffset = dataAt;
    else if (!internal && type === PpiType.TCPIP_CHKSUM_PKTINFO && room >= 4) out.csumOffset = dataAt;
    else if (!internal && type === PpiType.NBL_HASH_VALUE && room >= 4) out.hashOffset = dataAt;
    else if (internal && type === PpiType.RNDIS_PKTINFO_ID && room >= 4) out.pktinfoIdOffset = dataAt;
    out.ppiCount++;
    at += size;
    left -= size;
  }
  return undefined;
}

/**
 * Write the 44-byte header of an RNDIS_MSG_PACKET (header + rndis_packet) with no
 * per-packet info, as netvsc_xmit does when it adds none: the frame of
 * `frameLen` bytes goes right after it (data_offset 36). Returns 44.
 */
export function writeRndisPacketHeader(dst: Uint8Array, off: number, frameLen: number): number {
  const n = RndisConst.RNDIS_PACKET_MESSAGE_SIZE;
  if (off < 0 || off + n > dst.length) throw new Error("rndis packet header outside dst");
  const v = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  v.setUint32(off, RndisMsgType.RNDIS_MSG_PACKET, true);
  v.setUint32(off + 4, n + frameLen, true);
  writePacketFields(v, off, frameLen, 0);
  return n;
}

// ---- the layout section ----

export const RNDIS_LAYOUT: LayoutSection = {
  section: "rndis",
  structs: [
    RNDIS_MESSAGE,
    RNDIS_INITIALIZE_REQUEST,
    RNDIS_INITIALIZE_COMPLETE,
    RNDIS_HALT_REQUEST,
    RNDIS_QUERY_REQUEST,
    RNDIS_QUERY_COMPLETE,
    RNDIS_SET_REQUEST,
    RNDIS_SET_COMPLETE,
    RNDIS_RESET_REQUEST,
    RNDIS_RESET_COMPLETE,
    RNDIS_INDICATE_STATUS,
    RNDIS_KEEPALIVE_REQUEST,
    RNDIS_KEEPALIVE_COMPLETE,
    RNDIS_PACKET,
    RNDIS_PER_PACKET_INFO,
    RNDIS_PKTINFO_ID,
    NDIS_OBJECT_HEADER,
    RNDIS_CONFIG_PARAMETER_INFO,
    NDIS_OFFLOAD,
  ],
  constants: [
    ...constantsOf("rndis_msg_type", R, RndisMsgType),
    ...constantsOf("rndis_status", R, RndisStatus),
    ...constantsOf("rndis", `${R}; ${F}`, RndisConst),
    ...constantsOf("rndis_oid", `${R}; ${N}`, RndisOid),
    ...constantsOf("ndis_packet_type", N, NdisPacketType),
    ...constantsOf("ndis_per_pkt_info_type", N, PpiType),
  ],
};
