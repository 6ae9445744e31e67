// One VMBus channel as the guest holds it (include/linux/hyperv.h struct
// vmbus_channel): what the offer said, its state, and once open its two rings —
// the outbound one written through the zero-padding GuestRingWriter (C18), the
// inbound one read through the copy-before-validate GuestRingReader (C19), both
// over the guest's decrypted mapping of the ring pages (C17) — its requestor
// table, and signalling the host (vmbus_setevent; kernel-facts.md §6.9).
import { Label } from "../../audit/labels.ts";
import { scratch } from "../../util/snapshot-hints.ts";
import { PacketFlag, PacketType, VmbusSize } from "../../vmbus/constants.ts";
import { isFault, type VmbusFault } from "../../vmbus/errors.ts";
import type { OfferChannelMsg } from "../../vmbus/messages.ts";
import { monitorGroupBit, monitorPendingOffset } from "../../vmbus/monitor.ts";
import type { GpaRange } from "../../vmbus/packet.ts";
import { beginRead, endRead, type RingMemory } from "../../vmbus/ring.ts";
import { hvSignalEvent } from "../hypercall.ts";
import { Errno, type VmbusConnection } from "./connection.ts";
import type { HvDevice } from "./driver.ts";
import type { GuestRingReader } from "./reader.ts";
import { RequestorTable } from "./requestor.ts";
import type { GuestRingWriter } from "./writer.ts";

/** CHANNEL_OFFER_STATE, CHANNEL_OPEN_STATE (ready to open), CHANNEL_OPENING_STATE, CHANNEL_OPENED_STATE. */
export type ChannelState = "offer" | "open" | "opening" | "opened";

/** struct vmbus_gpadl: a buffer the host may map, and whether the guest decrypted it. */
export interface Gpadl {
  handle: number;
  gpa: number;
  size: number;
  decrypted: boolean;
}

/** The channel's ring buffers once open: send ring pages first, then receive ring pages. */
export interface ChannelRing {
  gpa: number;
  sendSize: number;
  recvSize: number;
  gpadl: Gpadl;
  /** The mapping of each ring (hv_ringbuffer_init's vmap), decrypted unless the ring is confidential. */
  outMem: RingMemory;
  inMem: RingMemory;
  mappedDecrypted: boolean;
  out: GuestRingWriter;
  in: GuestRingReader;
}

export class VmbusChannel {
  readonly conn: VmbusConnection;
  readonly offer: OfferChannelMsg;
  readonly relid: number;
  /** enum vmbus_device_type and its vmbus_devs[] name. */
  readonly devType: number;
  readonly name: string;
  state: ChannelState = "offer";
  rescind = false;
  /** sig_event: the offer's connection_id, HvSignalEvent's input. */
  readonly sigEvent: number;
  readonly monitorAllocated: boolean;
  readonly monitorGrp: number;
  readonly monitorBit: number;
  readonly dedicatedInterrupt: boolean;
  /** co_ring_buffer / co_external_memory (6.19). */
  readonly coRingBuffer: boolean;
  readonly coExternalMemory: boolean;
  lowLatency = false;
  targetVp = 0;
  primary: VmbusChannel | undefined;
  readonly subChannels: VmbusChannel[] = [];
  device: HvDevice | undefined;
  ring: ChannelRing | undefined;
  maxPktSize: number = VmbusSize.VMBUS_DEFAULT_MAX_PKT_SIZE;
  rqstor: RequestorTable<unknown> | undefined;
  callback: ((ch: VmbusChannel) => void) | undefined;
  /** HV_CALL_BATCHED (mask host interrupts while the callback drains) or HV_CALL_DIRECT. */
  readMode: "batched" | "direct" = "batched";
  /** trans_id of the packet recvPacket() last returned, as u32 halves. */
  requestIdLo = 0;
  requestIdHi = 0;
  packetsIn = 0;
  packetsOut = 0;
  signals = 0;
  readonly #bit = scratch(new Uint8Array(1));

  constructor(
    conn: VmbusConnection,
    offer: OfferChannelMsg,
    devType: number,
    name: string,
    co: { ring: boolean; ext: boolean },
  ) {
    this.conn = conn;
    this.offer = offer;
    this.relid = offer.childRelid;
    this.devType = devType;
    this.name = name;
    this.sigEvent = offer.connectionId;
    this.monitorAllocated = (offer.monitorAllocated & 1) !== 0;
    const mb = monitorGroupBit(offer.monitorId);
    this.monitorGrp = mb.group;
    this.monitorBit = mb.bit;
    this.dedicatedInterrupt = (offer.isDedicatedInterrupt & 1) !== 0;
    this.coRingBuffer = co.ring;
    this.coExternalMemory = co.ext;
  }

  /** Allocate the requestor table (vmbus_alloc_requestor) for `size` outstanding requests. */
  allocRequestor(size: number): void {
    this.rqstor = new RequestorTable<unknown>(size);
  }

  /**
   * vmbus_sendpacket(): an in-band packet through the hardened writer. With
   * COMPLETION_REQUESTED and a requestor, the transaction id is a requestor slot
   * holding `requestId`. 0 or -errno (-EAGAIN when the ring is full).
   */
  sendPacket(
    payload: Uint8Array,
    off: number,
    len: number,
    requestId: number | bigint,
    type: number = PacketType.VM_PKT_DATA_INBAND,
    flags = 0,
    labels: number | Uint8Array = Label.PUBLIC,
  ): number {
    const r = this.#sendable();
    if (typeof r === "number") return r;
    let trans = requestId;
    let slot = 0;
    if (flags & PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED && this.rqstor) {
      slot = this.rqstor.next(requestId);
      if (slot === 0) return -Errno.EAGAIN;
      trans = slot;
    }
    return this.#sent(r.out.sendInband(type, flags, trans, payload, off, len, labels), slot);
  }

