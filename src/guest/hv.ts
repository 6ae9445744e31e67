// The guest's SynIC setup (drivers/hv/hv.c hv_synic_alloc / hv_synic_enable_regs,
// arch/x86/kernel/cpu/mshyperv.c hv_get/set_non_nested_msr; kernel-facts.md §5.5,
// §6.3, §6.4). Without a paravisor the guest allocates its message and event pages
// and decrypts them (C17); with one, the pages are supplied (their PFN is already in
// SIMP/SIEFP) and the guest maps them decrypted. With a paravisor, SynIC MSRs go to
// the hypervisor through the GHCB / TDG.VP.VMCALL, and SINT writes also go to the
// paravisor's copy (native WRMSR, which it intercepts) with the proxy bit.
// With Confidential VMBus (6.19, kernel-facts.md §6.3-§6.4) the guest also runs the
// paravisor's SynIC: its own para_synic_message_page / para_synic_event_page,
// never decrypted, named to the paravisor with native SIMP/SIEFP writes; SCONTROL
// and EOM go to the paravisor, and the SINT copies lose the proxy bit (C31, C32).
import { Label } from "../audit/labels.ts";
import { HvMsr, isSynicMsr } from "../hyperv/hvgdk.ts";
import { HYPERVISOR_CALLBACK_VECTOR, SintBit, VMBUS_MESSAGE_SINT } from "../hyperv/synic-abi.ts";
import type { InstallOptions } from "../platform/apic.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import type { GuestKernel } from "./kernel.ts";
import { setMemoryDecrypted } from "./mm/set_memory.ts";
import { GuestPanic } from "./panic.ts";

export interface SynicPages {
  /** GPA of the hypervisor SynIC message page (hyp_synic_message_page). */
  message: number;
  /** GPA of the hypervisor SynIC event-flags page (hyp_synic_event_page). */
  event: number;
}

function ivmExit(k: GuestKernel) {
  return k.isolation === "snp" ? k.hw.ghcb : k.hw.tdvmcall;
}

/** hv_get_non_nested_msr(). */
export function hvGetMsr(k: GuestKernel, vp: number, msr: number): bigint {
  if (k.paravisor && isSynicMsr(msr)) {
    const r = ivmExit(k)!.rdmsr(vp, msr);
    return r.ok ? r.value : 0n;
  }
  return k.hw.cpus[vp]!.rdmsr(msr);
}

/** hv_set_non_nested_msr(). */
export function hvSetMsr(k: GuestKernel, vp: number, msr: number, value: bigint): void {
  if (k.paravisor && isSynicMsr(msr)) {
    ivmExit(k)!.wrmsr(vp, msr, value);
    // The paravisor's copy of a SINT: proxied to the guest unless VMBus is confidential (6.19).
    if (msr >= HvMsr.HV_X64_MSR_SINT0 && msr <= HvMsr.HV_X64_MSR_SINT15) {
      const proxy = k.confidentialVmbus ? 0n : BigInt(SintBit.PROXY);
      k.hw.cpus[vp]!.wrmsr(msr, value | proxy);
    }
    return;
  }
  k.hw.cpus[vp]!.wrmsr(msr, value);
}

/** hv_para_get_synic_register(): native RDMSR, which traps to the paravisor. */
export function hvParaGetMsr(k: GuestKernel, vp: number, msr: number): bigint {
  return k.hw.cpus[vp]!.rdmsr(msr);
}

/** hv_para_set_synic_register(): native WRMSR, which traps to the paravisor. */
export function hvParaSetMsr(k: GuestKernel, vp: number, msr: number, value: bigint): void {
  k.hw.cpus[vp]!.wrmsr(msr, value);
}

