// NVSP, the protocol netvsc and netvsp speak over a VMBus channel
// (drivers/net/hyperv/hyperv_net.h and netvsc.c, Linux 0291023e; kernel-facts.md
// §8.2). Every message is a struct nvsp_message: a u32 msg_type and a union whose
// largest member (the v6 PD-API completion, 36 bytes) makes the struct 40 bytes.
// The guest sends sizeof(struct nvsp_message); a receive completion is 8 bytes.
//
// Decoders take the other side's bytes: they return an NvspFault, never throw,
// copy what they keep, and keep unknown message types as {kind: "unknown"}.
import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf, defineStruct } from "../layout/struct.ts";

const N = "drivers/net/hyperv/hyperv_net.h (Linux 0291023e)";
const NC = "drivers/net/hyperv/netvsc.c (Linux 0291023e)";

// ---- layouts ----

// hyperv_net.h: struct nvsp_message_header
export const NVSP_MESSAGE_HEADER = defineStruct("nvsp_message_header", N, [{ name: "msg_type", size: 4 }]);

// hyperv_net.h: struct nvsp_message (__packed): header + union nvsp_all_messages
export const NVSP_MESSAGE = defineStruct("nvsp_message", N, [
  { name: "hdr", size: 4, note: "struct nvsp_message_header" },
  { name: "msg", size: 1, count: 36, note: "union nvsp_all_messages; largest: nvsp_6_pd_api_comp (36 B)" },
]);

/** Offset of the union in nvsp_message: every body offset below is relative to it. */
export const NVSP_BODY = NVSP_MESSAGE.off.msg;

// hyperv_net.h: struct nvsp_message_init (__packed)
export const NVSP_MESSAGE_INIT = defineStruct("nvsp_message_init", N, [
  { name: "min_protocol_ver", size: 4 },
  { name: "max_protocol_ver", size: 4 },
]);

// hyperv_net.h: struct nvsp_message_init_complete (__packed)
export const NVSP_MESSAGE_INIT_COMPLETE = defineStruct("nvsp_message_init_complete", N, [
  { name: "negotiated_protocol_ver", size: 4 },
  { name: "max_mdl_chain_len", size: 4 },
  { name: "status", size: 4, note: "NVSP_STAT_*" },
]);

// hyperv_net.h: struct nvsp_1_message_send_ndis_version (__packed)
export const NVSP_1_MESSAGE_SEND_NDIS_VERSION = defineStruct("nvsp_1_message_send_ndis_version", N, [
  { name: "ndis_major_ver", size: 4 },
  { name: "ndis_minor_ver", size: 4 },
]);

// hyperv_net.h: struct nvsp_1_message_send_receive_buffer (__packed)
export const NVSP_1_MESSAGE_SEND_RECEIVE_BUFFER = defineStruct("nvsp_1_message_send_receive_buffer", N, [
  { name: "gpadl_handle", size: 4 },
  { name: "id", size: 2, note: "NETVSC_RECEIVE_BUFFER_ID 0xcafe" },
]);

// hyperv_net.h: struct nvsp_1_receive_buffer_section (__packed)
export const NVSP_1_RECEIVE_BUFFER_SECTION = defineStruct("nvsp_1_receive_buffer_section", N, [
  { name: "offset", size: 4 },
  { name: "sub_alloc_size", size: 4 },
  { name: "num_sub_allocs", size: 4 },
  { name: "end_offset", size: 4 },
]);

// hyperv_net.h: struct nvsp_1_message_send_receive_buffer_complete (__packed, flexible sections[])
export const NVSP_1_MESSAGE_SEND_RECEIVE_BUFFER_COMPLETE = defineStruct(
  "nvsp_1_message_send_receive_buffer_complete",
  N,
  [
    { name: "status", size: 4 },
    { name: "num_sections", size: 4 },
    { name: "sections", size: 16, count: 0, note: "struct nvsp_1_receive_buffer_section[num_sections]" },
  ],
);

// hyperv_net.h: struct nvsp_1_message_revoke_receive_buffer / _send_buffer
export const NVSP_1_MESSAGE_REVOKE_BUFFER = defineStruct("nvsp_1_message_revoke_receive_buffer", N, [
  { name: "id", size: 2 },
]);

