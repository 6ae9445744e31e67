// The state of one synthetic NIC as netvsc holds it (drivers/net/hyperv/hyperv_net.h
// struct netvsc_device, struct netvsc_channel, struct hv_netvsc_packet,
// struct rndis_device; Linux 0291023e): the negotiated versions, the receive and
// send buffers shared with the host as GPADLs (decrypted in a CoCo VM, C22), the
// send-section bitmap, the private per-channel copy of what the host put in the
// receive buffer, the in-flight packets and their bounce buffers, the RNDIS
// requests waiting for their completions, and the counters `hvcoco run` reports.
import type { CpuWindow } from "../../../platform/cpu-memory.ts";
import { scratch } from "../../../util/snapshot-hints.ts";
import { NetvscConst } from "../../../vmbus/netvsc-proto.ts";
import { newRndisPacketView, type RndisMessage } from "../../../vmbus/rndis.ts";
import type { GuestKernel } from "../../kernel.ts";
import type { Gpadl, VmbusChannel } from "../../vmbus/channel.ts";

/** netvsc's module parameter and ethtool ring parameters. */
export interface NetvscParams {
  /** Pages of each ring's data (module parameter ring_size; Linux default 128). */
  ringPages: number;
  /** Receive sections of NETVSC_RECV_SECTION_SIZE (ethtool -G rx; Linux NETVSC_DEFAULT_RX 10240, at least 10). */
  recvSections: number;
  /** Send sections of NETVSC_SEND_SECTION_SIZE (ethtool -G tx; Linux NETVSC_DEFAULT_TX 192, at least 10). */
  sendSections: number;
  /** The MTU the guest brings the link up with (`ip link set eth0 mtu N`; Linux starts at 1500). */
  mtu: number;
}

/** Linux's defaults: a 16.9 MiB receive buffer, a 1.1 MiB send buffer, 512 KiB rings. */
export const NETVSC_LINUX_PARAMS: Readonly<NetvscParams> = Object.freeze({
  ringPages: 128,
  recvSections: 10240,
  sendSections: 192,
  mtu: 1500,
});

/**
 * The model's defaults: Linux's rings, buffers as `ethtool -G eth0 rx 128 tx 32`
 * sets them (216 KiB receive, 192 KiB send), and jumbo frames (`mtu 9000`) so that
 * both of C22's paths carry data: frames that fit a send section are copied into it,
 * larger ones go as page buffers through swiotlb.
 */
export const NETVSC_MODEL_PARAMS: Readonly<NetvscParams> = Object.freeze({
  ringPages: 128,
  recvSections: 128,
  sendSections: 32,
  mtu: 9000,
});

/** ethtool's lower bounds (NETVSC_MIN_RX_SECTIONS, NETVSC_MIN_TX_SECTIONS). */
export const NETVSC_MIN_SECTIONS = 10;
/** MAX_PAGE_BUFFER_COUNT: page-buffer entries one packet may carry. */
export const MAX_PAGE_BUFFER_COUNT = 32;
/** RNDIS_MAX_PKT_DEFAULT in-flight packets the model keeps records for (a multiple of it). */
export const TX_RECORDS = 256;
/** Bytes of the private skb area a frame is built in before it is sent (a 64 KiB frame and its RNDIS header). */
export const SKB_BYTES = 17 * 4096;
/** Where the frame starts in the skb area (the RNDIS header sits in the headroom before it). */
export const SKB_HEADROOM = 64;

/**
 * netvsc_rqstor_size(): ring bytes / NETVSC_MIN_OUT_MSG_SIZE (descriptor + nvsp_message)
 * + ring bytes / NETVSC_MIN_IN_MSG_SIZE (descriptor).
 */
export function netvscRqstorSize(ringBytes: number): number {
  return Math.floor(ringBytes / (16 + NetvscConst.NVSP_MESSAGE_SIZE)) + Math.floor(ringBytes / 16);
}

/**
 * NETVSC_MAX_PKT_SIZE: the private buffer a packet from the host is copied into,
 * a transfer-page header with NVSP_RSC_MAX ranges plus an nvsp_message and slack.
 */
export const NETVSC_MAX_PKT_SIZE =
  (24 + 8 * NetvscConst.NVSP_RSC_MAX + NetvscConst.NVSP_MESSAGE_SIZE + 64 + 7) & ~7;

/**
 * The requestor value of a start-up request (channel_init_pkt); a data or control
 * packet's value is the index of its TxPacket record (below TX_RECORDS).
 */
export const NETVSC_INIT_RQST = 0x7ffffffd;

/** The record's entry of `m`, made (MAX_PAGE_BUFFER_COUNT long) the first time it is asked for. */
function madeOnce<T>(m: Map<number, T>, i: number, make: new (n: number) => T): T {
  let a = m.get(i);
  if (!a) {
    a = new make(MAX_PAGE_BUFFER_COUNT);
    m.set(i, a);
  }
  return a;
}

