// HvCallModifySparseGpaPageHostVisibility (0x00DB): the hypervisor's half of an
// encrypt/decrypt transition. It validates everything it is asked, because it
// protects itself from a malicious paravisor exactly as from a malicious guest
// (C4): the input block's partition id and reserved fields, the visibility value,
// the rep count and start index, and each GPA page number.

import type { Actor } from "../audit/crossings.ts";
import {
  HV_MAX_MODIFY_GPA_REP_COUNT,
  HV_PARTITION_ID_SELF,
  HvMemHostVisibility,
  HvStatus,
} from "../hyperv/hvgdk.ts";
import { HV_GPA_RANGE_FOR_VISIBILITY } from "../hyperv/hypercall-abi.ts";
import type { Platform } from "../platform/platform.ts";

export interface VisibilityOutcome {
  status: number;
  repsCompleted: number;
  /** Why the call was refused (for the auditor and tests); absent on success. */
  reject?: string;
}

const OFF = HV_GPA_RANGE_FOR_VISIBILITY.off;

/**
 * Serve one (possibly partial) rep call. `input` is the input page as the
 * hypervisor read it from shared memory (ciphertext if the caller handed it a
 * private page, which then fails validation like any garbage).
 */
export function modifySparseGpaPageHostVisibility(
  p: Platform,
  input: Uint8Array,
  repCount: number,
  repStart: number,
  validate: boolean,
  from: Actor,
): VisibilityOutcome {
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const refuse = (status: number, reject: string): VisibilityOutcome => ({
    status,
    repsCompleted: repStart,
    reject,
  });
  if (validate) {
    if (repCount === 0 || repCount > HV_MAX_MODIFY_GPA_REP_COUNT)
      return refuse(
        HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT,
        `rep count ${repCount} outside 1..${HV_MAX_MODIFY_GPA_REP_COUNT}`,
      );
    if (repStart >= repCount)
      return refuse(
        HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT,
        `rep start ${repStart} not below rep count ${repCount}`,
      );
    if (dv.getBigUint64(OFF.partition_id, true) !== HV_PARTITION_ID_SELF)
      return refuse(HvStatus.HV_STATUS_INVALID_PARTITION_ID, "partition id is not HV_PARTITION_ID_SELF");
  }
  const word = dv.getUint32(OFF.host_visibility, true);
  const vis = word & 3;
  if (validate) {
    if ((word & ~3) !== 0 || dv.getUint32(OFF.reserved1, true) !== 0)
      return refuse(HvStatus.HV_STATUS_INVALID_PARAMETER, "reserved bits set in the visibility header");
    if (
      vis !== HvMemHostVisibility.VMBUS_PAGE_NOT_VISIBLE &&
      vis !== HvMemHostVisibility.VMBUS_PAGE_VISIBLE_READ_WRITE
    )
      return refuse(HvStatus.HV_STATUS_INVALID_PARAMETER, `host visibility ${vis} not supported`);
  }
  let done = repStart;
  // Convert runs of consecutive pages at once (one flags update per run).
  let runStart = -1;
  let runLen = 0;
  const to = vis === HvMemHostVisibility.VMBUS_PAGE_NOT_VISIBLE ? "private" : "shared";
  const flush = (): void => {
    if (runLen > 0) p.convert(runStart, runLen, to);
    runLen = 0;
  };
  for (let i = repStart; i < repCount; i++) {
    const gpn = Number(dv.getBigUint64(OFF.gpa_page_list + i * 8, true));
    if (validate) {
      let reject: string | undefined;
      let status: number = HvStatus.HV_STATUS_INVALID_PARAMETER;
      if (!Number.isSafeInteger(gpn) || !p.memory.contains(gpn))
        reject = `GPA page 0x${gpn.toString(16)} outside the partition`;
      else if (from === "guest" && gpn >= p.paravisorPfn && gpn < p.paravisorPfn + p.paravisorPages) {
        reject = `GPA page 0x${gpn.toString(16)} is the paravisor's (VTL2) memory`;
        status = HvStatus.HV_STATUS_ACCESS_DENIED;
      }
      if (reject !== undefined) {
        flush();
        return { status, repsCompleted: done, reject };
      }
    }
    if (!p.memory.contains(gpn)) {
      // Only reachable with validation switched off: the hypervisor acts on a page it does not own.
      flush();
      p.audit.violation(
        "HVCOCO_VIOLATION_HYPERVISOR_INPUT",
        `hypervisor acted on GPA page ${gpn} outside the partition`,
      );
      done = i + 1;
      continue;
    }
    if (runLen > 0 && gpn === runStart + runLen) runLen++;
    else {
      flush();
      runStart = gpn;
      runLen = 1;
    }
    done = i + 1;
  }
  flush();
  return { status: HvStatus.HV_STATUS_SUCCESS, repsCompleted: done };
}
