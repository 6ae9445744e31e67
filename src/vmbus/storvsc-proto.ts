// The VSTOR protocol storvsc and storvsp speak over a VMBus channel
// (drivers/scsi/storvsc_drv.c, Linux 0291023e; kernel-facts.md §8.1): one fixed
// 64-byte struct vstor_packet per request and per completion, its 52-byte union
// holding a vmscsi_request (with the Win8 extension), the channel properties, a
// protocol version or a sub-channel count.
//
//   vstor_packet (64 B, __packed)
//   +0  operation  +4 flags  +8 status  +12 union (52 B)
//   vmscsi_request (52 B, __packed)
//   +0 length +2 srb_status +3 scsi_status +4 port +5 path +6 target +7 lun
//   +8 cdb_length +9 sense_info_length +10 data_in +11 reserved
//   +12 data_transfer_length +16 cdb[16] | sense_data[20] +36 reserve
//   +38 queue_tag +39 queue_action +40 srb_flags +44 time_out_value +48 queue_sort_ey
//
// Decoders take bytes from the other side (hostile when the host sent them): they
// return a StorvscFault, never throw, and copy what they keep. Unknown operation,
// status and flag values stay representable as plain numbers.
import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf, defineStruct } from "../layout/struct.ts";

const S = "drivers/scsi/storvsc_drv.c (Linux 0291023e)";

// ---- layouts ----

// drivers/scsi/storvsc_drv.c: struct vmscsi_request (__packed; Win8 extension from +36)
export const VMSCSI_REQUEST = defineStruct("vmscsi_request", S, [
  { name: "length", size: 2, note: "sizeof(struct vmscsi_request) = 52" },
  { name: "srb_status", size: 1, note: "SRB_STATUS_*; bits 7:6 AUTOSENSE_VALID, QUEUE_FROZEN" },
  { name: "scsi_status", size: 1, note: "SAM status: 0 GOOD, 2 CHECK CONDITION" },
  { name: "port_number", size: 1 },
  { name: "path_id", size: 1 },
  { name: "target_id", size: 1 },
  { name: "lun", size: 1 },
  { name: "cdb_length", size: 1, note: "<= STORVSC_MAX_CMD_LEN (16)" },
  { name: "sense_info_length", size: 1, note: "guest sends STORVSC_SENSE_BUFFER_SIZE (20)" },
  { name: "data_in", size: 1, note: "0 WRITE_TYPE, 1 READ_TYPE, 2 UNKNOWN_TYPE" },
  { name: "reserved", size: 1 },
  { name: "data_transfer_length", size: 4, note: "bytes; completion: bytes moved" },
  { name: "cdb", size: 1, count: 20, note: "union: cdb[16] / sense_data[20] / reserved_array[20]" },
  { name: "reserve", size: 2, note: "Win8+" },
  { name: "queue_tag", size: 1, note: "SP_UNTAGGED 0xff when tagged" },
  { name: "queue_action", size: 1, note: "SRB_SIMPLE_TAG_REQUEST 0x20" },
  { name: "srb_flags", size: 4, note: "SRB_FLAGS_*" },
  { name: "time_out_value", size: 4, note: "seconds; Linux sends 60" },
  { name: "queue_sort_ey", size: 4 },
]);

// drivers/scsi/storvsc_drv.c: struct vmstorage_channel_properties (__packed)
export const VMSTORAGE_CHANNEL_PROPERTIES = defineStruct("vmstorage_channel_properties", S, [
  { name: "reserved", size: 4 },
  { name: "max_channel_cnt", size: 2 },
  { name: "reserved1", size: 2 },
  { name: "flags", size: 4, note: "bit 0 STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL" },
  { name: "max_transfer_bytes", size: 4 },
  { name: "reserved2", size: 8 },
]);

// drivers/scsi/storvsc_drv.c: struct vmstorage_protocol_version (__packed)
export const VMSTORAGE_PROTOCOL_VERSION = defineStruct("vmstorage_protocol_version", S, [
  { name: "major_minor", size: 2, note: "VMSTOR_PROTO_VERSION(major, minor) = major << 8 | minor" },
  { name: "revision", size: 2, note: "Windows only; Linux sends 0" },
]);