/** The fields of every packet record, one typed array per field (TxPacket is a view of one index). */
export class TxRecords {
  readonly inUse = new Uint8Array(TX_RECORDS);
  readonly control = new Uint8Array(TX_RECORDS);
  readonly section = new Uint32Array(TX_RECORDS);
  readonly maps = new Uint32Array(TX_RECORDS);
  readonly bytes = new Uint32Array(TX_RECORDS);
  /**
   * Each record's swiotlb mappings (addresses, lengths), made the first time the
   * record sends page buffers and kept: most records never do, and hold nothing.
   */
  readonly tlb = new Map<number, Float64Array>();
  readonly lens = new Map<number, Uint32Array>();
}

/**
 * One in-flight packet (struct hv_netvsc_packet) and the bounce buffers it holds.
 * Its fields live in the device's TxRecords (a frozen view: the state is all there).
 */
export class TxPacket {
  readonly index: number;
  readonly r: TxRecords;

  constructor(r: TxRecords, index: number) {
    this.r = r;
    this.index = index;
    Object.freeze(this);
  }

  /** swiotlb mappings to undo on completion (netvsc_dma_unmap): addresses. */
  get tlb(): Float64Array {
    return madeOnce(this.r.tlb, this.index, Float64Array);
  }
  /** And their lengths. */
  get lens(): Uint32Array {
    return madeOnce(this.r.lens, this.index, Uint32Array);
  }

  get inUse(): boolean {
    return this.r.inUse[this.index] === 1;
  }
  set inUse(v: boolean) {
    this.r.inUse[this.index] = v ? 1 : 0;
  }
  /** A control (RNDIS request) packet rather than a data frame. */
  get control(): boolean {
    return this.r.control[this.index] === 1;
  }
  set control(v: boolean) {
    this.r.control[this.index] = v ? 1 : 0;
  }
  /** The send section it occupies, or NETVSC_INVALID_INDEX. */
  get section(): number {
    return this.r.section[this.index]!;
  }
  set section(v: number) {
    this.r.section[this.index] = v;
  }
  /** swiotlb mappings held (entries of tlb/lens in use). */
  get maps(): number {
    return this.r.maps[this.index]!;
  }
  set maps(v: number) {
    this.r.maps[this.index] = v;
  }
  get bytes(): number {
    return this.r.bytes[this.index]!;
  }
  set bytes(v: number) {
    this.r.bytes[this.index] = v;
  }
}

/** An RNDIS request waiting for its completion (struct rndis_request). */
export interface RndisRequest {
  reqId: number;
  /** The completion type that answers it (RNDIS_MSG_*_C). */
  answer: number;
  done: boolean;
  response: RndisMessage | undefined;
}

export interface NetvscStats {
  txFrames: number;
  txBytes: number;
  /** Frames copied into a send-buffer section (C22's copy path). */
  txSendBuffer: number;
  /** Frames sent as page buffers (through swiotlb in a CoCo VM). */
  txPageBuffer: number;
  txControl: number;
  txCompletions: number;
  /** Sends refused for lack of ring room, records or bounce slots (-EAGAIN). */
  txBusy: number;
  rxFrames: number;
  rxBytes: number;
  /** Copies netvsc made itself: into send sections and out of the receive buffer. */
  copies: number;
  copyBytes: number;
  /** Bytes mapped through swiotlb for page buffers. */
  bouncedBytes: number;
  rxCompletions: number;
  /** Frames or messages dropped after a rejection. */
  rxDropped: number;
  keepalives: number;
}

export function newNetvscStats(): NetvscStats {
  return {
    txFrames: 0,
    txBytes: 0,
    txSendBuffer: 0,
    txPageBuffer: 0,
    txControl: 0,
    txCompletions: 0,
    txBusy: 0,
    rxFrames: 0,
    rxBytes: 0,
    copies: 0,
    copyBytes: 0,
    bouncedBytes: 0,
    rxCompletions: 0,
    rxDropped: 0,
    keepalives: 0,
  };
}

/** A frame the host delivered, valid only during the call (copy it to keep it). */
export type RxHandler = (frame: Uint8Array) => void;

/** The shared buffers: GPADL, the guest's mapping, and the section layout the host chose. */
export interface NetvscBuffer {
  gpa: number;
  size: number;
  gpadl: Gpadl;
  mem: CpuWindow;
  sectionSize: number;
  sectionCount: number;
}

export type NetvscState = "probing" | "ready" | "failed" | "removed";

