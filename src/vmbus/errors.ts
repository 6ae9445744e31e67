// Reject codes for hostile VMBus input. A decoder or a ring reader that meets bytes
// it cannot accept returns one of these as a value (never throws); a bug in the
// simulator itself is a thrown Error instead. Expected outcomes (ring empty, ring
// full, requestor full) are plain return values and have no code here.

/** Every reject reason, with its one-line meaning. Codes are stable: tests and logs key on them. */
export const VMBUS_ERRORS = {
  HVCOCO_ERR_VMBUS_TRUNCATED: "input shorter than the fixed part of the struct it must hold",
  HVCOCO_ERR_VMBUS_OVERSIZE: "channel message longer than MAX_SIZE_CHANNEL_MESSAGE (240 bytes)",
  HVCOCO_ERR_VMBUS_UNKNOWN_MSGTYPE: "channel message type that has no known layout",
  HVCOCO_ERR_VMBUS_RANGE_COUNT:
    "a count or length field (range_cnt, rangecount, range_buflen) disagrees with the bytes present",
  HVCOCO_ERR_VMBUS_GPA_RANGE: "gpa_range byte_offset not below 4096, or the range runs past 2^32 bytes",
  HVCOCO_ERR_VMBUS_PFN_OVERFLOW: "a PFN above 2^53-1, which no guest page can have",
  HVCOCO_ERR_RING_INDEX_RANGE: "a ring index at or beyond the size of the ring's data area",
  HVCOCO_ERR_RING_INDEX_ALIGN: "a ring index that is not a multiple of 8",
  HVCOCO_ERR_PKT_LEN_SHORT: "packet descriptor len8*8 below the 16-byte descriptor",
  HVCOCO_ERR_PKT_LEN_AVAIL: "packet plus its 8-byte trailer longer than the bytes available in the ring",
  HVCOCO_ERR_PKT_TOO_BIG: "packet longer than the reader's private packet buffer",
  HVCOCO_ERR_PKT_OFFSET: "packet descriptor offset8*8 below 16 or beyond the packet length",
  HVCOCO_ERR_RQST_ID_RANGE: "transaction id 0 or beyond the requestor table (no slot has that id)",
  HVCOCO_ERR_RQST_NOT_OUTSTANDING: "transaction id of a requestor slot with no request outstanding",
} as const;

export type VmbusErrorCode = keyof typeof VMBUS_ERRORS;

/** A rejected hostile input: a value, returned where a decoded result would be. */
export interface VmbusFault {
  readonly code: VmbusErrorCode;
  /** What exactly was wrong, for the log line ("len8*8 = 8 < 16"). */
  readonly detail: string;
}

export function fault(code: VmbusErrorCode, detail: string): VmbusFault {
  return { code, detail };
}

/** Tell a fault from a decoded value (decoded values never carry `code`). */
export function isFault(x: unknown): x is VmbusFault {
  return typeof x === "object" && x !== null && "code" in x && typeof x.code === "string";
}
