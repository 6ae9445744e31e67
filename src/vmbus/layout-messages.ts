// Channel (control) message structs, as offset tables. Part of VMBUS_LAYOUT (layout.ts).
// Offsets include the 8-byte message header; all these structs are __packed.
import { defineStruct } from "../layout/struct.ts";

const H = "include/linux/hyperv.h (Linux 6.19)";
const OVMM = "openvmm vm/devices/vmbus/vmbus_core/src/protocol.rs";

// include/linux/hyperv.h: struct vmbus_channel_message_header (packed)
export const MSG_HEADER = defineStruct("vmbus_channel_message_header", H, [
  { name: "msgtype", size: 4, note: "enum vmbus_channel_message_type" },
  { name: "padding", size: 4 },
]);

const HDR = { name: "header", size: 8, note: "struct vmbus_channel_message_header" } as const;

// include/linux/hyperv.h: struct vmbus_channel_offer (packed)
export const CHANNEL_OFFER = defineStruct("vmbus_channel_offer", H, [
  { name: "if_type", size: 16, note: "GUID: device class" },
  { name: "if_instance", size: 16, note: "GUID: this device" },
  { name: "reserved1", size: 8 },
  { name: "reserved2", size: 8 },
  {
    name: "chn_flags",
    size: 2,
    note: "VMBUS_CHANNEL_*: 0x2 confidential ring, 0x4 confidential external memory",
  },
  { name: "mmio_megabytes", size: 2 },
  { name: "user_def", size: 1, count: 120, note: "or pipe { u32 pipe_mode; u8 user_def[116] }" },
  { name: "sub_channel_index", size: 2, note: "0 = primary channel" },
  { name: "reserved3", size: 2, note: "OpenVMM: mmio_megabytes_optional" },
]);

// include/linux/hyperv.h: struct vmbus_channel_offer_channel (packed)
export const MSG_OFFER_CHANNEL = defineStruct("vmbus_channel_offer_channel", H, [
  HDR,
  { name: "offer", size: 176, note: "struct vmbus_channel_offer" },
  { name: "child_relid", size: 4 },
  { name: "monitorid", size: 1 },
  { name: "monitor_allocated", size: 1, note: "bit 0; bits 1-7 reserved" },
  { name: "is_dedicated_interrupt", size: 2, note: "bit 0; bits 1-15 reserved" },
  { name: "connection_id", size: 4 },
]);

function relidOnly(name: string) {
  return defineStruct(name, H, [HDR, { name: "child_relid", size: 4 }]);
}
function headerOnly(name: string, header = H) {
  return defineStruct(name, header, [HDR]);
}

// include/linux/hyperv.h: struct vmbus_channel_rescind_offer (packed)
export const MSG_RESCIND_OFFER = relidOnly("vmbus_channel_rescind_offer");
// include/linux/hyperv.h: CHANNELMSG_REQUESTOFFERS carries the header only
export const MSG_REQUEST_OFFERS = headerOnly("vmbus_channel_request_offers");
// include/linux/hyperv.h: CHANNELMSG_ALLOFFERS_DELIVERED carries the header only
export const MSG_ALL_OFFERS_DELIVERED = headerOnly("vmbus_channel_all_offers_delivered");

// include/linux/hyperv.h: struct vmbus_channel_open_channel (packed)
export const MSG_OPEN_CHANNEL = defineStruct("vmbus_channel_open_channel", H, [
  HDR,
  { name: "child_relid", size: 4 },
  { name: "openid", size: 4 },
  { name: "ringbuffer_gpadlhandle", size: 4 },
  { name: "target_vp", size: 4 },
  { name: "downstream_ringbuffer_pageoffset", size: 4, note: "send ring size in 4 KiB pages" },
  { name: "userdata", size: 1, count: 120 },
]);

// include/linux/hyperv.h: struct vmbus_channel_open_result (packed)
export const MSG_OPEN_RESULT = defineStruct("vmbus_channel_open_result", H, [
  HDR,
  { name: "child_relid", size: 4 },
  { name: "openid", size: 4 },
  { name: "status", size: 4 },
]);

// include/linux/hyperv.h: struct vmbus_channel_close_channel (packed)
export const MSG_CLOSE_CHANNEL = relidOnly("vmbus_channel_close_channel");

// include/linux/hyperv.h: struct vmbus_channel_gpadl_header (packed; a gpa_range list follows)
export const MSG_GPADL_HEADER = defineStruct("vmbus_channel_gpadl_header", H, [
  HDR,
  { name: "child_relid", size: 4 },
  { name: "gpadl", size: 4 },
  { name: "range_buflen", size: 2, note: "bytes of all gpa_ranges with their PFNs" },
  { name: "rangecount", size: 2 },
  { name: "range", size: 8, count: 0, note: "struct gpa_range[]; up to 26 PFNs fit here" },
]);

// include/linux/hyperv.h: struct vmbus_channel_gpadl_body (packed)
export const MSG_GPADL_BODY = defineStruct("vmbus_channel_gpadl_body", H, [
  HDR,
  { name: "msgnumber", size: 4, note: "left 0 by Linux" },
  { name: "gpadl", size: 4 },
  { name: "pfn", size: 8, count: 0, note: "up to 28 PFNs" },
]);

