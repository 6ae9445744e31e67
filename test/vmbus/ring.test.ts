import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../src/audit/labels.ts";
import { isFault } from "../../src/vmbus/errors.ts";
import { HV_RING_BUFFER } from "../../src/vmbus/layout.ts";
import {
  ArrayRingMemory,
  beginRead,
  bytesToRead,
  bytesToWrite,
  endRead,
  initRing,
  RING_DATA,
  RingReader,
  RingWriter,
} from "../../src/vmbus/ring.ts";
import { hex, toHex, zeros } from "./hex.ts";

const R = HV_RING_BUFFER.off;
const te = new TextEncoder();

function ring(dataPages = 1) {
  const mem = new ArrayRingMemory(4096 * (1 + dataPages));
  initRing(mem);
  return { mem, w: new RingWriter(mem), r: new RingReader(mem) };
}

test("golden: hv_ring_buffer control page after init, and one in-band packet in the data area", () => {
  const { mem, w } = ring();
  const ctl = mem.data.subarray(0, 4096);
  assert.equal(toHex(ctl.subarray(0, 68)), toHex(hex(`${zeros(64)} 01000000`)));
  assert.ok(ctl.subarray(68).every((b) => b === 0));
  assert.equal(w.writePacket(6, 0, 1, te.encode("hello"), 0, 5, Label.EXPOSED), "signal");
  assert.equal(
    toHex(mem.data.subarray(0, 16)),
    toHex(hex("20000000 00000000 00000000 00000000")),
    "write_index = 32",
  );
  const want = hex(`
    0600 0200 0300 0000 0100000000000000
    68656c6c6f 000000
    00000000 00000000`);
  assert.equal(toHex(mem.data.subarray(RING_DATA, RING_DATA + 32)), toHex(want));
  // Labels: descriptor, padding and trailer PUBLIC; the payload carries the caller's label.
  const lab = mem.labels.subarray(RING_DATA, RING_DATA + 32);
  assert.deepEqual([...lab.subarray(16, 21)], [2, 2, 2, 2, 2]);
  assert.ok([...lab.subarray(0, 16), ...lab.subarray(21)].every((l) => l === Label.PUBLIC));
});

test("the second packet's trailer holds its start offset; the index helpers agree with hyperv.h", () => {
  const { mem, w } = ring();
  w.writePacket(6, 0, 1, new Uint8Array(8), 0, 8, Label.PUBLIC);
  w.writePacket(6, 0, 2, new Uint8Array(8), 0, 8, Label.PUBLIC);
  const v = new DataView(mem.data.buffer);
  assert.equal(v.getUint32(RING_DATA + 32 + 24 + 4, true), 32);
  assert.equal(bytesToRead(64, 0, 4096), 64);
  assert.equal(bytesToRead(8, 4000, 4096), 104);
  assert.equal(bytesToWrite(64, 0, 4096), 4032);
  assert.equal(bytesToWrite(8, 4000, 4096), 3992);
});

test("a packet that runs past the end of the data area wraps to its start", () => {
  const { mem, w, r } = ring();
  // Move both indices near the end: 4096 - 40 = 4056.
  mem.setU32(R.write_index, 4056);
  mem.setU32(R.read_index, 4056);
  const r2 = new RingReader(mem);
  const payload = Uint8Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(w.writePacket(6, 1, 77, payload, 0, 100, Label.EXPOSED), "signal");
  const len = 16 + 100 + 4; // 120
  assert.equal(mem.getU32(R.write_index), (4056 + len + 8) % 4096);
  assert.equal(r2.next(), len);
  assert.deepEqual(r2.buf.subarray(16, 116), payload);
  assert.equal(r2.transId, 77n);
  assert.equal(r2.flags, 1);
  assert.equal(r2.next(), 0);
  void r;
});

