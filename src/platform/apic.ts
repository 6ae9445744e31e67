// The guest's local APIC, as far as interrupt delivery goes (C14): the vectors the
// guest installed handlers for (its IDT), the interrupt request and in-service
// registers, the task-priority register and the guest's RFLAGS.IF.
//
// The x86 delivery rules the model keeps (Intel SDM vol. 3A 11.8.3-11.8.5 "Interrupt,
// Task, and Processor Priority", AMD APM vol. 2 16.6):
//   - vectors 0..31 are exceptions: a local APIC that receives one as an interrupt
//     drops it and sets "received illegal vector" in the ESR;
//   - with RFLAGS.IF clear, a requested interrupt stays pending in the IRR;
//   - an interrupt is dispatched only if its priority class (vector >> 4) is above
//     the processor priority PPR = max(TPR class, class of the highest in-service
//     vector): one in service per priority class until EOI, and TPR masks classes;
//   - the vector must be one the guest set up (a handler installed for it).
//
// `request` is the rule-keeping path: a hardware-virtualized APIC (the TDX module's
// posted interrupts), an honest hypervisor, the paravisor (C14). `forceInject` is
// raw event injection (SVM EVENTINJ) that ignores every rule: the hardware allows
// it into an SNP guest without Restricted Injection. Each interrupt that reaches the
// guest breaking a rule is recorded by the auditor as HVCOCO_VIOLATION_ILLEGAL_INTERRUPT.
import type { Auditor } from "../audit/auditor.ts";
import type { Actor } from "../audit/crossings.ts";
import { FIRST_EXTERNAL_VECTOR } from "./exceptions.ts";

export type InterruptHandler = (vector: number) => void;

/** A rule of x86 interrupt delivery an interrupt can break. */
export type InterruptRule =
  | "exception-vector"
  | "interrupts-disabled"
  | "tpr-masked"
  | "in-service-class"
  | "not-set-up";

export const ILLEGAL_INTERRUPT = "HVCOCO_VIOLATION_ILLEGAL_INTERRUPT";

export type RequestOutcome = "delivered" | "pending" | "rejected";

export interface InstallOptions {
  /**
   * "auto": the vector is retired as it is accepted (the SINTs' auto-EOI, and the
   * model's stand-in for handlers that defer their work, which Linux runs after the
   * EOI in process context); "manual": the vector stays in service until the
   * handler (or a test) calls eoi(). The model does not clear IF on entry.
   */
  eoi?: "auto" | "manual";
}

/** APIC ESR bit 6: received illegal vector. */
export const APIC_ESR_RECV_ILLEGAL_VECTOR = 1 << 6;

/** The actors #from records (index 0: none). */
const FROM: readonly (Actor | undefined)[] = [
  undefined,
  "guest",
  "paravisor",
  "hypervisor",
  "host",
  "platform",
];

export class LocalApic {
  readonly vp: number;
  readonly #idt = new Map<number, { h: InterruptHandler; manualEoi: boolean }>();
  readonly #audit: Auditor;
  readonly #irr = new Uint8Array(256);
  readonly #isr = new Uint8Array(256);
  /** Who requested each pending vector. */
  /** Who raised each pending vector, as an index into FROM (0: nobody recorded). */
  readonly #from = new Uint8Array(256);
  #tpr = 0;
  #if = true;
  #dispatching = false;
  #hv: (() => void) | undefined;
  /** Interrupts whose handler ran. */
  delivered = 0;
  /** Vectors that arrived with no handler installed. */
  unexpected = 0;
  /** Interrupts that reached the guest breaking an x86 rule (each also a violation). */
  illegalReceived = 0;
  /** Interrupts the APIC itself dropped (illegal vector). */
  rejected = 0;
  /** APIC error status register (only the illegal-vector bit is modelled). */
  esr = 0;
  /** #HV notifications raised (Restricted Injection). */
  hvRaised = 0;

  constructor(vp: number, audit: Auditor) {
    this.vp = vp;
    this.#audit = audit;
  }

  /** The guest installs a handler for a vector (set_intr_gate / sysvec). */
  install(vector: number, h: InterruptHandler, opts: InstallOptions = {}): void {
    if (!Number.isInteger(vector) || vector < FIRST_EXTERNAL_VECTOR || vector > 255)
      throw new Error(`vector 0x${vector.toString(16)} cannot take an interrupt handler`);
    this.#idt.set(vector, { h, manualEoi: opts.eoi === "manual" });
  }

  has(vector: number): boolean {
    return this.#idt.has(vector);
  }

