// Why netvsc refuses what its host sent. Every refusal goes through
// GuestKernel.reject(code, message) with one of these stable codes; the message
// follows the kernel's netdev_err() line where there is one (netvsc.c,
// rndis_filter.c). The NVSP and RNDIS codecs' own codes (HVCOCO_ERR_NVSP_*,
// HVCOCO_ERR_RNDIS_*) and the requestor's (HVCOCO_ERR_RQST_*) pass through unchanged.

export const NETVSC_REJECTS = {
  HVCOCO_ERR_NETVSC_SHORT: "NVSP message shorter than its header or than its type needs",
  HVCOCO_ERR_NETVSC_UNKNOWN_TYPE: "NVSP message type the guest does not take in this place",
  HVCOCO_ERR_NETVSC_PKT_TYPE: "VMBus packet type netvsc does not handle",
  HVCOCO_ERR_NETVSC_XFER_HEADER:
    "transfer-page header: offset too small, wrong page set id, or a range count that does not fit",
  HVCOCO_ERR_NETVSC_XFER_RANGE: "transfer-page range outside the receive buffer",
  HVCOCO_ERR_NETVSC_XFER_TOO_BIG: "transfer-page range larger than a receive section",
  HVCOCO_ERR_NETVSC_UNSOLICITED: "a completion or response no request is waiting for",
  HVCOCO_ERR_NETVSC_RECV_BUF: "receive-buffer completion with a bad status or section layout",
  HVCOCO_ERR_NETVSC_SEND_BUF: "send-buffer completion with a bad status or section size",
  HVCOCO_ERR_NETVSC_VERSION: "NVSP version below what an isolated VM requires",
  HVCOCO_ERR_NETVSC_INDIRECTION: "indirection table with a bad count or offset",
  HVCOCO_ERR_NETVSC_RNDIS_RESPONSE: "RNDIS completion of the wrong type, too long, or with bad fields",
  HVCOCO_ERR_NETVSC_RNDIS_TYPE: "RNDIS message type the guest does not handle",
} as const;

export type NetvscRejectCode = keyof typeof NETVSC_REJECTS;
