// netvsc's receive side (drivers/net/hyperv/netvsc.c netvsc_poll /
// netvsc_process_raw_pkt, netvsc_send_completion, netvsc_receive,
// netvsc_receive_inband, send_recv_completions; rndis_filter.c
// rndis_filter_receive, rndis_filter_receive_response; netvsc_drv.c
// netvsc_linkstatus_callback; kernel-facts.md §8.2). Every packet from the host is
// read through the hardened ring reader into a private buffer, and every field is
// checked before use: NVSP type and length, the transaction id through the
// requestor table, the transfer-page header and each range (inside the receive
// buffer, no larger than a section), then the RNDIS message.
//
// Copy before validate (the "netvsc-copy" hardening, C19 for the receive buffer):
// a range of the shared receive buffer is copied into the private per-channel
// buffer (nvchan->recv_buf) first, and parsed and delivered from there, so that a
// host changing the shared bytes after the checks changes nothing the guest uses.
// Switched off, the guest parses the message in shared memory and reads its fields
// again when it uses them (the negative control).
import { Label } from "../../../audit/labels.ts";
import { PacketType } from "../../../vmbus/constants.ts";
import { isFault } from "../../../vmbus/errors.ts";
import { NetvscConst, NvspMsgType, NvspStatus, NvspVersion } from "../../../vmbus/netvsc-proto.ts";
import {
  decodeRndis,
  isRndisFault,
  parseRndisPacket,
  RNDIS_HEADER_SIZE,
  RndisConst,
  RndisMsgType,
  RndisStatus,
} from "../../../vmbus/rndis.ts";
import { Errno } from "../../vmbus/connection.ts";
import { NETVSC_INIT_RQST, type NetvscDevice, SKB_BYTES, TX_RECORDS } from "./device.ts";
import { netvscTxComplete } from "./send.ts";

/** The named point between the checks of a received RNDIS message and its use (an adversary acts here). */
export const NETVSC_RX_VALIDATED_HOOK = "netvsc:rndis-validated";
/**
 * The named point where the guest has decided which bytes of a received RNDIS
 * packet are the frame, just before it takes them: where the data it checked was
 * (`checkedAt`/`checkedLen`, from the message's start) and where the data it uses
 * is (`usedAt`/`usedLen`). The auditor holds the two against each other.
 */
export const NETVSC_RX_DELIVER_HOOK = "netvsc:rndis-deliver";

/** The hooks' details, reused for every message (no allocation per frame). */
const RX_POINT = { offset: 0, len: 0 };
const USE_POINT = { offset: 0, len: 0, checkedAt: 0, checkedLen: 0, usedAt: 0, usedLen: 0 };
const COMP = new Uint8Array(8);
const COMP_VIEW = new DataView(COMP.buffer);
const XFER_HDR = 24;
const XFER_RANGE = 8;

/** The channel callback (netvsc_channel_cb → netvsc_poll): drain the inbound ring. */
export function netvscOnChannelCallback(dev: NetvscDevice): void {
  const ch = dev.ch;
  flushCompletions(dev);
  for (let i = 0; i < 65536; i++) {
    const n = ch.recvPacket(dev.pkt, true);
    if (n === 0) break;
    if (n === -Errno.EIO) break; // hostile ring contents: rejected by the reader, which did not move
    if (n < 0) {
      dev.k.reject("HVCOCO_ERR_VMBUS_RECV", `netvsc: a packet larger than ${dev.pkt.length} bytes (${n})`);
      continue;
    }
    processRawPkt(dev, n);
  }
  flushCompletions(dev);
}

/** netvsc_process_raw_pkt(): by packet type. The reader validated len8 and offset8 in the private copy. */
function processRawPkt(dev: NetvscDevice, len: number): void {
  const v = dev.pktView;
  const type = v.getUint16(0, true);
  const off = v.getUint16(2, true) * 8;
  const msglen = len - off;
  switch (type) {
    case PacketType.VM_PKT_COMP:
      sendCompletion(dev, off, msglen);
      return;
    case PacketType.VM_PKT_DATA_USING_XFER_PAGES:
      receive(dev, off, msglen);
      return;
    case PacketType.VM_PKT_DATA_INBAND:
      receiveInband(dev, off, msglen);
      return;
    default:
      dev.k.reject(
        "HVCOCO_ERR_NETVSC_PKT_TYPE",
        `unhandled packet type ${type}, tid ${dev.ch.requestIdHi.toString(16)}${dev.ch.requestIdLo.toString(16).padStart(8, "0")}`,
      );
  }
}

