// Mutations over host actions: byte-level (flips, interesting values, lengths) and
// structure-aware (channel message types and relids, CPUID bits, hypercall
// statuses), plus insertion, deletion and splicing of actions. Every choice comes
// from the PRNG, so a campaign replays from its seed.

import type { Prng } from "../../util/prng.ts";
import { ChannelMessageType as T } from "../../vmbus/constants.ts";
import { type Action, BOOT_ACTIONS, CPUID_TARGETS, type FuzzCase, INTERESTING_XOR } from "./case.ts";

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING_32 = [0, 1, 2, 0xff, 0x100, 0x7fffffff, 0x80000000, 0xffffffff, 240, 241, 2047, 2048];
const STATUSES = [0x2, 0x3, 0x5, 0x6, 0xb, 0x12, 0x13, 0x78, 0xffff];

/** A channel message of `msgtype` with the minimum length Linux's table wants, fields plausible. */
export function channelMessage(rng: Prng, msgtype: number): Uint8Array {
  const size: Record<number, number> = {
    [T.CHANNELMSG_OFFERCHANNEL]: 196,
    [T.CHANNELMSG_RESCIND_CHANNELOFFER]: 12,
    [T.CHANNELMSG_ALLOFFERS_DELIVERED]: 8,
    [T.CHANNELMSG_OPENCHANNEL_RESULT]: 20,
    [T.CHANNELMSG_GPADL_CREATED]: 20,
    [T.CHANNELMSG_GPADL_TORNDOWN]: 12,
    [T.CHANNELMSG_VERSION_RESPONSE]: 16,
    [T.CHANNELMSG_UNLOAD_RESPONSE]: 8,
    [T.CHANNELMSG_MODIFYCHANNEL_RESPONSE]: 16,
  };
  const b = new Uint8Array(size[msgtype] ?? 8 + 4 * rng.int(0, 8));
  const dv = new DataView(b.buffer);
  dv.setUint32(0, msgtype, true);
  if (b.length >= 12) dv.setUint32(8, rng.int(0, 24), true); // a relid (or version) near the real ones
  if (b.length >= 16) dv.setUint32(12, rng.int(0, 3) === 0 ? 0xe1e10 + rng.int(0, 20) : rng.int(0, 4), true);
  if (msgtype === T.CHANNELMSG_OFFERCHANNEL) {
    rng.fill(b.subarray(8, 40)); // if_type, if_instance
    dv.setUint32(184, rng.int(1, 40), true); // child_relid
    dv.setUint32(192, rng.int(0, 64), true); // connection_id
  }
  return b;
}

function randomAction(rng: Prng, c: FuzzCase): Action {
  switch (rng.int(0, 9)) {
    case 0:
      return { kind: "interrupt", vp: 0, vector: rng.int(0, 3) === 0 ? rng.int(0, 31) : rng.int(0, 255) };
    case 1:
      return { kind: "event", vp: 0, flag: rng.int(0, 3) === 0 ? rng.int(0, 2047) : rng.int(0, 24) };
    case 2:
      return {
        kind: "cpuid",
        leaf: CPUID_TARGETS[rng.int(0, CPUID_TARGETS.length - 1)]!,
        reg: (["eax", "ebx", "ecx", "edx"] as const)[rng.int(0, 3)]!,
        xor: INTERESTING_XOR[rng.int(0, INTERESTING_XOR.length - 1)]!,
      };
    case 3:
      return {
        kind: "hypercall",
        code: [0x5c, 0x5d, 0xdb][rng.int(0, 2)]!,
        status: STATUSES[rng.int(0, STATUSES.length - 1)]!,
        nth: rng.int(0, 40),
      };
    case 4:
      return {
        kind: "poke",
        page: rng.int(0, 1 << 16),
        offset: rng.int(0, 4095) & ~3,
        bytes: rng.fill(new Uint8Array(rng.int(1, 16))),
      };
    default: {
      void c;
      const type = rng.int(0, 4) === 0 ? rng.int(0, 30) : [1, 2, 4, 6, 10, 12, 15, 17, 24][rng.int(0, 8)]!;
      return { kind: "message", vp: 0, payload: channelMessage(rng, type) };
    }
  }
}

