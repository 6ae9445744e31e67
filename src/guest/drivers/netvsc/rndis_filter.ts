// The RNDIS layer above netvsc (drivers/net/hyperv/rndis_filter.c
// rndis_filter_device_add, rndis_filter_init_device, rndis_filter_query_device,
// rndis_query_hwcaps, rndis_filter_set_offload_params, rndis_filter_open,
// rndis_filter_halt_device; Linux 0291023e). Each request is a control message sent
// as a page buffer (bounced through swiotlb in a CoCo VM) and answered by a
// completion the host puts in the receive buffer; the answer is matched by req_id
// and every length in it checked before a byte of it is used.

import { NvspVersion } from "../../../vmbus/netvsc-proto.ts";
import {
  encodeRndis,
  NDIS_OFFLOAD,
  NdisPacketType,
  RndisConst,
  type RndisMessage,
  RndisMsgType,
  RndisOid,
  RndisStatus,
} from "../../../vmbus/rndis.ts";
import { Errno } from "../../vmbus/connection.ts";
import type { NetvscDevice, RndisRequest } from "./device.ts";
import { netvscSendControl } from "./send.ts";

/** Send one request and wait (bounded) for the completion that matches it. */
function request(dev: NetvscDevice, m: RndisMessage, answer: number): RndisMessage | undefined {
  const req: RndisRequest = { reqId: "reqId" in m ? m.reqId : 0, answer, done: false, response: undefined };
  dev.requests.push(req);
  const ret = netvscSendControl(dev, encodeRndis(m));
  const ok = ret === 0 && dev.k.hw.waitFor(() => req.done, `RNDIS ${m.kind} completion`);
  dev.requests.splice(dev.requests.indexOf(req), 1);
  return ok ? req.response : undefined;
}

/**
 * rndis_filter_query_device(): the OID's value, at most `max` bytes, or undefined
 * when the host failed it (or answered more than the guest's buffer holds).
 */
function query(
  dev: NetvscDevice,
  oid: number,
  max: number,
  info = new Uint8Array(0),
): Uint8Array | undefined {
  const reqId = dev.nextReqId++;
  const r = request(dev, { kind: "query", reqId, oid, info, devVcHandle: 0 }, RndisMsgType.RNDIS_MSG_QUERY_C);
  if (r?.kind !== "query-complete" || r.status !== RndisStatus.RNDIS_STATUS_SUCCESS) return undefined;
  if (r.info.length > max) {
    dev.k.reject(
      "HVCOCO_ERR_NETVSC_RNDIS_RESPONSE",
      `query oid 0x${oid.toString(16)}: info_buflen ${r.info.length} > ${max}`,
    );
    return undefined;
  }
  return r.info;
}

function set(dev: NetvscDevice, oid: number, info: Uint8Array): boolean {
  const reqId = dev.nextReqId++;
  const r = request(dev, { kind: "set", reqId, oid, info, devVcHandle: 0 }, RndisMsgType.RNDIS_MSG_SET_C);
  return r?.kind === "set-complete" && r.status === RndisStatus.RNDIS_STATUS_SUCCESS;
}

function u32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}

function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** rndis_filter_init_device(): INIT, then max_pkt and pkt_align from the completion. */
function initDevice(dev: NetvscDevice): number {
  const reqId = dev.nextReqId++;
  const r = request(
    dev,
    {
      kind: "init",
      reqId,
      majorVer: RndisConst.RNDIS_MAJOR_VERSION,
      minorVer: RndisConst.RNDIS_MINOR_VERSION,
      maxXferSize: RndisConst.LINUX_MAX_XFER_SIZE,
    },
    RndisMsgType.RNDIS_MSG_INIT_C,
  );
  if (r?.kind !== "init-complete" || r.status !== RndisStatus.RNDIS_STATUS_SUCCESS) return -Errno.EINVAL;
  if (r.pktAlignmentFactor > 12) {
    dev.k.reject("HVCOCO_ERR_NETVSC_RNDIS_RESPONSE", `pkt_alignment_factor ${r.pktAlignmentFactor} > 12`);
    return -Errno.EINVAL;
  }
  dev.maxPkt = Math.max(1, Math.min(r.maxPktPerMsg, 8));
  dev.pktAlign = 1 << r.pktAlignmentFactor;
  return 0;
}

/** rndis_query_hwcaps(): the host's ndis_offload, whose header must make sense. */
function queryHwcaps(dev: NetvscDevice): number {
  const v5 = dev.nvspVersion >= NvspVersion.NVSP_PROTOCOL_VERSION_5;
  const size = v5 ? RndisConst.NDIS_OFFLOAD_SIZE : RndisConst.NDIS_OFFLOAD_SIZE_6_1;
  const req = new Uint8Array(RndisConst.NDIS_OFFLOAD_SIZE);
  req[NDIS_OFFLOAD.off.header] = RndisConst.NDIS_OBJECT_TYPE_OFFLOAD;
  req[NDIS_OFFLOAD.off.header + 1] = v5
    ? RndisConst.NDIS_OFFLOAD_PARAMETERS_REVISION_3
    : RndisConst.NDIS_OFFLOAD_PARAMETERS_REVISION_2;
  new DataView(req.buffer).setUint16(NDIS_OFFLOAD.off.header + 2, size, true);
  const caps = query(dev, RndisOid.OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, size, req);
  if (!caps || caps.length < 4) return -Errno.EINVAL;
  const objSize = new DataView(caps.buffer, caps.byteOffset).getUint16(2, true);
  const why =
    caps[0] !== RndisConst.NDIS_OBJECT_TYPE_OFFLOAD
      ? `invalid NDIS objtype 0x${(caps[0] ?? 0).toString(16)}`
      : (caps[1] ?? 0) < RndisConst.NDIS_OFFLOAD_PARAMETERS_REVISION_1
        ? `invalid NDIS objrev ${caps[1]}`
        : objSize > caps.length || objSize < RndisConst.NDIS_OFFLOAD_SIZE_6_0
          ? `invalid NDIS objsize ${objSize}, data size ${caps.length}`
          : undefined;
  if (why) {
    dev.k.reject("HVCOCO_ERR_NETVSC_RNDIS_RESPONSE", `hwcaps: ${why}`);
    return -Errno.EINVAL;
  }
  return 0;
}

