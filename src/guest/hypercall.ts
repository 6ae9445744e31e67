// How the guest's hypercalls reach the layer below (arch/x86/include/asm/mshyperv.h
// hv_do_hypercall(), drivers/hv/hv_common.c, arch/x86/hyperv/ivm.c; C15):
//  - TDX without a paravisor: TDG.VP.VMCALL straight to the hypervisor;
//  - SNP without a paravisor: VMMCALL, which raises #VC; the guest's handler exits through the GHCB;
//  - otherwise: through the hypercall page (to the paravisor when one is present).

import { Label } from "../audit/labels.ts";
import { HV_MAX_MODIFY_GPA_REP_COUNT, HV_PARTITION_ID_SELF, HvCallCode, HvStatus } from "../hyperv/hvgdk.ts";
import {
  doRepHypercall,
  HV_GHCB_HYPERCALL,
  HV_GPA_RANGE_FOR_VISIBILITY,
  HV_HYPERCALL_FAST_BIT,
  HV_INPUT_POST_MESSAGE,
  resultStatus,
} from "../hyperv/hypercall-abi.ts";
import { HV_MESSAGE_PAYLOAD_BYTE_COUNT } from "../hyperv/synic-abi.ts";
import { GHCB_OFFSETS, GHCB_PROTOCOL_MAX, GHCB_USAGE } from "../platform/ghcb.ts";
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

/** hv_do_fast_hypercall8(): the 8-byte input in RDX. */
export function hvDoFastHypercall8(k: GuestKernel, vp: number, code: number, input: bigint): bigint {
  const control = BigInt(code) | HV_HYPERCALL_FAST_BIT;
  const iso = k.isolation;
  if (iso === "tdx" && !k.paravisor) return k.hw.tdvmcall!.hypercallFast(vp, control, input, 0n);
  if (iso === "snp" && !k.paravisor) return k.hw.cpus[vp]!.vmmcall(control, input, 0n);
  if (!k.hypercallPage) return HV_STATUS_NO_HYPERCALL_PAGE;
  return k.hw.hypercallPageFast(vp, control, input, 0n);
}

/**
 * hv_ghcb_hypercall() (SNP with a paravisor; arch/x86/hyperv/ivm.c): with IRQs off,
 * set the GHCB's protocol_version = GHCB_PROTOCOL_MAX and ghcb_usage =
 * GHCB_USAGE_HYPERV_CALL, outputgpa, clear hypercallinput then set its callcode,
 * copy the input into hypercalldata, VMGEXIT; then ghcb_usage = 0xFFFFFFFF, clear
 * the valid bitmap, and return the hypercalloutput the hypervisor wrote back (its
 * status in bits 15:0). The GHCB is shared with the hypervisor: only the request
 * goes into it. The named point "ghcb:vmgexit" is the moment the page is complete.
 */
export function hvGhcbHypercall(k: GuestKernel, vp: number, code: number, input: Uint8Array): bigint {
  const ghcb = k.percpu[vp]!.ghcbPage;
  if (ghcb === undefined) return HV_STATUS_NO_HYPERCALL_PAGE;
  const o = HV_GHCB_HYPERCALL.off;
  const mem = k.hw.mem;
  // ghcb.protocol_version (u16 @0xFFA) and ghcb.ghcb_usage (u32 @0xFFC): the tail of reserved2.
  const tail = new Uint8Array(6);
  const tv = new DataView(tail.buffer);
  tv.setUint16(0, GHCB_PROTOCOL_MAX, true);
  tv.setUint32(2, GHCB_USAGE.GHCB_USAGE_HYPERV_CALL, true);
  mem.write(ghcb + GHCB_OFFSETS.PROTOCOL_VERSION, tail, Label.PUBLIC);
  const head = new Uint8Array(16);
  const dv = new DataView(head.buffer);
  dv.setBigUint64(0, 0n, true); // outputgpa: no output
  dv.setBigUint64(8, BigInt(code & 0xffff), true); // hypercallinput: callcode only (not fast, no reps)
  mem.write(ghcb + o.outputgpa, head, Label.PUBLIC);
  mem.write(ghcb + o.hypercalldata, input, Label.PUBLIC);
  k.hooks.fire("ghcb:vmgexit", { vp, gpa: ghcb, code });
  k.hw.ghcb!.ghcbHypercall(vp, ghcb);
  const usage = new Uint8Array(4).fill(0xff);
  mem.write(ghcb + GHCB_OFFSETS.GHCB_USAGE, usage, Label.PUBLIC);
  mem.fill(ghcb + GHCB_OFFSETS.VALID_BITMAP, GHCB_OFFSETS.VALID_BITMAP_SIZE, 0, Label.PUBLIC);
  // hypercalloutput: u16 callstatus, u16 reserved, elementsprocessed in bits 43:32 (host-written).
  return mem.readU64(ghcb + o.hypercallinput) & 0xfff0000ffffn;
}

