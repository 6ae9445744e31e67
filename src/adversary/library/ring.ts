// The host end of a channel's rings: indices out of range, unaligned or rewound, and
// packet descriptors whose len8/offset8 lie. The guest's reader validates each index
// and length it reads once (C19) and rejects with a reason; the channel under attack
// may stop, the others must go on.
import { DESC_SIZE } from "../../vmbus/ring.ts";
import { type AttackContext, defineAttack } from "../api.ts";
import { coco, HB_LEN8, heartbeat, heartbeatRequest, rawPacket } from "./util.ts";

const klassIndex = "ring indices out of range, unaligned or rewound";
const klassLen = "len8/offset8 lies";

export const ringWriteIndexRange = defineAttack({
  name: "ring-write-index-out-of-range",
  description: "the host sets the heartbeat ring's write_index past the end of its data area and signals",
  klass: klassIndex,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const ch = heartbeat(ctx);
    if (!ch) return;
    ch.toGuest.writeIndex = ch.toGuest.dataSize + 8;
    ch.signal();
    ctx.letGuestRun();
    ch.toGuest.writeIndex = 0xfffffff8;
    ch.signal();
  },
});

export const ringWriteIndexUnaligned = defineAttack({
  name: "ring-write-index-unaligned",
  description: "the host moves the heartbeat ring's write_index to an offset that is not a multiple of 8",
  klass: klassIndex,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const ch = heartbeat(ctx);
    if (!ch) return;
    ch.send(heartbeatRequest(5n));
    ch.toGuest.writeIndex += 4;
    ch.signal();
  },
});

export const ringReadIndexLie = defineAttack({
  name: "ring-read-index-lie",
  description: "the host corrupts read_index of the guest's outbound ring, then asks for an answer",
  klass: klassIndex,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const ch = heartbeat(ctx);
    if (!ch) return;
    for (const bad of [ch.fromGuest.dataSize + 16, 3, 0xffffffff]) {
      ch.fromGuest.readIndex = bad;
      ch.send(heartbeatRequest(9n));
      ctx.letGuestRun();
    }
  },
});

export const ringWriteIndexRewound = defineAttack({
  name: "ring-write-index-rewound",
  description: "the host moves write_index backwards, behind where the guest has read, so old bytes look new",
  klass: klassIndex,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const ch = heartbeat(ctx);
    if (!ch) return;
    for (let i = 0; i < 3; i++) {
      ch.send(heartbeatRequest(BigInt(100 + i)));
      ctx.letGuestRun();
    }
    const w = ch.toGuest.writeIndex;
    ch.toGuest.writeIndex = w >= 8 * HB_LEN8 + 8 ? w - (8 * HB_LEN8 + 8) : 0;
    ch.signal();
    ctx.note(`rewound write_index from ${w} to ${ch.toGuest.writeIndex}`);
  },
});

export const ringControlJunk = defineAttack({
  name: "ring-control-page-junk",
  description:
    "the host fills both control pages of the heartbeat rings with random bytes, then sends a request",
  klass: klassIndex,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const ch = heartbeat(ctx);
    if (!ch) return;
    ch.toGuest.write(0, ctx.rng.fill(new Uint8Array(4096)));
    ch.fromGuest.write(0, ctx.rng.fill(new Uint8Array(4096)));
    ch.send(heartbeatRequest(1n));
    ch.signal();
  },
});

/** Inject one raw packet at the write index of the heartbeat's host→guest ring and signal. */
function injectOne(ctx: AttackContext, bytes: Uint8Array, advance?: number): void {
  const ch = heartbeat(ctx);
  if (!ch) return;
  ch.inject(bytes, advance);
  ch.signal();
}

export const ringLen8Short = defineAttack({
  name: "ring-len8-short",
  description: "a packet whose len8 is 1: shorter than its own 16-byte descriptor",
  klass: klassLen,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    injectOne(ctx, rawPacket(2, 1, heartbeatRequest(1n)), 8 * HB_LEN8 + 8);
  },
});

export const ringLen8Beyond = defineAttack({
  name: "ring-len8-beyond-written",
  description: "a packet whose len8 claims 2 KiB while the host published only 32 bytes",
  klass: klassLen,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    injectOne(ctx, rawPacket(2, 256, new Uint8Array(8)), 32);
  },
});

export const ringLen8TooBig = defineAttack({
  name: "ring-len8-too-big",
  description: "a fully written 8 KiB packet, twice the guest's private packet buffer",
  klass: klassLen,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const payload = new Uint8Array(8192 - DESC_SIZE);
    payload.set(heartbeatRequest(3n));
    injectOne(ctx, rawPacket(2, 1024, payload));
  },
});

export const ringOffset8Lie = defineAttack({
  name: "ring-offset8-lie",
  description: "packets whose offset8 points inside the descriptor (0, 1) or past the packet's end",
  klass: klassLen,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const ch = heartbeat(ctx);
    if (!ch) return;
    // The guest stays on a packet it rejected: each variant replaces the last in place.
    const w = ch.toGuest.writeIndex;
    for (const off8 of [0, 1, HB_LEN8 + 1, 0xffff]) {
      ch.toGuest.writeIndex = w;
      ch.inject(rawPacket(off8, HB_LEN8, heartbeatRequest(7n)));
      ch.signal();
      ctx.letGuestRun();
    }
  },
});
