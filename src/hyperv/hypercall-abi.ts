// The hypercall ABI: the 64-bit input control word, the 64-bit result, and the
// input blocks hvcoco uses, exact to include/hyperv/hvgdk_mini.h and
// include/asm-generic/mshyperv.h (kernel-facts.md §3.2, §3.9, §3.10, §5.5).
import { defineStruct } from "../layout/struct.ts";

// Input control word (union hv_hypercall_input / HV_HYPERCALL_* macros):
//  15:0 call code | 16 fast | 26:17 variable header size (8-byte units) | 30:27 rsvd
//  31 nested | 43:32 rep count | 47:44 rsvd | 59:48 rep start index | 63:60 rsvd
export const HV_HYPERCALL_FAST_BIT = 1n << 16n;
export const HV_HYPERCALL_VARHEAD_OFFSET = 17n;
export const HV_HYPERCALL_NESTED = 1n << 31n;
export const HV_HYPERCALL_REP_COMP_OFFSET = 32n;
export const HV_HYPERCALL_REP_START_OFFSET = 48n;
export const HV_HYPERCALL_RESULT_MASK = 0xffffn;
/** Bits that must be zero in an input control word: 30:27, 47:44, 63:60. */
export const HV_HYPERCALL_RSVD_MASK = (0xfn << 27n) | (0xfn << 44n) | (0xfn << 60n);

export interface HypercallControl {
  code: number;
  fast: boolean;
  /** Variable header size in 8-byte units. */
  varHeadSize: number;
  nested: boolean;
  repCount: number;
  repStart: number;
  /** Reserved bits were set (the hypervisor rejects the call). */
  reservedSet: boolean;
}

export function encodeControl(c: Partial<HypercallControl> & { code: number }): bigint {
  let v = BigInt(c.code & 0xffff);
  if (c.fast) v |= HV_HYPERCALL_FAST_BIT;
  v |= BigInt((c.varHeadSize ?? 0) & 0x3ff) << HV_HYPERCALL_VARHEAD_OFFSET;
  if (c.nested) v |= HV_HYPERCALL_NESTED;
  v |= BigInt((c.repCount ?? 0) & 0xfff) << HV_HYPERCALL_REP_COMP_OFFSET;
  v |= BigInt((c.repStart ?? 0) & 0xfff) << HV_HYPERCALL_REP_START_OFFSET;
  return v;
}

export function decodeControl(v: bigint): HypercallControl {
  const x = BigInt.asUintN(64, v);
  return {
    code: Number(x & 0xffffn),
    fast: (x & HV_HYPERCALL_FAST_BIT) !== 0n,
    varHeadSize: Number((x >> HV_HYPERCALL_VARHEAD_OFFSET) & 0x3ffn),
    nested: (x & HV_HYPERCALL_NESTED) !== 0n,
    repCount: Number((x >> HV_HYPERCALL_REP_COMP_OFFSET) & 0xfffn),
    repStart: Number((x >> HV_HYPERCALL_REP_START_OFFSET) & 0xfffn),
    reservedSet: (x & HV_HYPERCALL_RSVD_MASK) !== 0n,
  };
}

/** Result: 15:0 status, 43:32 reps completed. */
export function encodeResult(status: number, repsCompleted = 0): bigint {
  return BigInt(status & 0xffff) | (BigInt(repsCompleted & 0xfff) << HV_HYPERCALL_REP_COMP_OFFSET);
}

export function resultStatus(r: bigint): number {
  return Number(r & HV_HYPERCALL_RESULT_MASK);
}

export function resultRepsCompleted(r: bigint): number {
  return Number((r >> HV_HYPERCALL_REP_COMP_OFFSET) & 0xfffn);
}

/**
 * hv_do_rep_hypercall(): issue the call, stop on a non-success status, else carry
 * the reps completed into rep start and repeat until all are done.
 */
