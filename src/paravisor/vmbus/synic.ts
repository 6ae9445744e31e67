// The paravisor's SynIC for the guest (Linux 6.19 hv_para_get/set_synic_register;
// kernel-facts.md §5.5, §6.3-§6.5; C31, C32). The guest's native RDMSR/WRMSR of the
// SynIC MSRs (SCONTROL..SINT15) trap to the paravisor, which keeps them here per VP
// instead of passing them to the hypervisor. The message and event pages they name
// are the guest's para_synic_message_page / para_synic_event_page: private pages the
// guest never decrypts, written by the paravisor through its own CpuMemory, so what
// the paravisor tells the guest never crosses shared memory.
//
// A SINT here also says which of the hypervisor's SynIC interrupts the guest wants:
// with the proxy bit (VMBus not confidential) the paravisor passes them on; without
// it, with this SynIC enabled (Confidential VMBus), the paravisor signals them
// through its own SynIC — "interrupts are always signaled by the paravisor SynIC"
// (coco.rst). Either way the vector is the one the guest programmed (C14).
import type { Auditor } from "../../audit/auditor.ts";
import { Label } from "../../audit/labels.ts";
import { HvMsr } from "../../hyperv/hvgdk.ts";
import {
  HV_EVENT_FLAGS_BYTE_COUNT,
  HV_MESSAGE,
  HV_MESSAGE_FLAG_PENDING,
  HV_MESSAGE_PAYLOAD_BYTE_COUNT,
  HV_MESSAGE_SIZE,
  HV_SYNIC_SINT_COUNT,
  SintBit,
} from "../../hyperv/synic-abi.ts";
import type { CpuMemory } from "../../platform/cpu-memory.ts";
import { PAGE_SIZE } from "../../platform/page.ts";

/** HV_SYNIC_VERSION_1: what SVERSION reads. */
const HV_SYNIC_VERSION_1 = 1n;

export interface ParavisorSynicPort {
  /** The paravisor's own memory access (trusted): how it writes the guest's private SynIC pages. */
  readonly mem: CpuMemory;
  readonly audit: Auditor;
  /** Pages of the guest (a SIMP/SIEFP naming anything else is not used). */
  readonly guestPages: number;
  /** Raise `vector` at the guest's VP by the x86 rules (later, as a task). */
  interrupt(vp: number, vector: number): void;
  /** The hypervisor's copy of a SynIC MSR (the paravisor enables both SynICs, and passes EOM on). */
  forward(vp: number, msr: number, value: bigint): void;
}

interface Regs {
  scontrol: bigint;
  simp: bigint;
  siefp: bigint;
  readonly sint: bigint[];
  /** Messages waiting per SINT for the guest's EOM. */
  readonly pending: { type: number; payload: Uint8Array }[][];
}

export type ParaPostOutcome = "delivered" | "queued" | "dropped";

export class ParavisorSynic {
  readonly #port: ParavisorSynicPort;
  readonly #vps = new Map<number, Regs>();
  readonly #slot = new Uint8Array(HV_MESSAGE_SIZE);
  readonly #word = new Uint8Array(4);
  /** Messages and events the paravisor could not deliver (SynIC off, SINT masked, page unusable). */
  dropped = 0;
  messagesPosted = 0;
  eventsSignalled = 0;

  constructor(port: ParavisorSynicPort) {
    this.#port = port;
  }

