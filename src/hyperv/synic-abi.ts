// SynIC message and event-flag page layouts (include/hyperv/hvgdk_mini.h;
// kernel-facts.md §3.4-§3.6). Shared by the hypervisor that writes them and the
// guest that reads them.
import { defineStruct } from "../layout/struct.ts";

/** HV_MESSAGE_SIZE: one SINT slot of the message page. */
export const HV_MESSAGE_SIZE = 256;
/** HV_MESSAGE_PAYLOAD_BYTE_COUNT. */
export const HV_MESSAGE_PAYLOAD_BYTE_COUNT = 240;
/** HV_SYNIC_SINT_COUNT. */
export const HV_SYNIC_SINT_COUNT = 16;
/** HV_EVENT_FLAGS_COUNT: bits per SINT in the event-flags page. */
export const HV_EVENT_FLAGS_COUNT = 2048;
/** HV_EVENT_FLAGS_BYTE_COUNT. */
export const HV_EVENT_FLAGS_BYTE_COUNT = 256;
/** VMBUS_MESSAGE_SINT (HV_SYNIC_VMBUS_SINT_INDEX). */
export const VMBUS_MESSAGE_SINT = 2;
/** HYPERVISOR_CALLBACK_VECTOR: the vector Linux programs into SINT2 on x86. */
export const HYPERVISOR_CALLBACK_VECTOR = 0xf3;
/** message_flags bit 0: msg_pending. */
export const HV_MESSAGE_FLAG_PENDING = 1;

/** hv_message_type values the model uses (HVMSG_*). */
export const HvMessageType = {
  HVMSG_NONE: 0x00000000,
  /** VMBus channel messages are posted with type 1 (vmbus_post_msg). */
  HVMSG_VMBUS: 0x00000001,
  HVMSG_TIMER_EXPIRED: 0x80000010,
} as const;

/** SINTx MSR bits. */
export const SintBit = {
  VECTOR_MASK: 0xff,
  MASKED: 1 << 16,
  AUTO_EOI: 1 << 17,
  POLLING: 1 << 18,
  AS_INTERCEPT: 1 << 19,
  PROXY: 1 << 20,
} as const;

// include/hyperv/hvgdk_mini.h: struct hv_message_header (packed) + payload
export const HV_MESSAGE = defineStruct("hv_message", "include/hyperv/hvgdk_mini.h", [
  { name: "message_type", size: 4, note: "enum hv_message_type; HVMSG_NONE (0) = slot free" },
  { name: "payload_size", size: 1 },
  { name: "message_flags", size: 1, note: "bit 0 msg_pending" },
  { name: "reserved", size: 2 },
  { name: "sender", size: 8, note: "u64 sender / union hv_port_id" },
  { name: "payload", size: 8, count: 30 },
]);

// include/hyperv/hvgdk_mini.h: union hv_synic_event_flags (one SINT's flags)
export const HV_SYNIC_EVENT_FLAGS = defineStruct("hv_synic_event_flags", "include/hyperv/hvgdk_mini.h", [
  { name: "flags", size: 1, count: 256, note: "bit n = channel relid n; bit 0 is skipped by VMBus" },
]);