  /** The vectors the guest set up, ascending. */
  installed(): number[] {
    return [...this.#idt.keys()].sort((a, b) => a - b);
  }

  // --- the guest's own controls ---

  /** RFLAGS.IF (local_irq_disable / local_irq_enable). Setting it dispatches what is pending. */
  setInterruptFlag(on: boolean): void {
    this.#if = on;
    if (on) this.#dispatch();
  }

  get interruptsEnabled(): boolean {
    return this.#if;
  }

  /** CR8 / APIC TPR. Lowering it dispatches what it no longer masks. */
  setTpr(tpr: number): void {
    this.#tpr = tpr & 0xff;
    this.#dispatch();
  }

  get tpr(): number {
    return this.#tpr;
  }

  /** The guest's EOI: retire the highest in-service vector, then dispatch what is pending. */
  eoi(): void {
    const v = highest(this.#isr);
    if (v >= 0) this.#isr[v] = 0;
    this.#dispatch();
  }

  /** The #HV handler (Restricted Injection): the only event the hypervisor may raise. */
  setHvHandler(h: (() => void) | undefined): void {
    this.#hv = h;
  }

  // --- state, for the guest's own filtering and for tests ---

  isPending(vector: number): boolean {
    return this.#irr[vector & 0xff] !== 0;
  }

  inService(vector: number): boolean {
    return this.#isr[vector & 0xff] !== 0;
  }

  get pendingCount(): number {
    let n = 0;
    for (const b of this.#irr) n += b;
    return n;
  }

  /** PPR: the higher of the TPR class and the class of the highest in-service vector. */
  get ppr(): number {
    const isrv = highest(this.#isr);
    return Math.max(this.#tpr & 0xf0, isrv >= 0 ? isrv & 0xf0 : 0);
  }

  /** The rules delivering `vector` now would break (empty: a legal interrupt). */
  brokenRules(vector: number): InterruptRule[] {
    const broken: InterruptRule[] = [];
    if (vector < FIRST_EXTERNAL_VECTOR) broken.push("exception-vector");
    if (!this.#if) broken.push("interrupts-disabled");
    if ((vector & 0xf0) <= (this.#tpr & 0xf0) && this.#tpr !== 0) broken.push("tpr-masked");
    const isrv = highest(this.#isr);
    if (isrv >= 0 && (vector & 0xf0) <= (isrv & 0xf0)) broken.push("in-service-class");
    if (vector >= FIRST_EXTERNAL_VECTOR && !this.#idt.has(vector)) broken.push("not-set-up");
    return broken;
  }

  // --- arrival ---

  /**
   * An interrupt requested by the rules: vectors below 32 are dropped (ESR illegal
   * vector); the rest wait in the IRR until IF, TPR and the in-service vectors allow.
   */
  request(vector: number, from: Actor): RequestOutcome {
    const v = vector & 0xff;
    this.#audit.boundary.cross("interrupt", from, "guest", `vector 0x${v.toString(16)}`, () => ({
      vp: this.vp,
      vector: v,
      path: "apic",
    }));
    if (v < FIRST_EXTERNAL_VECTOR) {
      this.esr |= APIC_ESR_RECV_ILLEGAL_VECTOR;
      this.rejected++;
      return "rejected";
    }
    this.#irr[v] = 1;
    this.#from[v] = FROM.indexOf(from);
    this.#dispatch();
    return this.#irr[v] ? "pending" : "delivered";
  }

  /** An interrupt arrives at this VP by the rules (the seam the VM's routing uses). */
  deliver(vector: number, from: Actor): void {
    this.request(vector, from);
  }

  /**
   * Raw event injection: the vector runs now, whatever IF, TPR, the in-service
   * vectors or the IDT say. Each broken rule makes it an illegal interrupt, which
   * the auditor records. Returns the rules it broke.
   */
  forceInject(vector: number, from: Actor): InterruptRule[] {
    const v = vector & 0xff;
    const broken = this.brokenRules(v);
    this.#audit.boundary.cross("interrupt", from, "guest", `injected vector 0x${v.toString(16)}`, () => ({
      vp: this.vp,
      vector: v,
      path: "event-injection",
      broken: broken.join(","),
    }));
    if (broken.length > 0) this.#illegal(v, from, broken);
    if (v < FIRST_EXTERNAL_VECTOR) return broken; // the guest's exception handler runs on a forged frame
    this.#run(v);
    return broken;
  }

  /** #HV (vector 28) for Restricted Injection: the guest's handler reads its doorbell page. */
  raiseHv(from: Actor): void {
    this.hvRaised++;
    this.#audit.boundary.cross("interrupt", from, "guest", "#HV", () => ({ vp: this.vp, vector: 28 }));
    this.#hv?.();
  }

  #illegal(v: number, from: Actor, broken: readonly InterruptRule[]): void {
    this.illegalReceived++;
    this.#audit.violation(
      ILLEGAL_INTERRUPT,
      `VP${this.vp} received vector 0x${v.toString(16)} from the ${from} breaking ${broken.join(", ")}`,
    );
  }

  /** Move the highest deliverable IRR vector to the ISR and run it, while any is deliverable. */
  #dispatch(): void {
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      for (;;) {
        if (!this.#if) return;
        const v = highest(this.#irr);
        if (v < 0 || (v & 0xf0) <= this.ppr) return;
        this.#irr[v] = 0;
        if (!this.#idt.has(v)) this.#illegal(v, FROM[this.#from[v]!] ?? "platform", ["not-set-up"]);
        this.#run(v);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  /** The vector is accepted; its handler runs (if any). Manual-EOI vectors stay in service. */
  #run(v: number): void {
    const e = this.#idt.get(v);
    if (!e) {
      // Linux's spurious-vector path acks the APIC and returns.
      this.unexpected++;
      return;
    }
    if (e.manualEoi) this.#isr[v] = 1;
    this.delivered++;
    const wasDispatching = this.#dispatching;
    this.#dispatching = false; // a higher class may nest while the handler runs
    try {
      e.h(v);
    } finally {
      this.#dispatching = wasDispatching;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [
      this.#idt,
      this.#audit,
      this.#irr,
      this.#isr,
      this.#from,
      this.#tpr,
      this.#if,
      this.#dispatching,
      this.#hv,
    ];
  }
  load(s: unknown[]): void {
    this.#tpr = s[5] as never;
    this.#if = s[6] as never;
    this.#dispatching = s[7] as never;
    this.#hv = s[8] as never;
  }
}

function highest(bits: Uint8Array): number {
  for (let v = 255; v >= 0; v--) if (bits[v]) return v;
  return -1;
}
