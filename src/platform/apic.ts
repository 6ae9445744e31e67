// The guest's local APIC, as far as interrupt delivery goes: the vectors the guest
// has installed handlers for (its IDT), and delivery of an injected vector to its
// handler. The x86 delivery rules and who may inject come with interrupt
// mediation (C14); this is the seam they attach to.
import type { Auditor } from "../audit/auditor.ts";

export type InterruptHandler = (vector: number) => void;

export class LocalApic {
  readonly vp: number;
  readonly #idt = new Map<number, InterruptHandler>();
  readonly #audit: Auditor;
  delivered = 0;
  /** Vectors that arrived with no handler installed. */
  unexpected = 0;

  constructor(vp: number, audit: Auditor) {
    this.vp = vp;
    this.#audit = audit;
  }

  /** The guest installs a handler for a vector (set_intr_gate / sysvec). */
  install(vector: number, h: InterruptHandler): void {
    this.#idt.set(vector, h);
  }

  has(vector: number): boolean {
    return this.#idt.has(vector);
  }

  /** An interrupt arrives at this VP. */
  deliver(vector: number, from: "hypervisor" | "paravisor"): void {
    this.#audit.boundary.cross("interrupt", from, "guest", `vector 0x${vector.toString(16)}`, () => ({
      vp: this.vp,
      vector,
    }));
    const h = this.#idt.get(vector);
    if (!h) {
      this.unexpected++;
      return;
    }
    this.delivered++;
    h(vector);
  }
}