/**
 * hv_post_message() (drivers/hv/hv.c; kernel-facts.md §6.8, §5.5): fill
 * hv_input_post_message and send it — through the GHCB (SNP) or the decrypted
 * post_msg_page with TDG.VP.VMCALL (TDX) when a paravisor is present and VMBus is
 * not confidential, else through hv_do_hypercall(). Returns the hypercall status.
 */
export function hvPostMessage(
  k: GuestKernel,
  vp: number,
  connectionId: number,
  type: number,
  payload: Uint8Array,
): number {
  if (payload.length > HV_MESSAGE_PAYLOAD_BYTE_COUNT) return -90; // -EMSGSIZE
  const o = HV_INPUT_POST_MESSAGE.off;
  const msg = new Uint8Array(o.payload + payload.length);
  const dv = new DataView(msg.buffer);
  dv.setUint32(o.connectionid, connectionId & 0xffffff, true);
  dv.setUint32(o.reserved, 0, true);
  dv.setUint32(o.message_type, type, true);
  dv.setUint32(o.payload_size, payload.length, true);
  msg.set(payload, o.payload);
  const pc = k.percpu[vp]!;
  let r: bigint;
  if (k.paravisor && !k.confidentialVmbus && k.isolation === "snp") {
    r = hvGhcbHypercall(k, vp, HvCallCode.HVCALL_POST_MESSAGE, msg);
  } else if (k.paravisor && !k.confidentialVmbus && k.isolation === "tdx") {
    const page = pc.postMsgPage!;
    k.hw.mem.write(page, msg, Label.PUBLIC);
    r = k.hw.tdvmcall!.hypercall(vp, BigInt(HvCallCode.HVCALL_POST_MESSAGE), page, 0);
  } else {
    k.hw.mem.write(pc.inputPage, msg, Label.PUBLIC);
    r = hvDoHypercall(k, vp, BigInt(HvCallCode.HVCALL_POST_MESSAGE), pc.inputPage, 0);
  }
  return resultStatus(r);
}

/**
 * vmbus_set_event()'s hypercall (drivers/hv/connection.c; §6.9): HvSignalEvent with
 * the channel's connection id — through the GHCB (SNP) or TDG.VP.VMCALL (TDX) when
 * a paravisor is present, else a fast hypercall. Returns the hypercall status.
 */
export function hvSignalEvent(k: GuestKernel, vp: number, connectionId: number): number {
  const input = BigInt(connectionId & 0xffffff);
  let r: bigint;
  if (k.paravisor && k.isolation === "snp") {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, input, true);
    r = hvGhcbHypercall(k, vp, HvCallCode.HVCALL_SIGNAL_EVENT, b);
  } else if (k.paravisor && k.isolation === "tdx") {
    r = k.hw.tdvmcall!.hypercallFast(
      vp,
      BigInt(HvCallCode.HVCALL_SIGNAL_EVENT) | HV_HYPERCALL_FAST_BIT,
      input,
      0n,
    );
  } else {
    r = hvDoFastHypercall8(k, vp, HvCallCode.HVCALL_SIGNAL_EVENT, input);
  }
  return resultStatus(r);
}