/** Take a host-supplied transaction id only if it names an outstanding request of the expected kind. */
function takeRequest(dev: NetvscDevice, want: "init" | "tx"): number | undefined {
  const ch = dev.ch;
  const r = ch.rqstor;
  if (!r) return undefined;
  const v = r.peek(ch.requestIdLo, ch.requestIdHi);
  if (isFault(v)) {
    dev.k.reject(v.code, `netvsc: Invalid transaction ID: ${v.detail}`);
    return undefined;
  }
  const ok =
    want === "init"
      ? v === NETVSC_INIT_RQST && dev.initWaiting
      : typeof v === "number" && v < TX_RECORDS && dev.tx[v]!.inUse;
  if (!ok) {
    dev.k.reject(
      "HVCOCO_ERR_NETVSC_UNSOLICITED",
      `netvsc: completion of transaction ${ch.requestIdLo} matches no ${want === "init" ? "start-up request waiting" : "packet in flight"}`,
    );
    return undefined;
  }
  r.take(ch.requestIdLo, ch.requestIdHi);
  return v as number;
}

/** netvsc_send_completion(): the host answers a request, or is done with a packet. */
function sendCompletion(dev: NetvscDevice, off: number, msglen: number): void {
  const k = dev.k;
  if (msglen === 0) {
    k.reject("HVCOCO_ERR_NETVSC_UNSOLICITED", "Unexpected VMBUS completion!!");
    return;
  }
  if (msglen < 4) {
    k.reject("HVCOCO_ERR_NETVSC_SHORT", `nvsp_message length too small: ${msglen}`);
    return;
  }
  const v = dev.pktView;
  const msgType = v.getUint32(off, true);
  let need = 0;
  switch (msgType) {
    case NvspMsgType.NVSP_MSG_TYPE_INIT_COMPLETE:
      need = 4 + 12;
      break;
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE:
      need = 4 + 8 + 16;
      break;
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE:
    case NvspMsgType.NVSP_MSG5_TYPE_SUBCHANNEL:
      need = 4 + 8;
      break;
    case NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE: {
      if (msglen < 8) {
        k.reject("HVCOCO_ERR_NETVSC_SHORT", `nvsp_rndis_pkt_complete length too small: ${msglen}`);
        return;
      }
      const status = v.getUint32(off + 4, true);
      if (status !== NvspStatus.NVSP_STAT_SUCCESS)
        k.log(`netvsc: nvsp_rndis_pkt_complete error status: ${status}`);
      const i = takeRequest(dev, "tx");
      if (i !== undefined) netvscTxComplete(dev, dev.tx[i]!);
      return;
    }
    default:
      k.reject("HVCOCO_ERR_NETVSC_UNKNOWN_TYPE", `Unknown send completion type ${msgType} received!!`);
      return;
  }
  if (msglen < need) {
    k.reject("HVCOCO_ERR_NETVSC_SHORT", `nvsp_msg type ${msgType} length too small: ${msglen}`);
    return;
  }
  if (takeRequest(dev, "init") === undefined) return;
  // Copy the response back (channel_init_pkt), then wake the waiter.
  dev.initResponse = dev.pkt.slice(off, off + Math.min(msglen, 4 + 8 + 16 * 16));
  dev.initDone = true;
}