export function doRepHypercall(
  code: number,
  repCount: number,
  varHeadSize: number,
  issue: (control: bigint) => bigint,
): bigint {
  let control = encodeControl({ code, repCount, varHeadSize });
  for (;;) {
    const r = issue(control);
    const status = resultStatus(r);
    if (status !== 0) return r;
    const done = resultRepsCompleted(r);
    if (done >= repCount) return r;
    control =
      (control & ~(0xfffn << HV_HYPERCALL_REP_START_OFFSET)) |
      (BigInt(done) << HV_HYPERCALL_REP_START_OFFSET);
  }
}

// include/hyperv/hvgdk_mini.h: struct hv_gpa_range_for_visibility (packed, one page)
export const HV_GPA_RANGE_FOR_VISIBILITY = defineStruct(
  "hv_gpa_range_for_visibility",
  "include/hyperv/hvgdk_mini.h",
  [
    { name: "partition_id", size: 8, note: "HV_PARTITION_ID_SELF (all ones)" },
    {
      name: "host_visibility",
      size: 4,
      note: "bits 1:0 enum hv_mem_host_visibility; bits 31:2 reserved0 (zero)",
    },
    { name: "reserved1", size: 4, note: "zero" },
    { name: "gpa_page_list", size: 8, count: 510, note: "4 KiB GPA page numbers: the rep elements" },
  ],
);

// drivers/hv/hyperv_vmbus.h: struct hv_input_post_message
export const HV_INPUT_POST_MESSAGE = defineStruct("hv_input_post_message", "drivers/hv/hyperv_vmbus.h", [
  { name: "connectionid", size: 4, note: "union hv_connection_id: bits 23:0 id" },
  { name: "reserved", size: 4 },
  { name: "message_type", size: 4, note: "VMBus posts type 1" },
  { name: "payload_size", size: 4, note: "at most HV_MESSAGE_PAYLOAD_BYTE_COUNT (240)" },
  { name: "payload", size: 8, count: 30 },
]);

// include/hyperv/hvgdk_mini.h: struct hv_mmio_read_input (packed)
export const HV_MMIO_READ_INPUT = defineStruct("hv_mmio_read_input", "include/hyperv/hvgdk_mini.h", [
  { name: "gpa", size: 8 },
  { name: "size", size: 4, note: "1..HV_HYPERCALL_MMIO_MAX_DATA_LENGTH" },
  { name: "reserved", size: 4 },
]);

// include/hyperv/hvgdk_mini.h: struct hv_mmio_read_output
export const HV_MMIO_READ_OUTPUT = defineStruct("hv_mmio_read_output", "include/hyperv/hvgdk_mini.h", [
  { name: "data", size: 1, count: 64 },
]);

// include/hyperv/hvgdk_mini.h: struct hv_mmio_write_input (packed)
export const HV_MMIO_WRITE_INPUT = defineStruct("hv_mmio_write_input", "include/hyperv/hvgdk_mini.h", [
  { name: "gpa", size: 8 },
  { name: "size", size: 4 },
  { name: "reserved", size: 4 },
  { name: "data", size: 1, count: 64 },
]);

// include/hyperv/hvgdk_mini.h: HvSignalEvent fast input (u64 in RDX)
export const HV_INPUT_SIGNAL_EVENT = defineStruct("hv_input_signal_event", "include/hyperv/hvgdk_mini.h", [
  { name: "connectionid", size: 4 },
  { name: "flag_number", size: 2 },
  { name: "rsvdz", size: 2 },
]);

// arch/x86/hyperv/ivm.c: union hv_ghcb, the Hyper-V hypercall page layout of a GHCB (4096 B)
export const HV_GHCB_HYPERCALL = defineStruct(
  "hv_ghcb (hypercall)",
  "arch/x86/hyperv/ivm.c",
  [
    { name: "hypercalldata", size: 8, count: 509, note: "hypercall input copied here" },
    { name: "outputgpa", size: 8 },
    {
      name: "hypercallinput",
      size: 8,
      note: "15:0 callcode, 16 isfast, 31 isnested, 43:32 countofelements, 59:48 repstartindex; overlaid on output by u16 callstatus, u16 rsvd, 12-bit elementsprocessed",
    },
    { name: "reserved2", size: 8 },
  ],
  { size: 4096 },
);