// drivers/scsi/storvsc_drv.c: struct hv_fc_wwn_packet
export const HV_FC_WWN_PACKET = defineStruct("hv_fc_wwn_packet", S, [
  { name: "primary_active", size: 1 },
  { name: "reserved1", size: 1, count: 3 },
  { name: "primary_port_wwn", size: 1, count: 8 },
  { name: "primary_node_wwn", size: 1, count: 8 },
  { name: "secondary_port_wwn", size: 1, count: 8 },
  { name: "secondary_node_wwn", size: 1, count: 8 },
]);

// drivers/scsi/storvsc_drv.c: struct vstor_packet (__packed)
export const VSTOR_PACKET = defineStruct("vstor_packet", S, [
  { name: "operation", size: 4, note: "enum vstor_packet_operation" },
  { name: "flags", size: 4, note: "REQUEST_COMPLETION_FLAG 0x1" },
  { name: "status", size: 4, note: "host's status; 0 = success" },
  {
    name: "payload",
    size: 1,
    count: 0x34,
    note: "union: vm_srb | storage_channel_properties | version | wwn_packet | u16 sub_channel_count | u8 buffer[0x34]",
  },
]);

/** Offset of the union inside vstor_packet. */
export const VSTOR_PAYLOAD = VSTOR_PACKET.off.payload;

// ---- constants ----

// drivers/scsi/storvsc_drv.c: enum vstor_packet_operation
export const VstorOperation = {
  VSTOR_OPERATION_COMPLETE_IO: 1,
  VSTOR_OPERATION_REMOVE_DEVICE: 2,
  VSTOR_OPERATION_EXECUTE_SRB: 3,
  VSTOR_OPERATION_RESET_LUN: 4,
  VSTOR_OPERATION_RESET_ADAPTER: 5,
  VSTOR_OPERATION_RESET_BUS: 6,
  VSTOR_OPERATION_BEGIN_INITIALIZATION: 7,
  VSTOR_OPERATION_END_INITIALIZATION: 8,
  VSTOR_OPERATION_QUERY_PROTOCOL_VERSION: 9,
  VSTOR_OPERATION_QUERY_PROPERTIES: 10,
  VSTOR_OPERATION_ENUMERATE_BUS: 11,
  VSTOR_OPERATION_FCHBA_DATA: 12,
  VSTOR_OPERATION_CREATE_SUB_CHANNELS: 13,
  VSTOR_OPERATION_MAXIMUM: 13,
} as const;

/** VMSTOR_PROTO_VERSION(maj, min) = ((maj & 0xff) << 8) | (min & 0xff). */
export function vmstorProtoVersion(major: number, minor: number): number {
  return ((major & 0xff) << 8) | (minor & 0xff);
}

// drivers/scsi/storvsc_drv.c: VMSTOR_PROTO_VERSION_*
export const VmstorProtoVersion = {
  VMSTOR_PROTO_VERSION_WIN6: 0x0200,
  VMSTOR_PROTO_VERSION_WIN7: 0x0402,
  VMSTOR_PROTO_VERSION_WIN8: 0x0501,
  VMSTOR_PROTO_VERSION_WIN8_1: 0x0600,
  VMSTOR_PROTO_VERSION_WIN10: 0x0602,
} as const;

/** The versions Linux offers, in order of preference (protocol_version[]). */
export const VMSTOR_PROTOCOL_VERSIONS: readonly number[] = [
  VmstorProtoVersion.VMSTOR_PROTO_VERSION_WIN10,
  VmstorProtoVersion.VMSTOR_PROTO_VERSION_WIN8_1,
  VmstorProtoVersion.VMSTOR_PROTO_VERSION_WIN8,
];

// drivers/scsi/storvsc_drv.c: packet flags and channel property flags
export const VstorFlag = {
  REQUEST_COMPLETION_FLAG: 0x1,
  STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL: 0x1,
  STORAGE_CHANNEL_REMOVABLE_FLAG: 0x1,
  STORAGE_CHANNEL_EMULATED_IDE_FLAG: 0x2,
} as const;

// drivers/scsi/storvsc_drv.c: enum storvsc_request_type (vmscsi_request.data_in)
export const StorvscRequestType = {
  WRITE_TYPE: 0,
  READ_TYPE: 1,
  UNKNOWN_TYPE: 2,
} as const;

