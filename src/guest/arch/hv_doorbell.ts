// SEV-SNP Restricted Injection in the guest (C14): with the VMSA's
// RESTRICTED_INJECTION feature the hypervisor can inject nothing but #HV. It posts
// the pending vector in the VP's #HV doorbell page (shared), and the guest's #HV
// handler takes it from there and decides itself (Linux RFC "x86/sev: Initialize #HV
// doorbell and handle interrupt requests", T. Lan, 2022: sev_snp_init_hv_handling,
// do_exc_hv, check_hv_pending). The guest registers the page with
// SVM_VMGEXIT_HV_DOORBELL_PAGE / SET, handles #HV only with IF set (otherwise it
// waits for local_irq_enable), and accepts only vectors it set up for external
// interrupts, dispatched by the x86 rules through its APIC. (The RFC panics on an
// unexpected vector; this model logs the rejection and drops it.)
import { Label } from "../../audit/labels.ts";
import { SevStatus } from "../../hyperv/hvgdk.ts";
import { FIRST_EXTERNAL_VECTOR } from "../../platform/exceptions.ts";
import { HV_DOORBELL_FLAG, HV_DOORBELL_PAGE } from "../../platform/ghcb.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import type { GuestKernel } from "../kernel.ts";
import { setMemoryDecrypted } from "../mm/set_memory.ts";
import { GuestPanic } from "../panic.ts";

export function restrictedInjectionEnabled(k: GuestKernel): boolean {
  return (k.sevStatus & BigInt(SevStatus.MSR_AMD64_SNP_RESTRICTED_INJ)) !== 0n;
}

/** sev_snp_init_hv_handling(): a decrypted doorbell page per CPU, registered, and the #HV handler. */
export function snpInitHvHandling(k: GuestKernel): void {
  const ghcb = k.hw.ghcb;
  if (!ghcb) throw new GuestPanic("Restricted Injection without a GHCB");
  for (let vp = 0; vp < k.hw.cpus.length; vp++) {
    const pfn = k.alloc.alloc(1);
    if (pfn === undefined) throw new GuestPanic("out of memory for the #HV doorbell page");
    const gpa = pfn * PAGE_SIZE;
    if (setMemoryDecrypted(k, gpa, 1, `#HV doorbell page, CPU ${vp}`) !== 0)
      throw new GuestPanic("#HV doorbell page: set_memory_decrypted failed");
    k.hw.mem.fill(gpa, PAGE_SIZE, 0, Label.PUBLIC);
    if (!ghcb.setHvDoorbellPage(vp, gpa))
      throw new GuestPanic("the hypervisor refused the #HV doorbell page");
    k.hvDoorbell[vp] = gpa;
    k.hw.apics[vp]?.setHvHandler(() => doExcHv(k, vp));
  }
}

/**
 * do_exc_hv(): while the doorbell holds a vector, take it (xchg to 0) and, if the
 * guest set it up as an external interrupt, dispatch it by the rules. Runs only
 * with IF set; with IF clear the vector waits in the doorbell (check_hv_pending).
 */
export function doExcHv(k: GuestKernel, vp: number): void {
  const apic = k.hw.apics[vp];
  const gpa = k.hvDoorbell[vp];
  if (!apic || gpa === undefined || !apic.interruptsEnabled) return;
  for (let n = 0; n < 256; n++) {
    // Copy the host-written bytes once, then act on the copy.
    const head = k.hw.mem.read(gpa, 2);
    const vector = head[HV_DOORBELL_PAGE.off.vector]!;
    const flags = head[HV_DOORBELL_PAGE.off.flags]!;
    if (flags & (HV_DOORBELL_FLAG.NMI | HV_DOORBELL_FLAG.NO_FURTHER_SIGNAL))
      k.hw.mem.write(
        gpa + HV_DOORBELL_PAGE.off.flags,
        Uint8Array.of(flags & HV_DOORBELL_FLAG.MC),
        Label.PUBLIC,
      );
    if (flags & HV_DOORBELL_FLAG.MC)
      k.reject("HVCOCO_REJECT_ILLEGAL_INTERRUPT", `#HV: machine check signalled on VP${vp}`);
    if (vector === 0) return;
    k.hw.mem.write(gpa + HV_DOORBELL_PAGE.off.vector, Uint8Array.of(0), Label.PUBLIC);
    if (vector < FIRST_EXTERNAL_VECTOR)
      k.reject(
        "HVCOCO_REJECT_ILLEGAL_INTERRUPT",
        `#HV: exception vector 0x${vector.toString(16)} on VP${vp}`,
      );
    else if (!apic.has(vector))
      k.reject(
        "HVCOCO_REJECT_ILLEGAL_INTERRUPT",
        `#HV: vector 0x${vector.toString(16)} not set up on VP${vp}`,
      );
    else apic.request(vector, "hypervisor");
  }
}

/** local_irq_enable() (native_irq_enable + check_hv_pending with Restricted Injection). */
export function localIrqEnable(k: GuestKernel, vp: number): void {
  k.hw.apics[vp]?.setInterruptFlag(true);
  if (k.hvDoorbell[vp] !== undefined) doExcHv(k, vp);
}

/** local_irq_disable(). */
export function localIrqDisable(k: GuestKernel, vp: number): void {
  k.hw.apics[vp]?.setInterruptFlag(false);
}