// hyperv_net.h: struct nvsp_1_message_send_send_buffer (__packed)
export const NVSP_1_MESSAGE_SEND_SEND_BUFFER = defineStruct("nvsp_1_message_send_send_buffer", N, [
  { name: "gpadl_handle", size: 4 },
  { name: "id", size: 2, note: "NETVSC_SEND_BUFFER_ID 0" },
]);

// hyperv_net.h: struct nvsp_1_message_send_send_buffer_complete (__packed)
export const NVSP_1_MESSAGE_SEND_SEND_BUFFER_COMPLETE = defineStruct(
  "nvsp_1_message_send_send_buffer_complete",
  N,
  [
    { name: "status", size: 4 },
    { name: "section_size", size: 4 },
  ],
);

// hyperv_net.h: struct nvsp_1_message_send_rndis_packet (__packed)
export const NVSP_1_MESSAGE_SEND_RNDIS_PACKET = defineStruct("nvsp_1_message_send_rndis_packet", N, [
  { name: "channel_type", size: 4, note: "0 data, 1 control" },
  { name: "send_buf_section_index", size: 4, note: "0xffffffff: not in the send buffer" },
  { name: "send_buf_section_size", size: 4 },
]);

// hyperv_net.h: struct nvsp_1_message_send_rndis_packet_complete
export const NVSP_1_MESSAGE_SEND_RNDIS_PACKET_COMPLETE = defineStruct(
  "nvsp_1_message_send_rndis_packet_complete",
  N,
  [{ name: "status", size: 4 }],
);

// hyperv_net.h: struct nvsp_2_send_ndis_config (__packed) with struct nvsp_2_vsc_capability
export const NVSP_2_SEND_NDIS_CONFIG = defineStruct("nvsp_2_send_ndis_config", N, [
  { name: "mtu", size: 4, note: "MTU + ETH_HLEN" },
  { name: "reserved", size: 4 },
  {
    name: "capability",
    size: 8,
    note: "bits: 0 vmq, 1 chimney, 2 sriov, 3 ieee8021q, 4 correlation_id, 5 teaming, 6 vsubnetid, 7 rsc",
  },
]);

// hyperv_net.h: struct nvsp_4_send_vf_association (__packed)
export const NVSP_4_SEND_VF_ASSOCIATION = defineStruct("nvsp_4_send_vf_association", N, [
  { name: "allocated", size: 4 },
  { name: "serial", size: 4 },
]);

// hyperv_net.h: struct nvsp_4_sw_datapath (__packed)
export const NVSP_4_SW_DATAPATH = defineStruct("nvsp_4_sw_datapath", N, [
  { name: "active_datapath", size: 4, note: "0 synthetic, 1 VF" },
]);

// hyperv_net.h: struct nvsp_5_subchannel_request / _complete (__packed)
export const NVSP_5_SUBCHANNEL_REQUEST = defineStruct("nvsp_5_subchannel_request", N, [
  { name: "op", size: 4, note: "1 NVSP_SUBCHANNEL_ALLOCATE" },
  { name: "num_subchannels", size: 4 },
]);
export const NVSP_5_SUBCHANNEL_COMPLETE = defineStruct("nvsp_5_subchannel_complete", N, [
  { name: "status", size: 4 },
  { name: "num_subchannels", size: 4 },
]);

// hyperv_net.h: struct nvsp_5_send_indirect_table (__packed)
export const NVSP_5_SEND_INDIRECT_TABLE = defineStruct("nvsp_5_send_indirect_table", N, [
  { name: "count", size: 4, note: "must be VRSS_SEND_TAB_SIZE (16)" },
  { name: "offset", size: 4, note: "from the start of struct nvsp_message" },
]);

// hyperv_net.h: struct nvsp_6_pd_api_comp (__packed) — the union's largest member
export const NVSP_6_PD_API_COMP = defineStruct("nvsp_6_pd_api_comp", N, [
  { name: "op", size: 4 },
  { name: "status", size: 4 },
  {
    name: "u",
    size: 1,
    count: 28,
    note: "largest member cr_q: prov_id, q_id, q_size, recv_data_len, grp_affinity",
  },
]);

// ---- constants ----

