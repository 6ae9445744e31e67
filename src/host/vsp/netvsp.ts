// The host's network VSP (Hyper-V's netvsp; the guest side is drivers/net/hyperv,
// kernel-facts.md §8.2): NVSP version and NDIS negotiation, the guest's receive
// and send buffers taken as GPADLs, RNDIS control through the RndisDevice, data
// frames to and from the NetResponder, which answers ARP, ICMP echo and UDP echo.
//
//   guest → host: a SEND_RNDIS_PKT naming a send-buffer section (the host reads
//   the section through its mapping of the send buffer), or page buffers (a
//   GPA-direct packet whose ranges the host reads through its view of guest
//   memory: swiotlb bounce buffers in a CoCo VM); completed with
//   SEND_RNDIS_PKT_COMPLETE.
//   host → guest: the RNDIS message written into a free sub-allocation of the
//   receive buffer, announced by a transfer-page packet (VM_PKT_DATA_USING_XFER_PAGES,
//   page set 0xCAFE, one range); the sub-allocation is reused once the guest's
//   completion names its transaction id.
//
// Everything the guest sends is checked; what does not fit is dropped and noted
// in `problems`. The host reaches guest memory only through its UntrustedView and
// the GPADL mappings made from it.
import type { UntrustedView } from "../../platform/untrusted-view.ts";
import { scratch } from "../../util/snapshot-hints.ts";
import { PacketType } from "../../vmbus/constants.ts";
import {
  NetvscConst,
  NVSP_VERSIONS,
  type NvspMessage,
  NvspMsgType,
  NvspStatus,
  writeNvspMessage,
} from "../../vmbus/netvsc-proto.ts";
import type { RingMemory, RingReader } from "../../vmbus/ring.ts";
import {
  decodeRndis,
  encodeRndis,
  isRndisFault,
  newRndisPacketView,
  parseRndisPacket,
  RndisConst,
  RndisMsgType,
  writeRndisPacketHeader,
} from "../../vmbus/rndis.ts";
import { parseIpv4, parseMac } from "../net/frames.ts";
import { NetResponder } from "../net/responder.ts";
import { RndisDevice } from "../net/rndis-device.ts";
import type { HostChannel } from "../vmbus/channel.ts";
import { mapGpadlPages, type ServerGpadl } from "../vmbus/gpadl.ts";
import type { Vsp } from "../vmbus/vsp.ts";

/** The model's network: the guest's NIC, the host's end of the link. */
export const NET_DEFAULTS = {
  guestMac: parseMac("00:15:5d:00:00:02")!,
  guestIp: parseIpv4("10.0.0.2")!,
  hostMac: parseMac("00:15:5d:00:00:01")!,
  hostIp: parseIpv4("10.0.0.1")!,
  /** The vSwitch takes jumbo frames (the guest brings its link up at min(its MTU, this)). */
  mtu: 9000,
  udpEchoPort: 7,
} as const;

export interface NetVspOptions {
  guestMac?: Uint8Array;
  hostMac?: Uint8Array;
  hostIp?: number;
  mtu?: number;
  /** NVSP versions the host accepts (default every version Linux knows). */
  versions?: readonly number[];
  udpEchoPorts?: readonly number[];
}

/** How the VSP reaches the guest: its view of guest memory and the server's GPADLs. */
export interface NetVspHost {
  readonly memory: UntrustedView;
  gpadl(handle: number): Readonly<ServerGpadl> | undefined;
}

export interface NetVspStats {
  framesFromGuest: number;
  bytesFromGuest: number;
  framesToGuest: number;
  bytesToGuest: number;
  /** Guest packets whose RNDIS message was in a send-buffer section / in page buffers. */
  sendBufferPackets: number;
  pageBufferPackets: number;
  controlMessages: number;
  completionsIn: number;
  /** Frames or responses not delivered: no free receive sub-allocation, or the ring was full. */
  dropsNoRoom: number;
  /** Frames the guest's packet filter does not take. */
  dropsFiltered: number;
}

/** The sub-allocation the host cuts its receive buffer into: 1728 bytes, or enough for a jumbo frame. */
export function recvSubAllocSize(mtu: number): number {
  const need = mtu + 14 + RndisConst.RNDIS_PACKET_MESSAGE_SIZE + 128;
  return need <= NetvscConst.NETVSC_RECV_SECTION_SIZE
    ? NetvscConst.NETVSC_RECV_SECTION_SIZE
    : Math.ceil(need / 64) * 64;
}

