// The synthetic interrupt controller, per virtual processor (kernel-facts.md
// §3.4-§3.6): a message page of 16 SINT slots and an event-flags page, at the GPAs
// the guest (or, with a paravisor, the overlay) put in SIMP and SIEFP. The
// hypervisor writes them through its own view of guest memory, so they must be
// shared pages (C17). A slot still holding a message makes the next one wait: the
// hypervisor sets msg_pending and delivers when the guest writes EOM.
import type { Auditor } from "../audit/auditor.ts";
import {
  HV_MESSAGE,
  HV_MESSAGE_FLAG_PENDING,
  HV_MESSAGE_PAYLOAD_BYTE_COUNT,
  HV_MESSAGE_SIZE,
  HV_SYNIC_SINT_COUNT,
  HvMessageType,
  SintBit,
} from "../hyperv/synic-abi.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";
import type { VpMsrs } from "./msr.ts";

export type Deliver = (vp: number, vector: number, sint: number) => void;

interface Queued {
  type: number;
  payload: Uint8Array;
}

export type PostOutcome = "delivered" | "queued" | "dropped";

export class Synic {
  readonly #view: UntrustedView;
  readonly #vps: readonly VpMsrs[];
  readonly #deliver: Deliver;
  readonly #audit: Auditor;
  /** Messages waiting per VP and SINT for the slot to be freed (EOM). */
  readonly #pending: Queued[][][];
  readonly #slot = new Uint8Array(HV_MESSAGE_SIZE);
  dropped = 0;

  constructor(view: UntrustedView, vps: readonly VpMsrs[], audit: Auditor, deliver: Deliver) {
    this.#view = view;
    this.#vps = vps;
    this.#audit = audit;
    this.#deliver = deliver;
    this.#pending = vps.map(() => Array.from({ length: HV_SYNIC_SINT_COUNT }, () => []));
  }

  #enabled(vp: number, sint: number): VpMsrs | undefined {
    const m = this.#vps[vp];
    if (!m || sint < 0 || sint >= HV_SYNIC_SINT_COUNT) return undefined;
    if ((m.scontrol & 1n) === 0n) return undefined;
    if ((m.sint[sint]! & BigInt(SintBit.MASKED)) !== 0n) return undefined;
    return m;
  }

  static pageGpa(reg: bigint): number | undefined {
    if ((reg & 1n) === 0n) return undefined;
    return Number(reg >> 12n) * 4096;
  }

  /** Post a message into a SINT slot of a VP's message page (HvPostMessage's far end). */
  postMessage(vp: number, sint: number, type: number, payload: Uint8Array): PostOutcome {
    const m = this.#enabled(vp, sint);
    const base = m ? Synic.pageGpa(m.simp) : undefined;
    if (!m || base === undefined || payload.length > HV_MESSAGE_PAYLOAD_BYTE_COUNT) {
      this.dropped++;
      return "dropped";
    }
    const q = this.#pending[vp]![sint]!;
    if (q.length > 0 || !this.#tryWrite(vp, base, sint, type, payload)) {
      q.push({ type, payload: payload.slice() });
      // Tell the guest another message waits: msg_pending in the occupied slot.
      const flagsAt = base + sint * HV_MESSAGE_SIZE + HV_MESSAGE.off.message_flags;
      const f = this.#view.read(flagsAt, 1);
      this.#view.write(flagsAt, new Uint8Array([f[0]! | HV_MESSAGE_FLAG_PENDING]));
      return "queued";
    }
    return "delivered";
  }

  #tryWrite(vp: number, base: number, sint: number, type: number, payload: Uint8Array): boolean {
    const at = base + sint * HV_MESSAGE_SIZE;
    const cur = this.#view.read(at, 4);
    if ((cur[0]! | cur[1]! | cur[2]! | cur[3]!) !== 0) return false;
    const s = this.#slot.fill(0);
    const dv = new DataView(s.buffer);
    dv.setUint32(HV_MESSAGE.off.message_type, type, true);
    s[HV_MESSAGE.off.payload_size] = payload.length;
    s.set(payload, HV_MESSAGE.off.payload);
    if (!this.#view.write(at, s)) return false;
    this.#audit.boundary.cross("synic-message", "hypervisor", "guest", `SINT${sint}`, () => ({
      vp,
      type,
      size: payload.length,
    }));
    this.#interrupt(vp, sint);
    return true;
  }

  #interrupt(vp: number, sint: number): void {
    const m = this.#vps[vp]!;
    const vector = Number(m.sint[sint]! & BigInt(SintBit.VECTOR_MASK));
    if (Number(m.sint[sint]! & BigInt(SintBit.POLLING)) !== 0) return;
    this.#deliver(vp, vector, sint);
  }

  /** The guest wrote EOM: deliver the next waiting message of each SINT whose slot is free. */
  eom(vp: number): void {
    const m = this.#vps[vp];
    const base = m ? Synic.pageGpa(m.simp) : undefined;
    if (!m || base === undefined) return;
    const queues = this.#pending[vp]!;
    for (let sint = 0; sint < queues.length; sint++) {
      const q = queues[sint]!;
      const next = q[0];
      if (next && this.#enabled(vp, sint) && this.#tryWrite(vp, base, sint, next.type, next.payload)) {
        q.shift();
        if (q.length > 0) {
          const flagsAt = base + sint * HV_MESSAGE_SIZE + HV_MESSAGE.off.message_flags;
          this.#view.write(flagsAt, new Uint8Array([HV_MESSAGE_FLAG_PENDING]));
        }
      }
    }
  }

  /** Set event flag `flag` of `sint` on a VP's event-flags page and interrupt it (a channel signal). */
  signalEvent(vp: number, sint: number, flag: number): boolean {
    const m = this.#enabled(vp, sint);
    const base = m ? Synic.pageGpa(m.siefp) : undefined;
    if (!m || base === undefined || flag < 0 || flag >= 2048) return false;
    const at = base + sint * 256 + (flag >>> 3);
    const b = this.#view.read(at, 1);
    if (!this.#view.write(at, new Uint8Array([b[0]! | (1 << (flag & 7))]))) return false;
    this.#audit.boundary.cross("synic-event", "hypervisor", "guest", `SINT${sint} flag ${flag}`, () => ({
      vp,
      flag,
    }));
    this.#interrupt(vp, sint);
    return true;
  }

  pendingCount(vp: number, sint: number): number {
    return this.#pending[vp]?.[sint]?.length ?? 0;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#view, this.#vps, this.#deliver, this.#audit, this.#pending, this.#slot];
  }
}

export { HvMessageType };