// hyperv_net.h: NVSP_PROTOCOL_VERSION_*
export const NvspVersion = {
  NVSP_INVALID_PROTOCOL_VERSION: 0xffffffff,
  NVSP_PROTOCOL_VERSION_1: 0x2,
  NVSP_PROTOCOL_VERSION_2: 0x30002,
  NVSP_PROTOCOL_VERSION_4: 0x40000,
  NVSP_PROTOCOL_VERSION_5: 0x50000,
  NVSP_PROTOCOL_VERSION_6: 0x60000,
  NVSP_PROTOCOL_VERSION_61: 0x60001,
} as const;

/** netvsc_connect_vsp's ver_list, tried from the last (newest) to the first. */
export const NVSP_VERSIONS: readonly number[] = [
  NvspVersion.NVSP_PROTOCOL_VERSION_1,
  NvspVersion.NVSP_PROTOCOL_VERSION_2,
  NvspVersion.NVSP_PROTOCOL_VERSION_4,
  NvspVersion.NVSP_PROTOCOL_VERSION_5,
  NvspVersion.NVSP_PROTOCOL_VERSION_6,
  NvspVersion.NVSP_PROTOCOL_VERSION_61,
];

// hyperv_net.h: the anonymous enum of message types (values by enum order)
export const NvspMsgType = {
  NVSP_MSG_TYPE_NONE: 0,
  NVSP_MSG_TYPE_INIT: 1,
  NVSP_MSG_TYPE_INIT_COMPLETE: 2,
  NVSP_MSG1_TYPE_SEND_NDIS_VER: 100,
  NVSP_MSG1_TYPE_SEND_RECV_BUF: 101,
  NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE: 102,
  NVSP_MSG1_TYPE_REVOKE_RECV_BUF: 103,
  NVSP_MSG1_TYPE_SEND_SEND_BUF: 104,
  NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE: 105,
  NVSP_MSG1_TYPE_REVOKE_SEND_BUF: 106,
  NVSP_MSG1_TYPE_SEND_RNDIS_PKT: 107,
  NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE: 108,
  NVSP_MSG2_TYPE_SEND_CHIMNEY_DELEGATED_BUF: 109,
  NVSP_MSG2_TYPE_SEND_CHIMNEY_DELEGATED_BUF_COMP: 110,
  NVSP_MSG2_TYPE_REVOKE_CHIMNEY_DELEGATED_BUF: 111,
  NVSP_MSG2_TYPE_RESUME_CHIMNEY_RX_INDICATION: 112,
  NVSP_MSG2_TYPE_TERMINATE_CHIMNEY: 113,
  NVSP_MSG2_TYPE_TERMINATE_CHIMNEY_COMP: 114,
  NVSP_MSG2_TYPE_INDICATE_CHIMNEY_EVENT: 115,
  NVSP_MSG2_TYPE_SEND_CHIMNEY_PKT: 116,
  NVSP_MSG2_TYPE_SEND_CHIMNEY_PKT_COMP: 117,
  NVSP_MSG2_TYPE_POST_CHIMNEY_RECV_REQ: 118,
  NVSP_MSG2_TYPE_POST_CHIMNEY_RECV_REQ_COMP: 119,
  NVSP_MSG2_TYPE_ALLOC_RXBUF: 120,
  NVSP_MSG2_TYPE_ALLOC_RXBUF_COMP: 121,
  NVSP_MSG2_TYPE_FREE_RXBUF: 122,
  NVSP_MSG2_TYPE_SEND_VMQ_RNDIS_PKT: 123,
  NVSP_MSG2_TYPE_SEND_VMQ_RNDIS_PKT_COMP: 124,
  NVSP_MSG2_TYPE_SEND_NDIS_CONFIG: 125,
  NVSP_MSG2_TYPE_ALLOC_CHIMNEY_HANDLE: 126,
  NVSP_MSG2_TYPE_ALLOC_CHIMNEY_HANDLE_COMP: 127,
  NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION: 128,
  NVSP_MSG4_TYPE_SWITCH_DATA_PATH: 129,
  NVSP_MSG4_TYPE_UPLINK_CONNECT_STATE_DEPRECATED: 130,
  NVSP_MSG5_TYPE_OID_QUERY_EX: 131,
  NVSP_MSG5_TYPE_OID_QUERY_EX_COMP: 132,
  NVSP_MSG5_TYPE_SUBCHANNEL: 133,
  NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE: 134,
  NVSP_MSG6_TYPE_PD_API: 135,
  NVSP_MSG6_TYPE_PD_POST_BATCH: 136,
} as const;

