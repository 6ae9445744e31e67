// The hv_utils framework (drivers/hv/hv_util.c util_probe and the shape every
// service callback shares; drivers/hv/channel_mgmt.c vmbus_prep_negotiate_resp):
// each service opens its channel with 16 KiB rings in direct-call mode, reads each
// host request into its private receive buffer with vmbus_recvpacket, checks its
// length, answers ICMSGTYPE_NEGOTIATE with the highest framework and service
// versions both sides have, hands its own message type to the service, and sends
// the buffer back with ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE.
import { Label } from "../../../audit/labels.ts";
import { scratch } from "../../../util/snapshot-hints.ts";
import { PacketType } from "../../../vmbus/constants.ts";
import {
  IC_OFF,
  IC_VERSION,
  ICMSG_HDR,
  ICMSG_NEGOTIATE,
  IcConst,
  IcMsgFlag,
  IcMsgType,
  IcStatus,
  icmsgNegotiatePktSize,
  icVersion,
  UTIL_FW_VERSIONS,
} from "../../../vmbus/ic.ts";
import type { VmbusChannel } from "../../vmbus/channel.ts";
import { vmbusClose, vmbusOpen } from "../../vmbus/channel_open.ts";
import type { HvDevice } from "../../vmbus/driver.ts";

/** What one service does with its own message type: false = drop the packet without answering. */
export interface UtilHandler {
  readonly name: string;
  readonly msgType: number;
  readonly srvVersions: readonly number[];
  /** Handle a request of msgType in `u.buf` (recvlen bytes, at least ICMSG_HDR). */
  handle(u: UtilService, recvlen: number): boolean;
  /** Shutdown answers one request per callback; the others drain the ring. */
  readonly onePerCallback?: boolean;
}

export class UtilService {
  readonly handler: UtilHandler;
  /** recv_buffer: HV_HYP_PAGE_SIZE * 4 of private memory; vmbus_recvpacket gets its first page. */
  readonly buf = scratch(new Uint8Array(4 * IcConst.HV_UTIL_RECV_BUFFER));
  readonly view = new DataView(this.buf.buffer);
  /** The page of it vmbus_recvpacket() is given. */
  readonly #page = this.buf.subarray(0, IcConst.HV_UTIL_RECV_BUFFER);
  channel: VmbusChannel | undefined;
  /** The negotiated framework and service versions (0 until ICMSGTYPE_NEGOTIATE succeeded). */
  fwVersion = 0;
  srvVersion = 0;
  /** Requests answered, and the length of the last one. */
  responses = 0;
  lastRecvLen = 0;

  constructor(handler: UtilHandler) {
    this.handler = handler;
  }

  get negotiated(): boolean {
    return this.srvVersion !== 0;
  }

  /** util_probe(): open the channel (HV_CALL_DIRECT, 16 KiB rings each way). */
  probe(dev: HvDevice): number {
    this.channel = dev.channel;
    return vmbusOpen(dev.channel, {
      sendSize: IcConst.HV_UTIL_RING_SIZE,
      recvSize: IcConst.HV_UTIL_RING_SIZE,
      readMode: "direct",
      callback: (ch) => this.onChannelCallback(ch),
    });
  }

  remove(): void {
    if (this.channel) vmbusClose(this.channel);
  }

