import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeNvspMessage,
  encodeNvspMessage,
  isNvspFault,
  NETVSC_LAYOUT,
  NetvscConst,
  NVSP_1_MESSAGE_SEND_RECEIVE_BUFFER,
  NVSP_1_MESSAGE_SEND_RECEIVE_BUFFER_COMPLETE,
  NVSP_1_MESSAGE_SEND_RNDIS_PACKET,
  NVSP_2_SEND_NDIS_CONFIG,
  NVSP_6_PD_API_COMP,
  NVSP_ERRORS,
  NVSP_MESSAGE,
  NVSP_VERSIONS,
  NvspCapability,
  type NvspMessage,
  NvspMsgType,
  NvspStatus,
  NvspVersion,
  readRndisPktHeader,
} from "../../src/vmbus/netvsc-proto.ts";
import { hex, toHex, zeros } from "./hex.ts";

function ok(b: Uint8Array, from: "guest" | "host"): NvspMessage {
  const m = decodeNvspMessage(b, from);
  if (isNvspFault(m)) throw new Error(`${m.code}: ${m.detail}`);
  return m;
}

test("nvsp layouts: nvsp_message is 40 bytes (largest member nvsp_6_pd_api_comp, 36)", () => {
  assert.equal(NVSP_MESSAGE.size, 40);
  assert.equal(NVSP_6_PD_API_COMP.size, 36);
  assert.equal(NVSP_1_MESSAGE_SEND_RECEIVE_BUFFER.size, 6);
  assert.equal(NVSP_1_MESSAGE_SEND_RECEIVE_BUFFER_COMPLETE.size, 8);
  assert.equal(NVSP_1_MESSAGE_SEND_RNDIS_PACKET.size, 12);
  assert.equal(NVSP_2_SEND_NDIS_CONFIG.size, 16);
  assert.equal(NVSP_2_SEND_NDIS_CONFIG.off.capability, 8);
  for (const s of NETVSC_LAYOUT.structs) if (s.name !== "nvsp_message") assert.ok(s.size <= 36, s.name);
});

test("nvsp constants: versions and message types by enum order", () => {
  assert.deepEqual(NVSP_VERSIONS, [0x2, 0x30002, 0x40000, 0x50000, 0x60000, 0x60001]);
  assert.equal(NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT, 107);
  assert.equal(NvspMsgType.NVSP_MSG2_TYPE_SEND_NDIS_CONFIG, 125);
  assert.equal(NvspMsgType.NVSP_MSG5_TYPE_SUBCHANNEL, 133);
  assert.equal(NvspMsgType.NVSP_MSG6_TYPE_PD_POST_BATCH, 136);
  assert.equal(NvspStatus.NVSP_STAT_PROTOCOL_UNSUPPORTED, 7);
});

// Each message as netvsc (or a host) puts it on the wire, with its bytes by hand.
const GOLDEN: [NvspMessage, "guest" | "host", string][] = [
  [
    { kind: "init", minProtocolVer: 0x60001, maxProtocolVer: 0x60001 },
    "guest",
    `01000000 01000600 01000600 ${zeros(28)}`,
  ],
  [
    { kind: "init-complete", negotiatedProtocolVer: 0, maxMdlChainLen: 34, status: 1 },
    "host",
    `02000000 00000000 22000000 01000000 ${zeros(24)}`,
  ],
  [
    {
      kind: "send-ndis-config",
      mtu: 1514,
      reserved: 0,
      capability: NvspCapability.IEEE8021Q | NvspCapability.TEAMING | NvspCapability.RSC,
    },
    "guest",
    `7d000000 ea050000 00000000 a800000000000000 ${zeros(20)}`,
  ],
  [
    { kind: "send-ndis-version", ndisMajorVer: 6, ndisMinorVer: 30 },
    "guest",
    `64000000 06000000 1e000000 ${zeros(28)}`,
  ],
  [
    { kind: "send-recv-buf", gpadlHandle: 0xe1e11, id: 0xcafe },
    "guest",
    `65000000 111e0e00 feca ${zeros(30)}`,
  ],
  [
    {
      kind: "send-recv-buf-complete",
      status: 1,
      numSections: 1,
      sections: [{ offset: 0, subAllocSize: 1728, numSubAllocs: 9709, endOffset: 16777152 }],
    },
    "host",
    `66000000 01000000 01000000 00000000 c0060000 ed250000 c0ffff00 ${zeros(12)}`,
  ],
  [{ kind: "send-send-buf", gpadlHandle: 0xe1e12, id: 0 }, "guest", `68000000 121e0e00 0000 ${zeros(30)}`],
  [
    { kind: "send-send-buf-complete", status: 1, sectionSize: 6144 },
    "host",
    `69000000 01000000 00180000 ${zeros(28)}`,
  ],
  [
    { kind: "send-rndis-pkt", channelType: 0, sendBufSectionIndex: 5, sendBufSectionSize: 98 },
    "guest",
    `6b000000 00000000 05000000 62000000 ${zeros(24)}`,
  ],
  [
    { kind: "send-rndis-pkt", channelType: 1, sendBufSectionIndex: 0xffffffff, sendBufSectionSize: 0 },
    "guest",
    `6b000000 01000000 ffffffff 00000000 ${zeros(24)}`,
  ],
  [{ kind: "send-rndis-pkt-complete", status: 1 }, "host", `6c000000 01000000 ${zeros(32)}`],
  [{ kind: "revoke-recv-buf", id: 0xcafe }, "guest", `67000000 feca ${zeros(34)}`],
  [{ kind: "revoke-send-buf", id: 0 }, "guest", `6a000000 ${zeros(36)}`],
  [{ kind: "vf-association", allocated: 1, serial: 7 }, "host", `80000000 01000000 07000000 ${zeros(28)}`],
  [{ kind: "switch-data-path", activeDatapath: 1 }, "guest", `81000000 01000000 ${zeros(32)}`],
  [
    { kind: "subchannel-request", op: 1, numSubchannels: 3 },
    "guest",
    `85000000 01000000 03000000 ${zeros(28)}`,
  ],
  [
    { kind: "subchannel-complete", status: 1, numSubchannels: 3 },
    "host",
    `85000000 01000000 03000000 ${zeros(28)}`,
  ],
  [
    { kind: "send-indirection-table", count: 16, offset: 12 },
    "host",
    `86000000 10000000 0c000000 ${zeros(28)}`,
  ],
];

