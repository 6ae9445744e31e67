// Every VMBus wire struct as an offset table, and the VMBUS_LAYOUT section that
// `hvcoco layout` prints. The codecs (packet.ts, messages.ts, ring.ts) read and
// write at these offsets, so the printed tables are the ones in use.
// Offsets are little-endian byte offsets; all these structs are __packed.
import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf, defineStruct } from "../layout/struct.ts";
import {
  ChannelMessageType,
  ConnectionState,
  DeviceGuid,
  FeatureFlag,
  GpadlType,
  OfferFlag,
  PacketFlag,
  PacketType,
  PipeMode,
  RequestId,
  VMBUS_VERSIONS,
  VmbusConnection,
  VmbusSize,
  VmbusVersion,
} from "./constants.ts";
import {
  CHANNEL_OFFER,
  MSG_ALL_OFFERS_DELIVERED,
  MSG_CLOSE_CHANNEL,
  MSG_GPADL_BODY,
  MSG_GPADL_CREATED,
  MSG_GPADL_HEADER,
  MSG_GPADL_TEARDOWN,
  MSG_GPADL_TORNDOWN,
  MSG_HEADER,
  MSG_INITIATE_CONTACT,
  MSG_MODIFY_CHANNEL,
  MSG_MODIFY_CHANNEL_RESPONSE,
  MSG_OFFER_CHANNEL,
  MSG_OPEN_CHANNEL,
  MSG_OPEN_RESULT,
  MSG_QUERY_VMBUS_VERSION,
  MSG_RELID_RELEASED,
  MSG_REQUEST_OFFERS,
  MSG_RESCIND_OFFER,
  MSG_TL_CONNECT_REQUEST,
  MSG_TL_CONNECT_RESULT,
  MSG_UNLOAD,
  MSG_UNLOAD_RESPONSE,
  MSG_VERSION_RESPONSE,
  MSG_VERSION_RESPONSE2,
  MSG_VERSION_SUPPORTED,
} from "./layout-messages.ts";
import { HV_MONITOR_PAGE } from "./monitor.ts";

export * from "./layout-messages.ts";

const H = "include/linux/hyperv.h (Linux 6.19)";
const RB = "drivers/hv/ring_buffer.c (Linux 6.19)";
const OVMM = "openvmm vm/devices/vmbus/vmbus_core/src/protocol.rs";

// ---- ring buffer ----

// include/linux/hyperv.h: struct hv_ring_buffer (the 4 KiB control page; data follows at 4096)
export const HV_RING_BUFFER = defineStruct("hv_ring_buffer", H, [
  { name: "write_index", size: 4, note: "producer's next write offset into the data area" },
  { name: "read_index", size: 4, note: "consumer's published read offset into the data area" },
  { name: "interrupt_mask", size: 4, note: "1 = consumer is draining, do not interrupt" },
  { name: "pending_send_sz", size: 4, note: "bytes the blocked producer waits for; 0 = not blocked" },
  { name: "reserved1", size: 4, count: 12 },
  { name: "feature_bits", size: 4, note: "bit 0 feat_pending_send_sz" },
  { name: "reserved2", size: 1, count: 4028, note: "pads the header to PAGE_SIZE" },
  { name: "buffer", size: 1, count: 0, note: "data area: ring_size - 4096 bytes" },
]);

// include/linux/hyperv.h: struct vmpacket_descriptor (packed)
export const VMPACKET_DESCRIPTOR = defineStruct("vmpacket_descriptor", H, [
  { name: "type", size: 2, note: "enum vmbus_packet_type" },
  { name: "offset8", size: 2, note: "payload offset from the descriptor, 8-byte units" },
  { name: "len8", size: 2, note: "packet length without the trailer, 8-byte units" },
  { name: "flags", size: 2, note: "bit 0 COMPLETION_REQUESTED" },
  { name: "trans_id", size: 8 },
]);

// include/linux/hyperv.h: struct vmpacket_header (packed)
export const VMPACKET_HEADER = defineStruct("vmpacket_header", H, [
  { name: "prev_pkt_start_offset", size: 4 },
  { name: "descriptor", size: 16, note: "struct vmpacket_descriptor" },
]);

// drivers/hv/ring_buffer.c: the u64 after each packet (prev_indices = write_index << 32)
export const VMBUS_PKT_TRAILER = defineStruct("vmbus_pkt_trailer", RB, [
  { name: "reserved", size: 4, note: "low half of the u64, always 0" },
  { name: "prev_write_index", size: 4, note: "high half: the packet's start offset" },
]);

// ---- packet extended headers ----

// include/linux/hyperv.h: struct vmtransfer_page_range (packed)
export const VMTRANSFER_PAGE_RANGE = defineStruct("vmtransfer_page_range", H, [
  { name: "byte_count", size: 4 },
  { name: "byte_offset", size: 4 },
]);

