import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMac } from "../../../src/host/net/frames.ts";
import { RndisDevice } from "../../../src/host/net/rndis-device.ts";
import {
  decodeRndis,
  encodeRndis,
  isRndisFault,
  NdisPacketType,
  RndisConst,
  type RndisMessage,
  RndisOid,
  RndisStatus,
} from "../../../src/vmbus/rndis.ts";

const GUEST_MAC = parseMac("00:15:5d:00:00:02")!;

/** Send a request as bytes and take the answer back as bytes, as the VSP would. */
function roundTrip(dev: RndisDevice, m: RndisMessage): RndisMessage | undefined {
  const req = decodeRndis(encodeRndis(m));
  if (isRndisFault(req)) throw new Error(req.detail);
  const ans = dev.control(req);
  if (!ans) return undefined;
  const back = decodeRndis(encodeRndis(ans));
  if (isRndisFault(back)) throw new Error(back.detail);
  return back;
}

function query(dev: RndisDevice, reqId: number, oid: number, info = new Uint8Array(0)) {
  const r = roundTrip(dev, { kind: "query", reqId, oid, info, devVcHandle: 0 });
  assert.equal(r?.kind, "query-complete");
  if (r?.kind !== "query-complete") throw new Error("unreachable");
  assert.equal(r.reqId, reqId);
  return r;
}

test("rndis_filter_device_add's sequence gets the answers Linux accepts", () => {
  const dev = new RndisDevice({ mac: GUEST_MAC });
  const init = roundTrip(dev, { kind: "init", reqId: 1, majorVer: 1, minorVer: 0, maxXferSize: 0x4000 });
  assert.ok(init?.kind === "init-complete");
  assert.equal(init.status, RndisStatus.RNDIS_STATUS_SUCCESS);
  assert.equal(init.maxPktPerMsg, 8);
  assert.equal(1 << init.pktAlignmentFactor, 8);
  assert.equal(dev.state, "initialized");

  const mtu = query(dev, 2, RndisOid.RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE);
  assert.deepEqual([...mtu.info], [0xdc, 0x05, 0, 0]);
  assert.deepEqual(query(dev, 3, RndisOid.RNDIS_OID_802_3_PERMANENT_ADDRESS).info, GUEST_MAC);
  assert.equal(
    query(dev, 4, RndisOid.RNDIS_OID_GEN_FRIENDLY_NAME).status,
    RndisStatus.RNDIS_STATUS_NOT_SUPPORTED,
  );

  // The hwcaps query carries an ndis_offload header (type, revision 3, size 156).
  const req = new Uint8Array(RndisConst.NDIS_OFFLOAD_SIZE);
  req.set([0xa7, 3, 156, 0]);
  const caps = query(dev, 5, RndisOid.OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, req);
  assert.equal(caps.status, 0);
  assert.equal(caps.info[0], RndisConst.NDIS_OBJECT_TYPE_OFFLOAD);
  assert.ok((caps.info[1] ?? 0) >= 1);
  const size = (caps.info[2] ?? 0) | ((caps.info[3] ?? 0) << 8);
  assert.ok(
    size >= RndisConst.NDIS_OFFLOAD_SIZE_6_0 &&
      size <= RndisConst.NDIS_OFFLOAD_SIZE &&
      size <= caps.info.length,
  );

  const params = new Uint8Array(RndisConst.NDIS_OFFLOAD_PARAMS_SIZE);
  params.set([0x80, 3, 28, 0, 1]);
  const set = roundTrip(dev, {
    kind: "set",
    reqId: 6,
    oid: RndisOid.OID_TCP_OFFLOAD_PARAMETERS,
    info: params,
    devVcHandle: 0,
  });
  assert.deepEqual(set, { kind: "set-complete", reqId: 6, status: 0 });

  assert.deepEqual([...query(dev, 7, RndisOid.RNDIS_OID_GEN_MEDIA_CONNECT_STATUS).info], [0, 0, 0, 0]);
  assert.deepEqual([...query(dev, 8, RndisOid.RNDIS_OID_GEN_LINK_SPEED).info], [0x00, 0xe1, 0xf5, 0x05]);
  assert.equal(
    query(dev, 9, RndisOid.OID_GEN_RECEIVE_SCALE_CAPABILITIES).status,
    RndisStatus.RNDIS_STATUS_NOT_SUPPORTED,
  );

  // rndis_filter_open: the packet filter.
  const filter =
    NdisPacketType.NDIS_PACKET_TYPE_BROADCAST |
    NdisPacketType.NDIS_PACKET_TYPE_ALL_MULTICAST |
    NdisPacketType.NDIS_PACKET_TYPE_DIRECTED;
  const f = roundTrip(dev, {
    kind: "set",
    reqId: 10,
    oid: RndisOid.RNDIS_OID_GEN_CURRENT_PACKET_FILTER,
    info: new Uint8Array([filter, 0, 0, 0]),
    devVcHandle: 0,
  });
  assert.deepEqual(f, { kind: "set-complete", reqId: 10, status: 0 });
  assert.equal(dev.state, "data-initialized");
  assert.equal(dev.packetFilter, 0x0d);
  assert.equal(dev.stats.outOfOrder, 0);

  assert.deepEqual(roundTrip(dev, { kind: "keepalive", reqId: 11 }), {
    kind: "keepalive-complete",
    reqId: 11,
    status: 0,
  });
  assert.equal(roundTrip(dev, { kind: "halt", reqId: 12 }), undefined);
  assert.equal(dev.state, "halted");
});