/** rndis_filter_set_offload_params(): every offload off (the host offers none). */
function setOffloadParams(dev: NetvscDevice): number {
  const size =
    dev.nvspVersion <= NvspVersion.NVSP_PROTOCOL_VERSION_4
      ? RndisConst.VERSION_4_OFFLOAD_SIZE
      : RndisConst.NDIS_OFFLOAD_PARAMS_SIZE;
  const p = new Uint8Array(size);
  p[0] = RndisConst.NDIS_OBJECT_TYPE_DEFAULT;
  p[1] = RndisConst.NDIS_OFFLOAD_PARAMETERS_REVISION_3;
  new DataView(p.buffer).setUint16(2, size, true);
  return set(dev, RndisOid.OID_TCP_OFFLOAD_PARAMETERS, p) ? 0 : -Errno.EINVAL;
}

/**
 * rndis_filter_device_add() after netvsc_device_add(): INIT, the largest frame,
 * the MAC, the offload capabilities and parameters, the link state and speed, the
 * RSS capabilities (a failure means one channel). 0 or -errno.
 */
export function rndisFilterDeviceAdd(dev: NetvscDevice): number {
  let ret = initDevice(dev);
  if (ret !== 0) return ret;
  const mtu = query(dev, RndisOid.RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE, 4);
  if (mtu && mtu.length === 4) {
    dev.hostMtu = u32(mtu);
    if (dev.hostMtu < dev.mtu) dev.mtu = dev.hostMtu;
  }
  const mac = query(dev, RndisOid.RNDIS_OID_802_3_PERMANENT_ADDRESS, 6);
  if (mac?.length !== 6) {
    dev.k.log("netvsc: Device MAC address not available");
    return -Errno.EINVAL;
  }
  dev.mac = mac.slice();
  ret = queryHwcaps(dev);
  if (ret !== 0) return ret;
  ret = setOffloadParams(dev);
  if (ret !== 0) return ret;
  const link = query(dev, RndisOid.RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, 4);
  dev.linkUp = link?.length === 4 && u32(link) === RndisConst.RNDIS_MEDIA_STATE_CONNECTED;
  if (dev.nvspVersion >= NvspVersion.NVSP_PROTOCOL_VERSION_5) {
    const speed = query(dev, RndisOid.RNDIS_OID_GEN_LINK_SPEED, 4);
    if (speed?.length === 4) dev.linkSpeed = u32(speed);
    // struct ndis_recv_scale_cap: header (type 0x88, revision 1, size 20) and zeros.
    const rss = new Uint8Array(20);
    rss[0] = RndisConst.NDIS_OBJECT_TYPE_RSS_CAPABILITIES;
    rss[1] = 1;
    rss[2] = 20;
    if (!query(dev, RndisOid.OID_GEN_RECEIVE_SCALE_CAPABILITIES, 20, rss))
      dev.k.log("netvsc: one channel (no RSS)");
  }
  return 0;
}

/** rndis_filter_open(): the packet filter (broadcast, all multicast, directed). */
export function rndisFilterOpen(dev: NetvscDevice): number {
  const filter =
    NdisPacketType.NDIS_PACKET_TYPE_BROADCAST |
    NdisPacketType.NDIS_PACKET_TYPE_ALL_MULTICAST |
    NdisPacketType.NDIS_PACKET_TYPE_DIRECTED;
  if (!set(dev, RndisOid.RNDIS_OID_GEN_CURRENT_PACKET_FILTER, le32(filter))) return -Errno.EINVAL;
  dev.packetFilter = filter;
  return 0;
}

/** A KEEPALIVE and its completion: true when the host answered with success. */
export function rndisFilterKeepalive(dev: NetvscDevice): boolean {
  const reqId = dev.nextReqId++;
  const r = request(dev, { kind: "keepalive", reqId }, RndisMsgType.RNDIS_MSG_KEEPALIVE_C);
  const ok = r?.kind === "keepalive-complete" && r.status === RndisStatus.RNDIS_STATUS_SUCCESS;
  if (ok) dev.stats.keepalives++;
  return ok;
}

/** rndis_filter_halt_device(): HALT (no completion). */
export function rndisFilterHalt(dev: NetvscDevice): void {
  netvscSendControl(dev, encodeRndis({ kind: "halt", reqId: dev.nextReqId++ }));
}
