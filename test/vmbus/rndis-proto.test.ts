import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeRndis,
  encodeRndis,
  isRndisFault,
  NDIS_OFFLOAD,
  NdisPacketType,
  newRndisPacketView,
  PpiType,
  parseRndisPacket,
  RNDIS_ERRORS,
  RNDIS_INITIALIZE_COMPLETE,
  RNDIS_LAYOUT,
  RNDIS_MESSAGE,
  RNDIS_PACKET,
  RNDIS_PER_PACKET_INFO,
  RNDIS_QUERY_REQUEST,
  RndisConst,
  type RndisMessage,
  RndisMsgType,
  RndisOid,
  RndisStatus,
  writeRndisPacketHeader,
} from "../../src/vmbus/rndis.ts";
import { hex, toHex, zeros } from "./hex.ts";

function ok(b: Uint8Array): RndisMessage {
  const m = decodeRndis(b);
  if (isRndisFault(m)) throw new Error(`${m.code}: ${m.detail}`);
  return m;
}

test("rndis layouts: sizes as in hyperv_net.h", () => {
  assert.equal(RNDIS_MESSAGE.size, 52);
  assert.equal(RNDIS_INITIALIZE_COMPLETE.size, 44);
  assert.equal(RNDIS_QUERY_REQUEST.size, 20);
  assert.equal(RNDIS_PACKET.size, 36);
  assert.equal(RNDIS_PER_PACKET_INFO.size, 12);
  assert.equal(RndisConst.RNDIS_PACKET_MESSAGE_SIZE, 44);
  assert.equal(RndisMsgType.RNDIS_MSG_QUERY_C, 0x80000004);
  assert.equal(RndisOid.RNDIS_OID_802_3_PERMANENT_ADDRESS, 0x01010101);
  assert.equal(RNDIS_LAYOUT.section, "rndis");
  // struct ndis_offload: NDIS_OFFLOAD_SIZE, and the 6.0 / 6.1 sizes are offsetof ipsecv2 / rsc.
  assert.equal(NDIS_OFFLOAD.size, RndisConst.NDIS_OFFLOAD_SIZE);
  assert.equal(NDIS_OFFLOAD.off.ipsecv2, RndisConst.NDIS_OFFLOAD_SIZE_6_0);
  assert.equal(NDIS_OFFLOAD.off.rsc, RndisConst.NDIS_OFFLOAD_SIZE_6_1);
  assert.equal(NDIS_OFFLOAD.off.encap_gre, 148);
});

const FRAME = hex("ffffffffffff 00155d000001 0806 0001 0800 06 04 0001");
const MAC = hex("00155d112233");