// drivers/scsi/storvsc_drv.c: SRB_FLAGS_*
export const SrbFlag = {
  SRB_FLAGS_QUEUE_ACTION_ENABLE: 0x00000002,
  SRB_FLAGS_DISABLE_DISCONNECT: 0x00000004,
  SRB_FLAGS_DISABLE_SYNCH_TRANSFER: 0x00000008,
  SRB_FLAGS_BYPASS_FROZEN_QUEUE: 0x00000010,
  SRB_FLAGS_DISABLE_AUTOSENSE: 0x00000020,
  SRB_FLAGS_DATA_IN: 0x00000040,
  SRB_FLAGS_DATA_OUT: 0x00000080,
  SRB_FLAGS_NO_DATA_TRANSFER: 0x00000000,
  SRB_FLAGS_UNSPECIFIED_DIRECTION: 0x000000c0,
  SRB_FLAGS_NO_QUEUE_FREEZE: 0x00000100,
  SRB_FLAGS_ADAPTER_CACHE_ENABLE: 0x00000200,
  SRB_FLAGS_FREE_SENSE_BUFFER: 0x00000400,
  SRB_FLAGS_D3_PROCESSING: 0x00000800,
} as const;

// drivers/scsi/storvsc_drv.c: SRB status codes (low 6 bits) and flag bits (high 2)
export const SrbStatus = {
  SRB_STATUS_SUCCESS: 0x01,
  SRB_STATUS_ABORTED: 0x02,
  SRB_STATUS_ERROR: 0x04,
  SRB_STATUS_INVALID_REQUEST: 0x06,
  SRB_STATUS_TIMEOUT: 0x09,
  SRB_STATUS_SELECTION_TIMEOUT: 0x0a,
  SRB_STATUS_BUS_RESET: 0x0e,
  SRB_STATUS_DATA_OVERRUN: 0x12,
  SRB_STATUS_INVALID_LUN: 0x20,
  SRB_STATUS_INTERNAL_ERROR: 0x30,
  SRB_STATUS_AUTOSENSE_VALID: 0x80,
  SRB_STATUS_QUEUE_FROZEN: 0x40,
} as const;

/** SRB_STATUS(status): the integer code without the AUTOSENSE_VALID / QUEUE_FROZEN flags. */
export function srbStatusCode(status: number): number {
  return status & ~(SrbStatus.SRB_STATUS_AUTOSENSE_VALID | SrbStatus.SRB_STATUS_QUEUE_FROZEN) & 0xff;
}

// drivers/scsi/storvsc_drv.c: sizes and limits
export const StorvscSize = {
  STORVSC_MAX_CMD_LEN: 0x10,
  STORVSC_SENSE_BUFFER_SIZE: 0x14,
  STORVSC_MAX_BUF_LEN_WITH_PADDING: 0x14,
  /** sizeof(struct vmpacket_descriptor) + sizeof(struct vstor_packet). */
  STORVSC_MAX_PKT_SIZE: 16 + 64,
  /** storvsc_ringbuffer_size default (bytes). */
  STORVSC_RINGBUFFER_SIZE: 128 * 1024,
  STORVSC_MAX_LUNS_PER_TARGET: 255,
  STORVSC_MAX_TARGETS: 2,
  STORVSC_MAX_CHANNELS: 8,
  /** Seconds the guest waits for each init step and I/O (storvsc_timeout). */
  STORVSC_TIMEOUT: 180,
  /** vm_srb.time_out_value Linux sends. */
  SRB_TIME_OUT_VALUE: 60,
  SP_UNTAGGED: 0xff,
  SRB_SIMPLE_TAG_REQUEST: 0x20,
  VSTOR_PACKET_SIZE: 64,
  VMSCSI_REQUEST_SIZE: 52,
} as const;

// ---- hostile-input faults ----

/** Every reject reason of the storvsc codecs, with its one-line meaning. Codes are stable. */
export const STORVSC_ERRORS = {
  HVCOCO_ERR_STORVSC_TRUNCATED:
    "vstor_packet shorter than 64 bytes (or than its 4-byte operation when trans_id is 0)",
  HVCOCO_ERR_STORVSC_CDB_LENGTH: "vmscsi_request cdb_length beyond STORVSC_MAX_CMD_LEN (16)",
  HVCOCO_ERR_STORVSC_SRB_LENGTH: "vmscsi_request length is not sizeof(struct vmscsi_request) (52)",
} as const;

export type StorvscErrorCode = keyof typeof STORVSC_ERRORS;

export interface StorvscFault {
  readonly code: StorvscErrorCode;
  readonly detail: string;
}

function fault(code: StorvscErrorCode, detail: string): StorvscFault {
  return { code, detail };
}

