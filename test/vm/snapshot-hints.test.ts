// What a snapshot may skip, declared where the state lives (src/util/snapshot-hints.ts):
// each hint changes what a restore puts back, and only that.
import assert from "node:assert/strict";
import { test } from "node:test";
import { appendOnly, readonlyBytes, scratch, trackWrites } from "../../src/util/snapshot-hints.ts";
import { restoreSnapshot, takeSnapshot } from "../../src/vm/snapshot.ts";

test("an append-only log goes back to its length; its records are not copied", () => {
  const rec = { n: 1 };
  const root = { log: appendOnly([rec]), plain: [rec] };
  const s = takeSnapshot(root);
  assert.equal(s.logs.length, 1);
  root.log.push({ n: 2 });
  rec.n = 5; // a record changed after it was logged breaks the contract: not put back
  restoreSnapshot(s);
  assert.equal(root.log.length, 1);
  assert.equal(rec.n, 1, "the same record reached through a plain array is restored");
});

test("scratch and read-only bytes are not copied; ordinary bytes are", () => {
  const root = { s: scratch(new Uint8Array(4)), r: readonlyBytes(new Uint8Array(4)), b: new Uint8Array(4) };
  const snap = takeSnapshot(root);
  assert.equal(snap.buffers.length, 1, "only the ordinary buffer is kept");
  root.s[0] = 1;
  root.b[0] = 1;
  restoreSnapshot(snap);
  assert.deepEqual([root.s[0], root.b[0]], [1, 0]);
});

test("a buffer whose writers report their writes is restored over the range written, and whole after another snapshot", () => {
  const bytes = new Uint8Array(64);
  const range = trackWrites(bytes);
  const root = { bytes };
  const a = takeSnapshot(root);
  range.wrote(8, 16);
  bytes.fill(1, 8, 16);
  bytes[40] = 9; // not reported
  restoreSnapshot(a);
  assert.equal(bytes[8], 0, "the reported range went back");
  assert.equal(bytes[40], 9, "an unreported byte did not: the restore was partial");
  const b = takeSnapshot(root); // counts from b now
  bytes[41] = 7;
  range.wrote(41, 42);
  restoreSnapshot(a); // another snapshot's restore: the whole buffer
  assert.deepEqual([bytes[40], bytes[41]], [0, 0]);
  restoreSnapshot(b);
  assert.equal(bytes[40], 9, "b's restore (after a's) is whole too");
  assert.throws(() => trackWrites(bytes.subarray(1)), /whole buffer/);
});

test("a Snapshottable without load() keeps its private fields by identity and gets no call", () => {
  class Holder {
    readonly #buf = new Uint8Array(2);
    save(): unknown[] {
      return [this.#buf];
    }
    get buf(): Uint8Array {
      return this.#buf;
    }
  }
  const h = new Holder();
  const s = takeSnapshot({ h });
  assert.equal(s.loads.length, 0);
  h.buf[0] = 3;
  restoreSnapshot(s);
  assert.equal(h.buf[0], 0, "the bytes behind a private field are restored through save()");
});
