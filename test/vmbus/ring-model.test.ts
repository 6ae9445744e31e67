// Model-based test of the ring: random writes, reads, commits and interrupt masking
// against a queue. The model knows only sizes: a packet of payload n takes
// ALIGN(16 + n, 8) + 8 bytes; the writer sees room freed only at commit; a write
// succeeds iff room is strictly greater than what it needs; it signals iff the ring
// was empty (everything written had been committed) and interrupts were unmasked.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { GuestRingReader } from "../../src/guest/vmbus/reader.ts";
import { GuestRingWriter } from "../../src/guest/vmbus/writer.ts";
import { isFault } from "../../src/vmbus/errors.ts";
import {
  ArrayRingMemory,
  beginRead,
  endRead,
  initRing,
  RingReader,
  RingWriter,
} from "../../src/vmbus/ring.ts";

interface Model {
  dataSize: number;
  /** Unread packets: payload bytes and transaction id. */
  queue: { p: Uint8Array; id: number }[];
  unreadBytes: number;
  readUncommitted: number;
  masked: boolean;
}

interface Ends {
  write(payload: Uint8Array, transId: number): string;
  read(): { len: number; payload: Uint8Array; transId: number } | 0;
  commit(): void;
  mem: ArrayRingMemory;
}

function hostEnds(mem: ArrayRingMemory): Ends {
  const w = new RingWriter(mem);
  const r = new RingReader(mem, 4096);
  return {
    mem,
    write: (p, id) => {
      const o = w.writePacket(6, 0, id, p, 0, p.length, 2);
      return isFault(o) ? o.code : o;
    },
    read: () => {
      const n = r.next();
      if (isFault(n)) throw new Error(n.code);
      if (n === 0) return 0;
      return {
        len: n,
        payload: r.buf.slice(r.payloadOffset, r.payloadOffset + r.payloadLength),
        transId: Number(r.transId),
      };
    },
    commit: () => void r.commit(),
  };
}

function guestEnds(mem: ArrayRingMemory): Ends {
  const w = new GuestRingWriter(mem);
  const r = new GuestRingReader(mem, { maxPacketSize: 4096 });
  const dst = new Uint8Array(4096);
  return {
    mem,
    write: (p, id) => {
      const o = w.sendInband(6, 0, id, p, 0, p.length, 2);
      return isFault(o) ? o.code : o;
    },
    read: () => {
      const n = r.next();
      if (isFault(n)) throw new Error(n.code);
      if (n === 0) return 0;
      const len = r.readPayload(dst);
      return { len: n, payload: dst.slice(0, len), transId: r.transIdLo };
    },
    commit: () => void r.commit(),
  };
}

const packetBytes = (n: number) => ((16 + n + 7) & ~7) + 8;

/** What the runs covered: writes refused as full, and writes that wrapped past the end. */
const seen = { full: 0, wrapped: 0, signal: 0 };

class WriteCmd implements fc.Command<Model, Ends> {
  readonly size: number;
  readonly seed: number;
  constructor(size: number, seed: number) {
    this.size = size;
    this.seed = seed;
  }
  check = () => true;
  run(m: Model, e: Ends): void {
    const p = Uint8Array.from({ length: this.size }, (_, i) => (this.seed + i) & 0xff);
    const need = packetBytes(this.size);
    const used = m.unreadBytes + m.readUncommitted;
    const room = m.dataSize - used;
    const before = e.mem.getU32(0);
    const out = e.write(p, this.seed + 1);
    if (out === "full") seen.full++;
    if (out === "signal") seen.signal++;
    if (out !== "full" && e.mem.getU32(0) <= before) seen.wrapped++;
    if (room > need) {
      assert.equal(out, used === 0 && !m.masked ? "signal" : "quiet", `room ${room}, need ${need}`);
      m.queue.push({ p, id: this.seed + 1 });
      m.unreadBytes += need;
    } else assert.equal(out, "full", `room ${room} is not > ${need}`);
  }
  toString = () => `write(${this.size})`;
}

class ReadCmd implements fc.Command<Model, Ends> {
  check = () => true;
  run(m: Model, e: Ends): void {
    const got = e.read();
    const want = m.queue.shift();
    if (want === undefined) {
      assert.equal(got, 0);
      return;
    }
    assert.notEqual(got, 0);
    if (got === 0) return;
    assert.equal(got.len, (16 + want.p.length + 7) & ~7);
    // The descriptor's payload runs to len8 * 8: the payload, then zero padding.
    assert.deepEqual(got.payload.subarray(0, want.p.length), want.p);
    assert.ok(got.payload.subarray(want.p.length).every((b) => b === 0));
    assert.equal(got.payload.length, ((16 + want.p.length + 7) & ~7) - 16);
    assert.equal(got.transId, want.id);
    const need = packetBytes(want.p.length);
    m.unreadBytes -= need;
    m.readUncommitted += need;
  }
  toString = () => "read";
}

class CommitCmd implements fc.Command<Model, Ends> {
  check = () => true;
  run(m: Model, e: Ends): void {
    e.commit();
    m.readUncommitted = 0;
  }
  toString = () => "commit";
}

class MaskCmd implements fc.Command<Model, Ends> {
  readonly on: boolean;
  constructor(on: boolean) {
    this.on = on;
  }
  check = () => true;
  run(m: Model, e: Ends): void {
    if (this.on) beginRead(e.mem);
    else endRead(e.mem);
    m.masked = this.on;
  }
  toString = () => `mask(${this.on})`;
}

const commands = [
  fc
    .tuple(fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 1500 })), fc.nat(255))
    .map(([n, s]) => new WriteCmd(n, s)),
  fc.constant(new ReadCmd()),
  fc.constant(new ReadCmd()),
  fc.constant(new CommitCmd()),
  fc.boolean().map((b) => new MaskCmd(b)),
];

for (const [name, make] of [
  ["host RingWriter + RingReader", hostEnds],
  ["guest writer + hardened reader", guestEnds],
] as const) {
  test(`ring model: ${name} behave as a queue (wraparound, full, empty, strictly-greater, signals)`, () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 300, size: "max" }), (cmds) => {
        const mem = new ArrayRingMemory(4096 * 2);
        initRing(mem);
        fc.modelRun(
          () => ({
            model: { dataSize: 4096, queue: [], unreadBytes: 0, readUncommitted: 0, masked: false },
            real: make(mem),
          }),
          cmds,
        );
      }),
      { numRuns: 300 },
    );
    assert.ok(seen.full > 0 && seen.wrapped > 0 && seen.signal > 0, JSON.stringify(seen));
  });
}