/** Tell a fault from a decoded value (decoded values never carry `code`). */
export function isStorvscFault(x: unknown): x is StorvscFault {
  return typeof x === "object" && x !== null && "code" in x && typeof x.code === "string";
}

// ---- codec ----

/** struct vmscsi_request, field by field. `cdb` holds the 20-byte union (CDB out, sense data back). */
export interface VmscsiRequest {
  length: number;
  srbStatus: number;
  scsiStatus: number;
  portNumber: number;
  pathId: number;
  targetId: number;
  lun: number;
  cdbLength: number;
  senseInfoLength: number;
  dataIn: number;
  reserved: number;
  dataTransferLength: number;
  /** 20 bytes: cdb[16] in a request, sense_data[20] in a completion. */
  cdb: Uint8Array;
  reserve: number;
  queueTag: number;
  queueAction: number;
  srbFlags: number;
  timeOutValue: number;
  queueSortEy: number;
}

export interface ChannelProperties {
  reserved: number;
  maxChannelCnt: number;
  reserved1: number;
  flags: number;
  maxTransferBytes: number;
  reserved2: bigint;
}

export interface ProtocolVersion {
  majorMinor: number;
  revision: number;
}

/**
 * A decoded vstor_packet. The union stays as its 52 raw bytes (`payload`, a copy):
 * which member it holds depends on the request it answers, so the reader picks a
 * view (readSrb, readChannelProperties, readProtocolVersion, readSubChannelCount).
 */
export interface VstorPacket {
  operation: number;
  flags: number;
  status: number;
  payload: Uint8Array;
  /** Bytes the sender actually supplied (a short trans_id-0 packet reads as zeros past it). */
  wireLength: number;
}

/** What to put in the union when encoding. At most one member; none = all zero. */
export type VstorPayload =
  | { srb: VmscsiRequest }
  | { properties: ChannelProperties }
  | { version: ProtocolVersion }
  | { subChannelCount: number }
  | { raw: Uint8Array }
  | Record<string, never>;

export interface VstorPacketInit {
  operation: number;
  flags?: number;
  status?: number;
}