/** hv_synic_alloc() for the paravisor SynIC: para_synic_message_page / para_synic_event_page, never decrypted. */
function hvParaSynicAlloc(k: GuestKernel): void {
  for (let vp = 0; vp < k.hw.cpus.length; vp++) {
    if (k.paraSynic[vp]) continue;
    const pfn = k.alloc.alloc(2);
    if (pfn === undefined) throw new GuestPanic("hv_synic_alloc: out of memory for the paravisor SynIC");
    const gpa = pfn * PAGE_SIZE;
    k.hw.mem.fill(gpa, 2 * PAGE_SIZE, 0, Label.PUBLIC);
    k.paraSynic[vp] = { message: gpa, event: gpa + PAGE_SIZE };
  }
}

/** hv_para_synic_enable_regs(): name the paravisor SynIC's pages to the paravisor. */
function hvParaSynicEnableRegs(k: GuestKernel, vp: number): void {
  const pages = k.paraSynic[vp];
  if (!pages) throw new GuestPanic("hv_para_synic_enable_regs before hv_synic_alloc");
  const simp = hvParaGetMsr(k, vp, HvMsr.HV_X64_MSR_SIMP);
  const siefp = hvParaGetMsr(k, vp, HvMsr.HV_X64_MSR_SIEFP);
  hvParaSetMsr(k, vp, HvMsr.HV_X64_MSR_SIMP, (simp & 0xffen) | 1n | BigInt(pages.message));
  hvParaSetMsr(k, vp, HvMsr.HV_X64_MSR_SIEFP, (siefp & 0xffen) | 1n | BigInt(pages.event));
}

/**
 * Undo the paravisor SynIC on a CPU (hv_synic_cleanup's confidential half): SIMP,
 * SIEFP and SCONTROL disabled through the paravisor, the pages freed. Used when the
 * Confidential VMBus connection fails and the guest falls back to the host (C28).
 */
export function hvParaSynicDisable(k: GuestKernel, vp: number): void {
  const pages = k.paraSynic[vp];
  hvParaSetMsr(k, vp, HvMsr.HV_X64_MSR_SIMP, hvParaGetMsr(k, vp, HvMsr.HV_X64_MSR_SIMP) & ~1n);
  hvParaSetMsr(k, vp, HvMsr.HV_X64_MSR_SIEFP, hvParaGetMsr(k, vp, HvMsr.HV_X64_MSR_SIEFP) & ~1n);
  hvParaSetMsr(k, vp, HvMsr.HV_X64_MSR_SCONTROL, hvParaGetMsr(k, vp, HvMsr.HV_X64_MSR_SCONTROL) & ~1n);
  if (!pages) return;
  k.alloc.free(pages.message / PAGE_SIZE, 2);
  delete k.paraSynic[vp];
}

/** hv_synic_alloc(): the hypervisor SynIC pages, per CPU, when the guest must supply them. */
export function hvSynicAlloc(k: GuestKernel): void {
  if (k.confidentialVmbus) hvParaSynicAlloc(k);
  if (k.paravisor) return; // supplied by the paravisor
  const isolated = k.isolation === "snp" || k.isolation === "tdx";
  for (let vp = 0; vp < k.hw.cpus.length; vp++) {
    const pfn = k.alloc.alloc(2);
    if (pfn === undefined) throw new GuestPanic("hv_synic_alloc: out of memory");
    const gpa = pfn * PAGE_SIZE;
    if (isolated && !k.confidentialVmbus) {
      const ret = setMemoryDecrypted(k, gpa, 2, `SynIC message + event pages, CPU ${vp}`);
      if (ret !== 0) throw new GuestPanic(`hv_synic_alloc: set_memory_decrypted failed (${ret})`);
    }
    k.hw.mem.fill(gpa, 2 * PAGE_SIZE, 0, Label.PUBLIC);
    k.synic[vp] = { message: gpa, event: gpa + PAGE_SIZE };
  }
}

/**
 * hv_synic_init(): with Confidential VMBus the paravisor SynIC's pages first, then
 * hv_hyp_synic_enable_regs() — SIMP, SIEFP, SINT2 (vector HYPERVISOR_CALLBACK_VECTOR,
 * unmasked) — then SCONTROL.enable, through the paravisor when VMBus is
 * confidential, else through the hypervisor.
 */
