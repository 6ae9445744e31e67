// Why the guest's VMBus client refuses host input. Every refusal is logged through
// GuestKernel.reject(code, message) with one of these stable codes (the ring and
// message decoders' own codes, HVCOCO_ERR_VMBUS_* / HVCOCO_ERR_PKT_* / HVCOCO_ERR_RQST_*
// in src/vmbus/errors.ts, pass through unchanged).

export const VMBUS_REJECTS = {
  HVCOCO_ERR_SYNIC_MSG_TYPE: "SynIC message whose hv_message_type is not a VMBus channel message",
  HVCOCO_ERR_VMBUS_MSGTYPE_RANGE: "channel message type at or above CHANNELMSG_COUNT (25)",
  HVCOCO_ERR_VMBUS_PAYLOAD_SIZE: "SynIC payload_size above 240 bytes",
  HVCOCO_ERR_VMBUS_MSG_SHORT: "payload shorter than the minimum of channel_message_table[] for its type",
  HVCOCO_ERR_VMBUS_NO_HANDLER: "channel message type the guest has no handler for (host-bound, unused)",
  HVCOCO_ERR_VMBUS_UNSOLICITED: "a response that matches no request outstanding",
  HVCOCO_ERR_VMBUS_RELID_RANGE: "relid 0 or at or above MAX_CHANNEL_RELIDS (2048)",
  HVCOCO_ERR_VMBUS_UNKNOWN_RELID: "relid of no channel the guest knows",
  HVCOCO_ERR_VMBUS_DUPLICATE_RELID: "offer of a relid that already names another channel",
  HVCOCO_ERR_VMBUS_OFFER_ISOLATED: "offer of a device type not allowed in an isolated VM",
  HVCOCO_ERR_VMBUS_OFFER_CONFIDENTIAL: "offer with confidential flags the connection does not support",
  HVCOCO_ERR_VMBUS_OFFER_SUBCHANNEL: "offer duplicating a primary channel with sub_channel_index 0",
  HVCOCO_ERR_VMBUS_VERSION_ISOLATED: "VMBus version below 5.2 from a host of an isolated VM",
  HVCOCO_ERR_VMBUS_UNTRUSTED_MSG: "a channel message on the hypervisor's SynIC while VMBus is confidential",
  HVCOCO_ERR_IC_SHORT: "IC packet shorter than its header or its message data",
  HVCOCO_ERR_IC_NEGOTIATE: "IC negotiate message with version counts that do not fit",
  HVCOCO_ERR_IC_MSGTYPE: "IC message type the service does not handle",
  HVCOCO_ERR_VMBUS_RECV: "a packet the driver could not receive (larger than its buffer)",
} as const;

export type VmbusRejectCode = keyof typeof VMBUS_REJECTS;
