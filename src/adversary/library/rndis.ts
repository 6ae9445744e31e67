// The network path (C22): what the host puts in the guest's receive buffer and the
// transfer-page packets that point at it. The host owns both: it writes RNDIS
// messages of its own making into the shared receive buffer (through its mapping
// of the GPADL the guest gave it) and announces them with VM_PKT_DATA_USING_XFER_PAGES
// packets in the NIC's ring — with data and per-packet-info offsets that point
// outside the message, lengths that lie, ranges outside the buffer, and (TOCTOU)
// offsets rewritten after the guest checked them. netvsc copies each message out
// of the shared buffer before it parses it (`netvsc-copy`), checks every offset
// and length against what it copied, and logs what it refuses.
import { NvspMsgType } from "../../vmbus/netvsc-proto.ts";
import {
  RNDIS_PACKET,
  RndisConst,
  RndisMsgType,
  RndisStatus,
  writeRndisPacketHeader,
} from "../../vmbus/rndis.ts";
import { type AttackContext, type ChannelHandle, defineAttack, type GpadlHandle } from "../api.ts";
import { coco, rawPacket } from "./util.ts";

/** VM_PKT_DATA_USING_XFER_PAGES, and netvsc's receive buffer's page set id. */
const XFER_PAGES = 7;
const RECV_SET = 0xcafe;
/** Where the host puts its own messages: past the sub-allocations its netvsp has used. */
const HOST_AREA = 64 * 1024;
const SLOT = 1024;

interface Nic {
  ch: ChannelHandle;
  recv: GpadlHandle;
  /** Offset of the host's own area in the receive buffer. */
  base: number;
}

/** The NIC's channel and the receive buffer the guest gave (its second GPADL: ring, receive, send). */
function nic(ctx: AttackContext): Nic | undefined {
  const ch = ctx.host.vmbus.channel("nic");
  const recv = ch && ctx.host.vmbus.gpadls().filter((g) => g.relid === ch.relid)[1];
  if (!ch || !recv || recv.byteCount < 2 * HOST_AREA) {
    ctx.note("the NIC's receive buffer is not set up");
    return undefined;
  }
  return { ch, recv, base: recv.byteCount - HOST_AREA };
}

/**
 * A transfer-page packet naming `ranges` ([byte count, offset] in the receive
 * buffer), carrying NVSP SEND_RNDIS_PKT (data channel). `setId` and `count` may lie.
 */
function xferPacket(
  ranges: readonly (readonly [number, number])[],
  transId: number,
  o: { setId?: number; count?: number } = {},
): Uint8Array {
  const hdr = 24 + 8 * ranges.length;
  const nvsp = new Uint8Array(hdr - 16 + 16);
  const v = new DataView(nvsp.buffer);
  // The transfer-page header and ranges follow the descriptor: offsets here are minus 16.
  v.setUint16(0, o.setId ?? RECV_SET, true);
  v.setUint32(4, o.count ?? ranges.length, true);
  ranges.forEach(([len, off], i) => {
    v.setUint32(8 + 8 * i, len, true);
    v.setUint32(12 + 8 * i, off, true);
  });
  v.setUint32(hdr - 16, NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT, true);
  v.setUint32(hdr - 16 + 8, 0xffffffff, true);
  return rawPacket(hdr / 8, (hdr + 16) / 8, nvsp, XFER_PAGES, transId);
}

/** NVSP SEND_RNDIS_PKT alone (16 bytes, then 8 of zeros): no transfer-page header before it. */
function nvspRndisPkt(): Uint8Array {
  const b = new Uint8Array(24);
  new DataView(b.buffer).setUint32(0, NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT, true);
  return b;
}

/** An RNDIS_MSG_PACKET carrying `frame`, with whatever field values `lie` sets. */
function rndisPacket(frame: Uint8Array, lie: (v: DataView) => void = () => {}): Uint8Array {
  const b = new Uint8Array(RndisConst.RNDIS_PACKET_MESSAGE_SIZE + frame.length);
  writeRndisPacketHeader(b, 0, frame.length);
  b.set(frame, RndisConst.RNDIS_PACKET_MESSAGE_SIZE);
  lie(new DataView(b.buffer));
  return b;
}

const P = 8; // rndis_packet starts after the 8-byte header
const F = RNDIS_PACKET.off;

/** A made-up Ethernet frame: broadcast, the host's made-up source, EtherType 0x88b5 (local experimental). */
function frame(n: number, fill: number): Uint8Array {
  const f = new Uint8Array(n).fill(fill);
  f.fill(0xff, 0, 6);
  f.set([0x00, 0x15, 0x5d, 0xee, 0xee, 0xee], 6);
  f.set([0x88, 0xb5], 12);
  return f;
}

/** Write each message into its own slot of the host's area and announce it; then signal once. */
function deliver(ctx: AttackContext, n: Nic, msgs: readonly Uint8Array[], first = 0x7e570000): void {
  msgs.forEach((m, i) => {
    const at = n.base + i * SLOT;
    n.recv.write(at, m);
    n.ch.inject(xferPacket([[m.length, at]], first + i));
  });
  n.ch.signal();
  ctx.letGuestRun();
}

