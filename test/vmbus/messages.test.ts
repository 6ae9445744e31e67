import assert from "node:assert/strict";
import { test } from "node:test";
import { DeviceGuid, OfferFlag, VmbusVersion } from "../../src/vmbus/constants.ts";
import { isFault } from "../../src/vmbus/errors.ts";
import {
  type ChannelMessage,
  decodeChannelMessage,
  encodeChannelMessage,
  GPADL_BODY_PFNS,
  GPADL_HEADER_PFNS,
  gpadlMessages,
  MESSAGE_KINDS,
} from "../../src/vmbus/messages.ts";
import { isCoExternalMemory, isCoRingBuffer, offerPipeMode } from "../../src/vmbus/offer.ts";
import { hex, toHex, zeros } from "./hex.ts";

/** Decode bytes that must be a valid message. */
function decodeOk(b: Uint8Array): ChannelMessage {
  const m = decodeChannelMessage(b);
  if (isFault(m)) throw new Error(`${m.code}: ${m.detail}`);
  return m;
}

const GPADL = "101e0e00"; // 0xe1e10, the first GPADL handle
const userDef = new Uint8Array(120);
userDef.set([1, 2, 3, 4]);

// One filled-in instance of every message, with its bytes computed by hand.
const GOLDEN: [ChannelMessage, string][] = [
  [
    {
      kind: "offer",
      offer: {
        ifType: DeviceGuid.HV_SCSI_GUID,
        ifInstance: "12345678-9abc-def0-1122-334455667788",
        reserved1: 0n,
        reserved2: 0n,
        chnFlags:
          OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER |
          OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY,
        mmioMegabytes: 0,
        userDefined: userDef,
        subChannelIndex: 0,
        reserved3: 0,
      },
      childRelid: 15,
      monitorId: 3,
      monitorAllocated: 1,
      isDedicatedInterrupt: 0,
      connectionId: 0x2000f,
    },
    `01000000 00000000
     d96361ba a104 294d b605 72e2ffb1dc7f
     78563412 bc9a f0de 1122 334455667788
     ${zeros(16)}
     0600 0000
     01020304 ${zeros(116)}
     0000 0000
     0f000000 03 01 0000 0f000200`,
  ],
  [{ kind: "rescind", childRelid: 7 }, "02000000 00000000 07000000"],
  [{ kind: "request-offers" }, "03000000 00000000"],
  [{ kind: "all-offers-delivered" }, "04000000 00000000"],
  [
    {
      kind: "open",
      childRelid: 7,
      openId: 7,
      ringbufferGpadlHandle: 0xe1e10,
      targetVp: 1,
      downstreamRingbufferPageOffset: 32,
      userData: new Uint8Array([0xaa, 0xbb]),
    },
    `05000000 00000000 07000000 07000000 ${GPADL} 01000000 20000000 aabb ${zeros(118)}`,
  ],
  [
    { kind: "open-result", childRelid: 7, openId: 7, status: 0 },
    "06000000 00000000 07000000 07000000 00000000",
  ],
  [{ kind: "close", childRelid: 7 }, "07000000 00000000 07000000"],
  [
    {
      kind: "gpadl-header",
      childRelid: 7,
      gpadl: 0xe1e10,
      rangeBufLen: 24,
      rangeCount: 1,
      byteCount: 8192,
      byteOffset: 0,
      pfns: [0x100, 0x123456789],
    },
    `08000000 00000000 07000000 ${GPADL} 1800 0100 00200000 00000000 0001000000000000 8967452301000000`,
  ],
  [
    { kind: "gpadl-body", msgnumber: 0, gpadl: 0xe1e10, pfns: [0x200] },
    `09000000 00000000 00000000 ${GPADL} 0002000000000000`,
  ],
  [
    { kind: "gpadl-created", childRelid: 7, gpadl: 0xe1e10, creationStatus: 0 },
    `0a000000 00000000 07000000 ${GPADL} 00000000`,
  ],
  [{ kind: "gpadl-teardown", childRelid: 7, gpadl: 0xe1e10 }, `0b000000 00000000 07000000 ${GPADL}`],
  [{ kind: "gpadl-torndown", gpadl: 0xe1e10 }, `0c000000 00000000 ${GPADL}`],
  [{ kind: "relid-released", childRelid: 7 }, "0d000000 00000000 07000000"],
  [
    {
      kind: "initiate-contact",
      versionRequested: VmbusVersion.VERSION_WIN10_V6_0,
      targetVcpu: 0,
      interruptPage: 0x0000001000000002n, // the union as a whole: sint 2, vtl 0, feature_flags 0x10
      msgSint: 2,
      msgVtl: 0,
      featureFlags: 0x10,
      monitorPage1: 0x0000800000123000n,
      monitorPage2: 0x0000800000124000n,
    },
    "0e000000 00000000 00000600 00000000 02 00 0000 10000000 0030120000800000 0040120000800000",
  ],
  [
    {
      kind: "initiate-contact",
      versionRequested: VmbusVersion.VERSION_WIN10,
      targetVcpu: 1,
      interruptPage: 0x1234000n,
      msgSint: 0,
      msgVtl: 0x40,
      featureFlags: 0,
      monitorPage1: 0x5000n,
      monitorPage2: 0x6000n,
    },
    "0e000000 00000000 00000400 01000000 0040230100000000 0050000000000000 0060000000000000",
  ],
  [
    { kind: "version-response", versionSupported: 1, connectionState: 0, msgConnId: 4 },
    "0f000000 00000000 01 00 0000 04000000",
  ],
  [
    {
      kind: "version-response",
      versionSupported: 1,
      connectionState: 0,
      msgConnId: 4,
      supportedFeatures: 0x10,
    },
    "0f000000 00000000 01 00 0000 04000000 10000000",
  ],
  [{ kind: "unload" }, "10000000 00000000"],
  [{ kind: "unload-response" }, "11000000 00000000"],
  [
    {
      kind: "tl-connect-request",
      guestEndpointId: "00000001-0002-0003-0405-060708090a0b",
      hostServiceId: "a0b0c0d0-e0f0-0102-0304-050607080900",
    },
    "15000000 00000000 01000000 0200 0300 0405060708090a0b d0c0b0a0 f0e0 0201 0304050607080900",
  ],
  [
    {
      kind: "tl-connect-result",
      endpointId: "00000001-0002-0003-0405-060708090a0b",
      serviceId: "a0b0c0d0-e0f0-0102-0304-050607080900",
      status: -1,
    },
    "17000000 00000000 01000000 0200 0300 0405060708090a0b d0c0b0a0 f0e0 0201 0304050607080900 ffffffff",
  ],
  [{ kind: "modify-channel", childRelid: 7, targetVp: 3 }, "16000000 00000000 07000000 03000000"],
  [{ kind: "modify-channel-response", childRelid: 7, status: 0 }, "18000000 00000000 07000000 00000000"],
];