test("the packet filter decides which frames reach the guest", () => {
  const dev = new RndisDevice({ mac: GUEST_MAC });
  const frame = (dst: string) => new Uint8Array([...parseMac(dst)!, 0, 0, 0, 0, 0, 0, 8, 0]);
  assert.equal(dev.accepts(frame("ff:ff:ff:ff:ff:ff")), false, "nothing before the filter is set");
  dev.control({ kind: "init", reqId: 1, majorVer: 1, minorVer: 0, maxXferSize: 0x4000 });
  dev.control({
    kind: "set",
    reqId: 2,
    oid: RndisOid.RNDIS_OID_GEN_CURRENT_PACKET_FILTER,
    info: new Uint8Array([9, 0, 0, 0]),
    devVcHandle: 0,
  });
  assert.equal(dev.accepts(frame("00:15:5d:00:00:02")), true);
  assert.equal(dev.accepts(frame("ff:ff:ff:ff:ff:ff")), true);
  assert.equal(dev.accepts(frame("00:15:5d:00:00:09")), false);
  assert.equal(dev.accepts(frame("01:00:5e:00:00:01")), false, "multicast is not in 0x09");
  dev.control({
    kind: "set",
    reqId: 3,
    oid: RndisOid.RNDIS_OID_GEN_CURRENT_PACKET_FILTER,
    info: new Uint8Array([0x20, 0, 0, 0]),
    devVcHandle: 0,
  });
  assert.equal(dev.accepts(frame("00:15:5d:00:00:09")), true, "promiscuous");
  const bad = dev.control({
    kind: "set",
    reqId: 4,
    oid: RndisOid.RNDIS_OID_GEN_CURRENT_PACKET_FILTER,
    info: new Uint8Array(2),
    devVcHandle: 0,
  });
  assert.deepEqual(bad, { kind: "set-complete", reqId: 4, status: RndisStatus.RNDIS_STATUS_INVALID_LENGTH });
  const other = dev.control({
    kind: "set",
    reqId: 5,
    oid: 0x12345678,
    info: new Uint8Array(4),
    devVcHandle: 0,
  });
  assert.deepEqual(other, { kind: "set-complete", reqId: 5, status: RndisStatus.RNDIS_STATUS_NOT_SUPPORTED });
});
