// Decoders take hostile bytes: whatever arrives, they return a value or a fault and
// never throw.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isFault } from "../../src/vmbus/errors.ts";
import { decodeChannelMessage, encodeChannelMessage } from "../../src/vmbus/messages.ts";
import {
  decodeDescriptor,
  decodeGpaDirect,
  decodePageBuffer,
  decodeXferPageHeader,
} from "../../src/vmbus/packet.ts";

const bytes = fc.uint8Array({ minLength: 0, maxLength: 300 });

test("decodeChannelMessage never throws, and what it accepts re-encodes to a decodable message", () => {
  const typed = fc
    .tuple(fc.integer({ min: 0, max: 30 }), fc.uint8Array({ minLength: 0, maxLength: 240 }))
    .map(([t, rest]) => {
      const b = new Uint8Array(Math.max(8, rest.length));
      b.set(rest.subarray(0, b.length));
      new DataView(b.buffer).setUint32(0, t, true);
      return b;
    });
  fc.assert(
    fc.property(fc.oneof(bytes, typed), (b) => {
      const m = decodeChannelMessage(b);
      if (isFault(m)) return;
      const again = decodeChannelMessage(encodeChannelMessage(m));
      assert.ok(!isFault(again));
      assert.equal(again.kind, m.kind);
    }),
    { numRuns: 3000 },
  );
});

test("packet decoders never throw on any bytes", () => {
  fc.assert(
    fc.property(bytes, (b) => {
      for (const f of [decodeDescriptor, decodeGpaDirect, decodePageBuffer, decodeXferPageHeader]) {
        const out = f(b);
        assert.ok(out !== undefined);
      }
    }),
    { numRuns: 3000 },
  );
});
