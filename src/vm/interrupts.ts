// Where an interrupt the hypervisor raises goes, on this hardware (C14). The
// hypervisor has two ways to raise one: its SynIC / host IO-APIC, which follow the
// x86 rules when it is honest, and `Hypervisor.inject`, which ignores them (what a
// malicious hypervisor does). What the hardware leaves open decides the rest:
//
//  - no paravisor, no isolation or SNP without Restricted Injection: event injection
//    (VMCB EVENTINJ). Honest interrupts go through the rules; raw ones are injected
//    as they are, whatever the vector, IF, TPR or the in-service vectors say;
//  - SNP with Restricted Injection: the hardware injects only #HV; the hypervisor
//    posts the vector in the guest's doorbell page, and the guest filters it;
//  - TDX without a paravisor: posted interrupts through the TDX module's virtual
//    APIC, which keeps the APIC rules (no exception vectors, IF, TPR, in-service),
//    though not the guest's choice of vectors;
//  - with a paravisor (SNP Alternate Injection at VMPL2, TDX L2): everything goes to
//    the paravisor, which mediates.
import type { Hypervisor } from "../hypervisor/hypervisor.ts";
import type { Paravisor } from "../paravisor/paravisor.ts";
import type { LocalApic } from "../platform/apic.ts";
import { FIRST_EXTERNAL_VECTOR, X86Trap } from "../platform/exceptions.ts";
import type { Platform } from "../platform/platform.ts";

export type InjectionPath = "event-injection" | "restricted-injection" | "posted-interrupt" | "paravisor";

export function injectionPath(p: Platform): InjectionPath {
  if (p.config.mode === "paravisor") return "paravisor";
  if (p.config.isolation === "tdx") return "posted-interrupt";
  if (p.restrictedInjection) return "restricted-injection";
  return "event-injection";
}

export class InterruptRouter {
  readonly path: InjectionPath;
  readonly #hv: Hypervisor;
  readonly #pv: Paravisor | undefined;
  readonly #apics: readonly LocalApic[];
  /** Interrupts the hardware refused outright (Restricted Injection with no doorbell page). */
  lost = 0;

  constructor(p: Platform, hv: Hypervisor, pv: Paravisor | undefined, apics: readonly LocalApic[]) {
    this.path = injectionPath(p);
    this.#hv = hv;
    this.#pv = pv;
    this.#apics = apics;
  }

  /** An interrupt the hypervisor raises at `vp`; `sint` >= 0 for its SynIC, `raw` when it ignores the rules. */
  route(vp: number, vector: number, sint: number, raw: boolean): void {
    const apic = this.#apics[vp];
    if (!apic) return;
    switch (this.path) {
      case "paravisor":
        this.#pv!.interrupts.fromHypervisor(vp, vector, sint);
        return;
      case "posted-interrupt":
        apic.request(vector, "hypervisor");
        return;
      case "restricted-injection":
        // Only #HV can be injected; the vector travels in the doorbell page.
        if (!this.#hv.ringDoorbell(vp, vector)) this.lost++;
        return;
      case "event-injection":
        if (raw) apic.forceInject(vector, "hypervisor");
        else apic.request(vector, "hypervisor");
        return;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#hv, this.#pv, this.#apics];
  }
}

/**
 * The interrupt probe `hvcoco run` makes after boot: a malicious hypervisor injects,
 * on VP 0, the #VC vector (a forged exception, as in the "WeSee" attack), vector
 * 0x80 (the int 0x80 system-call gate, as in "Heckler") and a vector the guest never
 * set up. Returns how many reached the guest breaking a rule.
 */
export const PROBE_VECTORS: readonly number[] = [X86Trap.X86_TRAP_VC, 0x80, FIRST_EXTERNAL_VECTOR + 0x0f];

export function probeIllegalInterrupts(hv: Hypervisor, apics: readonly LocalApic[]): number {
  const before = apics.reduce((n, a) => n + a.illegalReceived, 0);
  for (const v of PROBE_VECTORS) hv.inject(0, v);
  return apics.reduce((n, a) => n + a.illegalReceived, 0) - before;
}