// include/linux/hyperv.h: struct vmtransfer_page_packet_header (packed)
export const VMTRANSFER_PAGE_PACKET_HEADER = defineStruct("vmtransfer_page_packet_header", H, [
  { name: "d", size: 16, note: "struct vmpacket_descriptor" },
  { name: "xfer_pageset_id", size: 2 },
  { name: "sender_owns_set", size: 1 },
  { name: "reserved", size: 1 },
  { name: "range_cnt", size: 4 },
  { name: "ranges", size: 8, count: 0, note: "struct vmtransfer_page_range[range_cnt]" },
]);

// include/linux/hyperv.h: struct vmgpadl_packet_header (packed)
export const VMGPADL_PACKET_HEADER = defineStruct("vmgpadl_packet_header", H, [
  { name: "d", size: 16 },
  { name: "gpadl", size: 4 },
  { name: "reserved", size: 4 },
]);

// include/linux/hyperv.h: struct vmadd_remove_transfer_page_set (packed)
export const VMADD_REMOVE_TRANSFER_PAGE_SET = defineStruct("vmadd_remove_transfer_page_set", H, [
  { name: "d", size: 16 },
  { name: "gpadl", size: 4 },
  { name: "xfer_pageset_id", size: 2 },
  { name: "reserved", size: 2 },
]);

// include/linux/hyperv.h: struct gpa_range (u64-aligned, no holes)
export const GPA_RANGE = defineStruct("gpa_range", H, [
  { name: "byte_count", size: 4 },
  { name: "byte_offset", size: 4, note: "offset into the first page (< 4096)" },
  { name: "pfn_array", size: 8, count: 0, note: "ceil((byte_offset+byte_count)/4096) 4 KiB PFNs" },
]);

// include/linux/hyperv.h: struct vmestablish_gpadl (packed)
export const VMESTABLISH_GPADL = defineStruct("vmestablish_gpadl", H, [
  { name: "d", size: 16 },
  { name: "gpadl", size: 4 },
  { name: "range_cnt", size: 4 },
  { name: "range", size: 8, count: 0, note: "struct gpa_range[range_cnt]" },
]);

// include/linux/hyperv.h: struct vmteardown_gpadl (packed)
export const VMTEARDOWN_GPADL = defineStruct("vmteardown_gpadl", H, [
  { name: "d", size: 16 },
  { name: "gpadl", size: 4 },
  { name: "reserved", size: 4 },
]);

// include/linux/hyperv.h: struct vmdata_gpa_direct (packed)
export const VMDATA_GPA_DIRECT = defineStruct("vmdata_gpa_direct", H, [
  { name: "d", size: 16 },
  { name: "reserved", size: 4 },
  { name: "range_cnt", size: 4 },
  { name: "range", size: 8, count: 0, note: "struct gpa_range[range_cnt]" },
]);

// include/linux/hyperv.h: struct vmadditional_data (packed)
export const VMADDITIONAL_DATA = defineStruct("vmadditional_data", H, [
  { name: "d", size: 16 },
  { name: "total_bytes", size: 8 },
  { name: "offset", size: 4 },
  { name: "byte_cnt", size: 4 },
  { name: "data", size: 1, count: 0 },
]);

// include/linux/hyperv.h: struct hv_page_buffer (packed)
export const HV_PAGE_BUFFER = defineStruct("hv_page_buffer", H, [
  { name: "len", size: 4 },
  { name: "offset", size: 4 },
  { name: "pfn", size: 8 },
]);

// include/linux/hyperv.h: struct hv_multipage_buffer (packed)
export const HV_MULTIPAGE_BUFFER = defineStruct("hv_multipage_buffer", H, [
  { name: "len", size: 4 },
  { name: "offset", size: 4 },
  { name: "pfn_array", size: 8, count: 32, note: "MAX_MULTIPAGE_BUFFER_COUNT" },
]);

// include/linux/hyperv.h: struct hv_mpb_array (packed)
export const HV_MPB_ARRAY = defineStruct("hv_mpb_array", H, [
  { name: "len", size: 4 },
  { name: "offset", size: 4 },
  { name: "pfn_array", size: 8, count: 0, note: "count implied by len + offset" },
]);

const PB_PREFIX = [
  { name: "type", size: 2 },
  { name: "dataoffset8", size: 2 },
  { name: "length8", size: 2 },
  { name: "flags", size: 2 },
  { name: "transactionid", size: 8 },
  { name: "reserved", size: 4 },
  { name: "rangecount", size: 4 },
] as const;

// include/linux/hyperv.h: struct vmbus_channel_packet_page_buffer (packed; prefix matches vmdata_gpa_direct)
export const VMBUS_CHANNEL_PACKET_PAGE_BUFFER = defineStruct("vmbus_channel_packet_page_buffer", H, [
  ...PB_PREFIX,
  { name: "range", size: 16, count: 32, note: "struct hv_page_buffer[MAX_PAGE_BUFFER_COUNT]" },
]);

