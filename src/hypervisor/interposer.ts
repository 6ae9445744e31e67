// What a malicious hypervisor can change about its answers. The hypervisor consults
// an interposer (installed by an attack) at each point where its real counterpart
// decides what to return; with none installed it behaves honestly. Nothing here
// gives access beyond what the hypervisor has: it only alters the hypervisor's own
// answers and actions.
import type { Actor } from "../audit/crossings.ts";
import type { CpuidRegs } from "./cpuid.ts";
import type { MsrResult } from "./msr.ts";

export interface HypercallInfo {
  vp: number;
  code: number;
  from: Actor;
  /** GPA of the input block for memory calls; undefined for fast calls. */
  inputGpa?: number;
  /** GPA of the output page for memory calls (0: none); where the hypervisor writes a call's output. */
  outputGpa?: number;
}

export interface HypervisorInterposer {
  /** Replace the CPUID values the hypervisor supplies. */
  cpuid?(vp: number, leaf: number, honest: CpuidRegs): CpuidRegs;
  /** Replace an MSR read result. */
  rdmsr?(vp: number, msr: number, honest: MsrResult): MsrResult;
  /**
   * Before serving a hypercall: return a result to send back instead of serving it
   * (e.g. success without effect), or undefined to serve it honestly.
   */
  hypercall?(info: HypercallInfo): bigint | undefined;
  /** Before a page-state change: return true/false to answer without acting, or undefined to act. */
  pageStateChange?(
    vp: number,
    pfn: number,
    count: number,
    to: "shared" | "private",
    from: Actor,
  ): boolean | undefined;
}