/** netvsc_receive(): a transfer-page packet naming ranges of the receive buffer, one RNDIS message each. */
function receive(dev: NetvscDevice, off: number, msglen: number): void {
  const k = dev.k;
  const v = dev.pktView;
  const recv = dev.recv;
  if (msglen < 4) {
    k.reject("HVCOCO_ERR_NETVSC_SHORT", `nvsp_header length too small: ${msglen}`);
    return;
  }
  const msgType = v.getUint32(off, true);
  if (msgType !== NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT) {
    k.reject("HVCOCO_ERR_NETVSC_UNKNOWN_TYPE", `Unknown nvsp packet type received ${msgType}`);
    return;
  }
  if (msglen < 4 + 12) {
    k.reject("HVCOCO_ERR_NETVSC_SHORT", `nvsp_rndis_pkt length too small: ${msglen}`);
    return;
  }
  if (off < XFER_HDR) {
    k.reject("HVCOCO_ERR_NETVSC_XFER_HEADER", `Invalid xfer page pkt, offset too small: ${off}`);
    return;
  }
  const setId = v.getUint16(16, true);
  if (setId !== NetvscConst.NETVSC_RECEIVE_BUFFER_ID) {
    k.reject(
      "HVCOCO_ERR_NETVSC_XFER_HEADER",
      `Invalid xfer page set id - expecting ${NetvscConst.NETVSC_RECEIVE_BUFFER_ID.toString(16)} got ${setId.toString(16)}`,
    );
    return;
  }
  const count = v.getUint32(20, true);
  if (XFER_HDR + XFER_RANGE * count > off) {
    k.reject("HVCOCO_ERR_NETVSC_XFER_HEADER", `Range count is not valid: ${count}`);
    return;
  }
  const lo = dev.ch.requestIdLo;
  const hi = dev.ch.requestIdHi;
  let status: number = NvspStatus.NVSP_STAT_SUCCESS;
  if (!recv) status = NvspStatus.NVSP_STAT_FAIL;
  for (let i = 0; i < count && recv; i++) {
    const at = XFER_HDR + XFER_RANGE * i;
    const buflen = v.getUint32(at, true);
    const offset = v.getUint32(at + 4, true);
    if (offset > recv.size || buflen > recv.size - offset) {
      status = NvspStatus.NVSP_STAT_FAIL;
      k.reject("HVCOCO_ERR_NETVSC_XFER_RANGE", `Packet offset:${offset} + len:${buflen} too big`);
      continue;
    }
    if (buflen > recv.sectionSize) {
      status = NvspStatus.NVSP_STAT_FAIL;
      k.reject(
        "HVCOCO_ERR_NETVSC_XFER_TOO_BIG",
        `Packet too big: buflen=${buflen} recv_section_size=${recv.sectionSize}`,
      );
      continue;
    }
    if (!rndisFilterReceive(dev, offset, buflen)) {
      status = NvspStatus.NVSP_STAT_FAIL;
      dev.stats.rxDropped++;
    }
  }
  queueCompletion(dev, hi === 0 ? lo : (BigInt(hi) << 32n) | BigInt(lo), status);
}

/** enq_receive_complete + send_recv_completions: VM_PKT_COMP {SEND_RNDIS_PKT_COMPLETE, status}. */
function queueCompletion(dev: NetvscDevice, transId: number | bigint, status: number): void {
  if (sendRecvCompletion(dev, transId, status)) return;
  dev.pendingComp.push({ transId: BigInt(transId), status });
}

function sendRecvCompletion(dev: NetvscDevice, transId: number | bigint, status: number): boolean {
  COMP_VIEW.setUint32(0, NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE, true);
  COMP_VIEW.setUint32(4, status, true);
  const ret = dev.ch.sendPacket(COMP, 0, 8, transId, PacketType.VM_PKT_COMP, 0, Label.PUBLIC);
  if (ret === 0) dev.stats.rxCompletions++;
  return ret === 0;
}

function flushCompletions(dev: NetvscDevice): void {
  const q = dev.pendingComp;
  while (q.length > 0) {
    const c = q[0]!;
    if (!sendRecvCompletion(dev, c.transId, c.status)) return;
    q.shift();
  }
}

/** rndis_filter_receive(): one RNDIS message at `offset` of the receive buffer. False: drop it (status FAIL). */
function rndisFilterReceive(dev: NetvscDevice, offset: number, buflen: number): boolean {
  const k = dev.k;
  const recv = dev.recv!;
  if (!dev.copyBeforeParse && buflen >= 8 && recv.mem.getU32(offset) === RndisMsgType.RNDIS_MSG_PACKET)
    return receiveDataInPlace(dev, offset, buflen);
  // nvchan->recv_buf: copy first, then check and use only the copy.
  const buf = dev.recvCopy;
  recv.mem.read(offset, buf, 0, buflen);
  dev.stats.copies++;
  dev.stats.copyBytes += buflen;
  if (buflen < RNDIS_HEADER_SIZE) {
    k.reject("HVCOCO_ERR_RNDIS_TRUNCATED", "invalid rndis message? (too short)");
    return false;
  }
  const view = dev.recvCopyView;
  const type = view.getUint32(0, true);
  const msgLen = view.getUint32(4, true);
  if (msgLen < RNDIS_HEADER_SIZE || msgLen > buflen) {
    k.reject("HVCOCO_ERR_RNDIS_MSG_LEN", `invalid rndis message? (len = ${msgLen}, buflen = ${buflen})`);
    return false;
  }
  switch (type) {
    case RndisMsgType.RNDIS_MSG_PACKET: {
      const pv = dev.rndisView;
      const f = parseRndisPacket(buf, 0, buflen, pv);
      if (f) {
        k.reject(f.code, `rndis_filter_receive_data: ${f.detail}`);
        return false;
      }
      RX_POINT.offset = offset;
      RX_POINT.len = buflen;
      k.hooks.fire(NETVSC_RX_VALIDATED_HOOK, RX_POINT);
      // The frame comes from the private copy: what was checked is what is used.
      fireUse(dev, offset, buflen, pv.dataOffset, pv.dataLength, pv.dataOffset, pv.dataLength);
      deliver(dev, buf.subarray(pv.dataOffset, pv.dataOffset + pv.dataLength));
      return true;
    }
    case RndisMsgType.RNDIS_MSG_INIT_C:
    case RndisMsgType.RNDIS_MSG_QUERY_C:
    case RndisMsgType.RNDIS_MSG_SET_C:
    case RndisMsgType.RNDIS_MSG_KEEPALIVE_C:
      receiveResponse(dev, buf, msgLen);
      return true;
    case RndisMsgType.RNDIS_MSG_INDICATE:
      linkStatus(dev, buf, msgLen);
      return true;
    default:
      k.reject("HVCOCO_ERR_NETVSC_RNDIS_TYPE", `unhandled rndis message (type ${type} len ${msgLen})`);
      return true;
  }
}

