import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RequestorTable } from "../../../src/guest/vmbus/requestor.ts";
import { isFault } from "../../../src/vmbus/errors.ts";

test("ids are slot+1; id 0 is never handed out; a full table returns 0", () => {
  const t = new RequestorTable<string>(3);
  assert.deepEqual([t.next("a"), t.next("b"), t.next("c")], [1, 2, 3]);
  assert.equal(t.next("d"), 0, "full");
  assert.equal(t.take(2), "b");
  assert.equal(t.next("e"), 2, "the freed slot is reused first");
  assert.equal(t.outstanding, 3);
});

test("a host-supplied id is validated before use as an index", () => {
  const t = new RequestorTable<string>(4);
  const id = t.next("req");
  const bad = [t.take(0), t.take(5), t.take(0xffffffff), t.take(1, 1), t.takeId(0xfffffffffffffffen)];
  for (const f of bad) assert.ok(isFault(f) && f.code === "HVCOCO_ERR_RQST_ID_RANGE");
  const stale = t.take(id + 1);
  assert.ok(isFault(stale) && stale.code === "HVCOCO_ERR_RQST_NOT_OUTSTANDING");
  assert.equal(t.peek(id), "req");
  assert.equal(t.take(id), "req");
  const twice = t.take(id);
  assert.ok(
    isFault(twice) && twice.code === "HVCOCO_ERR_RQST_NOT_OUTSTANDING",
    "a completion cannot be replayed",
  );
});

test("model: the table behaves as a map of outstanding ids, whatever ids the host sends", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 10 })), { maxLength: 200 }),
      (ops) => {
        const t = new RequestorTable<number>(8);
        const model = new Map<number, number>();
        let n = 0;
        for (const op of ops) {
          if (op < 0) {
            const id = t.next(++n);
            if (model.size === 8) assert.equal(id, 0);
            else {
              assert.ok(id >= 1 && id <= 8 && !model.has(id));
              model.set(id, n);
            }
          } else {
            const got = t.take(op);
            if (model.has(op)) {
              assert.equal(got, model.get(op));
              model.delete(op);
            } else assert.ok(isFault(got));
          }
          assert.equal(t.outstanding, model.size);
        }
      },
    ),
  );
});