const XFER_LEN = 72;
const XFER_NVSP = 32;
/** A receive sub-allocation's transaction id: its index in the low 16 bits, a sequence above. */
const SLOT_BITS = 65536;

interface RecvBuffer {
  mem: RingMemory;
  size: number;
  subAlloc: number;
  count: number;
  /** The transaction id a sub-allocation is out on (0: free). */
  pending: Float64Array;
  next: number;
}

interface SendBuffer {
  mem: RingMemory;
  size: number;
  sectionSize: number;
  count: number;
}

export class NetVsp implements Vsp {
  readonly responder: NetResponder;
  readonly rndis: RndisDevice;
  readonly versions: readonly number[];
  readonly mtu: number;
  host: NetVspHost | undefined;
  channel: HostChannel | undefined;
  nvspVersion = 0;
  ndisVersion = 0;
  /** What SEND_NDIS_CONFIG said (mtu + 14, capability bits). */
  ndisConfig: { mtu: number; capability: bigint } | undefined;
  recv: RecvBuffer | undefined;
  send: SendBuffer | undefined;
  readonly stats: NetVspStats = {
    framesFromGuest: 0,
    bytesFromGuest: 0,
    framesToGuest: 0,
    bytesToGuest: 0,
    sendBufferPackets: 0,
    pageBufferPackets: 0,
    controlMessages: 0,
    completionsIn: 0,
    dropsNoRoom: 0,
    dropsFiltered: 0,
  };
  /** What the host could not accept from the guest, in order (the last 64). */
  readonly problems: string[] = [];
  #seq = 0;
  readonly #comp = scratch(new Uint8Array(NetvscConst.NVSP_MESSAGE_SIZE));
  readonly #compView = new DataView(this.#comp.buffer);
  readonly #xfer = scratch(new Uint8Array(XFER_LEN));
  readonly #xferView = new DataView(this.#xfer.buffer);
  /** The RNDIS message being handled, gathered from a section or from page buffers. */
  readonly #msg = scratch(new Uint8Array(80 * 1024));
  readonly #rndisView = newRndisPacketView();
  readonly #msgView = new DataView(this.#msg.buffer);
  readonly #hdr = scratch(new Uint8Array(RndisConst.RNDIS_PACKET_MESSAGE_SIZE));
  readonly #onReply = (reply: Uint8Array): void => {
    this.deliverFrame(reply);
  };

  constructor(o: NetVspOptions = {}) {
    this.mtu = o.mtu ?? NET_DEFAULTS.mtu;
    this.versions = o.versions ?? NVSP_VERSIONS;
    this.rndis = new RndisDevice({ mac: o.guestMac ?? NET_DEFAULTS.guestMac, mtu: this.mtu });
    this.responder = new NetResponder({
      mac: o.hostMac ?? NET_DEFAULTS.hostMac,
      ip: o.hostIp ?? NET_DEFAULTS.hostIp,
      udpEchoPorts: o.udpEchoPorts ?? [NET_DEFAULTS.udpEchoPort],
    });
  }

  /** Give the VSP its way to guest memory (the host partition does, once its server exists). */
  bind(host: NetVspHost): void {
    this.host = host;
  }

  onOpen(ch: HostChannel): void {
    this.channel = ch;
    this.nvspVersion = 0;
    this.ndisVersion = 0;
    this.recv = undefined;
    this.send = undefined;
  }

  onClose(ch: HostChannel): void {
    if (this.channel === ch) this.channel = undefined;
    this.recv = undefined;
    this.send = undefined;
  }

  #problem(what: string): void {
    this.problems.push(what);
    if (this.problems.length > 64) this.problems.shift();
  }

  onPacket(ch: HostChannel, pkt: RingReader): void {
    switch (pkt.type) {
      case PacketType.VM_PKT_DATA_INBAND:
        this.#inband(ch, pkt);
        return;
      case PacketType.VM_PKT_DATA_USING_GPA_DIRECT:
        this.#pageBuffers(ch, pkt);
        return;
      case PacketType.VM_PKT_COMP:
        this.#recvCompletion(pkt);
        return;
      default:
        this.#problem(`packet type ${pkt.type}`);
    }
  }

  /** Answer a guest request: VM_PKT_COMP carrying an nvsp_message, the request's transaction id. */
  #complete(ch: HostChannel, pkt: RingReader, m: NvspMessage | undefined, status?: number): void {
    const c = this.#comp;
    if (m) writeNvspMessage(c, 0, m, c.length);
    else {
      c.fill(0);
      this.#compView.setUint32(0, NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE, true);
      this.#compView.setUint32(4, status ?? NvspStatus.NVSP_STAT_SUCCESS, true);
    }
    const lo = pkt.view.getUint32(8, true);
    const hi = pkt.view.getUint32(12, true);
    ch.send(c, 0, c.length, hi === 0 ? lo : (BigInt(hi) << 32n) | BigInt(lo), PacketType.VM_PKT_COMP, 0);
  }

  #gpadl(ch: HostChannel, handle: number): RingMemory | string {
    const g = this.host?.gpadl(handle);
    if (!this.host || !g?.created || g.relid !== ch.relid)
      return `no GPADL 0x${handle.toString(16)} on relid ${ch.relid}`;
    if (g.byteOffset !== 0 || g.byteCount !== g.pfns.length * 4096) return "GPADL is not whole pages";
    return mapGpadlPages(this.host.memory, g, 0, g.pfns.length);
  }

  #inband(ch: HostChannel, pkt: RingReader): void {
    const off = pkt.payloadOffset;
    const len = pkt.payloadLength;
    if (len < 4) {
      this.#problem(`in-band NVSP message of ${len} bytes`);
      return;
    }
    const v = pkt.view;
    const type = v.getUint32(off, true);
    const u32 = (at: number) => (len >= at + 4 ? v.getUint32(off + at, true) : 0);
    switch (type) {
      case NvspMsgType.NVSP_MSG_TYPE_INIT: {
        const min = u32(4);
        const max = u32(8);
        const ok = min <= max && this.versions.includes(max);
        if (ok) this.nvspVersion = max;
        this.#complete(ch, pkt, {
          kind: "init-complete",
          negotiatedProtocolVer: ok ? max : NvspStatus.NVSP_STAT_NONE,
          maxMdlChainLen: 34,
          status: ok ? NvspStatus.NVSP_STAT_SUCCESS : NvspStatus.NVSP_STAT_PROTOCOL_UNSUPPORTED,
        });
        return;
      }
      case NvspMsgType.NVSP_MSG2_TYPE_SEND_NDIS_CONFIG:
        this.ndisConfig = { mtu: u32(4), capability: len >= 20 ? v.getBigUint64(off + 12, true) : 0n };
        return;
      case NvspMsgType.NVSP_MSG1_TYPE_SEND_NDIS_VER:
        this.ndisVersion = ((u32(4) << 16) | (u32(8) & 0xffff)) >>> 0;
        return;
      case NvspMsgType.NVSP_MSG1_TYPE_SEND_RECV_BUF: {
        const mem = this.#gpadl(ch, u32(4));
        const id = len >= 10 ? v.getUint16(off + 8, true) : -1;
        // Sized for the MTU the guest announced in SEND_NDIS_CONFIG (the host's at most).
        const subAlloc = recvSubAllocSize(Math.min(this.mtu, (this.ndisConfig?.mtu ?? this.mtu + 14) - 14));
        if (typeof mem === "string" || id !== NetvscConst.NETVSC_RECEIVE_BUFFER_ID || mem.size < subAlloc) {
          this.#problem(
            `receive buffer refused: ${typeof mem === "string" ? mem : `id 0x${id.toString(16)}`}`,
          );
          this.#complete(ch, pkt, {
            kind: "send-recv-buf-complete",
            status: NvspStatus.NVSP_STAT_FAIL,
            numSections: 0,
            sections: [],
          });
          return;
        }
        const count = Math.min(Math.floor(mem.size / subAlloc), SLOT_BITS - 1);
        this.recv = { mem, size: mem.size, subAlloc, count, pending: new Float64Array(count), next: 0 };
        this.#complete(ch, pkt, {
          kind: "send-recv-buf-complete",
          status: NvspStatus.NVSP_STAT_SUCCESS,
          numSections: 1,
          sections: [{ offset: 0, subAllocSize: subAlloc, numSubAllocs: count, endOffset: subAlloc * count }],
        });
        return;
      }
      case NvspMsgType.NVSP_MSG1_TYPE_SEND_SEND_BUF: {
        const mem = this.#gpadl(ch, u32(4));
        const id = len >= 10 ? v.getUint16(off + 8, true) : -1;
        const size = NetvscConst.NETVSC_SEND_SECTION_SIZE;
        if (typeof mem === "string" || id !== NetvscConst.NETVSC_SEND_BUFFER_ID || mem.size < size) {
          this.#problem(`send buffer refused: ${typeof mem === "string" ? mem : `id ${id}`}`);
          this.#complete(ch, pkt, {
            kind: "send-send-buf-complete",
            status: NvspStatus.NVSP_STAT_FAIL,
            sectionSize: 0,
          });
          return;
        }
        this.send = { mem, size: mem.size, sectionSize: size, count: Math.floor(mem.size / size) };
        this.#complete(ch, pkt, {
          kind: "send-send-buf-complete",
          status: NvspStatus.NVSP_STAT_SUCCESS,
          sectionSize: size,
        });
        return;
      }
      case NvspMsgType.NVSP_MSG1_TYPE_REVOKE_RECV_BUF:
        this.recv = undefined;
        return;
      case NvspMsgType.NVSP_MSG1_TYPE_REVOKE_SEND_BUF:
        this.send = undefined;
        return;
      case NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT: {
        const chan = u32(4);
        const index = u32(8);
        const size = u32(12);
        const s = this.send;
        if (len < 16 || !s || index >= s.count || size > s.sectionSize || size < 8) {
          this.#problem(`SEND_RNDIS_PKT: section ${index} of ${s?.count ?? 0}, size ${size}`);
          this.#complete(ch, pkt, undefined, NvspStatus.NVSP_STAT_INVALID_RNDIS_PKT);
          return;
        }
        s.mem.read(index * s.sectionSize, this.#msg, 0, size);
        this.stats.sendBufferPackets++;
        const status = this.#rndisMessage(size, chan);
        this.#complete(ch, pkt, undefined, status);
        return;
      }
      default:
        this.#problem(`in-band NVSP message type ${type}`);
    }
  }

  /** A GPA-direct packet: ranges of guest memory holding one RNDIS message, SEND_RNDIS_PKT in-band. */
  #pageBuffers(ch: HostChannel, pkt: RingReader): void {
    const v = pkt.view;
    const hdrEnd = pkt.payloadOffset;
    const count = pkt.length >= 24 ? v.getUint32(20, true) : 0;
    const mem = this.host?.memory;
    let at = 24;
    let total = 0;
    let bad = mem === undefined ? "no view of guest memory" : "";
    for (let i = 0; i < count && !bad; i++) {
      if (at + 8 > hdrEnd) {
        bad = `range ${i} past the header`;
        break;
      }
      const byteCount = v.getUint32(at, true);
      const byteOffset = v.getUint32(at + 4, true);
      const pages = Math.ceil((byteOffset + byteCount) / 4096);
      at += 8;
      if (byteOffset >= 4096 || at + 8 * pages > hdrEnd || total + byteCount > this.#msg.length) {
        bad = `range ${i}: offset ${byteOffset}, ${byteCount} bytes`;
        break;
      }
      let left = byteCount;
      let inPage = byteOffset;
      for (let p = 0; p < pages; p++) {
        const pfn = v.getUint32(at, true) + v.getUint32(at + 4, true) * 0x100000000;
        const n = Math.min(left, 4096 - inPage);
        mem!.read(pfn * 4096 + inPage, n, this.#msg, total);
        total += n;
        left -= n;
        inPage = 0;
        at += 8;
      }
    }
    const off = pkt.payloadOffset;
    const type = pkt.payloadLength >= 16 ? v.getUint32(off, true) : 0;
    if (!bad && type !== NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT) bad = `NVSP message type ${type}`;
    if (bad) {
      this.#problem(`page buffers: ${bad}`);
      this.#complete(ch, pkt, undefined, NvspStatus.NVSP_STAT_INVALID_RNDIS_PKT);
      return;
    }
    this.stats.pageBufferPackets++;
    const status = this.#rndisMessage(total, v.getUint32(off + 4, true));
    this.#complete(ch, pkt, undefined, status);
  }

  /** One RNDIS message from the guest, in #msg[0, len): a data frame or a control request. */
  #rndisMessage(len: number, _channelType: number): number {
    const b = this.#msg;
    if (len < 8) {
      this.#problem(`RNDIS message of ${len} bytes`);
      return NvspStatus.NVSP_STAT_INVALID_RNDIS_PKT;
    }
    const type = this.#msgView.getUint32(0, true);
    if (type === RndisMsgType.RNDIS_MSG_PACKET) {
      const view = this.#rndisView;
      const f = parseRndisPacket(b, 0, len, view);
      if (f) {
        this.#problem(`RNDIS packet: ${f.code}: ${f.detail}`);
        return NvspStatus.NVSP_STAT_INVALID_RNDIS_PKT;
      }
      this.stats.framesFromGuest++;
      this.stats.bytesFromGuest += view.dataLength;
      this.responder.receive(b.subarray(view.dataOffset, view.dataOffset + view.dataLength), this.#onReply);
      return NvspStatus.NVSP_STAT_SUCCESS;
    }
    const m = decodeRndis(b, 0, len);
    if (isRndisFault(m)) {
      this.#problem(`RNDIS control: ${m.code}: ${m.detail}`);
      return NvspStatus.NVSP_STAT_INVALID_RNDIS_PKT;
    }
    this.stats.controlMessages++;
    const r = this.rndis.control(m);
    if (r) this.#deliver(encodeRndis(r), undefined, NetvscConst.RNDIS_CHANNEL_CONTROL);
    return NvspStatus.NVSP_STAT_SUCCESS;
  }

  /** Put a frame in the guest's receive buffer (if its packet filter takes it). */
  deliverFrame(frame: Uint8Array): boolean {
    if (!this.rndis.accepts(frame)) {
      this.stats.dropsFiltered++;
      return false;
    }
    writeRndisPacketHeader(this.#hdr, 0, frame.length);
    if (!this.#deliver(this.#hdr, frame, NetvscConst.RNDIS_CHANNEL_DATA)) return false;
    this.stats.framesToGuest++;
    this.stats.bytesToGuest += frame.length;
    return true;
  }

  /**
   * Write `head` (and `tail`) into a free sub-allocation of the receive buffer and
   * announce it with a transfer-page packet. False when there is no room.
   */
  #deliver(head: Uint8Array, tail: Uint8Array | undefined, channelType: number): boolean {
    const r = this.recv;
    const ch = this.channel;
    const len = head.length + (tail?.length ?? 0);
    if (!r || !ch || len > r.subAlloc) {
      this.stats.dropsNoRoom++;
      return false;
    }
    let slot = -1;
    for (let i = 0; i < r.count; i++) {
      const s = (r.next + i) % r.count;
      if (r.pending[s] === 0) {
        slot = s;
        break;
      }
    }
    if (slot < 0) {
      this.stats.dropsNoRoom++;
      return false;
    }
    r.next = (slot + 1) % r.count;
    const at = slot * r.subAlloc;
    r.mem.write(at, head, 0, head.length, 0);
    if (tail) r.mem.write(at + head.length, tail, 0, tail.length, 0);
    const transId = ++this.#seq * SLOT_BITS + slot;
    const x = this.#xfer;
    const v = this.#xferView;
    x.fill(0);
    v.setUint16(0, PacketType.VM_PKT_DATA_USING_XFER_PAGES, true);
    v.setUint16(2, XFER_NVSP / 8, true);
    v.setUint16(4, XFER_LEN / 8, true);
    v.setUint16(6, 1, true);
    v.setUint32(8, transId % 0x100000000, true);
    v.setUint32(12, Math.floor(transId / 0x100000000), true);
    v.setUint16(16, NetvscConst.NETVSC_RECEIVE_BUFFER_ID, true);
    v.setUint32(20, 1, true);
    v.setUint32(24, len, true);
    v.setUint32(28, at, true);
    v.setUint32(XFER_NVSP, NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT, true);
    v.setUint32(XFER_NVSP + 4, channelType, true);
    v.setUint32(XFER_NVSP + 8, NetvscConst.NETVSC_INVALID_INDEX, true);
    const out = ch.sendRaw(x, XFER_LEN);
    if (out !== "signal" && out !== "quiet") {
      this.stats.dropsNoRoom++;
      return false;
    }
    r.pending[slot] = transId;
    return true;
  }

  /** The guest's completion of a transfer-page packet: its sub-allocation is free again. */
  #recvCompletion(pkt: RingReader): void {
    const r = this.recv;
    const lo = pkt.view.getUint32(8, true);
    const hi = pkt.view.getUint32(12, true);
    const transId = hi * 0x100000000 + lo;
    const slot = transId % SLOT_BITS;
    const len = pkt.payloadLength;
    const type = len >= 8 ? pkt.view.getUint32(pkt.payloadOffset, true) : 0;
    if (
      !r ||
      slot >= r.count ||
      r.pending[slot] !== transId ||
      type !== NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE
    ) {
      this.#problem(`completion of transaction ${transId} (type ${type}), which is not out`);
      return;
    }
    r.pending[slot] = 0;
    this.stats.completionsIn++;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [
      this.#seq,
      this.#comp,
      this.#compView,
      this.#xfer,
      this.#xferView,
      this.#msg,
      this.#rndisView,
      this.#msgView,
      this.#hdr,
      this.#onReply,
    ];
  }
  load(s: unknown[]): void {
    this.#seq = s[0] as never;
  }
}