/**
 * The negative control ("netvsc-copy" off): the header is checked where the host
 * can still write it, and data_offset / data_len are read again when the frame is
 * copied out, so a host that changes them after the checks decides what is read.
 */
function receiveDataInPlace(dev: NetvscDevice, offset: number, buflen: number): boolean {
  const k = dev.k;
  const mem = dev.recv!.mem;
  const msgLen = mem.getU32(offset + 4);
  if (msgLen < RNDIS_HEADER_SIZE || msgLen > buflen || buflen < RndisConst.RNDIS_PACKET_MESSAGE_SIZE) {
    k.reject("HVCOCO_ERR_RNDIS_MSG_LEN", `invalid rndis message? (len = ${msgLen}, buflen = ${buflen})`);
    return false;
  }
  const rpktLen = buflen - RNDIS_HEADER_SIZE;
  const dataOffset = mem.getU32(offset + 8);
  const dataLen = mem.getU32(offset + 12);
  if (dataOffset >= rpktLen || dataLen > rpktLen - dataOffset) {
    k.reject(
      "HVCOCO_ERR_RNDIS_DATA_RANGE",
      `data_offset ${dataOffset} / data_len ${dataLen} outside ${rpktLen}`,
    );
    return false;
  }
  RX_POINT.offset = offset;
  RX_POINT.len = buflen;
  k.hooks.fire(NETVSC_RX_VALIDATED_HOOK, RX_POINT);
  // The time-of-use read: whatever the shared bytes say now.
  const useOffset = mem.getU32(offset + 8);
  const useLen = Math.min(mem.getU32(offset + 12), SKB_BYTES);
  const at = RNDIS_HEADER_SIZE;
  fireUse(dev, offset, buflen, at + dataOffset, dataLen, at + useOffset, useLen);
  k.hw.mem.read(dev.recv!.gpa + offset + RNDIS_HEADER_SIZE + useOffset, useLen, dev.scratch, 0);
  dev.stats.copies++;
  dev.stats.copyBytes += useLen;
  deliver(dev, dev.scratch.subarray(0, useLen));
  return true;
}

function fireUse(
  dev: NetvscDevice,
  offset: number,
  len: number,
  checkedAt: number,
  checkedLen: number,
  usedAt: number,
  usedLen: number,
): void {
  const u = USE_POINT;
  u.offset = offset;
  u.len = len;
  u.checkedAt = checkedAt;
  u.checkedLen = checkedLen;
  u.usedAt = usedAt;
  u.usedLen = usedLen;
  dev.k.hooks.fire(NETVSC_RX_DELIVER_HOOK, u);
}

function deliver(dev: NetvscDevice, frame: Uint8Array): void {
  dev.stats.rxFrames++;
  dev.stats.rxBytes += frame.length;
  dev.rxHandler?.(frame);
}

