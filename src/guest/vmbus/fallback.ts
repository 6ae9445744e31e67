// Falling back from Confidential VMBus to the host's (coco.rst as drafted in
// Roman Kisel's tree: a guest "may" find out by trying a confidential connection
// first and falling back to the host; kernel-facts.md §6.2, §9; C28). The merged
// 6.19 code decides by the CPUID bit alone; the model's guest does both: the bit
// (or a probe without it) says try, and a failed connection says fall back.
//
// Falling back undoes what the confidential attempt set up: the paravisor SynIC is
// disabled and its pages freed, the SINT copies get the proxy bit again, the
// hypervisor's SynIC is enabled directly, a TDX guest's post_msg_page is
// decrypted (it was left encrypted for the confidential connection), and the
// connection is negotiated again, with the host, through the GHCB / TDVMCALL.
import { Label } from "../../audit/labels.ts";
import { HvMsr } from "../../hyperv/hvgdk.ts";
import { HYPERVISOR_CALLBACK_VECTOR, VMBUS_MESSAGE_SINT } from "../../hyperv/synic-abi.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import { VmbusConnection as Conn } from "../../vmbus/constants.ts";
import { hvParaSynicDisable, hvSetMsr, hvSynicEnableInterrupts } from "../hv.ts";
import type { GuestKernel } from "../kernel.ts";
import { setMemoryDecrypted } from "../mm/set_memory.ts";
import { type VmbusConnection, vmbusConnect } from "./connection.ts";

/** The confidential connection failed with `ret`: go to the host instead. 0 or -errno of the second attempt. */
export function vmbusFallBack(conn: VmbusConnection, ret: number): number {
  const k = conn.k;
  k.log(`vmbus: Confidential VMBus connection failed (${ret}); falling back to the host`);
  k.step("vmbus: the confidential connection failed: fall back to the host's VMBus");
  conn.fallbacks++;
  for (let vp = 0; vp < k.hw.cpus.length; vp++) hvParaSynicDisable(k, vp);
  k.paraSynic.length = 0;
  k.confidentialVmbus = false;
  for (let vp = 0; vp < k.hw.cpus.length; vp++) {
    // hv_para_set_sint_proxy(true): the paravisor's SINT copy is proxied again.
    hvSetMsr(k, vp, HvMsr.HV_X64_MSR_SINT0 + VMBUS_MESSAGE_SINT, BigInt(HYPERVISOR_CALLBACK_VECTOR));
    hvSynicEnableInterrupts(k, vp);
  }
  if (hvPostMsgPagesDecrypted(k) !== 0) return ret;
  conn.msgList.length = 0;
  conn.state = "disconnected";
  conn.msgConnId = Conn.VMBUS_MESSAGE_CONNECTION_ID_4;
  return vmbusConnect(conn);
}

/**
 * A TDX guest with a paravisor posts to the host through its post_msg_page, which
 * must be decrypted: boot leaves it encrypted when the CPUID bit offers
 * Confidential VMBus, so a guest that ends up on the host's VMBus (it fell back, or
 * it predates 6.19) decrypts it now. 0 or the errno of set_memory_decrypted.
 */
export function hvPostMsgPagesDecrypted(k: GuestKernel): number {
  for (let vp = 0; vp < k.hw.cpus.length; vp++) {
    const page = k.percpu[vp]?.postMsgPage;
    if (page === undefined || k.sharedRanges.has(page)) continue;
    const ret = setMemoryDecrypted(k, page, 1, `post_msg_page, CPU ${vp}`);
    if (ret !== 0) return ret;
    k.hw.mem.fill(page, PAGE_SIZE, 0, Label.PUBLIC);
  }
  return 0;
}