// include/linux/hyperv.h: struct vmbus_channel_packet_multipage_buffer (packed)
export const VMBUS_CHANNEL_PACKET_MULTIPAGE_BUFFER = defineStruct(
  "vmbus_channel_packet_multipage_buffer",
  H,
  [...PB_PREFIX, { name: "range", size: 264, note: "struct hv_multipage_buffer (rangecount always 1)" }],
);

// include/linux/hyperv.h: struct vmbus_packet_mpb_array (packed)
export const VMBUS_PACKET_MPB_ARRAY = defineStruct("vmbus_packet_mpb_array", H, [
  ...PB_PREFIX,
  { name: "range", size: 8, note: "struct hv_mpb_array (its pfn_array follows)" },
]);

export const VMBUS_LAYOUT: LayoutSection = {
  section: "vmbus",
  structs: [
    HV_RING_BUFFER,
    VMPACKET_DESCRIPTOR,
    VMPACKET_HEADER,
    VMBUS_PKT_TRAILER,
    VMTRANSFER_PAGE_RANGE,
    VMTRANSFER_PAGE_PACKET_HEADER,
    VMGPADL_PACKET_HEADER,
    VMADD_REMOVE_TRANSFER_PAGE_SET,
    GPA_RANGE,
    VMESTABLISH_GPADL,
    VMTEARDOWN_GPADL,
    VMDATA_GPA_DIRECT,
    VMADDITIONAL_DATA,
    HV_PAGE_BUFFER,
    HV_MULTIPAGE_BUFFER,
    HV_MPB_ARRAY,
    VMBUS_CHANNEL_PACKET_PAGE_BUFFER,
    VMBUS_CHANNEL_PACKET_MULTIPAGE_BUFFER,
    VMBUS_PACKET_MPB_ARRAY,
    MSG_HEADER,
    CHANNEL_OFFER,
    MSG_OFFER_CHANNEL,
    MSG_RESCIND_OFFER,
    MSG_REQUEST_OFFERS,
    MSG_ALL_OFFERS_DELIVERED,
    MSG_OPEN_CHANNEL,
    MSG_OPEN_RESULT,
    MSG_CLOSE_CHANNEL,
    MSG_GPADL_HEADER,
    MSG_GPADL_BODY,
    MSG_GPADL_CREATED,
    MSG_GPADL_TEARDOWN,
    MSG_GPADL_TORNDOWN,
    MSG_RELID_RELEASED,
    MSG_INITIATE_CONTACT,
    MSG_VERSION_RESPONSE,
    MSG_VERSION_RESPONSE2,
    MSG_UNLOAD,
    MSG_UNLOAD_RESPONSE,
    MSG_TL_CONNECT_REQUEST,
    MSG_TL_CONNECT_RESULT,
    MSG_MODIFY_CHANNEL,
    MSG_MODIFY_CHANNEL_RESPONSE,
    MSG_QUERY_VMBUS_VERSION,
    MSG_VERSION_SUPPORTED,
    HV_MONITOR_PAGE,
  ],
  constants: [
    ...constantsOf("vmbus_packet_type", H, PacketType),
    ...constantsOf("vmbus_packet_flag", H, PacketFlag),
    ...constantsOf("vmbus_channel_message_type", H, ChannelMessageType),
    ...constantsOf("vmbus_version", H, VmbusVersion),
    ...constantsOf("vmbus_version_order", "drivers/hv/connection.c (Linux 6.19)", {
      vmbus_versions: VMBUS_VERSIONS.map((v) => `0x${v.toString(16)}`).join(","),
    }),
    ...constantsOf(
      "vmbus_connection",
      "drivers/hv/hyperv_vmbus.h (Linux 6.19); redirect id: OpenVMM",
      VmbusConnection,
    ),
    ...constantsOf("vmbus_offer_flag", H, OfferFlag, {
      VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER: "6.19; before: SERVER_SUPPORTS_TRANSFER_PAGES",
      VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY: "6.19; before: SERVER_SUPPORTS_GPADLS",
    }),
    ...constantsOf("vmbus_pipe_mode", H, PipeMode),
    ...constantsOf("vmbus_feature_flag", `${H}; other bits: ${OVMM}`, FeatureFlag),
    ...constantsOf("vmbus_connection_state", OVMM, ConnectionState),
    ...constantsOf("vmbus_gpadl_type", H, GpadlType),
    ...constantsOf("vmbus_size", `${H}; ${RB}`, VmbusSize),
    ...constantsOf("vmbus_request_id", H, RequestId),
    ...constantsOf("vmbus_device_guid", H, DeviceGuid),
  ],
};