// hyperv_net.h: NVSP_STAT_*
export const NvspStatus = {
  NVSP_STAT_NONE: 0,
  NVSP_STAT_SUCCESS: 1,
  NVSP_STAT_FAIL: 2,
  NVSP_STAT_PROTOCOL_TOO_NEW: 3,
  NVSP_STAT_PROTOCOL_TOO_OLD: 4,
  NVSP_STAT_INVALID_RNDIS_PKT: 5,
  NVSP_STAT_BUSY: 6,
  NVSP_STAT_PROTOCOL_UNSUPPORTED: 7,
} as const;

// hyperv_net.h: struct nvsp_2_vsc_capability bits
export const NvspCapability = {
  VMQ: 1n << 0n,
  CHIMNEY: 1n << 1n,
  SRIOV: 1n << 2n,
  IEEE8021Q: 1n << 3n,
  CORRELATION_ID: 1n << 4n,
  TEAMING: 1n << 5n,
  VSUBNETID: 1n << 6n,
  RSC: 1n << 7n,
} as const;

// hyperv_net.h / netvsc.c: sizes, ids and defaults
export const NetvscConst = {
  NVSP_MESSAGE_SIZE: 40,
  /** netvsc_send_recv_completion: header + u32 status. */
  NVSP_RECV_COMPLETION_SIZE: 8,
  NETVSC_RECEIVE_BUFFER_SIZE: 31 * 1024 * 1024,
  NETVSC_RECEIVE_BUFFER_SIZE_LEGACY: 15 * 1024 * 1024,
  NETVSC_RECEIVE_BUFFER_DEFAULT: 16 * 1024 * 1024,
  NETVSC_SEND_BUFFER_SIZE: 15 * 1024 * 1024,
  NETVSC_SEND_BUFFER_DEFAULT: 1024 * 1024,
  NETVSC_SEND_SECTION_SIZE: 6144,
  NETVSC_RECV_SECTION_SIZE: 1728,
  NETVSC_RECEIVE_BUFFER_ID: 0xcafe,
  NETVSC_SEND_BUFFER_ID: 0,
  NETVSC_INVALID_INDEX: 0xffffffff,
  NETVSC_MTU: 65535,
  /** ETH_MIN_MTU: the smallest sub-allocation / section the guest accepts. */
  NETVSC_MTU_MIN: 68,
  VRSS_SEND_TAB_SIZE: 16,
  VRSS_CHANNEL_MAX: 64,
  VRSS_CHANNEL_DEFAULT: 16,
  RNDIS_MAX_PKT_DEFAULT: 8,
  RNDIS_PKT_ALIGN_DEFAULT: 8,
  NVSP_RSC_MAX: 562,
  /** NDIS version sent for NVSP > v4 (6.30) and for <= v4 (6.1). */
  NDIS_VERSION_6_30: 0x0006001e,
  NDIS_VERSION_6_1: 0x00060001,
  /** nvsp_1_message_send_rndis_packet.channel_type. */
  RNDIS_CHANNEL_DATA: 0,
  RNDIS_CHANNEL_CONTROL: 1,
  NVSP_SUBCHANNEL_ALLOCATE: 1,
  NVSP_DATAPATH_SYNTHETIC: 0,
  NVSP_DATAPATH_VF: 1,
} as const;

// ---- hostile-input faults ----

/** Every reject reason of the NVSP codec, with its one-line meaning. Codes are stable. */
export const NVSP_ERRORS = {
  HVCOCO_ERR_NVSP_TRUNCATED: "nvsp_message shorter than its header or than the body its msg_type needs",
  HVCOCO_ERR_NVSP_SECTION_COUNT:
    "send_recv_buf_complete num_sections needs more bytes than the message holds",
} as const;

export type NvspErrorCode = keyof typeof NVSP_ERRORS;

export interface NvspFault {
  readonly code: NvspErrorCode;
  readonly detail: string;
}

