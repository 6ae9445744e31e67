// VMBus constants with the kernel's names (include/linux/hyperv.h, Linux 6.19, unless
// a comment names another source). Enum-like tables are `as const` objects; the
// values a hostile peer sends that are in none of them stay plain numbers.

// include/linux/hyperv.h: enum vmbus_packet_type
export const PacketType = {
  VM_PKT_INVALID: 0x0,
  VM_PKT_SYNCH: 0x1,
  VM_PKT_ADD_XFER_PAGESET: 0x2,
  VM_PKT_RM_XFER_PAGESET: 0x3,
  VM_PKT_ESTABLISH_GPADL: 0x4,
  VM_PKT_TEARDOWN_GPADL: 0x5,
  VM_PKT_DATA_INBAND: 0x6,
  VM_PKT_DATA_USING_XFER_PAGES: 0x7,
  VM_PKT_DATA_USING_GPADL: 0x8,
  VM_PKT_DATA_USING_GPA_DIRECT: 0x9,
  VM_PKT_CANCEL_REQUEST: 0xa,
  VM_PKT_COMP: 0xb,
  VM_PKT_DATA_USING_ADDITIONAL_PKT: 0xc,
  VM_PKT_ADDITIONAL_DATA: 0xd,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

// include/linux/hyperv.h: VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED
export const PacketFlag = {
  VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED: 1,
} as const;

// include/linux/hyperv.h: enum vmbus_channel_message_type (18-20 unused by Linux;
// OpenVMM names them OPEN_RESERVED_CHANNEL, CLOSE_RESERVED_CHANNEL, CLOSE_RESERVED_RESPONSE)
export const ChannelMessageType = {
  CHANNELMSG_INVALID: 0,
  CHANNELMSG_OFFERCHANNEL: 1,
  CHANNELMSG_RESCIND_CHANNELOFFER: 2,
  CHANNELMSG_REQUESTOFFERS: 3,
  CHANNELMSG_ALLOFFERS_DELIVERED: 4,
  CHANNELMSG_OPENCHANNEL: 5,
  CHANNELMSG_OPENCHANNEL_RESULT: 6,
  CHANNELMSG_CLOSECHANNEL: 7,
  CHANNELMSG_GPADL_HEADER: 8,
  CHANNELMSG_GPADL_BODY: 9,
  CHANNELMSG_GPADL_CREATED: 10,
  CHANNELMSG_GPADL_TEARDOWN: 11,
  CHANNELMSG_GPADL_TORNDOWN: 12,
  CHANNELMSG_RELID_RELEASED: 13,
  CHANNELMSG_INITIATE_CONTACT: 14,
  CHANNELMSG_VERSION_RESPONSE: 15,
  CHANNELMSG_UNLOAD: 16,
  CHANNELMSG_UNLOAD_RESPONSE: 17,
  CHANNELMSG_18: 18,
  CHANNELMSG_19: 19,
  CHANNELMSG_20: 20,
  CHANNELMSG_TL_CONNECT_REQUEST: 21,
  CHANNELMSG_MODIFYCHANNEL: 22,
  CHANNELMSG_TL_CONNECT_RESULT: 23,
  CHANNELMSG_MODIFYCHANNEL_RESPONSE: 24,
  CHANNELMSG_COUNT: 25,
} as const;
export type ChannelMessageType = (typeof ChannelMessageType)[keyof typeof ChannelMessageType];

/** VMBUS_MAKE_VERSION(major, minor) (6.19): the version word. */
export function makeVersion(major: number, minor: number): number {
  return ((major & 0xffff) << 16) | (minor & 0xffff);
}

// include/linux/hyperv.h: VERSION_* (protocol versions; 6.0 added in 6.19)
export const VmbusVersion = {
  VERSION_WS2008: 0x0000000d,
  VERSION_WIN7: 0x00010001,
  VERSION_WIN8: 0x00020004,
  VERSION_WIN8_1: 0x00030000,
  VERSION_WIN10: 0x00040000,
  VERSION_WIN10_V4_1: 0x00040001,
  VERSION_WIN10_V5: 0x00050000,
  VERSION_WIN10_V5_1: 0x00050001,
  VERSION_WIN10_V5_2: 0x00050002,
  VERSION_WIN10_V5_3: 0x00050003,
  VERSION_WIN10_V6_0: 0x00060000,
} as const;

/** drivers/hv/connection.c: vmbus_versions[] as of 6.19, newest first (the order INITIATE_CONTACT tries). */
export const VMBUS_VERSIONS: readonly number[] = [
  VmbusVersion.VERSION_WIN10_V6_0,
  VmbusVersion.VERSION_WIN10_V5_3,
  VmbusVersion.VERSION_WIN10_V5_2,
  VmbusVersion.VERSION_WIN10_V5_1,
  VmbusVersion.VERSION_WIN10_V5,
  VmbusVersion.VERSION_WIN10_V4_1,
  VmbusVersion.VERSION_WIN10,
  VmbusVersion.VERSION_WIN8_1,
  VmbusVersion.VERSION_WIN8,
];

// drivers/hv/hyperv_vmbus.h: connection and port ids, SINT; OpenVMM protocol.rs: redirect id
export const VmbusConnection = {
  VMBUS_MESSAGE_CONNECTION_ID: 1,
  VMBUS_MESSAGE_CONNECTION_ID_4: 4,
  VMBUS_MESSAGE_PORT_ID: 1,
  VMBUS_EVENT_CONNECTION_ID: 2,
  VMBUS_EVENT_PORT_ID: 2,
  VMBUS_MONITOR_CONNECTION_ID: 3,
  VMBUS_MONITOR_PORT_ID: 3,
  VMBUS_MESSAGE_SINT: 2,
  VMBUS_CONNECT_CPU: 0,
  VMBUS_MESSAGE_REDIRECT_CONNECTION_ID: 0x800074,
  /** union hv_connection_id: bits 0-23 are the id. */
  HV_CONNECTION_ID_MASK: 0x00ffffff,
  MAX_NUM_CHANNELS: 16384,
  MAX_NUM_CHANNELS_SUPPORTED: 256,
  MAX_CHANNEL_RELIDS: 2048,
  /** First GPADL handle handed out (next_gpadl_handle). */
  VMBUS_FIRST_GPADL_HANDLE: 0xe1e10,
  INVALID_RELID: 0xffffffff,
} as const;

// include/linux/hyperv.h: VMBUS_CHANNEL_* offer chn_flags (6.19 names; before 6.19 0x2 and 0x4
// were SERVER_SUPPORTS_TRANSFER_PAGES / SERVER_SUPPORTS_GPADLS)
export const OfferFlag = {
  VMBUS_CHANNEL_ENUMERATE_DEVICE_INTERFACE: 0x0001,
  VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER: 0x0002,
  VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY: 0x0004,
  VMBUS_CHANNEL_NAMED_PIPE_MODE: 0x0010,
  VMBUS_CHANNEL_LOOPBACK_OFFER: 0x0100,
  VMBUS_CHANNEL_PARENT_OFFER: 0x0200,
  VMBUS_CHANNEL_REQUEST_MONITORED_NOTIFICATION: 0x0400,
  VMBUS_CHANNEL_TLNPI_PROVIDER_OFFER: 0x2000,
} as const;

// include/linux/hyperv.h: pipe modes in the offer's user-defined bytes
export const PipeMode = {
  VMBUS_PIPE_TYPE_BYTE: 0x00000000,
  VMBUS_PIPE_TYPE_MESSAGE: 0x00000004,
} as const;

// INITIATE_CONTACT feature_flags: Linux 6.19 defines 0x10; the rest are OpenVMM protocol.rs FeatureFlags
export const FeatureFlag = {
  GUEST_SPECIFIED_SIGNAL_PARAMETERS: 0x01,
  CHANNEL_INTERRUPT_REDIRECTION: 0x02,
  MODIFY_CONNECTION: 0x04,
  CLIENT_ID: 0x08,
  VMBUS_FEATURE_FLAG_CONFIDENTIAL_CHANNELS: 0x10,
  PAUSE_RESUME: 0x20,
} as const;

// OpenVMM protocol.rs: ConnectionState (VERSION_RESPONSE connection_state)
export const ConnectionState = {
  SUCCESSFUL: 0,
  FAILED_LOW_RESOURCES: 1,
  FAILED_UNKNOWN_FAILURE: 2,
} as const;

// include/linux/hyperv.h: GPADL types on the wire, and the guest-internal enum hv_gpadl_type
export const GpadlType = {
  GPADL_TYPE_RING_BUFFER: 1,
  GPADL_TYPE_SERVER_SAVE_AREA: 2,
  GPADL_TYPE_TRANSACTION: 8,
  HV_GPADL_BUFFER: 0,
  HV_GPADL_RING: 1,
} as const;

// include/linux/hyperv.h and drivers/hv/ring_buffer.c: sizes
export const VmbusSize = {
  /** sizeof(struct hv_ring_buffer) == PAGE_SIZE: the control page before the data area. */
  RING_HEADER_SIZE: 4096,
  /** VMBUS_PKT_TRAILER: the u64 after every packet (previous write index << 32). */
  VMBUS_PKT_TRAILER: 8,
  /** sizeof(struct vmpacket_descriptor). */
  VMPACKET_DESCRIPTOR_SIZE: 16,
  /** Default private packet buffer of the inbound ring. */
  VMBUS_DEFAULT_MAX_PKT_SIZE: 4096,
  /** HV_MESSAGE_PAYLOAD_BYTE_COUNT: the largest channel message. */
  MAX_SIZE_CHANNEL_MESSAGE: 240,
  MAX_USER_DEFINED_BYTES: 120,
  MAX_PIPE_USER_DEFINED_BYTES: 116,
  MAX_PAGE_BUFFER_COUNT: 32,
  MAX_MULTIPAGE_BUFFER_COUNT: 32,
  /** MAX_PAGE_BUFFER_PACKET: 0x18 + 16 * 32. */
  MAX_PAGE_BUFFER_PACKET: 536,
  /** MAX_MULTIPAGE_BUFFER_PACKET: 0x18 + 264. */
  MAX_MULTIPAGE_BUFFER_PACKET: 288,
  /** HV_HYP_PAGE_SIZE: PFNs in VMBus structs are always 4 KiB pages. */
  HV_HYP_PAGE_SIZE: 4096,
  /** hv_ring_buffer feature_bits bit 0. */
  RING_FEAT_PENDING_SEND_SZ: 1,
} as const;

// include/linux/hyperv.h (+ storvsc/netvsc): special transaction ids (u64)
export const RequestId = {
  VMBUS_NO_RQSTOR: 0xffffffffffffffffn,
  VMBUS_RQST_ERROR: 0xfffffffffffffffen,
  VMBUS_RQST_ADDR_ANY: 0xffffffffffffffffn,
  VMBUS_RQST_ID_NO_RESPONSE: 0xfffffffffffffffdn,
  VMBUS_RQST_INIT: 0xfffffffffffffffdn,
  VMBUS_RQST_RESET: 0xfffffffffffffffcn,
} as const;

// include/linux/hyperv.h: HV_*_GUID device classes (if_type of an offer)
export const DeviceGuid = {
  HV_NIC_GUID: "f8615163-df3e-46c5-913f-f2d2f965ed0e",
  HV_IDE_GUID: "32412632-86cb-44a2-9b5c-50d1417354f5",
  HV_SCSI_GUID: "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f",
  HV_SHUTDOWN_GUID: "0e0b6031-5213-4934-818b-38d90ced39db",
  HV_TS_GUID: "9527e630-d0ae-497b-adce-e80ab0175caf",
  HV_HEART_BEAT_GUID: "57164f39-9115-4e78-ab55-382f3bd5422d",
  HV_KVP_GUID: "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6",
  HV_DM_GUID: "525074dc-8985-46e2-8057-a307dc18a502",
  HV_MOUSE_GUID: "cfa8b69e-5b4a-4cc0-b98b-8ba1a1f3f95a",
  HV_KBD_GUID: "f912ad6d-2b17-48ea-bd65-f927a61c7684",
  HV_VSS_GUID: "35fa2e29-ea23-4236-96ae-3a6ebacba440",
  HV_SYNTHVID_GUID: "da0a7802-e377-4aac-8e77-0558eb1073f8",
  HV_SYNTHFC_GUID: "2f9bcc4a-0069-4af3-b76b-6fd0be528cda",
  HV_FCOPY_GUID: "34d14be3-dee4-41c8-9ae7-6b174977c192",
  HV_ND_GUID: "8c2eaf3d-32a7-4b09-ab99-bd1f1c86b501",
  HV_PCIE_GUID: "44c4f61d-4444-4400-9d52-802e27ede19f",
  HV_AVMA1_GUID: "f8e65716-3cb3-4a06-9a60-1889c5cccab5",
  HV_AVMA2_GUID: "3375baf4-9e15-4b30-b765-67acb10d607b",
  HV_RDV_GUID: "276aacf4-ac15-426c-98dd-7521ad3f01fe",
  HV_IMC_GUID: "c376c1c3-d276-48d2-90a9-c04748072c60",
} as const;

/** Name of a value in an `as const` table, or `unknown(0x..)` for a value a peer made up. */
export function nameOf(table: Readonly<Record<string, number>>, value: number): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return `unknown(0x${value.toString(16)})`;
}
