import assert from "node:assert/strict";
import { test } from "node:test";
import { isFault } from "../../src/vmbus/errors.ts";
import { readGuid, writeGuid } from "../../src/vmbus/guid.ts";
import {
  decodeDescriptor,
  decodeGpaDirect,
  decodePageBuffer,
  decodeTrailer,
  decodeXferPageHeader,
  encodeDescriptor,
  encodeGpaDirect,
  encodePageBuffer,
  encodeTrailer,
  encodeXferPageHeader,
  gpaDirectHeaderSize,
  pageBuffersAsRanges,
} from "../../src/vmbus/packet.ts";
import { hex, toHex } from "./hex.ts";

test("golden: vmpacket_descriptor", () => {
  const d = { type: 6, offset8: 2, len8: 5, flags: 1, transId: 0x1122334455667788n };
  const b = new Uint8Array(16);
  encodeDescriptor(d, b);
  assert.equal(toHex(b), toHex(hex("0600 0200 0500 0100 8877665544332211")));
  assert.deepEqual(decodeDescriptor(b), d);
});

test("golden: packet trailer (previous write index in the high half)", () => {
  const b = new Uint8Array(8);
  encodeTrailer(0x1238, b);
  assert.equal(toHex(b), "0000000038120000");
  assert.equal(decodeTrailer(b), 0x1238);
});

test("golden: GUID in GUID_INIT byte order", () => {
  const b = new Uint8Array(16);
  writeGuid("f8615163-df3e-46c5-913f-f2d2f965ed0e", b, 0);
  assert.equal(toHex(b), "635161f83edfc546913ff2d2f965ed0e");
  assert.equal(readGuid(b, 0), "f8615163-df3e-46c5-913f-f2d2f965ed0e");
  assert.throws(() => writeGuid("nope", b, 0));
});

test("golden: vmdata_gpa_direct with gpa_range (storvsc-style, 20-byte inline payload)", () => {
  const h = { flags: 1, transId: 5n, ranges: [{ byteCount: 0x1800, byteOffset: 0x200, pfns: [0x10, 0x11] }] };
  assert.equal(gpaDirectHeaderSize(h.ranges), 48);
  const b = new Uint8Array(48);
  assert.equal(encodeGpaDirect(h, 20, b), 48);
  const want = hex(`
    0900 0600 0900 0100 0500000000000000
    00000000 01000000
    00180000 00020000 1000000000000000 1100000000000000`);
  assert.equal(toHex(b), toHex(want));
  assert.deepEqual(decodeGpaDirect(b), h);
});

test("golden: page-buffer packet prefix (hv_page_buffer as one-PFN ranges) and hv_page_buffer", () => {
  const pbs = [
    { len: 0x80, offset: 0x10, pfn: 0x12345 },
    { len: 0x1000, offset: 0, pfn: 0x12346 },
  ];
  const one = new Uint8Array(16);
  encodePageBuffer(pbs[0]!, one, 0);
  assert.equal(toHex(one), toHex(hex("80000000 10000000 4523010000000000")));
  assert.deepEqual(decodePageBuffer(one), pbs[0]);
  const b = new Uint8Array(56);
  const size = encodeGpaDirect({ flags: 1, transId: 2n, ranges: pageBuffersAsRanges(pbs) }, 0, b);
  assert.equal(size, 24 + 16 * 2);
  const want = hex(`
    0900 0700 0700 0100 0200000000000000
    00000000 02000000
    80000000 10000000 4523010000000000
    00100000 00000000 4623010000000000`);
  assert.equal(toHex(b), toHex(want));
});

test("golden: vmtransfer_page_packet_header with two ranges", () => {
  const h = {
    flags: 0,
    transId: 9n,
    xferPagesetId: 0xcafe,
    senderOwnsSet: 1,
    ranges: [
      { byteCount: 100, byteOffset: 0 },
      { byteCount: 60, byteOffset: 4096 },
    ],
  };
  const b = new Uint8Array(40);
  assert.equal(encodeXferPageHeader(h, b), 40);
  const want = hex(`
    0700 0500 0500 0000 0900000000000000
    feca 01 00 02000000
    64000000 00000000 3c000000 00100000`);
  assert.equal(toHex(b), toHex(want));
  assert.deepEqual(decodeXferPageHeader(b), h);
});

test("decoders return faults, not exceptions, on short input", () => {
  assert.ok(isFault(decodeDescriptor(new Uint8Array(15))));
  assert.ok(isFault(decodeGpaDirect(new Uint8Array(23))));
  assert.ok(isFault(decodeXferPageHeader(new Uint8Array(10))));
  assert.ok(isFault(decodePageBuffer(new Uint8Array(15))));
});