/** rndis_filter_receive_response(): match a completion to its request by req_id, check it, wake the waiter. */
function receiveResponse(dev: NetvscDevice, buf: Uint8Array, msgLen: number): void {
  const k = dev.k;
  const m = decodeRndis(buf, 0, msgLen);
  if (isRndisFault(m)) {
    k.reject(m.code, `rndis_filter_receive_response: ${m.detail}`);
    return;
  }
  const reqId = "reqId" in m ? m.reqId : -1;
  const req = dev.requests.find((r) => r.reqId === reqId && !r.done);
  if (!req) {
    k.reject(
      "HVCOCO_ERR_NETVSC_UNSOLICITED",
      `rndis_filter_receive_response: no rndis request found for req_id ${reqId}`,
    );
    return;
  }
  const type = dev.recvCopyView.getUint32(0, true);
  if (type !== req.answer) {
    k.reject(
      "HVCOCO_ERR_NETVSC_RNDIS_RESPONSE",
      `rndis response of type 0x${type.toString(16)} to a request expecting 0x${req.answer.toString(16)}`,
    );
    return;
  }
  if (msgLen > RndisConst.RNDIS_MESSAGE_SIZE + RndisConst.RNDIS_EXT_LEN) {
    k.reject(
      "HVCOCO_ERR_NETVSC_RNDIS_RESPONSE",
      `rndis response buffer overflow detected (size ${msgLen} max ${RndisConst.RNDIS_MESSAGE_SIZE + RndisConst.RNDIS_EXT_LEN})`,
    );
    req.done = true;
    return;
  }
  req.response = m;
  req.done = true;
}

/** netvsc_linkstatus_callback(): media connect / disconnect and link speed indications. */
function linkStatus(dev: NetvscDevice, buf: Uint8Array, msgLen: number): void {
  const m = decodeRndis(buf, 0, msgLen);
  if (isRndisFault(m) || m.kind !== "indicate-status") {
    dev.k.reject(
      isRndisFault(m) ? m.code : "HVCOCO_ERR_NETVSC_RNDIS_TYPE",
      `netvsc_linkstatus_callback: ${isRndisFault(m) ? m.detail : m.kind}`,
    );
    return;
  }
  if (m.status === RndisStatus.RNDIS_STATUS_MEDIA_CONNECT) dev.linkUp = true;
  else if (m.status === RndisStatus.RNDIS_STATUS_MEDIA_DISCONNECT) dev.linkUp = false;
  else if (m.status === RndisStatus.RNDIS_STATUS_LINK_SPEED_CHANGE && m.statusBuf.length >= 4)
    dev.linkSpeed = new DataView(m.statusBuf.buffer, m.statusBuf.byteOffset, 4).getUint32(0, true);
}

/** netvsc_receive_inband(): the send indirection table and VF association; nothing else is taken. */
function receiveInband(dev: NetvscDevice, off: number, msglen: number): void {
  const k = dev.k;
  const v = dev.pktView;
  if (msglen < 4) {
    k.reject("HVCOCO_ERR_NETVSC_SHORT", `nvsp_message length too small: ${msglen}`);
    return;
  }
  const msgType = v.getUint32(off, true);
  switch (msgType) {
    case NvspMsgType.NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE: {
      if (msglen < 4 + 8) {
        k.reject("HVCOCO_ERR_NETVSC_SHORT", `nvsp_v5_msg length too small: ${msglen}`);
        return;
      }
      const count = v.getUint32(off + 4, true);
      let tab = v.getUint32(off + 8, true);
      if (count !== NetvscConst.VRSS_SEND_TAB_SIZE) {
        k.reject("HVCOCO_ERR_NETVSC_INDIRECTION", `Received wrong send-table size:${count}`);
        return;
      }
      // A host bug before 6.1 put the table after the whole union.
      if (dev.nvspVersion <= NvspVersion.NVSP_PROTOCOL_VERSION_6 && msglen >= 4 + 36 + count * 4)
        tab = 4 + 36;
      if (msglen < count * 4 || tab > msglen - count * 4) {
        k.reject("HVCOCO_ERR_NETVSC_INDIRECTION", `Received send-table offset too big:${tab}`);
        return;
      }
      for (let i = 0; i < count; i++) dev.txTable[i] = v.getUint32(off + tab + 4 * i, true);
      return;
    }
    case NvspMsgType.NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION:
      // An isolated VM never takes a VF: its memory is outside the guest's protection.
      if (dev.isolated) k.log("netvsc: Ignore VF_ASSOCIATION msg from the host supporting isolation");
      else k.log("netvsc: VF association (no VF in the model)");
      return;
    default:
      k.reject("HVCOCO_ERR_NETVSC_UNKNOWN_TYPE", `Unhandled in-band NVSP message type ${msgType}`);
  }
}