function fault(code: NvspErrorCode, detail: string): NvspFault {
  return { code, detail };
}

/** Tell a fault from a decoded value (decoded values never carry `code`). */
export function isNvspFault(x: unknown): x is NvspFault {
  return typeof x === "object" && x !== null && "code" in x && typeof x.code === "string";
}

// ---- messages ----

export interface RecvBufSection {
  offset: number;
  subAllocSize: number;
  numSubAllocs: number;
  endOffset: number;
}

/** Every NVSP message hvcoco uses, as a tagged union. */
export type NvspMessage =
  | { kind: "init"; minProtocolVer: number; maxProtocolVer: number }
  | { kind: "init-complete"; negotiatedProtocolVer: number; maxMdlChainLen: number; status: number }
  | { kind: "send-ndis-version"; ndisMajorVer: number; ndisMinorVer: number }
  | { kind: "send-recv-buf"; gpadlHandle: number; id: number }
  | { kind: "send-recv-buf-complete"; status: number; numSections: number; sections: RecvBufSection[] }
  | { kind: "revoke-recv-buf"; id: number }
  | { kind: "send-send-buf"; gpadlHandle: number; id: number }
  | { kind: "send-send-buf-complete"; status: number; sectionSize: number }
  | { kind: "revoke-send-buf"; id: number }
  | { kind: "send-rndis-pkt"; channelType: number; sendBufSectionIndex: number; sendBufSectionSize: number }
  | { kind: "send-rndis-pkt-complete"; status: number }
  | { kind: "send-ndis-config"; mtu: number; reserved: number; capability: bigint }
  | { kind: "vf-association"; allocated: number; serial: number }
  | { kind: "switch-data-path"; activeDatapath: number }
  | { kind: "subchannel-request"; op: number; numSubchannels: number }
  | { kind: "subchannel-complete"; status: number; numSubchannels: number }
  | { kind: "send-indirection-table"; count: number; offset: number }
  | { kind: "unknown"; msgType: number; body: Uint8Array };

export type NvspKind = NvspMessage["kind"];

/** The msg_type of each kind. (SUBCHANNEL is one type both ways.) */
export const NVSP_TYPE_OF: Record<Exclude<NvspKind, "unknown">, number> = {
  init: NvspMsgType.NVSP_MSG_TYPE_INIT,
  "init-complete": NvspMsgType.NVSP_MSG_TYPE_INIT_COMPLETE,
  "send-ndis-version": NvspMsgType.NVSP_MSG1_TYPE_SEND_NDIS_VER,
  "send-recv-buf": NvspMsgType.NVSP_MSG1_TYPE_SEND_RECV_BUF,
  "send-recv-buf-complete": NvspMsgType.NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE,
  "revoke-recv-buf": NvspMsgType.NVSP_MSG1_TYPE_REVOKE_RECV_BUF,
  "send-send-buf": NvspMsgType.NVSP_MSG1_TYPE_SEND_SEND_BUF,
  "send-send-buf-complete": NvspMsgType.NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE,
  "revoke-send-buf": NvspMsgType.NVSP_MSG1_TYPE_REVOKE_SEND_BUF,
  "send-rndis-pkt": NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT,
  "send-rndis-pkt-complete": NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE,
  "send-ndis-config": NvspMsgType.NVSP_MSG2_TYPE_SEND_NDIS_CONFIG,
  "vf-association": NvspMsgType.NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION,
  "switch-data-path": NvspMsgType.NVSP_MSG4_TYPE_SWITCH_DATA_PATH,
  "subchannel-request": NvspMsgType.NVSP_MSG5_TYPE_SUBCHANNEL,
  "subchannel-complete": NvspMsgType.NVSP_MSG5_TYPE_SUBCHANNEL,
  "send-indirection-table": NvspMsgType.NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE,
};