export const rndisBadOffsets = defineAttack({
  name: "rndis-bad-offsets",
  description:
    "RNDIS packets whose data_offset, data_len, msg_len and per-packet-info offsets point outside the message, and control messages whose buffer offsets do",
  klass: "RNDIS messages with bad offsets",
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const n = nic(ctx);
    if (!n) return;
    const f = frame(60, 0x41);
    const len = RndisConst.RNDIS_PACKET_MESSAGE_SIZE + f.length;
    const u32 = (at: number, x: number) => (v: DataView) => v.setUint32(at, x >>> 0, true);
    const both =
      (...ls: ((v: DataView) => void)[]) =>
      (v: DataView) => {
        for (const l of ls) l(v);
      };
    const packets = [
      u32(P + F.data_offset, len - P),
      u32(P + F.data_offset, 0xfffffff0),
      u32(P + F.data_len, 0xffffffff),
      u32(P + F.data_len, len - P - 36 + 1),
      u32(4, len + 8),
      u32(4, 4),
      u32(P + F.per_pkt_info_offset, 8),
      u32(P + F.per_pkt_info_offset, 0xffffff00),
      both(u32(P + F.per_pkt_info_offset, 36), u32(P + F.per_pkt_info_len, 0xffffffff)),
      // One PPI entry of size 0 (a kernel loop), then one whose ppi_offset is past its size.
      both(u32(P + F.per_pkt_info_offset, 36), u32(P + F.per_pkt_info_len, 12), u32(P + 36, 0)),
      both(
        u32(P + F.per_pkt_info_offset, 36),
        u32(P + F.per_pkt_info_len, 12),
        u32(P + 36, 12),
        u32(P + 44, 40),
      ),
    ].map((lie) => rndisPacket(f, lie));
    // Control messages with their buffer offsets and lengths pointing out of the message.
    const control = (type: number, words: number[]) => {
      const b = new Uint8Array(8 + 4 * words.length);
      const v = new DataView(b.buffer);
      v.setUint32(0, type, true);
      v.setUint32(4, b.length, true);
      words.forEach((w, i) => {
        v.setUint32(8 + 4 * i, w >>> 0, true);
      });
      return b;
    };
    packets.push(
      control(RndisMsgType.RNDIS_MSG_QUERY_C, [7, 0, 0x1000, 0xffffff00]),
      control(RndisMsgType.RNDIS_MSG_QUERY_C, [8, 0, 0xffffffff, 16]),
      control(RndisMsgType.RNDIS_MSG_INDICATE, [RndisStatus.RNDIS_STATUS_LINK_SPEED_CHANGE, 4, 0xfffffff0]),
      control(RndisMsgType.RNDIS_MSG_INDICATE, [RndisStatus.RNDIS_STATUS_MEDIA_CONNECT, 0xffffffff, 12]),
      control(RndisMsgType.RNDIS_MSG_INIT_C, [9]),
    );
    deliver(ctx, n, packets);
    ctx.note(`${packets.length} RNDIS messages with bad offsets`);
  },
});

export const netvscXferRanges = defineAttack({
  name: "netvsc-xfer-ranges",
  description:
    "transfer-page packets whose ranges lie outside the receive buffer or exceed a section, whose range count overruns the header, or that name another page set",
  klass: "RNDIS messages with bad offsets",
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const n = nic(ctx);
    if (!n) return;
    const m = rndisPacket(frame(60, 0x42));
    n.recv.write(n.base, m);
    const size = n.recv.byteCount;
    const bad: Uint8Array[] = [
      xferPacket([[m.length, size]], 1),
      xferPacket([[m.length, 0xfffffff8]], 2),
      xferPacket([[0xffffffff, n.base]], 3),
      xferPacket([[size - n.base, n.base]], 4),
      xferPacket([[m.length, n.base]], 5, { count: 0x10000 }),
      xferPacket([[m.length, n.base]], 6, { setId: 0xbeef }),
      // A transfer-page packet whose offset8 leaves no room for its header.
      rawPacket(2, 5, nvspRndisPkt(), XFER_PAGES, 7),
    ];
    for (const p of bad) n.ch.inject(p);
    n.ch.signal();
    ctx.letGuestRun();
    ctx.note(`${bad.length} transfer-page packets with bad ranges`);
  },
});

/** Each run's planted message: where it is (setup and after share the run's context). */
const planted = new WeakMap<AttackContext, { at: number; done: boolean }>();

export const netvscRewriteAfterCheck = defineAttack({
  name: "netvsc-rewrite-after-check",
  description:
    "once netvsc has checked an RNDIS packet in the receive buffer, the host points its data_offset / data_len at 3000 bytes it planted elsewhere in the buffer",
  klass: "changes after validation (TOCTOU)",
  defeatedBy: ["netvsc-copy"],
  appliesTo: coco,
  setup(ctx) {
    const p = { at: -1, done: false };
    planted.set(ctx, p);
    ctx.at("netvsc:rndis-validated", (d) => {
      const n = p.at >= 0 && !p.done ? nic(ctx) : undefined;
      if (!n || d["offset"] !== p.at) return;
      p.done = true;
      const plant = p.at + 4 * SLOT;
      n.recv.write(plant, frame(3000, 0x5a));
      const w = new Uint8Array(8);
      const v = new DataView(w.buffer);
      v.setUint32(0, plant - (p.at + P), true);
      v.setUint32(4, 3000, true);
      n.recv.write(p.at + P + F.data_offset, w);
    });
  },
  after(ctx) {
    const n = nic(ctx);
    const p = planted.get(ctx);
    if (!n || !p) return;
    p.at = n.base;
    deliver(ctx, n, [rndisPacket(frame(100, 0x33))]);
    ctx.note(p.done ? "rewrote data_offset/data_len after the checks" : "the guest never checked the packet");
  },
});