test("golden: every channel message encodes to its hand-computed bytes and decodes back", () => {
  const kinds = new Set<string>();
  for (const [msg, want] of GOLDEN) {
    kinds.add(msg.kind);
    const bytes = encodeChannelMessage(msg);
    assert.equal(toHex(bytes), toHex(hex(want)), msg.kind);
    const back = decodeOk(bytes);
    if (msg.kind === "open") {
      assert.equal(back.kind, "open");
      const { userData, ...rest } = back as typeof msg;
      const { userData: u0, ...rest0 } = msg;
      assert.deepEqual(rest, rest0);
      assert.deepEqual(userData.subarray(0, 2), u0);
    } else if (msg.kind === "initiate-contact" && msg.versionRequested < VmbusVersion.VERSION_WIN10_V5) {
      assert.equal((back as typeof msg).interruptPage, msg.interruptPage);
    } else assert.deepEqual(back, msg, msg.kind);
  }
  assert.deepEqual(
    [...kinds].sort(),
    Object.keys(MESSAGE_KINDS).sort(),
    "every message kind has a golden test",
  );
});

test("offer: confidential flags of 6.19 (ring only, ring + external memory, neither)", () => {
  const offerMsg = GOLDEN[0]![0];
  assert.equal(offerMsg.kind, "offer");
  if (offerMsg.kind !== "offer") return;
  const bytes = encodeChannelMessage(offerMsg);
  assert.equal(bytes.length, 196);
  assert.equal(bytes[8 + 48], 0x06, "chn_flags low byte at offer+48");
  const back = decodeOk(bytes);
  assert.ok(back.kind === "offer");
  assert.ok(isCoRingBuffer(back.offer) && isCoExternalMemory(back.offer));
  assert.ok(isCoRingBuffer({ chnFlags: 0x2 }) && !isCoExternalMemory({ chnFlags: 0x2 }));
  assert.ok(!isCoRingBuffer({ chnFlags: 0x1 }) && !isCoExternalMemory({ chnFlags: 0x1 }));
  assert.equal(offerPipeMode(back.offer), undefined);
  const pipe = { ...back.offer, chnFlags: OfferFlag.VMBUS_CHANNEL_NAMED_PIPE_MODE };
  assert.equal(offerPipeMode(pipe), 0x04030201);
});

test("offer: reserved bits a hostile host sets stay representable", () => {
  const bytes = encodeChannelMessage(GOLDEN[0]![0]);
  bytes[189] = 0xff;
  bytes[190] = 0xff;
  bytes[191] = 0xff;
  bytes[8 + 48] = 0xff;
  bytes[8 + 49] = 0xff;
  const back = decodeOk(bytes);
  assert.ok(back.kind === "offer");
  assert.equal(back.monitorAllocated, 0xff);
  assert.equal(back.isDedicatedInterrupt, 0xffff);
  assert.equal(back.offer.chnFlags, 0xffff);
  assert.deepEqual(encodeChannelMessage(back), bytes);
});

test("decoded messages copy their bytes (no aliasing of the shared page)", () => {
  const bytes = encodeChannelMessage(GOLDEN[0]![0]);
  const back = decodeOk(bytes);
  assert.ok(back.kind === "offer");
  bytes[8 + 52] = 0x99;
  assert.equal(back.offer.userDefined[0], 1);
});

test("gpadlMessages splits PFNs 26 in the header, 28 per body (channel.c)", () => {
  assert.equal(GPADL_HEADER_PFNS, 26);
  assert.equal(GPADL_BODY_PFNS, 28);
  const pfns = Array.from({ length: 128 }, (_, i) => 0x1000 + i);
  const msgs = gpadlMessages(7, 0xe1e10, 128 * 4096, pfns);
  assert.equal(msgs.length, 1 + Math.ceil((128 - 26) / 28));
  const h = msgs[0]!;
  assert.ok(h.kind === "gpadl-header");
  assert.equal(h.rangeBufLen, 8 + 8 * 128);
  assert.equal(encodeChannelMessage(h).length, 20 + 8 + 8 * 26);
  const all = msgs.flatMap((m) => (m.kind === "gpadl-header" || m.kind === "gpadl-body" ? m.pfns : []));
  assert.deepEqual(all, pfns);
  for (const m of msgs) assert.ok(encodeChannelMessage(m).length <= 240);
});

test("a message with extra trailing bytes decodes (payload_size may be larger)", () => {
  const b = new Uint8Array(40);
  b.set(hex("02000000 00000000 07000000"));
  assert.deepEqual(decodeOk(b), { kind: "rescind", childRelid: 7 });
});
