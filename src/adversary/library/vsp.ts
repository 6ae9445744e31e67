// VSP responses the host rewrites on their way into the ring: an IC version
// negotiation whose counts do not fit the packet, IC packets cut short, and packets
// with bogus transaction ids and types. The utility driver checks each request in
// its private buffer before reading it, answers only what it can, and echoes
// transaction ids without ever using them as pointers.
import { PacketType } from "../../vmbus/constants.ts";
import { IC_OFF, ICMSG_HDR, ICMSG_NEGOTIATE, IcMsgType } from "../../vmbus/ic.ts";
import { defineAttack } from "../api.ts";
import { coco, heartbeat, heartbeatRequest } from "./util.ts";

const klass = "VSP responses";

const icType = (p: Uint8Array) =>
  p.length >= ICMSG_HDR ? new DataView(p.buffer, p.byteOffset).getUint16(IC_OFF.icmsgtype, true) : -1;

export const vspNegotiateLie = defineAttack({
  name: "vsp-ic-negotiate-counts",
  description: "the heartbeat's version negotiation claims 0xffff framework and 300 service versions",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.host.vmbus.interpose({
      vsp(ch, p) {
        if (ch.name !== "heartbeat" || icType(p.payload) !== IcMsgType.ICMSGTYPE_NEGOTIATE) return undefined;
        const v = new DataView(p.payload.buffer);
        v.setUint16(ICMSG_HDR + ICMSG_NEGOTIATE.off.icframe_vercnt, 0xffff, true);
        v.setUint16(ICMSG_HDR + ICMSG_NEGOTIATE.off.icmsg_vercnt, 300, true);
        return p;
      },
    });
  },
});

export const vspTruncated = defineAttack({
  name: "vsp-ic-truncated",
  description: "every packet the heartbeat and shutdown VSPs send is cut to 8 bytes, or to its IC header",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    let n = 0;
    ctx.host.vmbus.interpose({
      vsp(ch, p) {
        if (ch.name !== "heartbeat" && ch.name !== "shutdown") return undefined;
        return { ...p, payload: p.payload.slice(0, n++ % 2 === 0 ? 8 : ICMSG_HDR) };
      },
    });
  },
  after(ctx) {
    const ch = heartbeat(ctx);
    ch?.send(heartbeatRequest(1n).subarray(0, ICMSG_HDR + 4));
  },
});

export const vspBogusTransactions = defineAttack({
  name: "vsp-bogus-transaction-ids",
  description:
    "heartbeat requests with transaction ids 0, 2^64-1 and random ones, typed as completions and junk types",
  klass: "bogus transaction ids and completions",
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const ch = heartbeat(ctx);
    if (!ch) return;
    const ids: (number | bigint)[] = [0, 0xffffffffffffffffn, BigInt(ctx.rng.u32()) << 32n, ctx.rng.u32()];
    const types = [PacketType.VM_PKT_COMP, PacketType.VM_PKT_DATA_INBAND, 0, 0xffff];
    ids.forEach((transId, i) => {
      ch.send(heartbeatRequest(BigInt(10 + i)), { transId, type: types[i]!, flags: 0xffff });
      ctx.letGuestRun();
    });
  },
});
