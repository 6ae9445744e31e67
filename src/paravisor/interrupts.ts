// Interrupt mediation (C14). In paravisor mode the hypervisor cannot inject into the
// guest: on SNP the VMPL2 guest runs with Alternate Injection (its events are
// injected by VMPL0), on TDX the L2 guest's events are injected by L1. Every
// interrupt the hypervisor raises arrives here, and the paravisor passes on only
// what the guest set up for the hypervisor — the vector of a SINT whose paravisor
// copy has the proxy bit (the SynIC's interrupts, hv_set_non_nested_msr()), and
// device vectors the guest registered — as an interrupt by the x86 rules (the
// guest's APIC keeps IF, TPR and the in-service classes). OpenHCL calls this the
// proxy-IRR filter (openvmm issue #1162). Its own devices (the IO-APIC) deliver
// through the same rule-keeping path.
//
// With the "interrupt-mediation" hardening off (a negative control), the paravisor
// forwards whatever the hypervisor raised as raw event injection.
import type { Auditor } from "../audit/auditor.ts";
import { HV_SYNIC_SINT_COUNT } from "../hyperv/synic-abi.ts";
import type { LocalApic } from "../platform/apic.ts";
import { FIRST_EXTERNAL_VECTOR } from "../platform/exceptions.ts";
import type { Platform } from "../platform/platform.ts";
import { hardened } from "../vm/config.ts";

export interface MediationStats {
  /** Interrupts passed to the guest by the rules. */
  delivered: number;
  /** Interrupts the paravisor refused (not set up by the guest, or an exception vector). */
  refused: number;
  /** Interrupts passed on unfiltered (mediation switched off). */
  unmediated: number;
}

export interface SintCopies {
  /** The paravisor's copy of a SINT MSR. */
  sint(vp: number, sint: number): bigint;
  /** The vector to pass on for a SINT's interrupt, if its copy is proxied and unmasked. */
  proxyInterrupt(vp: number, vector: number, sint: number): number | undefined;
}

export class InterruptMediator {
  readonly #p: Platform;
  readonly #audit: Auditor;
  readonly #sints: SintCopies;
  #apics: readonly LocalApic[] = [];
  readonly #deviceVectors = new Set<number>();
  readonly stats: MediationStats = { delivered: 0, refused: 0, unmediated: 0 };
  /** Why interrupts were refused, newest last (bounded). */
  readonly refusals: string[] = [];

  constructor(p: Platform, sints: SintCopies) {
    this.#p = p;
    this.#audit = p.audit;
    this.#sints = sints;
  }

  /** The guest's local APICs, whose injection the paravisor controls. */
  attach(apics: readonly LocalApic[]): void {
    this.#apics = apics;
  }

  /** A device vector the guest routed through the hypervisor (a vPCI MSI it retargeted). */
  allowDeviceVector(vector: number): void {
    this.#deviceVectors.add(vector & 0xff);
  }

  /** The vectors the guest set up for the hypervisor's interrupts on a VP. */
  allowed(vp: number): Set<number> {
    const out = new Set(this.#deviceVectors);
    for (let s = 0; s < HV_SYNIC_SINT_COUNT; s++) {
      const v = this.#sints.proxyInterrupt(vp, -1, s);
      if (v !== undefined) out.add(v);
    }
    return out;
  }

  /**
   * An interrupt the hypervisor raised for a VP: for a SynIC SINT (`sint` >= 0) the
   * vector is the one the guest programmed into the paravisor's copy (if proxied);
   * otherwise the hypervisor's vector must be one the guest set up.
   */
  fromHypervisor(vp: number, vector: number, sint: number): void {
    const apic = this.#apics[vp];
    if (!apic) return;
    if (!hardened(this.#p.config, "interrupt-mediation")) {
      this.stats.unmediated++;
      apic.forceInject(vector, "paravisor");
      return;
    }
    let v: number | undefined;
    if (sint >= 0) v = this.#sints.proxyInterrupt(vp, vector, sint);
    else if (this.allowed(vp).has(vector)) v = vector;
    if (v === undefined || v < FIRST_EXTERNAL_VECTOR) {
      this.#refuse(
        vp,
        vector,
        sint >= 0 ? `SINT${sint} is not proxied to the guest` : "not set up by the guest",
      );
      return;
    }
    this.stats.delivered++;
    apic.request(v, "paravisor");
  }

  /** An interrupt from the paravisor's own IO-APIC: the guest programmed the vector; by the rules. */
  fromDevice(destApicId: number, vector: number): void {
    const apic = this.#apics[destApicId];
    if (!apic) {
      this.#refuse(destApicId, vector, "no such destination APIC");
      return;
    }
    this.stats.delivered++;
    apic.request(vector, "paravisor");
  }

  #refuse(vp: number, vector: number, why: string): void {
    this.stats.refused++;
    const reason = `VP${vp} vector 0x${vector.toString(16)}: ${why}`;
    this.refusals.push(reason);
    if (this.refusals.length > 64) this.refusals.shift();
    this.#audit.boundary.cross("interrupt", "hypervisor", "paravisor", "refused", () => ({
      vp,
      vector,
      why,
    }));
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#p, this.#audit, this.#sints, this.#apics, this.#deviceVectors];
  }
  load(s: unknown[]): void {
    this.#apics = s[3] as never;
  }
}