  onChannelCallback(ch: VmbusChannel): void {
    const k = ch.conn.k;
    const h = this.handler;
    const page = this.#page;
    for (;;) {
      const recvlen = ch.recvPacket(page);
      if (recvlen < 0) {
        k.reject(
          "HVCOCO_ERR_VMBUS_RECV",
          `${h.name} request received. Could not read into buffer (${recvlen})`,
        );
        return;
      }
      if (recvlen === 0) return;
      this.lastRecvLen = recvlen;
      if (recvlen < ICMSG_HDR) {
        k.reject("HVCOCO_ERR_IC_SHORT", `${h.name} request received. Packet length too small: ${recvlen}`);
        return;
      }
      const type = this.view.getUint16(IC_OFF.icmsgtype, true);
      if (type === IcMsgType.ICMSGTYPE_NEGOTIATE) {
        const r = prepNegotiateResp(this, recvlen, h.srvVersions);
        if (r) {
          this.fwVersion = r.fw;
          this.srvVersion = r.srv;
          k.log(`${h.name} IC version ${r.srv >>> 16}.${r.srv & 0xffff}`);
        }
      } else if (type === h.msgType) {
        if (!h.handle(this, recvlen)) return;
      } else {
        this.view.setUint32(IC_OFF.status, IcStatus.HV_E_FAIL, true);
        k.reject("HVCOCO_ERR_IC_MSGTYPE", `${h.name} request received. Invalid msg type: ${type}`);
      }
      this.view.setUint8(
        IC_OFF.icflags,
        IcMsgFlag.ICMSGHDRFLAG_TRANSACTION | IcMsgFlag.ICMSGHDRFLAG_RESPONSE,
      );
      const id =
        ch.requestIdHi === 0 ? ch.requestIdLo : (BigInt(ch.requestIdHi) << 32n) | BigInt(ch.requestIdLo);
      // The answer is the request as the guest edited it: protocol fields it writes for the host.
      if (ch.sendPacket(this.buf, 0, recvlen, id, PacketType.VM_PKT_DATA_INBAND, 0, Label.PUBLIC) === 0)
        this.responses++;
      if (h.onePerCallback) return;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#page];
  }
}

/**
 * vmbus_prep_negotiate_resp(): pick the first of our framework versions the host
 * lists, then the first of our service versions; answer with one of each (or none).
 * The counts the host sent are validated against the packet before they are used.
 */
export function prepNegotiateResp(
  u: UtilService,
  buflen: number,
  srvVersions: readonly number[],
): { fw: number; srv: number } | undefined {
  const v = u.view;
  const k = u.channel?.conn.k;
  const neg = ICMSG_HDR;
  if (buflen < ICMSG_HDR + ICMSG_NEGOTIATE.off.reserved) {
    k?.reject("HVCOCO_ERR_IC_NEGOTIATE", "Invalid icmsg negotiate");
    return undefined;
  }
  v.setUint16(IC_OFF.icmsgsize, 0x10, true);
  const fwCount = v.getUint16(neg + ICMSG_NEGOTIATE.off.icframe_vercnt, true);
  const msgCount = v.getUint16(neg + ICMSG_NEGOTIATE.off.icmsg_vercnt, true);
  let fw = icVersion(fwCount, 0);
  let srv = icVersion(msgCount, 0);
  let found = false;
  const max = IcConst.IC_VERSION_NEGOTIATION_MAX_VER_COUNT;
  if (fwCount > max || msgCount > max || icmsgNegotiatePktSize(fwCount, msgCount) > buflen) {
    k?.reject(
      "HVCOCO_ERR_IC_NEGOTIATE",
      `Invalid icmsg negotiate - icframe_major: ${fwCount}, icmsg_major: ${msgCount}`,
    );
  } else {
    const data = neg + ICMSG_NEGOTIATE.off.icversion_data;
    const at = (j: number) =>
      icVersion(
        v.getUint16(data + j * IC_VERSION.size, true),
        v.getUint16(data + j * IC_VERSION.size + 2, true),
      );
    const f = pick(UTIL_FW_VERSIONS, 0, fwCount, at);
    if (f !== undefined) {
      fw = f;
      const s = pick(srvVersions, fwCount, fwCount + msgCount, at);
      if (s !== undefined) {
        srv = s;
        found = true;
      }
    }
  }
  const data = neg + ICMSG_NEGOTIATE.off.icversion_data;
  v.setUint16(neg + ICMSG_NEGOTIATE.off.icframe_vercnt, found ? 1 : 0, true);
  v.setUint16(neg + ICMSG_NEGOTIATE.off.icmsg_vercnt, found ? 1 : 0, true);
  v.setUint16(data, fw >>> 16, true);
  v.setUint16(data + 2, fw & 0xffff, true);
  v.setUint16(data + 4, srv >>> 16, true);
  v.setUint16(data + 6, srv & 0xffff, true);
  return found ? { fw, srv } : undefined;
}

/** The first of `ours` (newest first) that appears in the host's list [from, to). */
function pick(
  ours: readonly number[],
  from: number,
  to: number,
  at: (j: number) => number,
): number | undefined {
  for (const want of ours) for (let j = from; j < to; j++) if (at(j) === want) return want;
  return undefined;
}