test("strictly greater: a packet that would fill the ring exactly is refused", () => {
  const { mem, w, r } = ring();
  // Data area 4096. One packet of len L uses L + 8; refuse when room <= L + 8.
  const big = 4096 - 8 - 16; // payload making the packet use exactly 4096 bytes
  assert.equal(w.writePacket(6, 0, 1, new Uint8Array(big), 0, big, Label.PUBLIC), "full");
  assert.equal(mem.getU32(R.write_index), 0, "nothing published");
  assert.equal(w.writePacket(6, 0, 1, new Uint8Array(big - 8), 0, big - 8, Label.PUBLIC), "signal");
  assert.equal(
    w.writePacket(6, 0, 2, new Uint8Array(0), 0, 0, Label.PUBLIC),
    "full",
    "8 bytes left: never fill exactly",
  );
  assert.equal(r.next(), 4096 - 16);
  assert.equal(r.next(), 0, "read == write means empty");
});

test("signal only on empty -> non-empty, and never while the reader masks interrupts", () => {
  const { w, r, mem } = ring();
  const p = new Uint8Array(8);
  assert.equal(w.writePacket(6, 0, 1, p, 0, 8, 0), "signal");
  assert.equal(w.writePacket(6, 0, 2, p, 0, 8, 0), "quiet", "ring was not empty");
  r.next();
  r.next();
  r.commit();
  beginRead(mem);
  assert.equal(w.writePacket(6, 0, 3, p, 0, 8, 0), "quiet", "interrupt_mask set");
  assert.ok(endRead(mem) > 0, "hv_end_read reports the data that arrived while masked");
  r.next();
  r.commit();
  assert.equal(endRead(mem), 0);
  assert.equal(w.writePacket(6, 0, 4, p, 0, 8, 0), "signal");
});

test("pending_send_sz: the reader wakes a blocked writer only when it now has more room than it asked", () => {
  const { mem, w, r } = ring();
  const p = new Uint8Array(1000);
  let n = 0;
  while (w.writePacket(6, 0, ++n, p, 0, 1000, 0) !== "full");
  // 3 packets of 1016 + 8 = 3072 bytes in; 1024 bytes of room left.
  w.setPendingSendSize(2000);
  assert.equal(r.next(), 1016);
  assert.equal(r.commit(), true, "room 2032 > 2000 and it was short before");
  assert.equal(r.next(), 1016);
  assert.equal(r.commit(), false, "it was not short before this batch");
  w.setPendingSendSize(0);
  assert.equal(r.next(), 1016);
  assert.equal(r.commit(), false, "not blocked");
  // Without the feature bit, the reader never signals.
  const b = ring();
  while (b.w.writePacket(6, 0, 1, p, 0, 1000, 0) !== "full");
  b.w.setPendingSendSize(2000);
  b.mem.setU32(R.feature_bits, 0);
  b.r.next();
  assert.equal(b.r.commit(), false);
  void mem;
});

test("the host's reader and the writer never crash on hostile indices", () => {
  const { mem, w, r } = ring();
  mem.setU32(R.write_index, 4096);
  assert.equal((r.next() as { code: string }).code, "HVCOCO_ERR_RING_INDEX_RANGE");
  const out = w.writePacket(6, 0, 1, new Uint8Array(1), 0, 1, 0);
  assert.ok(isFault(out) && out.code === "HVCOCO_ERR_RING_INDEX_RANGE");
  mem.setU32(R.write_index, 0);
  mem.setU32(R.read_index, 4);
  const out2 = w.writePacket(6, 0, 1, new Uint8Array(1), 0, 1, 0);
  assert.ok(isFault(out2) && out2.code === "HVCOCO_ERR_RING_INDEX_ALIGN");
});

test("misuse of the writer is a thrown bug, not a fault", () => {
  const { w } = ring();
  assert.throws(() => w.begin(12));
  assert.equal(w.begin(16), "ok");
  assert.throws(() => w.begin(16), /in progress/);
  assert.throws(() => w.end(), /unwritten/);
  assert.throws(() => w.put(new Uint8Array(24), 0, 24, 0), /exceed/);
  w.abort();
  assert.equal(w.busy, false);
  assert.throws(() => new ArrayRingMemory(4096));
});
