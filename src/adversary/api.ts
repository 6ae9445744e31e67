// The attack API: what an attack module may touch. An attack receives handles to
// exactly what an untrusted host and hypervisor control, and nothing else:
//  - the host's and hypervisor's views of guest memory (UntrustedView: plaintext
//    only of shared pages; ciphertext and refused writes otherwise);
//  - the hypervisor's answers (CPUID and MSR values, hypercall results, page-state
//    changes) through an interposer;
//  - SynIC messages and event flags, and interrupt injection;
//  - named interleaving points in the guest's order of steps (when to act);
//  - a seeded PRNG (every choice replays from the run's seed);
//  - the host's VMBus server (api-vmbus.ts): channel messages to the guest, offers
//    and rescinds, the host end of each open channel's rings, VSP responses, the
//    GPADLs the guest described, and which guest messages it answers;
//  - the devices the host emulates behind MMIO or offers (a vPCI bus, chosen
//    before the VM starts), and the paravisor's untrusted hypercall path (what the
//    host may ask a paravisor).
// The auditor, not the attack, decides the outcome.
import type { VpciFunctionSpec } from "../host/vsp/vpci-config.ts";
import type { CpuidRegs } from "../hypervisor/cpuid.ts";
import type { HypervisorInterposer } from "../hypervisor/interposer.ts";
import type { MmioDevice } from "../platform/mmio.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";
import type { Prng } from "../util/prng.ts";
import type { Hardening, VmConfig } from "../vm/config.ts";
import type { SynicHandles, VmbusHandles } from "./api-vmbus.ts";

export type * from "./api-vmbus.ts";

export interface HostHandles {
  /** The host partition's view of guest memory. */
  readonly memory: UntrustedView;
  /** Pages the host's SLAT maps to the guest (it knows its own tables). */
  mappedPages(): number[];
  /** The host's VMBus server: messages, offers, rescinds, rings, VSP responses, GPADLs. */
  readonly vmbus: VmbusHandles;
  /** Emulate a device of the host's own behind MMIO (what the guest's shared MMIO reaches); false if the range is taken. */
  emulateMmio(device: MmioDevice): boolean;
}

export interface HypervisorHandles {
  /** The hypervisor's view of guest memory. */
  readonly memory: UntrustedView;
  /** Change the hypervisor's answers; later calls merge with earlier ones. */
  interpose(i: HypervisorInterposer): void;
  /** Raise an interrupt vector at a VP the way the hypervisor's interrupts go (queued; the paravisor, if any, mediates). */
  injectInterrupt(vp: number, vector: number): void;
  /**
   * Inject a vector into a VP now, with no regard for the x86 rules (event
   * injection), by whatever path the hardware leaves open: raw on SNP without
   * Restricted Injection, the #HV doorbell with it, posted interrupts on TDX, the
   * paravisor's mediation in paravisor mode.
   */
  injectRaw(vp: number, vector: number): void;
  /** Post a SynIC message into a VP's SINT slot (as the hypervisor would). */
  postMessage(
    vp: number,
    sint: number,
    type: number,
    payload: Uint8Array,
  ): "delivered" | "queued" | "dropped";
  /** Set an event flag on a VP's SynIC event page. */
  signalEvent(vp: number, sint: number, flag: number): boolean;
  /** The SynIC's pages and slots, raw (bad sizes and types, msg_pending games, floods). */
  readonly synic: SynicHandles;
  /**
   * A hypercall into the paravisor's untrusted dispatcher, as the host may make one
   * (paravisor mode; HV_STATUS_INVALID_PARTITION_STATE otherwise). Returns the result word.
   */
  callParavisor(vp: number, control: bigint, input: Uint8Array): bigint;
  /**
   * Stall the guest's conversions at a named point (the hypervisor takes its time),
   * long enough for the guest's other CPUs to run meanwhile.
   */
  stallAt(point: string): void;
  /** The honest CPUID answer (to build a lie on). */
  honestCpuid(leaf: number): CpuidRegs;
}

/**
 * What the host brings to the VM before it starts: the devices it offers are its
 * own choice (an attack that needs a device the default host does not offer asks
 * for it here).
 */
export interface HostSetup {
  /**
   * Offer a vPCI bus (a device assigned to the VM, C23): true for the default
   * function (a MANA VF with two BARs), or the functions and newest protocol version.
   */
  vpci?: boolean | { functions?: readonly VpciFunctionSpec[]; maxVersion?: number };
}

export interface AttackContext {
  readonly config: VmConfig;
  readonly host: HostHandles;
  readonly hypervisor: HypervisorHandles;
  /** Act at a named interleaving point of the guest (see docs/attacks.md for the list). */
  at(point: string, fn: (detail: Record<string, number | string>) => void): void;
  readonly rng: Prng;
  /** Let the guest run until it has nothing left to do (the host waits; timing is the host's to choose). */
  letGuestRun(): void;
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
  /** The devices the host sets up before the VM starts (default: the standard set). */
  host?: HostSetup;
  /** Runs before the VM boots: install interposers and interleaving-point actions. */
  setup?(ctx: AttackContext): void;
  /** Runs after the guest's workload: the host's last moves (reads, writes, probes). */
  after?(ctx: AttackContext): void;
}

export function defineAttack(a: Attack): Attack {
  return a;
}