// include/linux/hyperv.h: struct vmbus_channel_gpadl_created (packed)
export const MSG_GPADL_CREATED = defineStruct("vmbus_channel_gpadl_created", H, [
  HDR,
  { name: "child_relid", size: 4 },
  { name: "gpadl", size: 4 },
  { name: "creation_status", size: 4 },
]);

// include/linux/hyperv.h: struct vmbus_channel_gpadl_teardown (packed)
export const MSG_GPADL_TEARDOWN = defineStruct("vmbus_channel_gpadl_teardown", H, [
  HDR,
  { name: "child_relid", size: 4 },
  { name: "gpadl", size: 4 },
]);

// include/linux/hyperv.h: struct vmbus_channel_gpadl_torndown (packed)
export const MSG_GPADL_TORNDOWN = defineStruct("vmbus_channel_gpadl_torndown", H, [
  HDR,
  { name: "gpadl", size: 4 },
]);

// include/linux/hyperv.h: struct vmbus_channel_relid_released (packed)
export const MSG_RELID_RELEASED = relidOnly("vmbus_channel_relid_released");

// include/linux/hyperv.h: struct vmbus_channel_initiate_contact (packed; 6.19 union)
export const MSG_INITIATE_CONTACT = defineStruct("vmbus_channel_initiate_contact", H, [
  HDR,
  { name: "vmbus_version_requested", size: 4 },
  { name: "target_vcpu", size: 4 },
  { name: "msg_sint", size: 1, note: "union: u64 interrupt_page (version < 5.0) starts here" },
  { name: "msg_vtl", size: 1 },
  { name: "reserved", size: 1, count: 2 },
  { name: "feature_flags", size: 4, note: "6.19: VMBUS_FEATURE_FLAG_CONFIDENTIAL_CHANNELS 0x10" },
  { name: "monitor_page1", size: 8 },
  { name: "monitor_page2", size: 8 },
]);

// include/linux/hyperv.h: struct vmbus_channel_version_response (packed)
export const MSG_VERSION_RESPONSE = defineStruct("vmbus_channel_version_response", H, [
  HDR,
  { name: "version_supported", size: 1 },
  { name: "connection_state", size: 1 },
  { name: "padding", size: 2 },
  { name: "msg_conn_id", size: 4 },
]);

// openvmm protocol.rs: VersionResponse2 (sent for version >= 6.0; Linux reads the first 16 bytes)
export const MSG_VERSION_RESPONSE2 = defineStruct("VersionResponse2", OVMM, [
  HDR,
  { name: "version_supported", size: 1 },
  { name: "connection_state", size: 1 },
  { name: "padding", size: 2 },
  { name: "msg_conn_id", size: 4 },
  { name: "supported_features", size: 4 },
]);

// include/linux/hyperv.h: CHANNELMSG_UNLOAD carries the header only
export const MSG_UNLOAD = headerOnly("vmbus_channel_unload");
// include/linux/hyperv.h: CHANNELMSG_UNLOAD_RESPONSE carries the header only
export const MSG_UNLOAD_RESPONSE = headerOnly("vmbus_channel_unload_response");

// include/linux/hyperv.h: struct vmbus_channel_tl_connect_request (packed)
export const MSG_TL_CONNECT_REQUEST = defineStruct("vmbus_channel_tl_connect_request", H, [
  HDR,
  { name: "guest_endpoint_id", size: 16 },
  { name: "host_service_id", size: 16 },
]);

// openvmm protocol.rs: TlConnectResult (Linux has no struct for CHANNELMSG_TL_CONNECT_RESULT)
export const MSG_TL_CONNECT_RESULT = defineStruct("TlConnectResult", OVMM, [
  HDR,
  { name: "endpoint_id", size: 16 },
  { name: "service_id", size: 16 },
  { name: "status", size: 4, note: "i32 NTSTATUS" },
]);

// include/linux/hyperv.h: struct vmbus_channel_modifychannel (packed)
export const MSG_MODIFY_CHANNEL = defineStruct("vmbus_channel_modifychannel", H, [
  HDR,
  { name: "child_relid", size: 4 },
  { name: "target_vp", size: 4 },
]);

// include/linux/hyperv.h: struct vmbus_channel_modifychannel_response (packed)
export const MSG_MODIFY_CHANNEL_RESPONSE = defineStruct("vmbus_channel_modifychannel_response", H, [
  HDR,
  { name: "child_relid", size: 4 },
  { name: "status", size: 4 },
]);

// include/linux/hyperv.h: struct vmbus_channel_query_vmbus_version (packed; legacy, no own msgtype)
export const MSG_QUERY_VMBUS_VERSION = defineStruct("vmbus_channel_query_vmbus_version", H, [
  HDR,
  { name: "version", size: 4 },
]);

// include/linux/hyperv.h: struct vmbus_channel_version_supported (packed; legacy, no own msgtype)
export const MSG_VERSION_SUPPORTED = defineStruct("vmbus_channel_version_supported", H, [
  HDR,
  { name: "version_supported", size: 1 },
]);
