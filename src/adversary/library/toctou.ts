// Changes after validation (TOCTOU): the host owns the ring's bytes and rewrites a
// packet's descriptor between the guest's read of it and its use, at the hardened
// reader's named points (`vmbus:read:<point>`, detail { relid }). The guest must act
// only on what it validated: it copies the packet to private memory first and hands
// out only the copy (C19). Without that copy it reads the descriptor again from the
// shared ring, and the auditor sees it use a length or offset it never validated.
import { type AttackContext, defineAttack } from "../api.ts";
import { coco, HB_LEN8, heartbeat, heartbeatRequest } from "./util.ts";

const klass = "changes after validation (TOCTOU)";

/**
 * Queue two heartbeat requests and, once at `point` of the guest's read of the
 * first, rewrite one 16-bit field of its descriptor in the shared ring.
 */
function rewriteAt(ctx: AttackContext, point: string, field: "len8" | "offset8", value: number): void {
  const ch = heartbeat(ctx);
  if (!ch) return;
  const start = ch.toGuest.writeIndex;
  ch.send(heartbeatRequest(100n), { transId: 1 });
  ch.send(heartbeatRequest(200n), { transId: 2 });
  let fired = false;
  ctx.at(`vmbus:read:${point}`, (d) => {
    if (fired || d["relid"] !== ch.relid) return;
    fired = true;
    const v = new Uint8Array(2);
    new DataView(v.buffer).setUint16(0, value, true);
    ch.toGuest.writeData(start + (field === "len8" ? 4 : 2), v);
  });
  ctx.letGuestRun();
  ctx.note(fired ? `rewrote ${field} to ${value} at ${point}` : `the guest never reached ${point}`);
}

export const toctouLengthAfterValidate = defineAttack({
  name: "toctou-len8-after-validate",
  description: "after the guest validated a packet's length, the host grows len8 to swallow the next packet",
  klass,
  defeatedBy: ["copy-before-validate"],
  appliesTo: coco,
  after(ctx) {
    rewriteAt(ctx, "after-validate", "len8", 2 * HB_LEN8 + 1);
  },
});

export const toctouLengthAfterRead = defineAttack({
  name: "toctou-len8-after-read",
  description: "between the guest's read of len8 and its checks, the host changes len8 in the ring",
  klass,
  defeatedBy: ["copy-before-validate"],
  appliesTo: coco,
  after(ctx) {
    rewriteAt(ctx, "after-length-read", "len8", 2 * HB_LEN8 + 1);
  },
});

export const toctouOffsetAfterValidate = defineAttack({
  name: "toctou-offset8-after-validate",
  description: "after the guest validated offset8, the host sets it to 0 so the descriptor reads as payload",
  klass,
  defeatedBy: ["copy-before-validate"],
  appliesTo: coco,
  after(ctx) {
    rewriteAt(ctx, "after-validate", "offset8", 0);
  },
});

export const toctouAfterCopy = defineAttack({
  name: "toctou-packet-after-copy",
  description:
    "after the guest copied a packet, the host rewrites its whole descriptor and payload with junk",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const ch = heartbeat(ctx);
    if (!ch) return;
    const start = ch.toGuest.writeIndex;
    ch.send(heartbeatRequest(300n), { transId: 3 });
    let fired = 0;
    ctx.at("vmbus:read:after-copy", (d) => {
      if (d["relid"] !== ch.relid || fired++ > 0) return;
      ch.toGuest.writeData(start, ctx.rng.fill(new Uint8Array(8 * HB_LEN8)));
    });
    ctx.at("vmbus:read:before-commit", (d) => {
      if (d["relid"] === ch.relid && fired === 0) ctx.note("no after-copy point: the reader did not copy");
    });
    ctx.letGuestRun();
  },
});