  #regs(vp: number): Regs {
    let r = this.#vps.get(vp);
    if (!r) {
      r = {
        scontrol: 0n,
        simp: 0n,
        siefp: 0n,
        sint: new Array(HV_SYNIC_SINT_COUNT).fill(BigInt(SintBit.MASKED)),
        pending: Array.from({ length: HV_SYNIC_SINT_COUNT }, () => []),
      };
      this.#vps.set(vp, r);
    }
    return r;
  }

  /** The paravisor's copy of a SINT MSR. */
  sint(vp: number, sint: number): bigint {
    return this.#regs(vp).sint[sint] ?? 0n;
  }

  /** The SynIC is enabled on the VP (SCONTROL.enable, written through the paravisor). */
  enabled(vp: number): boolean {
    return (this.#regs(vp).scontrol & 1n) !== 0n;
  }

  /**
   * An interrupt the hypervisor raised for one of its SINTs: the vector to give the
   * guest, or undefined to drop it. Proxied SINTs pass; with this SynIC enabled, an
   * unmasked SINT is signalled through it.
   */
  proxyInterrupt(vp: number, _vector: number, sint: number): number | undefined {
    const copy = this.sint(vp, sint);
    if ((copy & BigInt(SintBit.MASKED)) !== 0n) return undefined;
    if ((copy & BigInt(SintBit.PROXY)) === 0n && !this.enabled(vp)) return undefined;
    return Number(copy & BigInt(SintBit.VECTOR_MASK));
  }

  /** RDMSR of a SynIC MSR the guest issued natively (it trapped here). */
  rdmsr(vp: number, msr: number): bigint {
    const r = this.#regs(vp);
    if (msr >= HvMsr.HV_X64_MSR_SINT0 && msr <= HvMsr.HV_X64_MSR_SINT15)
      return r.sint[msr - HvMsr.HV_X64_MSR_SINT0]!;
    switch (msr) {
      case HvMsr.HV_X64_MSR_SCONTROL:
        return r.scontrol;
      case HvMsr.HV_X64_MSR_SVERSION:
        return HV_SYNIC_VERSION_1;
      case HvMsr.HV_X64_MSR_SIMP:
        return r.simp;
      case HvMsr.HV_X64_MSR_SIEFP:
        return r.siefp;
      default:
        return 0n;
    }
  }

  /** WRMSR of a SynIC MSR the guest issued natively. */
  wrmsr(vp: number, msr: number, value: bigint): void {
    const r = this.#regs(vp);
    if (msr >= HvMsr.HV_X64_MSR_SINT0 && msr <= HvMsr.HV_X64_MSR_SINT15) {
      r.sint[msr - HvMsr.HV_X64_MSR_SINT0] = value;
      return;
    }
    switch (msr) {
      case HvMsr.HV_X64_MSR_SCONTROL:
        r.scontrol = value;
        // hv_para_synic_enable_interrupts(): the guest enables SynIC interrupts only here,
        // so the paravisor enables the hypervisor's SynIC for the VP too (never disables it).
        if (value & 1n) this.#port.forward(vp, HvMsr.HV_X64_MSR_SCONTROL, 1n);
        return;
      case HvMsr.HV_X64_MSR_SIMP:
        r.simp = value;
        return;
      case HvMsr.HV_X64_MSR_SIEFP:
        r.siefp = value;
        return;
      case HvMsr.HV_X64_MSR_EOM:
        this.#eom(vp, r);
        // 6.19 writes EOM through the paravisor for both SynICs: pass it on.
        this.#port.forward(vp, HvMsr.HV_X64_MSR_EOM, 0n);
        return;
      default:
        return;
    }
  }

  /** A usable guest page named by SIMP/SIEFP (enabled, inside the guest, accessible), or undefined. */
  #page(reg: bigint): number | undefined {
    if ((reg & 1n) === 0n) return undefined;
    const pfn = Number(reg >> 12n);
    if (!Number.isSafeInteger(pfn) || pfn >= this.#port.guestPages) return undefined;
    if (this.#port.mem.check(pfn, true) !== undefined) return undefined;
    return pfn * PAGE_SIZE;
  }

  #ready(vp: number, sint: number): Regs | undefined {
    const r = this.#regs(vp);
    if ((r.scontrol & 1n) === 0n || sint < 0 || sint >= HV_SYNIC_SINT_COUNT) return undefined;
    if ((r.sint[sint]! & BigInt(SintBit.MASKED)) !== 0n) return undefined;
    return r;
  }

  /** Post a message into the guest's paravisor SynIC message page (a SINT slot). */
  postMessage(vp: number, sint: number, type: number, payload: Uint8Array): ParaPostOutcome {
    const r = this.#ready(vp, sint);
    const base = r ? this.#page(r.simp) : undefined;
    if (!r || base === undefined || payload.length > HV_MESSAGE_PAYLOAD_BYTE_COUNT) {
      this.dropped++;
      return "dropped";
    }
    const q = r.pending[sint]!;
    if (q.length > 0 || !this.#tryWrite(vp, base, sint, type, payload)) {
      q.push({ type, payload: payload.slice() });
      this.#setPending(base, sint);
      return "queued";
    }
    return "delivered";
  }

  #setPending(base: number, sint: number): void {
    const at = base + sint * HV_MESSAGE_SIZE + HV_MESSAGE.off.message_flags;
    const f = this.#port.mem.read(at, 1, this.#word);
    this.#port.mem.write(at, Uint8Array.of(f[0]! | HV_MESSAGE_FLAG_PENDING), Label.PUBLIC);
  }

  #tryWrite(vp: number, base: number, sint: number, type: number, payload: Uint8Array): boolean {
    const at = base + sint * HV_MESSAGE_SIZE;
    const mem = this.#port.mem;
    const cur = mem.read(at, 4, this.#word);
    if ((cur[0]! | cur[1]! | cur[2]! | cur[3]!) !== 0) return false;
    const s = this.#slot.fill(0);
    new DataView(s.buffer).setUint32(HV_MESSAGE.off.message_type, type, true);
    s[HV_MESSAGE.off.payload_size] = payload.length;
    s.set(payload, HV_MESSAGE.off.payload);
    mem.write(at, s, Label.PUBLIC);
    this.messagesPosted++;
    this.#port.audit.boundary.cross("synic-message", "paravisor", "guest", `para SINT${sint}`, () => ({
      vp,
      type,
      size: payload.length,
    }));
    this.#interrupt(vp, sint);
    return true;
  }

  #eom(vp: number, r: Regs): void {
    const base = this.#page(r.simp);
    if (base === undefined) return;
    for (let sint = 0; sint < HV_SYNIC_SINT_COUNT; sint++) {
      const q = r.pending[sint]!;
      const next = q[0];
      if (!next || !this.#ready(vp, sint)) continue;
      if (!this.#tryWrite(vp, base, sint, next.type, next.payload)) continue;
      q.shift();
      if (q.length > 0) this.#setPending(base, sint);
    }
  }

  /** Set event flag `flag` of `sint` in the guest's paravisor SynIC event page and interrupt it. */
  signalEvent(vp: number, sint: number, flag: number): boolean {
    const r = this.#ready(vp, sint);
    const base = r ? this.#page(r.siefp) : undefined;
    if (base === undefined || flag < 0 || flag >= HV_EVENT_FLAGS_BYTE_COUNT * 8) {
      this.dropped++;
      return false;
    }
    const at = base + sint * HV_EVENT_FLAGS_BYTE_COUNT + (flag >>> 3);
    const mem = this.#port.mem;
    const b = mem.read(at, 1, this.#word);
    mem.write(at, Uint8Array.of(b[0]! | (1 << (flag & 7))), Label.PUBLIC);
    this.eventsSignalled++;
    this.#port.audit.boundary.cross(
      "synic-event",
      "paravisor",
      "guest",
      `para SINT${sint} flag ${flag}`,
      () => ({
        vp,
        flag,
      }),
    );
    this.#interrupt(vp, sint);
    return true;
  }

  #interrupt(vp: number, sint: number): void {
    const v = this.#regs(vp).sint[sint]!;
    if ((v & BigInt(SintBit.POLLING)) !== 0n) return;
    this.#port.interrupt(vp, Number(v & BigInt(SintBit.VECTOR_MASK)));
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#port, this.#vps, this.#slot, this.#word];
  }
}
