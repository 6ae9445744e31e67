// How the guest's hypercalls reach the layer below (arch/x86/include/asm/mshyperv.h
// hv_do_hypercall(), drivers/hv/hv_common.c, arch/x86/hyperv/ivm.c; C15):
//  - TDX without a paravisor: TDG.VP.VMCALL straight to the hypervisor;
//  - SNP without a paravisor: VMMCALL, which raises #VC; the guest's handler exits through the GHCB;
//  - otherwise: through the hypercall page (to the paravisor when one is present).

import { Label } from "../audit/labels.ts";
import { HV_MAX_MODIFY_GPA_REP_COUNT, HV_PARTITION_ID_SELF, HvCallCode, HvStatus } from "../hyperv/hvgdk.ts";
import { doRepHypercall, HV_GPA_RANGE_FOR_VISIBILITY, resultStatus } from "../hyperv/hypercall-abi.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import type { GuestKernel } from "./kernel.ts";

/** U64_MAX: what hv_do_hypercall() returns when there is no hypercall page. */
export const HV_STATUS_NO_HYPERCALL_PAGE = 0xffffffffffffffffn;

export function hvDoHypercall(
  k: GuestKernel,
  vp: number,
  control: bigint,
  inputGpa: number,
  outputGpa: number,
): bigint {
  const iso = k.isolation;
  if (iso === "tdx" && !k.paravisor) return k.hw.tdvmcall!.hypercall(vp, control, inputGpa, outputGpa);
  if (iso === "snp" && !k.paravisor)
    return k.hw.cpus[vp]!.vmmcall(control, BigInt(inputGpa), BigInt(outputGpa));
  if (!k.hypercallPage) return HV_STATUS_NO_HYPERCALL_PAGE;
  return k.hw.hypercallPage(vp, control, inputGpa, outputGpa);
}

/**
 * hv_mark_gpa_visibility(): fill the per-CPU input page with the
 * hv_gpa_range_for_visibility block and issue the 0x00DB rep hypercall.
 * Returns 0 or a negative errno.
 */
export function hvMarkGpaVisibility(
  k: GuestKernel,
  vp: number,
  pfns: readonly number[],
  visibility: number,
): number {
  if (k.isolation === "none") return 0;
  if (pfns.length > HV_MAX_MODIFY_GPA_REP_COUNT) return -22; // -EINVAL
  const pc = k.hw.mem;
  const input = k.percpu[vp]!.inputPage;
  const block = new Uint8Array(PAGE_SIZE);
  const dv = new DataView(block.buffer);
  const off = HV_GPA_RANGE_FOR_VISIBILITY.off;
  dv.setBigUint64(off.partition_id, HV_PARTITION_ID_SELF, true);
  dv.setUint32(off.host_visibility, visibility & 3, true);
  dv.setUint32(off.reserved1, 0, true);
  for (let i = 0; i < pfns.length; i++) dv.setBigUint64(off.gpa_page_list + i * 8, BigInt(pfns[i]!), true);
  // The whole block is written, unused entries zero: nothing but the request reaches the page.
  pc.write(input, block, Label.PUBLIC);
  const r = doRepHypercall(
    HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY,
    pfns.length,
    0,
    (control) => hvDoHypercall(k, vp, control, input, 0),
  );
  return resultStatus(r) === HvStatus.HV_STATUS_SUCCESS ? 0 : -14; // -EFAULT
}
