// One hostile-bytes test per reject code of src/vmbus/errors.ts: each builds the
// smallest input a hostile peer could send for that reason and asserts the code.
import assert from "node:assert/strict";
import { test } from "node:test";
import { GuestRingReader } from "../../src/guest/vmbus/reader.ts";
import { RequestorTable } from "../../src/guest/vmbus/requestor.ts";
import { isFault, VMBUS_ERRORS, type VmbusErrorCode } from "../../src/vmbus/errors.ts";
import { HV_RING_BUFFER } from "../../src/vmbus/layout.ts";
import { decodeChannelMessage, encodeChannelMessage } from "../../src/vmbus/messages.ts";
import { decodeGpaDirect, encodeGpaDirect } from "../../src/vmbus/packet.ts";
import { ArrayRingMemory, initRing, RING_DATA, RingWriter } from "../../src/vmbus/ring.ts";
import { hex } from "./hex.ts";

const R = HV_RING_BUFFER.off;

/** A ring holding one 40-byte in-band packet at index 0, and a hardened guest reader on it. */
function ringWithPacket(maxPacketSize = 4096) {
  const mem = new ArrayRingMemory(4096 * 2);
  initRing(mem);
  new RingWriter(mem).writePacket(6, 0, 1, new Uint8Array(24), 0, 24, 3);
  const v = new DataView(mem.data.buffer);
  return { mem, v, reader: new GuestRingReader(mem, { maxPacketSize }) };
}

function gpaDirect(): Uint8Array {
  const b = new Uint8Array(48);
  encodeGpaDirect({ flags: 0, transId: 1n, ranges: [{ byteCount: 4096, byteOffset: 0, pfns: [5] }] }, 0, b);
  return b;
}

const HOSTILE: Record<VmbusErrorCode, () => unknown> = {
  HVCOCO_ERR_VMBUS_TRUNCATED: () => decodeChannelMessage(hex("01000000 00000000 0000")),
  HVCOCO_ERR_VMBUS_OVERSIZE: () => decodeChannelMessage(new Uint8Array(241)),
  HVCOCO_ERR_VMBUS_UNKNOWN_MSGTYPE: () => decodeChannelMessage(hex("63000000 00000000")),
  HVCOCO_ERR_VMBUS_RANGE_COUNT: () => {
    const b = gpaDirect();
    new DataView(b.buffer).setUint32(20, 1000, true); // range_cnt
    return decodeGpaDirect(b);
  },
  HVCOCO_ERR_VMBUS_GPA_RANGE: () => {
    const b = gpaDirect();
    new DataView(b.buffer).setUint32(28, 4096, true); // byte_offset
    return decodeGpaDirect(b);
  },
  HVCOCO_ERR_VMBUS_PFN_OVERFLOW: () => {
    const m = encodeChannelMessage({ kind: "gpadl-body", msgnumber: 0, gpadl: 1, pfns: [1] });
    new DataView(m.buffer).setUint32(20, 0x00200000, true); // PFN high half: 2^53
    return decodeChannelMessage(m);
  },
  HVCOCO_ERR_RING_INDEX_RANGE: () => {
    const { mem, reader } = ringWithPacket();
    mem.setU32(R.write_index, 4096);
    return reader.next();
  },
  HVCOCO_ERR_RING_INDEX_ALIGN: () => {
    const { mem, reader } = ringWithPacket();
    mem.setU32(R.write_index, 36);
    return reader.next();
  },
  HVCOCO_ERR_PKT_LEN_SHORT: () => {
    const { v, reader } = ringWithPacket();
    v.setUint16(RING_DATA + 4, 1, true); // len8 = 1: 8 bytes
    return reader.next();
  },
  HVCOCO_ERR_PKT_LEN_AVAIL: () => {
    const { v, reader } = ringWithPacket();
    v.setUint16(RING_DATA + 4, 6, true); // 48 + 8 > 48 available
    return reader.next();
  },
  HVCOCO_ERR_PKT_TOO_BIG: () => ringWithPacket(32).reader.next(),
  HVCOCO_ERR_PKT_OFFSET: () => {
    const { v, reader } = ringWithPacket();
    v.setUint16(RING_DATA + 2, 6, true); // offset8*8 = 48 > 40
    return reader.next();
  },
  HVCOCO_ERR_RQST_ID_RANGE: () => {
    const t = new RequestorTable<string>(4);
    t.next("a");
    return t.take(5);
  },
  HVCOCO_ERR_RQST_NOT_OUTSTANDING: () => {
    const t = new RequestorTable<string>(4);
    t.next("a");
    return t.take(2);
  },
};

for (const [code, make] of Object.entries(HOSTILE)) {
  test(`hostile bytes -> ${code}`, () => {
    const out = make();
    assert.ok(
      isFault(out),
      `expected a fault, got ${JSON.stringify(out, (_, x) => (typeof x === "bigint" ? `${x}` : x))}`,
    );
    assert.equal(out.code, code);
    assert.ok(out.detail.length > 0);
  });
}

test("every reject code in the catalogue has a hostile-bytes test and a meaning", () => {
  assert.deepEqual(Object.keys(HOSTILE).sort(), Object.keys(VMBUS_ERRORS).sort());
  for (const [code, meaning] of Object.entries(VMBUS_ERRORS)) {
    assert.match(code, /^HVCOCO_ERR_[A-Z0-9_]+$/);
    assert.ok(meaning.length > 10);
  }
});