test("golden: every NVSP message, 40 bytes, padding zero, round trip", () => {
  for (const [m, from, bytes] of GOLDEN) {
    const b = encodeNvspMessage(m);
    assert.equal(b.length, 40, m.kind);
    assert.equal(toHex(b), toHex(hex(bytes)), m.kind);
    assert.deepEqual(ok(b, from), m, m.kind);
  }
});

test("the receive completion netvsc sends is 8 bytes: {108, status}", () => {
  const b = encodeNvspMessage({ kind: "send-rndis-pkt-complete", status: NvspStatus.NVSP_STAT_SUCCESS }, 8);
  assert.equal(toHex(b), "6c00000001000000");
  assert.deepEqual(ok(b, "guest"), { kind: "send-rndis-pkt-complete", status: 1 });
  assert.throws(() => encodeNvspMessage({ kind: "init", minProtocolVer: 2, maxProtocolVer: 2 }, 8));
});

test("a receive-buffer completion with several sections grows past 40 bytes", () => {
  const s = { offset: 0, subAllocSize: 1728, numSubAllocs: 10, endOffset: 17280 };
  const m: NvspMessage = { kind: "send-recv-buf-complete", status: 1, numSections: 3, sections: [s, s, s] };
  const b = encodeNvspMessage(m);
  assert.equal(b.length, 4 + 8 + 48);
  assert.deepEqual(ok(b, "host"), m);
});

test("readRndisPktHeader reads the data-path fields without allocating", () => {
  const b = encodeNvspMessage({
    kind: "send-rndis-pkt",
    channelType: 0,
    sendBufSectionIndex: 9,
    sendBufSectionSize: 60,
  });
  const out = { msgType: 0, channelType: 0, sendBufSectionIndex: 0, sendBufSectionSize: 0 };
  assert.equal(readRndisPktHeader(b, 0, b.length, out), true);
  assert.deepEqual(out, { msgType: 107, channelType: 0, sendBufSectionIndex: 9, sendBufSectionSize: 60 });
  assert.equal(readRndisPktHeader(b, 0, 10, out), false);
  assert.equal(readRndisPktHeader(b, 0, 3, out), false);
});

test("unknown message types stay representable", () => {
  const b = hex(`87000000 0102030405`);
  const m = ok(b, "host");
  assert.deepEqual(m, { kind: "unknown", msgType: 135, body: hex("0102030405") });
  assert.equal(toHex(encodeNvspMessage(m)), toHex(hex(`87000000 0102030405 ${zeros(31)}`)));
  assert.equal(NvspVersion.NVSP_INVALID_PROTOCOL_VERSION, 0xffffffff);
  assert.equal(NetvscConst.NETVSC_RECEIVE_BUFFER_ID, 0xcafe);
});

test("hostile: every NVSP error code has a test that produces it", () => {
  const seen = new Set<string>();
  const cases: Uint8Array[] = [
    hex("6c00"), // shorter than the header
    hex("02000000 01000000 02000000"), // INIT_COMPLETE without its status
    hex("6c000000"), // RNDIS_PKT_COMPLETE without its status
    hex(`66000000 01000000 01000000 ${zeros(12)}`), // RECV_BUF_COMPLETE without a whole section
  ];
  for (const c of cases) {
    const f = decodeNvspMessage(c, "host");
    assert.ok(isNvspFault(f), toHex(c));
    assert.equal(f.code, "HVCOCO_ERR_NVSP_TRUNCATED");
    seen.add(f.code);
  }
  const lie = decodeNvspMessage(hex(`66000000 01000000 02000000 ${zeros(16)}`), "host");
  assert.ok(isNvspFault(lie));
  assert.equal(lie.code, "HVCOCO_ERR_NVSP_SECTION_COUNT");
  seen.add(lie.code);
  const huge = decodeNvspMessage(hex(`66000000 01000000 ffffffff ${zeros(16)}`), "host");
  assert.ok(isNvspFault(huge));
  assert.deepEqual([...seen].sort(), Object.keys(NVSP_ERRORS).sort());
});

test("decode never throws on arbitrary bytes", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 96 }),
      fc.constantFrom(1, 2, 100, 101, 102, 103, 105, 107, 108, 125, 128, 129, 133, 134, 999),
      fc.boolean(),
      (tail, type, host) => {
        const b = new Uint8Array(4 + tail.length);
        new DataView(b.buffer).setUint32(0, type, true);
        b.set(tail, 4);
        decodeNvspMessage(b, host ? "host" : "guest");
        decodeNvspMessage(tail, host ? "host" : "guest");
      },
    ),
  );
});
