import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MemoryDisk } from "../../../src/host/backends/memory-disk.ts";

test("a memory disk is sparse: nothing is allocated until written, unwritten blocks read as zeros", () => {
  const d = new MemoryDisk({ bytes: 1024 * 1024 * 1024 * 1024 });
  assert.equal(d.blocks, 2 ** 31);
  assert.equal(d.allocatedChunks, 0);
  const b = new Uint8Array(1024).fill(1);
  assert.equal(d.read(2 ** 31 - 2, 2, b, 0), undefined);
  assert.ok(b.every((x) => x === 0));
  d.write(12345, 1, new Uint8Array(512).fill(9), 0);
  assert.equal(d.allocatedChunks, 1);
});

test("a memory disk behaves as a flat array of blocks (model check)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          write: fc.boolean(),
          lba: fc.nat(255),
          count: fc.integer({ min: 1, max: 16 }),
          seed: fc.nat(255),
        }),
        { maxLength: 40 },
      ),
      fc.constantFrom(1, 3, 8),
      (ops, chunkBlocks) => {
        const d = new MemoryDisk({ bytes: 272 * 512, chunkBlocks });
        const model = new Uint8Array(272 * 512);
        for (const o of ops) {
          const len = o.count * 512;
          if (o.write) {
            const src = new Uint8Array(len + 3).map((_, i) => (i + o.seed) & 0xff);
            d.write(o.lba, o.count, src, 3);
            model.set(src.subarray(3), o.lba * 512);
          } else {
            const dst = new Uint8Array(len + 5);
            d.read(o.lba, o.count, dst, 5);
            assert.deepEqual(dst.subarray(5), model.subarray(o.lba * 512, o.lba * 512 + len));
          }
        }
      },
    ),
  );
});

test("geometry and range errors are the caller's bugs: they throw", () => {
  assert.throws(() => new MemoryDisk({ bytes: 1000 }), /not a multiple/);
  assert.throws(() => new MemoryDisk({ bytes: 4096, blockSize: 1024 }), /not 512 or 4096/);
  const d = new MemoryDisk({ bytes: 8192, blockSize: 4096, readOnly: true });
  assert.throws(() => d.read(1, 2, new Uint8Array(8192), 0), /outside/);
  assert.throws(() => d.read(0, 1, new Uint8Array(100), 0), /outside/);
  assert.throws(() => d.write(0, 1, new Uint8Array(4096), 0), /read-only/);
});