// Each message as rndis_filter.c / netvsc_drv.c (or a host) builds it, bytes by hand.
const GOLDEN: [RndisMessage, string][] = [
  [
    { kind: "init", reqId: 1, majorVer: 1, minorVer: 0, maxXferSize: 0x4000 },
    "02000000 18000000 01000000 01000000 00000000 00400000",
  ],
  [
    {
      kind: "init-complete",
      reqId: 1,
      status: 0,
      majorVer: 1,
      minorVer: 0,
      devFlags: 1,
      medium: 0,
      maxPktPerMsg: 8,
      maxXferSize: 0x4000,
      pktAlignmentFactor: 3,
      afListOffset: 0,
      afListSize: 0,
    },
    "02000080 34000000 01000000 00000000 01000000 00000000 01000000 00000000 08000000 00400000 03000000 00000000 00000000",
  ],
  [
    {
      kind: "query",
      reqId: 2,
      oid: RndisOid.RNDIS_OID_802_3_PERMANENT_ADDRESS,
      info: new Uint8Array(0),
      devVcHandle: 0,
    },
    "04000000 1c000000 02000000 01010101 00000000 14000000 00000000",
  ],
  [
    { kind: "query-complete", reqId: 2, status: 0, info: MAC },
    "04000080 1e000000 02000000 00000000 06000000 10000000 00155d112233",
  ],
  [
    {
      kind: "set",
      reqId: 3,
      oid: RndisOid.RNDIS_OID_GEN_CURRENT_PACKET_FILTER,
      info: hex("0b000000"),
      devVcHandle: 0,
    },
    "05000000 20000000 03000000 0e010100 04000000 14000000 00000000 0b000000",
  ],
  [{ kind: "set-complete", reqId: 3, status: 0 }, "05000080 10000000 03000000 00000000"],
  [{ kind: "halt", reqId: 4 }, "03000000 0c000000 04000000"],
  [{ kind: "reset", reserved: 0 }, "06000000 0c000000 00000000"],
  [{ kind: "reset-complete", status: 0, addressingReset: 1 }, "06000080 10000000 00000000 01000000"],
  [
    { kind: "indicate-status", status: RndisStatus.RNDIS_STATUS_MEDIA_CONNECT, statusBuf: new Uint8Array(0) },
    "07000000 14000000 0b000140 00000000 0c000000",
  ],
  [{ kind: "keepalive", reqId: 5 }, "08000000 0c000000 05000000"],
  [{ kind: "keepalive-complete", reqId: 5, status: 0 }, "08000080 10000000 05000000 00000000"],
  [
    { kind: "packet", data: FRAME, ppis: [] },
    `01000000 42000000 24000000 16000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 ${toHex(FRAME)}`,
  ],
  [
    {
      kind: "packet",
      data: FRAME,
      ppis: [{ type: PpiType.NBL_HASH_VALUE, internal: false, data: hex("78563412") }],
    },
    `01000000 52000000 34000000 16000000 00000000 00000000 00000000 24000000 10000000 00000000 00000000
     10000000 08000000 0c000000 78563412 ${toHex(FRAME)}`,
  ],
];

test("golden: every RNDIS message, round trip", () => {
  for (const [m, bytes] of GOLDEN) {
    const b = encodeRndis(m);
    assert.equal(toHex(b), toHex(hex(bytes)), m.kind);
    assert.deepEqual(ok(b), m, m.kind);
  }
});

test("writeRndisPacketHeader writes the same 44 bytes encodeRndis does for a packet without PPIs", () => {
  const whole = encodeRndis({ kind: "packet", data: FRAME, ppis: [] });
  const b = new Uint8Array(44 + FRAME.length).fill(0xaa);
  assert.equal(writeRndisPacketHeader(b, 0, FRAME.length), 44);
  b.set(FRAME, 44);
  assert.equal(toHex(b), toHex(whole));
});

test("parseRndisPacket finds the frame and the PPIs in place", () => {
  const pkt = encodeRndis({
    kind: "packet",
    data: FRAME,
    ppis: [
      { type: PpiType.IEEE_8021Q_INFO, internal: false, data: hex("05000000") },
      { type: PpiType.RNDIS_PKTINFO_ID, internal: true, data: hex("01060100") },
      { type: PpiType.NBL_HASH_VALUE, internal: false, data: hex("aabbccdd") },
    ],
  });
  const buf = new Uint8Array(7 + pkt.length);
  buf.set(pkt, 7);
  const v = newRndisPacketView();
  assert.equal(parseRndisPacket(buf, 7, pkt.length, v), undefined);
  assert.equal(toHex(buf.subarray(v.dataOffset, v.dataOffset + v.dataLength)), toHex(FRAME));
  assert.equal(v.ppiCount, 3);
  assert.equal(toHex(buf.subarray(v.vlanOffset, v.vlanOffset + 4)), "05000000");
  assert.equal(toHex(buf.subarray(v.pktinfoIdOffset, v.pktinfoIdOffset + 4)), "01060100");
  assert.equal(toHex(buf.subarray(v.hashOffset, v.hashOffset + 4)), "aabbccdd");
  assert.equal(v.csumOffset, -1);
  assert.equal(NdisPacketType.NDIS_PACKET_TYPE_BROADCAST, 8);
});