function mutateBytes(rng: Prng, b: Uint8Array): Uint8Array {
  let out = b.slice();
  switch (rng.int(0, 5)) {
    case 0:
      if (out.length) out[rng.int(0, out.length - 1)]! ^= 1 << rng.int(0, 7);
      break;
    case 1:
      if (out.length) out[rng.int(0, out.length - 1)] = INTERESTING_8[rng.int(0, INTERESTING_8.length - 1)]!;
      break;
    case 2:
      if (out.length >= 4) {
        const at = rng.int(0, (out.length >> 2) - 1) * 4;
        new DataView(out.buffer).setUint32(
          at,
          INTERESTING_32[rng.int(0, INTERESTING_32.length - 1)]! >>> 0,
          true,
        );
      }
      break;
    case 3: {
      const n = rng.int(0, 3) === 0 ? rng.int(0, 240) : Math.max(0, out.length + rng.int(-8, 8));
      const r = new Uint8Array(Math.min(n, 240));
      r.set(out.subarray(0, r.length));
      out = r;
      break;
    }
    case 4:
      if (out.length >= 4) new DataView(out.buffer).setUint32(0, rng.int(0, 30), true); // msgtype
      break;
    default:
      if (out.length >= 12)
        new DataView(out.buffer).setUint32(8, rng.int(0, 4) === 0 ? rng.u32() : rng.int(0, 2100), true);
  }
  return out;
}

function mutateAction(rng: Prng, a: Action): Action {
  switch (a.kind) {
    case "message":
      return { ...a, payload: mutateBytes(rng, a.payload) };
    case "poke":
      return {
        ...a,
        bytes: mutateBytes(rng, a.bytes).subarray(0, 64),
        offset: rng.int(0, 3) === 0 ? rng.int(0, 4095) : a.offset,
      };
    case "interrupt":
      return { ...a, vector: (a.vector + rng.int(-3, 3)) & 0xff };
    case "event":
      return { ...a, flag: Math.max(0, Math.min(2047, a.flag + rng.int(-4, 4))) };
    case "cpuid":
      return { ...a, xor: (a.xor ^ (1 << rng.int(0, 31))) >>> 0 };
    case "hypercall":
      return { ...a, status: STATUSES[rng.int(0, STATUSES.length - 1)]!, nth: rng.int(0, 60) };
  }
}

/**
 * A child of `parent` (and maybe `other`, for splicing): 1 to 4 mutations. With
 * `bootLies` false the child keeps exactly its parent's boot-time lies (CPUID and
 * hypercall): it then runs on a VM already booted under them (the campaign budgets
 * new lies, each of which costs a boot).
 */
export function mutate(rng: Prng, parent: FuzzCase, other?: FuzzCase, bootLies = true): FuzzCase {
  let actions = parent.actions.slice();
  const fixed = (a: Action) => !bootLies && BOOT_ACTIONS.has(a.kind);
  const rounds = rng.int(1, 4);
  for (let i = 0; i < rounds; i++) {
    const op = rng.int(0, 9);
    if ((op <= 2 || actions.length === 0) && actions.length < 24) {
      let a = randomAction(rng, parent);
      while (fixed(a)) a = randomAction(rng, parent);
      actions.splice(rng.int(0, actions.length), 0, a);
    } else if (op === 3 && actions.length > 1) {
      const at = rng.int(0, actions.length - 1);
      if (!fixed(actions[at]!)) actions.splice(at, 1);
    } else if (op === 4 && other && other.actions.length > 0) {
      const from = rng.int(0, other.actions.length - 1);
      const cut = rng.int(0, actions.length);
      const spliced = [
        ...actions.slice(0, cut),
        ...other.actions.slice(from, from + rng.int(1, 4)).filter((a) => !fixed(a)),
      ];
      // Without new lies, the parent's lies past the cut stay.
      if (!bootLies) spliced.push(...actions.slice(cut).filter(fixed));
      actions = spliced.slice(0, 24);
      if (!bootLies && actions.filter(fixed).length !== parent.actions.filter(fixed).length)
        actions = parent.actions.slice();
    } else {
      const at = rng.int(0, actions.length - 1);
      if (!fixed(actions[at]!)) actions[at] = mutateAction(rng, actions[at]!);
    }
  }
  return { config: parent.config, actions };
}

/** The starting corpus for a configuration: one plausible case per channel message type, and a few others. */
export function seedCorpus(rng: Prng, config: Record<string, unknown>): FuzzCase[] {
  const out: FuzzCase[] = [];
  for (const t of [1, 2, 4, 6, 10, 12, 15, 17, 24])
    out.push({ config, actions: [{ kind: "message", vp: 0, payload: channelMessage(rng, t) }] });
  out.push({ config, actions: [{ kind: "interrupt", vp: 0, vector: 0x80 }] });
  out.push({ config, actions: [{ kind: "event", vp: 0, flag: 5 }] });
  out.push({ config, actions: [] });
  return out;
}