/** A zeroed vmscsi_request with Linux's fixed fields (length 52, sense 20, timeout 60). */
export function newSrb(): VmscsiRequest {
  return {
    length: StorvscSize.VMSCSI_REQUEST_SIZE,
    srbStatus: 0,
    scsiStatus: 0,
    portNumber: 0,
    pathId: 0,
    targetId: 0,
    lun: 0,
    cdbLength: 0,
    senseInfoLength: StorvscSize.STORVSC_SENSE_BUFFER_SIZE,
    dataIn: StorvscRequestType.UNKNOWN_TYPE,
    reserved: 0,
    dataTransferLength: 0,
    cdb: new Uint8Array(StorvscSize.STORVSC_MAX_BUF_LEN_WITH_PADDING),
    reserve: 0,
    queueTag: 0,
    queueAction: 0,
    srbFlags: 0,
    timeOutValue: 0,
    queueSortEy: 0,
  };
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Write a vmscsi_request at `off` (52 bytes; every byte written). */
export function writeSrb(dst: Uint8Array, off: number, s: VmscsiRequest): void {
  const v = dv(dst);
  const o = VMSCSI_REQUEST.off;
  v.setUint16(off + o.length, s.length, true);
  v.setUint8(off + o.srb_status, s.srbStatus);
  v.setUint8(off + o.scsi_status, s.scsiStatus);
  v.setUint8(off + o.port_number, s.portNumber);
  v.setUint8(off + o.path_id, s.pathId);
  v.setUint8(off + o.target_id, s.targetId);
  v.setUint8(off + o.lun, s.lun);
  v.setUint8(off + o.cdb_length, s.cdbLength);
  v.setUint8(off + o.sense_info_length, s.senseInfoLength);
  v.setUint8(off + o.data_in, s.dataIn);
  v.setUint8(off + o.reserved, s.reserved);
  v.setUint32(off + o.data_transfer_length, s.dataTransferLength >>> 0, true);
  dst.fill(0, off + o.cdb, off + o.cdb + 20);
  dst.set(s.cdb.subarray(0, 20), off + o.cdb);
  v.setUint16(off + o.reserve, s.reserve, true);
  v.setUint8(off + o.queue_tag, s.queueTag);
  v.setUint8(off + o.queue_action, s.queueAction);
  v.setUint32(off + o.srb_flags, s.srbFlags >>> 0, true);
  v.setUint32(off + o.time_out_value, s.timeOutValue >>> 0, true);
  v.setUint32(off + o.queue_sort_ey, s.queueSortEy >>> 0, true);
}

/** Read a vmscsi_request from `off` into `out` (no allocation: out.cdb is overwritten). */
export function readSrbInto(src: Uint8Array, off: number, out: VmscsiRequest): VmscsiRequest {
  const v = dv(src);
  const o = VMSCSI_REQUEST.off;
  out.length = v.getUint16(off + o.length, true);
  out.srbStatus = v.getUint8(off + o.srb_status);
  out.scsiStatus = v.getUint8(off + o.scsi_status);
  out.portNumber = v.getUint8(off + o.port_number);
  out.pathId = v.getUint8(off + o.path_id);
  out.targetId = v.getUint8(off + o.target_id);
  out.lun = v.getUint8(off + o.lun);
  out.cdbLength = v.getUint8(off + o.cdb_length);
  out.senseInfoLength = v.getUint8(off + o.sense_info_length);
  out.dataIn = v.getUint8(off + o.data_in);
  out.reserved = v.getUint8(off + o.reserved);
  out.dataTransferLength = v.getUint32(off + o.data_transfer_length, true);
  out.cdb.set(src.subarray(off + o.cdb, off + o.cdb + 20));
  out.reserve = v.getUint16(off + o.reserve, true);
  out.queueTag = v.getUint8(off + o.queue_tag);
  out.queueAction = v.getUint8(off + o.queue_action);
  out.srbFlags = v.getUint32(off + o.srb_flags, true);
  out.timeOutValue = v.getUint32(off + o.time_out_value, true);
  out.queueSortEy = v.getUint32(off + o.queue_sort_ey, true);
  return out;
}

/** The vm_srb view of a packet's union. */
export function readSrb(p: VstorPacket): VmscsiRequest {
  return readSrbInto(p.payload, 0, newSrb());
}

/** The storage_channel_properties view of a packet's union. */
export function readChannelProperties(p: VstorPacket): ChannelProperties {
  const v = dv(p.payload);
  const o = VMSTORAGE_CHANNEL_PROPERTIES.off;
  return {
    reserved: v.getUint32(o.reserved, true),
    maxChannelCnt: v.getUint16(o.max_channel_cnt, true),
    reserved1: v.getUint16(o.reserved1, true),
    flags: v.getUint32(o.flags, true),
    maxTransferBytes: v.getUint32(o.max_transfer_bytes, true),
    reserved2: v.getBigUint64(o.reserved2, true),
  };
}

/** The version view of a packet's union. */
export function readProtocolVersion(p: VstorPacket): ProtocolVersion {
  const v = dv(p.payload);
  return {
    majorMinor: v.getUint16(VMSTORAGE_PROTOCOL_VERSION.off.major_minor, true),
    revision: v.getUint16(VMSTORAGE_PROTOCOL_VERSION.off.revision, true),
  };
}

/** The u16 sub_channel_count view of a packet's union. */
export function readSubChannelCount(p: VstorPacket): number {
  return dv(p.payload).getUint16(0, true);
}

/**
 * Write a whole vstor_packet (64 bytes) at `off`: every byte is written, unused
 * union bytes are zero (C18).
 */
export function writeVstorPacket(
  dst: Uint8Array,
  off: number,
  h: VstorPacketInit,
  payload: VstorPayload = {},
): void {
  if (off < 0 || off + StorvscSize.VSTOR_PACKET_SIZE > dst.length)
    throw new Error("vstor_packet outside dst");
  dst.fill(0, off, off + StorvscSize.VSTOR_PACKET_SIZE);
  const v = dv(dst);
  v.setUint32(off + VSTOR_PACKET.off.operation, h.operation >>> 0, true);
  v.setUint32(off + VSTOR_PACKET.off.flags, (h.flags ?? 0) >>> 0, true);
  v.setUint32(off + VSTOR_PACKET.off.status, (h.status ?? 0) >>> 0, true);
  const u = off + VSTOR_PAYLOAD;
  if ("srb" in payload) writeSrb(dst, u, payload.srb);
  else if ("properties" in payload) {
    const p = payload.properties;
    const o = VMSTORAGE_CHANNEL_PROPERTIES.off;
    v.setUint32(u + o.reserved, p.reserved >>> 0, true);
    v.setUint16(u + o.max_channel_cnt, p.maxChannelCnt, true);
    v.setUint16(u + o.reserved1, p.reserved1, true);
    v.setUint32(u + o.flags, p.flags >>> 0, true);
    v.setUint32(u + o.max_transfer_bytes, p.maxTransferBytes >>> 0, true);
    v.setBigUint64(u + o.reserved2, p.reserved2, true);
  } else if ("version" in payload) {
    v.setUint16(u + VMSTORAGE_PROTOCOL_VERSION.off.major_minor, payload.version.majorMinor, true);
    v.setUint16(u + VMSTORAGE_PROTOCOL_VERSION.off.revision, payload.version.revision, true);
  } else if ("subChannelCount" in payload) {
    v.setUint16(u, payload.subChannelCount, true);
  } else if ("raw" in payload) {
    if (payload.raw.length > 0x34) throw new Error(`vstor_packet union of ${payload.raw.length} bytes > 52`);
    dst.set(payload.raw, u);
  }
}

/** A new 64-byte vstor_packet. */
export function encodeVstorPacket(h: VstorPacketInit, payload: VstorPayload = {}): Uint8Array {
  const b = new Uint8Array(StorvscSize.VSTOR_PACKET_SIZE);
  writeVstorPacket(b, 0, h, payload);
  return b;
}

/**
 * Decode a vstor_packet from the bytes of one VMBus packet payload. As
 * storvsc_on_channel_callback: at least 64 bytes, or at least the 4-byte operation
 * when trans_id is 0 (an unsolicited host message); missing bytes read as zero.
 * The result is a copy: it never aliases `src`.
 */
export function decodeVstorPacket(src: Uint8Array, transId: bigint | number = 1): VstorPacket | StorvscFault {
  const min = transId === 0 || transId === 0n ? 4 : StorvscSize.VSTOR_PACKET_SIZE;
  if (src.length < min)
    return fault(
      "HVCOCO_ERR_STORVSC_TRUNCATED",
      `payload of ${src.length} bytes < ${min} (trans_id ${transId})`,
    );
  const b = new Uint8Array(StorvscSize.VSTOR_PACKET_SIZE);
  b.set(src.subarray(0, StorvscSize.VSTOR_PACKET_SIZE));
  const v = dv(b);
  return {
    operation: v.getUint32(VSTOR_PACKET.off.operation, true),
    flags: v.getUint32(VSTOR_PACKET.off.flags, true),
    status: v.getUint32(VSTOR_PACKET.off.status, true),
    payload: b.subarray(VSTOR_PAYLOAD),
    wireLength: Math.min(src.length, StorvscSize.VSTOR_PACKET_SIZE),
  };
}

/**
 * The checks a VSP makes on an EXECUTE_SRB before acting on it: the request's
 * length is the Win8 size and its CDB fits the 16-byte field.
 */
export function checkSrb(s: VmscsiRequest): StorvscFault | undefined {
  if (s.length !== StorvscSize.VMSCSI_REQUEST_SIZE)
    return fault("HVCOCO_ERR_STORVSC_SRB_LENGTH", `vmscsi_request length ${s.length} != 52`);
  if (s.cdbLength > StorvscSize.STORVSC_MAX_CMD_LEN)
    return fault("HVCOCO_ERR_STORVSC_CDB_LENGTH", `cdb_length ${s.cdbLength} > 16`);
  return undefined;
}

// ---- the layout section ----

export const STORVSC_LAYOUT: LayoutSection = {
  section: "storvsc",
  structs: [
    VSTOR_PACKET,
    VMSCSI_REQUEST,
    VMSTORAGE_CHANNEL_PROPERTIES,
    VMSTORAGE_PROTOCOL_VERSION,
    HV_FC_WWN_PACKET,
  ],
  constants: [
    ...constantsOf("vstor_packet_operation", S, VstorOperation),
    ...constantsOf("vmstor_proto_version", S, VmstorProtoVersion),
    ...constantsOf("vmstor_proto_version_order", S, {
      protocol_version: VMSTOR_PROTOCOL_VERSIONS.map((x) => `0x${x.toString(16)}`).join(","),
    }),
    ...constantsOf("vstor_flag", S, VstorFlag),
    ...constantsOf("storvsc_request_type", S, StorvscRequestType),
    ...constantsOf("srb_flag", S, SrbFlag),
    ...constantsOf("srb_status", S, SrbStatus),
    ...constantsOf("storvsc_size", S, StorvscSize),
  ],
};
