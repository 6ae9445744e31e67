// The auditor's weighing of what a host read: a short read counted in place gives
// the same totals as the general path over a view of the same bytes.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Auditor } from "../../src/audit/auditor.ts";

const totals = (a: Auditor) => [a.secretBytesLeaked, a.exposedBytesRead, a.publicBytesRead];

test("plaintextReadAt counts labels[off, off + len) as plaintextRead does a view of them", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 96 }).map((b) => b.map((x) => x & 3)),
      fc.nat(),
      fc.nat(),
      (labels, a, b) => {
        const off = a % labels.length;
        const len = b % (labels.length - off + 1);
        const x = new Auditor();
        const y = new Auditor();
        x.plaintextReadAt(labels, off, len);
        y.plaintextRead(labels.subarray(off, off + len));
        assert.deepEqual(totals(x), totals(y));
      },
    ),
  );
});