export class NetvscDevice {
  readonly k: GuestKernel;
  readonly ch: VmbusChannel;
  readonly params: Readonly<NetvscParams>;
  /** The "netvsc-copy" hardening: copy a received message to private memory before validating it. */
  readonly copyBeforeParse: boolean;
  state: NetvscState = "probing";
  nvspVersion = 0;
  ndisVersion = 0;
  recv: NetvscBuffer | undefined;
  send: NetvscBuffer | undefined;
  /** send_section_map: 1 = taken. */
  sendMap = new Uint8Array(0);
  /** nvchan->recv_buf: the private copy of one receive section. */
  recvCopy = new Uint8Array(8);
  recvCopyView = new DataView(this.recvCopy.buffer);
  /** tx_table: the send indirection table the host sent (VRSS_SEND_TAB_SIZE entries). */
  readonly txTable = new Uint32Array(NetvscConst.VRSS_SEND_TAB_SIZE);
  readonly rndisView = newRndisPacketView();
  /** channel_init_pkt: the NVSP request in flight during start-up, and its answer. */
  readonly initPkt = new Uint8Array(NetvscConst.NVSP_MESSAGE_SIZE);
  initWaiting = false;
  initDone = false;
  initResponse: Uint8Array | undefined;
  /** The packet records (frozen once made: each is a view of one index of the records). */
  readonly tx: TxPacket[] = [];
  /** Free packet records as a stack: #txFree[0 .. #txTop) (typed, so a snapshot copies it as bytes). */
  readonly #txFree = new Uint16Array(TX_RECORDS);
  #txTop = 0;
  /** RNDIS: the next request id and the requests waiting for their completion. */
  nextReqId = 1;
  readonly requests: RndisRequest[] = [];
  /** A private page the RNDIS control messages are built in (rndis_request's request_msg). */
  ctrlGpa = 0;
  /** The private skb area frames are built in before they are sent. */
  skbGpa = 0;
  mac = new Uint8Array(6);
  mtu: number;
  /** The largest frame the host takes (RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE). */
  hostMtu = 0;
  linkUp = false;
  linkSpeed = 0;
  /** max_pkt / pkt_align from RNDIS INIT_C. */
  maxPkt: number = NetvscConst.RNDIS_MAX_PKT_DEFAULT;
  pktAlign: number = NetvscConst.RNDIS_PKT_ALIGN_DEFAULT;
  packetFilter = 0;
  rxHandler: RxHandler | undefined;
  readonly stats = newNetvscStats();
  /** Receive completions the ring had no room for (trans id, status), sent on the next callback. */
  readonly pendingComp: { transId: bigint; status: number }[] = [];
  /** Scratch for frames read out of private memory (one frame at a time). */
  readonly scratch = scratch(new Uint8Array(SKB_BYTES));
  /** The packet netvsc copies a received packet into (vmbus_recvpacket_raw's buffer). */
  readonly pkt = new Uint8Array(NETVSC_MAX_PKT_SIZE);
  readonly pktView = new DataView(this.pkt.buffer);

  constructor(k: GuestKernel, ch: VmbusChannel, params: Readonly<NetvscParams>, copyBeforeParse: boolean) {
    this.k = k;
    this.ch = ch;
    this.params = params;
    this.copyBeforeParse = copyBeforeParse;
    this.mtu = params.mtu;
    const records = new TxRecords();
    records.section.fill(NetvscConst.NETVSC_INVALID_INDEX);
    for (let i = 0; i < TX_RECORDS; i++) {
      this.tx.push(new TxPacket(records, i));
      this.#txFree[this.#txTop++] = TX_RECORDS - 1 - i;
    }
    Object.freeze(this.tx);
  }

  get isolated(): boolean {
    return this.k.isolation === "snp" || this.k.isolation === "tdx";
  }

  /** A free packet record, or undefined when every one is in flight. */
  takeTx(control: boolean): TxPacket | undefined {
    if (this.#txTop === 0) return undefined;
    const i = this.#txFree[--this.#txTop]!;
    const p = this.tx[i]!;
    p.inUse = true;
    p.control = control;
    p.section = NetvscConst.NETVSC_INVALID_INDEX;
    p.maps = 0;
    p.bytes = 0;
    return p;
  }

  releaseTx(p: TxPacket): void {
    if (!p.inUse) return;
    p.inUse = false;
    this.#txFree[this.#txTop++] = p.index;
  }

  /** Packets in flight (sent, not yet completed by the host). */
  get inFlight(): number {
    return TX_RECORDS - this.#txTop;
  }

  /** netvsc_get_next_send_section(): the first free section, marked taken; NETVSC_INVALID_INDEX when none. */
  takeSection(): number {
    const m = this.sendMap;
    for (let i = 0; i < m.length; i++)
      if (m[i] === 0) {
        m[i] = 1;
        return i;
      }
    return NetvscConst.NETVSC_INVALID_INDEX;
  }

  freeSection(i: number): void {
    if (i >= 0 && i < this.sendMap.length) this.sendMap[i] = 0;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#txFree, this.#txTop];
  }
  load(s: unknown[]): void {
    this.#txTop = s[1] as never;
  }
}