export function hvSynicEnable(
  k: GuestKernel,
  vp: number,
  isr: (vector: number) => void,
  opts: InstallOptions = {},
): void {
  if (k.confidentialVmbus) hvParaSynicEnableRegs(k, vp);
  let simp = hvGetMsr(k, vp, HvMsr.HV_X64_MSR_SIMP) | 1n;
  let siefp = hvGetMsr(k, vp, HvMsr.HV_X64_MSR_SIEFP) | 1n;
  const boundary = BigInt(k.info?.sharedGpaBoundary ?? 0);
  if (k.paravisor) {
    // Supplied pages: base = (page number << 12) & ~shared_gpa_boundary, mapped decrypted.
    const msg = Number(((simp >> 12n) << 12n) & ~boundary);
    const ev = Number(((siefp >> 12n) << 12n) & ~boundary);
    if (msg === 0 || ev === 0) throw new GuestPanic("SynIC pages not supplied by the paravisor");
    // SIMP/SIEFP come from the hypervisor: the pages must be ones the paravisor supplies, outside
    // the guest's own memory, or a lie would have the guest map a private page of its own decrypted.
    for (const gpa of [msg, ev])
      if (gpa / PAGE_SIZE < k.hw.usablePages || k.hw.mem.check(gpa / PAGE_SIZE, false) === "permission")
        throw new GuestPanic(`SynIC page 0x${gpa.toString(16)} is not one the paravisor supplies`);
    k.hw.setPte(msg / PAGE_SIZE, 1, { encrypted: false });
    k.hw.setPte(ev / PAGE_SIZE, 1, { encrypted: false });
    k.synic[vp] = { message: msg, event: ev };
  } else {
    const pages = k.synic[vp];
    if (!pages) throw new GuestPanic("hv_synic_enable_regs before hv_synic_alloc");
    simp = (simp & 0xfffn) | BigInt(pages.message);
    siefp = (siefp & 0xfffn) | BigInt(pages.event);
  }
  hvSetMsr(k, vp, HvMsr.HV_X64_MSR_SIMP, simp);
  hvSetMsr(k, vp, HvMsr.HV_X64_MSR_SIEFP, siefp);
  k.hw.apics[vp]!.install(HYPERVISOR_CALLBACK_VECTOR, isr, opts);
  const sint = BigInt(HYPERVISOR_CALLBACK_VECTOR); // masked = 0, auto_eoi = 0
  hvSetMsr(k, vp, HvMsr.HV_X64_MSR_SINT0 + VMBUS_MESSAGE_SINT, sint);
  hvSynicEnableInterrupts(k, vp);
}

/** hv_para_synic_enable_interrupts() / hv_hyp_synic_enable_interrupts(): SCONTROL.enable. */
export function hvSynicEnableInterrupts(k: GuestKernel, vp: number): void {
  if (k.confidentialVmbus) {
    hvParaSetMsr(k, vp, HvMsr.HV_X64_MSR_SCONTROL, hvParaGetMsr(k, vp, HvMsr.HV_X64_MSR_SCONTROL) | 1n);
    return;
  }
  const sc = hvGetMsr(k, vp, HvMsr.HV_X64_MSR_SCONTROL);
  hvSetMsr(k, vp, HvMsr.HV_X64_MSR_SCONTROL, sc | 1n);
}

/** vmbus_signal_eom()'s EOM write: through the paravisor when VMBus is confidential (6.19). */
export function hvEom(k: GuestKernel, vp: number): void {
  if (k.confidentialVmbus) hvParaSetMsr(k, vp, HvMsr.HV_X64_MSR_EOM, 0n);
  else hvSetMsr(k, vp, HvMsr.HV_X64_MSR_EOM, 0n);
}