test("unknown message types stay representable", () => {
  const m = ok(hex("010000ff 0c000000 01020304"));
  assert.deepEqual(m, { kind: "unknown", msgType: RndisMsgType.RNDIS_MSG_BUS, body: hex("01020304") });
  assert.equal(toHex(encodeRndis(m)), "010000ff0c00000001020304");
});

test("hostile: every RNDIS error code has a test that produces it", () => {
  const setLen = (b: Uint8Array, at: number, x: number) => {
    new DataView(b.buffer, b.byteOffset).setUint32(at, x, true);
    return b;
  };
  const pkt = () =>
    encodeRndis({ kind: "packet", data: FRAME, ppis: [{ type: 8, internal: false, data: hex("01020304") }] });
  const cases: [Uint8Array, string][] = [
    [hex("01000000 08"), "HVCOCO_ERR_RNDIS_TRUNCATED"],
    [hex("04000080 0c000000 02000000"), "HVCOCO_ERR_RNDIS_TRUNCATED"],
    [hex("04000080 04000000"), "HVCOCO_ERR_RNDIS_MSG_LEN"],
    [hex("04000080 ff000000 00000000 00000000"), "HVCOCO_ERR_RNDIS_MSG_LEN"],
    // query completion: info beyond the message; info offset inside the fixed part
    [
      hex("04000080 1e000000 02000000 00000000 07000000 10000000 00155d112233"),
      "HVCOCO_ERR_RNDIS_INFO_RANGE",
    ],
    [
      hex("04000080 1e000000 02000000 00000000 06000000 08000000 00155d112233"),
      "HVCOCO_ERR_RNDIS_INFO_RANGE",
    ],
    [hex("07000000 14000000 0b000140 04000000 0c000000"), "HVCOCO_ERR_RNDIS_INFO_RANGE"],
    // packet: data_offset past the end; data_len past the end
    [setLen(pkt(), 8, 0x1000), "HVCOCO_ERR_RNDIS_DATA_RANGE"],
    [setLen(pkt(), 12, FRAME.length + 1), "HVCOCO_ERR_RNDIS_DATA_RANGE"],
    // packet: PPI area offset below the packet struct; length past the end; entry size 0; ppi_offset >= size
    [setLen(pkt(), 8 + 20, 8), "HVCOCO_ERR_RNDIS_PPI"],
    [setLen(pkt(), 8 + 24, 0x1000), "HVCOCO_ERR_RNDIS_PPI"],
    [setLen(pkt(), 44, 0), "HVCOCO_ERR_RNDIS_PPI"],
    [setLen(pkt(), 44 + 8, 16), "HVCOCO_ERR_RNDIS_PPI"],
  ];
  const seen = new Set<string>();
  for (const [b, code] of cases) {
    const m = decodeRndis(b);
    assert.ok(isRndisFault(m), `${code}: ${toHex(b)}`);
    assert.equal(m.code, code, toHex(b));
    seen.add(m.code);
  }
  assert.deepEqual([...seen].sort(), Object.keys(RNDIS_ERRORS).sort());
});

test("decode and parse never throw on arbitrary bytes, and agree on packets", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 120 }),
      fc.constantFrom(1, 2, 4, 5, 7, 0x80000002, 0x80000004),
      (tail, type) => {
        const b = new Uint8Array(8 + tail.length);
        const v = new DataView(b.buffer);
        v.setUint32(0, type, true);
        v.setUint32(4, Math.min(b.length, 8 + (tail[0] ?? 0)), true);
        b.set(tail, 8);
        const m = decodeRndis(b);
        const view = newRndisPacketView();
        const f = parseRndisPacket(b, 0, b.length, view);
        if (type === 1) assert.equal(isRndisFault(m), f !== undefined);
        decodeRndis(tail);
      },
    ),
  );
  assert.equal(zeros(0), "");
});