/** Bytes of the body (after the 4-byte header) each message needs. */
export function nvspBodySize(m: NvspMessage): number {
  switch (m.kind) {
    case "init":
    case "send-ndis-version":
    case "send-send-buf-complete":
    case "vf-association":
    case "subchannel-request":
    case "subchannel-complete":
    case "send-indirection-table":
      return 8;
    case "init-complete":
    case "send-rndis-pkt":
      return 12;
    case "send-recv-buf":
    case "send-send-buf":
      return 6;
    case "send-recv-buf-complete":
      return 8 + 16 * m.sections.length;
    case "revoke-recv-buf":
    case "revoke-send-buf":
      return 2;
    case "send-rndis-pkt-complete":
    case "switch-data-path":
      return 4;
    case "send-ndis-config":
      return 16;
    case "unknown":
      return m.body.length;
  }
}

/**
 * The size netvsc puts on the wire: sizeof(struct nvsp_message) (40) for every
 * message, more when a receive-buffer completion carries several sections.
 * (netvsc_send_recv_completion sends NVSP_RECV_COMPLETION_SIZE: pass it as `size`.)
 */
export function nvspWireSize(m: NvspMessage): number {
  return Math.max(NetvscConst.NVSP_MESSAGE_SIZE, 4 + nvspBodySize(m));
}

/**
 * Write a message at `off` in `size` bytes (default nvspWireSize): the header,
 * the body, and zeros in every byte the body does not use (C18). Returns `size`.
 */
export function writeNvspMessage(
  dst: Uint8Array,
  off: number,
  m: NvspMessage,
  size = nvspWireSize(m),
): number {
  const need = 4 + nvspBodySize(m);
  if (size < need) throw new Error(`nvsp ${m.kind} needs ${need} bytes, got ${size}`);
  if (off < 0 || off + size > dst.length) throw new Error("nvsp_message outside dst");
  dst.fill(0, off, off + size);
  const v = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  const b = off + NVSP_BODY;
  const u32 = (at: number, x: number) => v.setUint32(b + at, x >>> 0, true);
  v.setUint32(off, m.kind === "unknown" ? m.msgType >>> 0 : NVSP_TYPE_OF[m.kind], true);
  switch (m.kind) {
    case "init":
      u32(0, m.minProtocolVer);
      u32(4, m.maxProtocolVer);
      break;
    case "init-complete":
      u32(0, m.negotiatedProtocolVer);
      u32(4, m.maxMdlChainLen);
      u32(8, m.status);
      break;
    case "send-ndis-version":
      u32(0, m.ndisMajorVer);
      u32(4, m.ndisMinorVer);
      break;
    case "send-recv-buf":
    case "send-send-buf":
      u32(0, m.gpadlHandle);
      v.setUint16(b + 4, m.id, true);
      break;
    case "send-recv-buf-complete":
      u32(0, m.status);
      u32(4, m.numSections);
      m.sections.forEach((s, i) => {
        const at = 8 + 16 * i;
        u32(at, s.offset);
        u32(at + 4, s.subAllocSize);
        u32(at + 8, s.numSubAllocs);
        u32(at + 12, s.endOffset);
      });
      break;
    case "revoke-recv-buf":
    case "revoke-send-buf":
      v.setUint16(b, m.id, true);
      break;
    case "send-send-buf-complete":
      u32(0, m.status);
      u32(4, m.sectionSize);
      break;
    case "send-rndis-pkt":
      u32(0, m.channelType);
      u32(4, m.sendBufSectionIndex);
      u32(8, m.sendBufSectionSize);
      break;
    case "send-rndis-pkt-complete":
      u32(0, m.status);
      break;
    case "send-ndis-config":
      u32(0, m.mtu);
      u32(4, m.reserved);
      v.setBigUint64(b + 8, m.capability, true);
      break;
    case "vf-association":
      u32(0, m.allocated);
      u32(4, m.serial);
      break;
    case "switch-data-path":
      u32(0, m.activeDatapath);
      break;
    case "subchannel-request":
      u32(0, m.op);
      u32(4, m.numSubchannels);
      break;
    case "subchannel-complete":
      u32(0, m.status);
      u32(4, m.numSubchannels);
      break;
    case "send-indirection-table":
      u32(0, m.count);
      u32(4, m.offset);
      break;
    case "unknown":
      dst.set(m.body, b);
      break;
  }
  return size;
}

/** A new buffer holding the message (see writeNvspMessage). */
export function encodeNvspMessage(m: NvspMessage, size = nvspWireSize(m)): Uint8Array {
  const out = new Uint8Array(size);
  writeNvspMessage(out, 0, m, size);
  return out;
}

