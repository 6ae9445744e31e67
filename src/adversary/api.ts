// The attack API: what an attack module may touch. An attack receives handles to
// exactly what an untrusted host and hypervisor control, and nothing else:
//  - the host's and hypervisor's views of guest memory (UntrustedView: plaintext
//    only of shared pages; ciphertext and refused writes otherwise);
//  - the hypervisor's answers (CPUID and MSR values, hypercall results, page-state
//    changes) through an interposer;
//  - SynIC messages and event flags, and interrupt injection;
//  - named interleaving points in the guest's order of steps (when to act);
//  - a seeded PRNG (every choice replays from the run's seed).
// VMBus offers, rescinds and VSP responses join as the VMBus server grows its
// adversary seam. The auditor, not the attack, decides the outcome.
import type { CpuidRegs } from "../hypervisor/cpuid.ts";
import type { HypervisorInterposer } from "../hypervisor/interposer.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";
import type { Prng } from "../util/prng.ts";
import type { Hardening, VmConfig } from "../vm/config.ts";

export interface HostHandles {
  /** The host partition's view of guest memory. */
  readonly memory: UntrustedView;
  /** Pages the host's SLAT maps to the guest (it knows its own tables). */
  mappedPages(): number[];
}

export interface HypervisorHandles {
  /** The hypervisor's view of guest memory. */
  readonly memory: UntrustedView;
  /** Change the hypervisor's answers; later calls merge with earlier ones. */
  interpose(i: HypervisorInterposer): void;
  /** Inject an interrupt vector into a VP, with no regard for the x86 rules (a malicious hypervisor). */
  injectInterrupt(vp: number, vector: number): void;
  /** Post a SynIC message into a VP's SINT slot (as the hypervisor would). */
  postMessage(
    vp: number,
    sint: number,
    type: number,
    payload: Uint8Array,
  ): "delivered" | "queued" | "dropped";
  /** Set an event flag on a VP's SynIC event page. */
  signalEvent(vp: number, sint: number, flag: number): boolean;
  /**
   * Stall the guest's conversions at a named point (the hypervisor takes its time),
   * long enough for the guest's other CPUs to run meanwhile.
   */
  stallAt(point: string): void;
  /** The honest CPUID answer (to build a lie on). */
  honestCpuid(leaf: number): CpuidRegs;
}

export interface AttackContext {
  readonly config: VmConfig;
  readonly host: HostHandles;
  readonly hypervisor: HypervisorHandles;
  /** Act at a named interleaving point of the guest (see docs/attacks.md for the list). */
  at(point: string, fn: (detail: Record<string, number | string>) => void): void;
  readonly rng: Prng;
  /** Note what the attack did (shown in the verdict). */
  note(line: string): void;
}

export interface Attack {
  /** A stable, unique kebab-case name. */
  name: string;
  /** One line: what the host does. */
  description: string;
  /** The input class of SPEC.md / issue 7 it belongs to. */
  klass: string;
  /** Hardenings that stop it: with one of these switched off, the attack must be reported. */
  defeatedBy: readonly Hardening[];
  /**
   * The host behaves honestly here, so the guest must boot and run: a deliberate
   * refusal is a finding too (the baseline).
   */
  honest?: boolean;
  /** Configurations it applies to (default: every CoCo configuration). */
  appliesTo?(config: VmConfig): boolean;
  /** Runs before the VM boots: install interposers and interleaving-point actions. */
  setup?(ctx: AttackContext): void;
  /** Runs after the guest's workload: the host's last moves (reads, writes, probes). */
  after?(ctx: AttackContext): void;
}

export function defineAttack(a: Attack): Attack {
  return a;
}
