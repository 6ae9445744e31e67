// An open channel at the host end: the guest→host ring it reads (the first
// downstream_ringbuffer_pageoffset pages of the ring GPADL) and the host→guest ring
// it writes (the rest), both through the host's view of the shared pages. It
// drains the guest's packets into its VSP and signals the guest on
// empty→non-empty, as the ring protocol asks (kernel-facts.md §2.2-§2.3).
import { Label } from "../../audit/labels.ts";
import { PacketType } from "../../vmbus/constants.ts";
import type { VmbusFault } from "../../vmbus/errors.ts";
import {
  beginRead,
  endRead,
  type RingMemory,
  RingReader,
  RingWriter,
  type WriteOutcome,
} from "../../vmbus/ring.ts";
import type { HostInterposer } from "../interposer.ts";
import type { Vsp } from "./vsp.ts";

export interface HostChannelPort {
  /** Signal the guest for this channel (its relid's event flag on the channel's target VP). */
  signal(ch: HostChannel): void;
  /** A host-side complaint about what the guest put in the ring. */
  error(ch: HostChannel, what: string): void;
  /** A malicious host's say over what its VSPs send (src/host/interposer.ts); none when honest. */
  interposer?(): HostInterposer | undefined;
}

export class HostChannel {
  readonly relid: number;
  readonly name: string;
  readonly vsp: Vsp;
  /** Where the guest wants this channel's interrupts (OPENCHANNEL / MODIFYCHANNEL target_vp). */
  targetVp: number;
  readonly inMem: RingMemory;
  readonly outMem: RingMemory;
  readonly inbound: RingReader;
  readonly outbound: RingWriter;
  readonly #port: HostChannelPort;
  closed = false;
  packetsIn = 0;
  packetsOut = 0;
  signalsSent = 0;

  constructor(
    relid: number,
    name: string,
    vsp: Vsp,
    targetVp: number,
    inMem: RingMemory,
    outMem: RingMemory,
    port: HostChannelPort,
  ) {
    this.relid = relid;
    this.name = name;
    this.vsp = vsp;
    this.targetVp = targetVp;
    this.inMem = inMem;
    this.outMem = outMem;
    // The largest packet the guest can put in its ring, up to 64 KiB.
    this.inbound = new RingReader(inMem, Math.min(inMem.size - 4096, 16 * 4096) & ~7);
    this.outbound = new RingWriter(outMem);
    this.#port = port;
  }

  /** Send an in-band packet to the guest; signal it if the ring was empty. */
  send(
    payload: Uint8Array,
    off = 0,
    len = payload.length - off,
    transId: number | bigint = 0,
    type: number = PacketType.VM_PKT_DATA_INBAND,
    flags = 0,
  ): WriteOutcome | VmbusFault {
    if (this.closed) return "full";
    const lie = this.#port.interposer?.()?.vspPacket;
    if (lie) {
      const p = lie(this, { payload: payload.slice(off, off + len), transId, type, flags });
      if (p === null) return "quiet"; // dropped: the VSP believes it was sent
      if (p) ({ payload, transId, type, flags, off, len } = { ...p, off: 0, len: p.payload.length });
    }
    const r = this.outbound.writePacket(type, flags, transId, payload, off, len, Label.HOST);
    if (r === "signal" || r === "quiet") this.packetsOut++;
    if (r === "signal") this.#signal();
    return r;
  }

  /**
   * Send a packet the VSP laid out whole — descriptor (offset8, len8), extended
   * header (a transfer-page header, say) and payload — in `packet[0, len)`, `len` a
   * multiple of 8; signal the guest if the ring was empty. netvsp's receive path.
   */
  sendRaw(packet: Uint8Array, len: number): WriteOutcome | VmbusFault {
    if (this.closed) return "full";
    const b = this.outbound.begin(len);
    if (b !== "ok") return b;
    this.outbound.put(packet, 0, len, Label.HOST);
    const r = this.outbound.end();
    this.packetsOut++;
    if (r === "signal") this.#signal();
    return r;
  }

  #signal(): void {
    this.signalsSent++;
    this.#port.signal(this);
  }

  /**
   * Read every packet the guest queued and hand each to the VSP, with
   * interrupt_mask set meanwhile; publish read_index and wake the guest if it
   * was waiting for room.
   */
  drain(): void {
    if (this.closed) return;
    for (let round = 0; round < 16; round++) {
      beginRead(this.inMem);
      for (;;) {
        const n = this.inbound.next();
        if (typeof n !== "number") {
          this.#port.error(this, `${n.code}: ${n.detail}`);
          endRead(this.inMem);
          return;
        }
        if (n === 0) break;
        this.packetsIn++;
        this.vsp.onPacket(this, this.inbound);
        if (this.closed) return;
      }
      if (this.inbound.commit()) this.#signal();
      if (endRead(this.inMem) === 0) return;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#port];
  }
}