/** Minimum body bytes per msg_type for the types the decoder knows (netvsc_send_completion). */
function minBody(msgType: number): number | undefined {
  switch (msgType) {
    case NvspMsgType.NVSP_MSG_TYPE_INIT:
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_NDIS_VER:
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE:
    case NvspMsgType.NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION:
    case NvspMsgType.NVSP_MSG5_TYPE_SUBCHANNEL:
    case NvspMsgType.NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE:
      return 8;
    case NvspMsgType.NVSP_MSG_TYPE_INIT_COMPLETE:
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT:
      return 12;
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RECV_BUF:
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_SEND_BUF:
      return 6;
    // struct_size(..., sections, 1): a completion must hold at least one section.
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE:
      return 8 + 16;
    case NvspMsgType.NVSP_MSG1_TYPE_REVOKE_RECV_BUF:
    case NvspMsgType.NVSP_MSG1_TYPE_REVOKE_SEND_BUF:
      return 2;
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE:
    case NvspMsgType.NVSP_MSG4_TYPE_SWITCH_DATA_PATH:
      return 4;
    case NvspMsgType.NVSP_MSG2_TYPE_SEND_NDIS_CONFIG:
      return 16;
    default:
      return undefined;
  }
}

/**
 * Decode one NVSP message. `from` says who sent it: a SUBCHANNEL message is a
 * request from the guest and a completion from the host. Length checks follow
 * netvsc_send_completion / netvsc_receive (header, then the body its type needs).
 */
export function decodeNvspMessage(src: Uint8Array, from: "guest" | "host"): NvspMessage | NvspFault {
  if (src.length < 4) return fault("HVCOCO_ERR_NVSP_TRUNCATED", `${src.length} bytes < 4-byte header`);
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const msgType = v.getUint32(0, true);
  const bodyLen = src.length - 4;
  const need = minBody(msgType);
  if (need === undefined) return { kind: "unknown", msgType, body: src.slice(4) };
  if (bodyLen < need)
    return fault("HVCOCO_ERR_NVSP_TRUNCATED", `msg_type ${msgType}: body of ${bodyLen} bytes < ${need}`);
  const u32 = (at: number) => v.getUint32(4 + at, true);
  switch (msgType) {
    case NvspMsgType.NVSP_MSG_TYPE_INIT:
      return { kind: "init", minProtocolVer: u32(0), maxProtocolVer: u32(4) };
    case NvspMsgType.NVSP_MSG_TYPE_INIT_COMPLETE:
      return { kind: "init-complete", negotiatedProtocolVer: u32(0), maxMdlChainLen: u32(4), status: u32(8) };
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_NDIS_VER:
      return { kind: "send-ndis-version", ndisMajorVer: u32(0), ndisMinorVer: u32(4) };
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RECV_BUF:
      return { kind: "send-recv-buf", gpadlHandle: u32(0), id: v.getUint16(8, true) };
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE: {
      const numSections = u32(4);
      const room = Math.floor((bodyLen - 8) / 16);
      if (numSections > room)
        return fault("HVCOCO_ERR_NVSP_SECTION_COUNT", `num_sections ${numSections} > ${room} present`);
      const sections: RecvBufSection[] = [];
      for (let i = 0; i < numSections; i++) {
        const at = 8 + 16 * i;
        sections.push({
          offset: u32(at),
          subAllocSize: u32(at + 4),
          numSubAllocs: u32(at + 8),
          endOffset: u32(at + 12),
        });
      }
      return { kind: "send-recv-buf-complete", status: u32(0), numSections, sections };
    }
    case NvspMsgType.NVSP_MSG1_TYPE_REVOKE_RECV_BUF:
      return { kind: "revoke-recv-buf", id: v.getUint16(4, true) };
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_SEND_BUF:
      return { kind: "send-send-buf", gpadlHandle: u32(0), id: v.getUint16(8, true) };
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE:
      return { kind: "send-send-buf-complete", status: u32(0), sectionSize: u32(4) };
    case NvspMsgType.NVSP_MSG1_TYPE_REVOKE_SEND_BUF:
      return { kind: "revoke-send-buf", id: v.getUint16(4, true) };
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT:
      return {
        kind: "send-rndis-pkt",
        channelType: u32(0),
        sendBufSectionIndex: u32(4),
        sendBufSectionSize: u32(8),
      };
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE:
      return { kind: "send-rndis-pkt-complete", status: u32(0) };
    case NvspMsgType.NVSP_MSG2_TYPE_SEND_NDIS_CONFIG:
      return {
        kind: "send-ndis-config",
        mtu: u32(0),
        reserved: u32(4),
        capability: v.getBigUint64(12, true),
      };
    case NvspMsgType.NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION:
      return { kind: "vf-association", allocated: u32(0), serial: u32(4) };
    case NvspMsgType.NVSP_MSG4_TYPE_SWITCH_DATA_PATH:
      return { kind: "switch-data-path", activeDatapath: u32(0) };
    case NvspMsgType.NVSP_MSG5_TYPE_SUBCHANNEL:
      return from === "guest"
        ? { kind: "subchannel-request", op: u32(0), numSubchannels: u32(4) }
        : { kind: "subchannel-complete", status: u32(0), numSubchannels: u32(4) };
    case NvspMsgType.NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE:
      return { kind: "send-indirection-table", count: u32(0), offset: u32(4) };
    default:
      return { kind: "unknown", msgType, body: src.slice(4) };
  }
}

