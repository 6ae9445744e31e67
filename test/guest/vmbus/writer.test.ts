// C18: what the guest writes to shared memory holds only the intended data; padding
// and unused fields are zero. Negative control: a writer that does not zero them
// copies stale SECRET bytes of its reused staging buffer into the ring, which the
// ring's label array shows (the auditor turns a host read of them into a leak).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { countLabel, Label } from "../../../src/audit/labels.ts";
import { GuestRingReader } from "../../../src/guest/vmbus/reader.ts";
import { GuestRingWriter } from "../../../src/guest/vmbus/writer.ts";
import { ArrayRingMemory, initRing, RING_DATA } from "../../../src/vmbus/ring.ts";

function ring() {
  const mem = new ArrayRingMemory(4096 * 3);
  initRing(mem);
  return mem;
}
const dataLabels = (mem: ArrayRingMemory) => mem.labels.subarray(RING_DATA);
const payload = new TextEncoder().encode("hello"); // 5 bytes: 3 bytes of padding

test("C18: with zeroed padding no SECRET byte reaches the ring; padding is zero and PUBLIC", () => {
  const mem = ring();
  const w = new GuestRingWriter(mem);
  assert.equal(w.sendInband(6, 1, 9, payload, 0, 5, Label.EXPOSED), "signal");
  assert.equal(countLabel(dataLabels(mem), Label.SECRET), 0);
  assert.deepEqual([...mem.data.subarray(RING_DATA + 21, RING_DATA + 24)], [0, 0, 0]);
  assert.deepEqual(
    [...mem.labels.subarray(RING_DATA + 21, RING_DATA + 24)],
    [Label.PUBLIC, Label.PUBLIC, Label.PUBLIC],
  );
  assert.equal(countLabel(dataLabels(mem), Label.EXPOSED), 5);
});

test("C18 negative control: without zeroing, the padding carries stale SECRET bytes into the ring", () => {
  const mem = ring();
  const w = new GuestRingWriter(mem, { zeroPadding: false });
  assert.equal(w.sendInband(6, 1, 9, payload, 0, 5, Label.EXPOSED), "signal");
  assert.equal(countLabel(dataLabels(mem), Label.SECRET), 3, "the 3 padding bytes");
  assert.deepEqual([...mem.data.subarray(RING_DATA + 21, RING_DATA + 24)], [...w.staging.subarray(21, 24)]);
  assert.ok(mem.data.subarray(RING_DATA + 21, RING_DATA + 24).some((b) => b !== 0));
});

test("C18: the unused `reserved` field of a GPA-direct packet: zero when hardened, stale SECRET when not", () => {
  const ranges = [{ byteCount: 512, byteOffset: 0, pfns: [0x1234] }];
  const good = ring();
  new GuestRingWriter(good).sendGpaDirect(1, 3, ranges, payload, 0, 5, Label.EXPOSED);
  assert.equal(countLabel(dataLabels(good), Label.SECRET), 0);
  assert.deepEqual([...good.data.subarray(RING_DATA + 16, RING_DATA + 20)], [0, 0, 0, 0]);
  const bad = ring();
  new GuestRingWriter(bad, { zeroPadding: false }).sendGpaDirect(1, 3, ranges, payload, 0, 5, Label.EXPOSED);
  const reserved = bad.labels.subarray(RING_DATA + 16, RING_DATA + 20);
  assert.deepEqual([...reserved], [0, 0, 0, 0], "reserved bytes are SECRET");
  assert.equal(countLabel(dataLabels(bad), Label.SECRET), 4 + 3);
});

test("C18: many packets of random sizes with zeroing leave no SECRET byte in the ring, and read back intact", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 40 }), (sizes) => {
      const mem = ring();
      const w = new GuestRingWriter(mem);
      const r = new GuestRingReader(mem);
      const dst = new Uint8Array(4096);
      for (const [i, n] of sizes.entries()) {
        const p = Uint8Array.from({ length: n }, (_, k) => (i + k) & 0xff);
        const out = w.sendInband(6, 0, i + 1, p, 0, n, Label.EXPOSED);
        if (out === "full") {
          while (r.next() !== 0);
          r.commit();
          continue;
        }
        assert.equal(r.next(), (16 + n + 7) & ~7);
        r.readPayload(dst);
        assert.deepEqual(dst.subarray(0, n), p);
      }
      assert.equal(countLabel(dataLabels(mem), Label.SECRET), 0);
    }),
    { numRuns: 200 },
  );
});

test("payload labels given per byte are carried into the ring", () => {
  const mem = ring();
  const labels = new Uint8Array([Label.EXPOSED, Label.PUBLIC, Label.SECRET, Label.PUBLIC, Label.EXPOSED]);
  new GuestRingWriter(mem).sendInband(6, 0, 1, payload, 0, 5, labels);
  assert.deepEqual([...mem.labels.subarray(RING_DATA + 16, RING_DATA + 21)], [...labels]);
  assert.equal(
    countLabel(dataLabels(mem), Label.SECRET),
    1,
    "a secret the caller chose to send is the caller's leak",
  );
});