  /** vmbus_sendpacket_mpb_desc(): a GPA-direct packet (ranges, then the in-band payload). */
  sendGpaDirect(
    ranges: readonly GpaRange[],
    payload: Uint8Array,
    off: number,
    len: number,
    requestId: number | bigint,
    labels: number | Uint8Array = Label.PUBLIC,
  ): number {
    const r = this.#sendable();
    if (typeof r === "number") return r;
    const flags = PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED;
    let trans = requestId;
    let slot = 0;
    if (this.rqstor) {
      slot = this.rqstor.next(requestId);
      if (slot === 0) return -Errno.EAGAIN;
      trans = slot;
    }
    return this.#sent(r.out.sendGpaDirect(flags, trans, ranges, payload, off, len, labels), slot);
  }

  #sendable(): ChannelRing | number {
    if (this.rescind) return -Errno.ENODEV;
    // hv_ringbuffer_write() checks only rescind: a callback that answers a packet the
    // host sent before OPENCHANNEL_RESULT arrived (a relayed channel's answer travels
    // further than its first packet) may already write.
    if (!this.ring || (this.state !== "opened" && this.state !== "opening")) return -Errno.EINVAL;
    return this.ring;
  }

  #sent(out: "signal" | "quiet" | "full" | VmbusFault, slot: number): number {
    if (out === "full" || isFault(out)) {
      if (slot && this.rqstor) this.rqstor.take(slot);
      if (isFault(out)) this.conn.k.reject(out.code, `relid ${this.relid} outbound ring: ${out.detail}`);
      return -Errno.EAGAIN;
    }
    this.packetsOut++;
    if (out === "signal") this.setEvent();
    return 0;
  }

  /**
   * vmbus_recvpacket() / hv_ringbuffer_read(): the next packet's payload (or the
   * whole packet when `raw`) copied into dst. Returns its length, 0 when the ring is
   * empty, or -errno: -ENOBUFS when it does not fit, -EIO for hostile ring contents
   * (rejected with the reader's reason). read_index is published after each packet.
   */
  recvPacket(dst: Uint8Array, raw = false): number {
    const r = this.ring;
    if (!r) return -Errno.EINVAL;
    if (dst.length === 0) return -Errno.EINVAL;
    const rd = r.in;
    const n = rd.next();
    if (typeof n !== "number") {
      this.conn.k.reject(n.code, `relid ${this.relid} inbound ring: ${n.detail}`);
      return -Errno.EIO;
    }
    if (n === 0) return 0;
    this.packetsIn++;
    const offset = raw ? 0 : rd.payloadOffset;
    const len = rd.packetLength - offset;
    this.requestIdLo = rd.transIdLo;
    this.requestIdHi = rd.transIdHi;
    let ret = len;
    if (len < 0) ret = -Errno.EIO;
    else if (len > dst.length) ret = -Errno.ENOBUFS;
    else if (raw) dst.set(rd.buf.subarray(0, len));
    else rd.readPayload(dst, 0);
    if (rd.commit()) this.setEvent();
    return ret;
  }

  /** vmbus_request_addr(): the value stored for a host-supplied transaction id, validated first. */
  requestAddr(lo: number, hi: number): unknown {
    if (!this.rqstor) return undefined;
    const v = this.rqstor.take(lo, hi);
    if (isFault(v)) {
      this.conn.k.reject(v.code, `relid ${this.relid}: ${v.detail}`);
      return undefined;
    }
    return v;
  }

  /** vmbus_chan_sched() for this relid, then vmbus_on_event(): run the driver's callback. */
  onEvent(): void {
    const cb = this.callback;
    if (!cb || this.rescind || !this.ring) return;
    if (this.readMode === "direct") {
      cb(this);
      return;
    }
    // HV_CALL_BATCHED: interrupt_mask while draining, and drain again if the host raced.
    for (let i = 0; i < 16; i++) {
      beginRead(this.ring.inMem);
      cb(this);
      if (!this.ring || endRead(this.ring.inMem) === 0) return;
    }
  }

  /**
   * vmbus_setevent(): a monitored channel sets its bit in the child→parent monitor
   * page (the host polls it); otherwise HvSignalEvent with sig_event. Both first set
   * the relid's bit in the send-interrupt page unless the channel has a dedicated interrupt.
   */
  setEvent(): void {
    const c = this.conn;
    this.signals++;
    if (this.monitorAllocated && !this.lowLatency) {
      this.#setBit(c.intPage + 2048, this.relid);
      this.#setBit(c.monitorPages[1]! + monitorPendingOffset(this.monitorGrp), this.monitorBit);
      return;
    }
    if (!this.dedicatedInterrupt) this.#setBit(c.intPage + 2048, this.relid);
    hvSignalEvent(c.k, 0, this.sigEvent);
  }

  #setBit(base: number, bit: number): void {
    const mem = this.conn.k.hw.mem;
    const at = base + (bit >>> 3);
    mem.read(at, 1, this.#bit);
    this.#bit[0] = this.#bit[0]! | (1 << (bit & 7));
    mem.write(at, this.#bit, Label.PUBLIC);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#bit];
  }
}