/**
 * Read the msg_type and, for a SEND_RNDIS_PKT, its three fields, without
 * allocating (the data path: one per packet). Returns false if `src` is too short.
 */
export function readRndisPktHeader(
  src: Uint8Array,
  off: number,
  len: number,
  out: { msgType: number; channelType: number; sendBufSectionIndex: number; sendBufSectionSize: number },
): boolean {
  if (len < 4 || off < 0 || off + len > src.length) return false;
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  out.msgType = v.getUint32(off, true);
  if (out.msgType !== NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT) return true;
  if (len < 16) return false;
  out.channelType = v.getUint32(off + 4, true);
  out.sendBufSectionIndex = v.getUint32(off + 8, true);
  out.sendBufSectionSize = v.getUint32(off + 12, true);
  return true;
}

// ---- the layout section ----

export const NETVSC_LAYOUT: LayoutSection = {
  section: "netvsc",
  structs: [
    NVSP_MESSAGE_HEADER,
    NVSP_MESSAGE,
    NVSP_MESSAGE_INIT,
    NVSP_MESSAGE_INIT_COMPLETE,
    NVSP_1_MESSAGE_SEND_NDIS_VERSION,
    NVSP_1_MESSAGE_SEND_RECEIVE_BUFFER,
    NVSP_1_RECEIVE_BUFFER_SECTION,
    NVSP_1_MESSAGE_SEND_RECEIVE_BUFFER_COMPLETE,
    NVSP_1_MESSAGE_REVOKE_BUFFER,
    NVSP_1_MESSAGE_SEND_SEND_BUFFER,
    NVSP_1_MESSAGE_SEND_SEND_BUFFER_COMPLETE,
    NVSP_1_MESSAGE_SEND_RNDIS_PACKET,
    NVSP_1_MESSAGE_SEND_RNDIS_PACKET_COMPLETE,
    NVSP_2_SEND_NDIS_CONFIG,
    NVSP_4_SEND_VF_ASSOCIATION,
    NVSP_4_SW_DATAPATH,
    NVSP_5_SUBCHANNEL_REQUEST,
    NVSP_5_SUBCHANNEL_COMPLETE,
    NVSP_5_SEND_INDIRECT_TABLE,
    NVSP_6_PD_API_COMP,
  ],
  constants: [
    ...constantsOf("nvsp_protocol_version", N, NvspVersion),
    ...constantsOf("nvsp_protocol_version_order", NC, {
      ver_list: NVSP_VERSIONS.map((x) => `0x${x.toString(16)}`).join(","),
    }),
    ...constantsOf("nvsp_msg_type", N, NvspMsgType),
    ...constantsOf("nvsp_status", N, NvspStatus),
    ...constantsOf("nvsp_2_vsc_capability", N, NvspCapability),
    ...constantsOf("netvsc", `${N}; ${NC}`, NetvscConst),
  ],
};
