// Everything the guest kernel can reach, and nothing else: its own CPU contexts
// and memory accesses (checked by the hardware), its page tables, the privileged
// page instructions (which fail when it does not hold VMPL0/L1), and the exits to
// the layers below. It never sees the VM's configuration: it detects it (C8).
import type { CpuidRegs } from "../hypervisor/cpuid.ts";
import type { MsrResult } from "../hypervisor/msr.ts";
import type { LocalApic } from "../platform/apic.ts";
import type { CpuMemory } from "../platform/cpu-memory.ts";
import type { PrivilegedResult } from "../platform/platform.ts";
import type { Vcpu } from "../platform/vcpu.ts";

/**
 * What one explicit exit to the hypervisor can ask: a GHCB VMGEXIT (SNP) or a
 * TDG.VP.VMCALL (TDX GHCI). Values cross in the clear: the hypervisor is untrusted.
 */
export interface HypervisorExit {
  cpuid(vp: number, leaf: number): CpuidRegs;
  rdmsr(vp: number, msr: number): MsrResult;
  wrmsr(vp: number, msr: number, value: bigint): MsrResult;
  hypercall(vp: number, control: bigint, inputGpa: number, outputGpa: number): bigint;
  hypercallFast(vp: number, control: bigint, rdx: bigint, r8: bigint): bigint;
  /**
   * GHCB Page State Change (SNP) / MapGPA (TDX). `hostVisible` false (the paravisor's
   * device-only pages, C27): shared, yet left out of the host's SLAT.
   */
  pageStateChange(
    vp: number,
    pfn: number,
    count: number,
    to: "shared" | "private",
    hostVisible?: boolean,
  ): boolean;
  /**
   * MMIO the #VC/#VE handler (or the paravisor) cannot serve itself: GHCB
   * SVM_VMGEXIT_MMIO_READ/WRITE (SNP), TDVMCALL<#VE.RequestMMIO> (TDX). A read fills `data`.
   */
  mmio(vp: number, gpa: number, write: boolean, data: Uint8Array, labels?: Uint8Array): void;
  /** Port I/O: GHCB SVM_EXIT_IOIO / TDVMCALL<Instruction.IO>. Returns what an IN reads. */
  io(vp: number, port: number, size: 1 | 2 | 4, write: boolean, value: number, label?: number): number;
  /** TDVMCALL<HLT> (TDX); for SNP the paravisor's own halt. */
  hlt(vp: number): void;
  /** VMGEXIT on a GHCB page laid out as Hyper-V's hypercall page (SNP; hv_ghcb_hypercall()). */
  ghcbHypercall(vp: number, ghcbGpa: number): void;
  /** SVM_VMGEXIT_HV_DOORBELL_PAGE / SET (SNP Restricted Injection). */
  setHvDoorbellPage(vp: number, gpa: number): boolean;
}

/**
 * SNP_GUEST_REQUEST to the platform security processor (MSG_REPORT_REQ in,
 * MSG_REPORT_RSP out; the hypervisor only carries the encrypted message), and the
 * platform's report-signing key, which a real guest gets out of band (the VCEK
 * certificate chain).
 */
export interface GuestAttestation {
  readonly platformKey: Uint8Array;
  guestRequest(request: Uint8Array): Uint8Array;
}

export interface GuestHardware {
  readonly mem: CpuMemory;
  readonly cpus: readonly Vcpu[];
  /** Pages the guest may use (memory above belongs to the paravisor, if any). */
  readonly usablePages: number;
  /** SNP PVALIDATE / TDX TDG.MEM.PAGE.ACCEPT on the guest's own behalf. */
  validate(pfn: number, count: number, valid: boolean): PrivilegedResult;
  /** Edit the guest's own PTEs. */
  setPte(pfn: number, count: number, bits: { present?: boolean; encrypted?: boolean }): void;
  /** Call through the hypercall page: to the paravisor when present, else the hypervisor. */
  hypercallPage(vp: number, control: bigint, inputGpa: number, outputGpa: number): bigint;
  /** A fast call through the hypercall page (input in RDX, R8). */
  hypercallPageFast(vp: number, control: bigint, rdx: bigint, r8: bigint): bigint;
  /** The guest's local APICs, one per VP: it installs its interrupt handlers there. */
  readonly apics: readonly LocalApic[];
  /**
   * Let the rest of the machine run until `cond` holds; false on a timeout (nobody
   * answered, or a storm exhausted the budget). The guest never waits unboundedly.
   */
  waitFor(cond: () => boolean, what: string): boolean;
  /** GHCB exits (SNP only). */
  readonly ghcb: HypervisorExit | undefined;
  /** TDG.VP.VMCALL exits (TDX only). */
  readonly tdvmcall: HypervisorExit | undefined;
  /** RDRAND / RDSEED: the CPU's random numbers (trusted, unlike the host). */
  random(dst: Uint8Array): void;
  /** Reports from the platform security processor (in paravisor mode: about the paravisor, C25). */
  readonly attestation: GuestAttestation | undefined;
}
