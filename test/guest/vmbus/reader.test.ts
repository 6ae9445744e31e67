// C19: what the guest reads from shared memory is validated before use, knowing the
// host may change it during and after validation: the packet's length is checked,
// then the packet is copied to private memory and validated and used there.
// Negative control: a reader that validates in shared memory and re-reads fields
// when it uses them is fooled by a host that changes them after validation.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { GuestRingReader, type ReadPoint } from "../../../src/guest/vmbus/reader.ts";
import { isFault } from "../../../src/vmbus/errors.ts";
import { HV_RING_BUFFER } from "../../../src/vmbus/layout.ts";
import { ArrayRingMemory, initRing, RING_DATA, RingWriter } from "../../../src/vmbus/ring.ts";

const R = HV_RING_BUFFER.off;
const PAYLOAD = Uint8Array.from({ length: 40 }, (_, i) => 0x40 + i);

/** A ring with one host packet (40-byte payload, trans_id 7), and a host that edits it at `when`. */
function setup(copyBeforeValidate: boolean, when: ReadPoint, edit: (v: DataView) => void) {
  const mem = new ArrayRingMemory(4096 * 3, { u32Label: 3 });
  initRing(mem);
  new RingWriter(mem).writePacket(6, 0, 7, PAYLOAD, 0, PAYLOAD.length, 3);
  const v = new DataView(mem.data.buffer, RING_DATA);
  const reader = new GuestRingReader(mem, {
    copyBeforeValidate,
    maxPacketSize: 4096,
    onPoint: (p) => {
      if (p === when) edit(v);
    },
  });
  return { mem, reader };
}

const growLength = (v: DataView) => v.setUint16(4, 0xffff, true); // len8 -> 512 KiB
const zeroOffset = (v: DataView) => v.setUint16(2, 0, true); // offset8 -> 0: descriptor read as payload

test("C19: hardened reader: a length changed after validation does not reach the guest", () => {
  const { reader } = setup(true, "after-validate", growLength);
  assert.equal(reader.next(), 56);
  assert.equal(reader.packetLength, 56);
  assert.equal(reader.validatedLength, 56);
  assert.equal(reader.view.getUint16(4, true), 7, "len8 rewritten in the private copy");
  assert.equal(reader.payloadLength, 40);
  const dst = new Uint8Array(4096);
  assert.equal(reader.readPayload(dst), 40);
  assert.deepEqual(dst.subarray(0, 40), PAYLOAD);
  assert.equal(reader.next(), 0, "stays in step with the ring: nothing more to read");
});

test("C19 negative control: without copy-before-validate the same host change fools the reader", () => {
  const { reader } = setup(false, "after-validate", growLength);
  const n = reader.next();
  assert.equal(reader.validatedLength, 56);
  assert.equal(n, 0xffff * 8, "the guest acts on a length it never validated");
  assert.notEqual(reader.packetLength, reader.validatedLength);
  assert.ok(reader.payloadLength > reader.buf.length, "a length beyond the guest's own buffer");
  assert.notEqual(reader.next(), 0, "and its read index is now out of step with the ring");
});

test("C19: an offset changed after validation: hardened keeps 16, unhardened hands out the descriptor", () => {
  const hard = setup(true, "after-validate", zeroOffset).reader;
  assert.equal(hard.next(), 56);
  assert.equal(hard.payloadOffset, 16);
  const soft = setup(false, "after-validate", zeroOffset).reader;
  assert.equal(soft.next(), 56);
  assert.equal(soft.payloadOffset, 0, "fooled: payload now starts at the descriptor");
  assert.equal(soft.payloadLength, 56);
});

test("C19: a length changed between the length read and the copy is overwritten in the copy", () => {
  const { reader } = setup(true, "after-length-read", growLength);
  assert.equal(reader.next(), 56);
  assert.equal(reader.view.getUint16(4, true), 7);
  assert.equal(reader.packetLength, 56);
});

test("C19: payload bytes changed after the copy do not change what the guest holds", () => {
  const { reader } = setup(true, "after-copy", (v) => {
    for (let i = 16; i < 56; i++) v.setUint8(i, 0xee);
  });
  assert.equal(reader.next(), 56);
  assert.deepEqual(reader.buf.subarray(16, 56), PAYLOAD);
});

test("commit publishes read_index after the batch", () => {
  const { mem, reader } = setup(true, "after-copy", () => {});
  assert.equal(reader.next(), 56);
  assert.equal(mem.getU32(R.read_index), 0, "not before commit");
  reader.commit();
  assert.equal(mem.getU32(R.read_index), 64);
});

test("fuzz: whatever the host puts in the ring, and whenever, the hardened reader never throws or overruns", () => {
  const points = [
    "after-index-read",
    "after-length-read",
    "after-validate",
    "after-copy",
    "before-commit",
  ] as const;
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 64, maxLength: 600 }),
      fc.nat(8191),
      fc.nat(8191),
      fc.constantFrom(...points),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.nat(8191),
      (junk, w, r, when, edit, editAt) => {
        const mem = new ArrayRingMemory(4096 * 3);
        mem.data.set(junk, RING_DATA + (r % 4096));
        mem.setU32(R.write_index, w);
        mem.setU32(R.read_index, r);
        const reader = new GuestRingReader(mem, {
          maxPacketSize: 512,
          onPoint: (p) => {
            if (p === when) mem.data.set(edit, RING_DATA + (editAt & ~7));
          },
        });
        for (let i = 0; i < 4; i++) {
          const n = reader.next();
          if (isFault(n) || n === 0) break;
          assert.ok(n >= 16 && n <= reader.buf.length);
          assert.equal(reader.packetLength, reader.validatedLength);
          assert.ok(reader.payloadOffset >= 16 && reader.payloadOffset <= n);
          assert.equal(reader.view.getUint16(4, true) * 8, n);
          reader.commit();
        }
      },
    ),
    { numRuns: 2000 },
  );
});
