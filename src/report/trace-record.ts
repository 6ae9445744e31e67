// The boundary-crossing trace: one record per crossing, as JSON lines or as
// pcapng packets on LINKTYPE_USER0 (147). An observer: the core never imports it.
//
// A pcapng record (all integers little-endian), documented in docs/trace.md:
//
//   offset size  field
//        0    1  version (1)
//        1    1  kind code (KIND_CODES; 0 = a kind this table does not know: read the name)
//        2    1  from actor (ACTOR_CODES)
//        3    1  to actor
//        4    8  seq: the crossing's place in the run (from 1)
//       12    2  kind name length (bytes)
//       14    2  what length
//       16    4  detail length (JSON, UTF-8; 0 when the crossing has none)
//       20    4  payload length
//       24       kind name | what | detail | payload
//
// The payload is the raw bytes that crossed, when the crossing carries them: a
// crossing whose detail has a "bytes" entry holding lowercase hex (a SynIC
// message, an HvPostMessage input block, a VMBus packet) has those bytes moved
// here, so Wireshark's byte view shows them; the other detail entries stay JSON.
// New kinds need no change: their name travels with each record.
import type { Crossing } from "../audit/crossings.ts";
import { LINKTYPE_USER0, type PcapngWriter } from "./pcapng.ts";

export const TRACE_RECORD_VERSION = 1;
export const TRACE_RECORD_HEADER = 24;
/** The detail key whose hex string value is carried as the record's payload. */
export const CROSSING_BYTES_KEY = "bytes";

/** Kind codes (stable: new kinds get new numbers, none is ever reused). */
export const KIND_CODES: Readonly<Record<string, number>> = {
  cpuid: 1,
  "msr-read": 2,
  "msr-write": 3,
  hypercall: 4,
  exception: 5,
  interrupt: 6,
  "synic-message": 7,
  "synic-event": 8,
  "host-read": 9,
  "host-write": 10,
  visibility: 11,
  "boot-step": 12,
  mmio: 13,
  "port-io": 14,
  halt: 15,
  "guest-request": 16,
  measurement: 17,
  attestation: 18,
};

export const ACTOR_CODES: Readonly<Record<string, number>> = {
  guest: 1,
  paravisor: 2,
  hypervisor: 3,
  host: 4,
  platform: 5,
};

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

function hexBytes(s: unknown): Uint8Array | undefined {
  if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Encode one crossing as a LINKTYPE_USER0 record. */
export function encodeCrossingRecord(c: Crossing): Uint8Array {
  let payload: Uint8Array = new Uint8Array(0);
  let detail = c.detail;
  const raw = detail ? hexBytes(detail[CROSSING_BYTES_KEY]) : undefined;
  if (detail && raw) {
    payload = raw;
    const { [CROSSING_BYTES_KEY]: _moved, ...rest } = detail;
    detail = rest;
  }
  const kind = utf8.encode(c.kind);
  const what = utf8.encode(c.what);
  const det =
    detail && Object.keys(detail).length > 0 ? utf8.encode(JSON.stringify(detail)) : new Uint8Array(0);
  if (kind.length > 0xffff || what.length > 0xffff)
    throw new RangeError("crossing name too long for a record");
  const out = new Uint8Array(TRACE_RECORD_HEADER + kind.length + what.length + det.length + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, TRACE_RECORD_VERSION);
  dv.setUint8(1, KIND_CODES[c.kind] ?? 0);
  dv.setUint8(2, ACTOR_CODES[c.from] ?? 0);
  dv.setUint8(3, ACTOR_CODES[c.to] ?? 0);
  dv.setBigUint64(4, BigInt(c.seq), true);
  dv.setUint16(12, kind.length, true);
  dv.setUint16(14, what.length, true);
  dv.setUint32(16, det.length, true);
  dv.setUint32(20, payload.length, true);
  let at = TRACE_RECORD_HEADER;
  for (const part of [kind, what, det, payload]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Decode a record written by encodeCrossingRecord (the payload comes back as detail.bytes, hex). */
export function decodeCrossingRecord(b: Uint8Array): Crossing {
  if (b.length < TRACE_RECORD_HEADER) throw new Error("trace record shorter than its header");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint8(0) !== TRACE_RECORD_VERSION) throw new Error(`trace record version ${dv.getUint8(0)}`);
  const actor = (code: number) => Object.keys(ACTOR_CODES).find((k) => ACTOR_CODES[k] === code) ?? "unknown";
  const lens = [
    dv.getUint16(12, true),
    dv.getUint16(14, true),
    dv.getUint32(16, true),
    dv.getUint32(20, true),
  ];
  if (TRACE_RECORD_HEADER + lens.reduce((a, n) => a + n, 0) !== b.length)
    throw new Error("trace record lengths do not add up");
  const parts: Uint8Array[] = [];
  let at = TRACE_RECORD_HEADER;
  for (const n of lens) {
    parts.push(b.subarray(at, at + n));
    at += n;
  }
  const c = {
    seq: Number(dv.getBigUint64(4, true)),
    kind: utf8d.decode(parts[0]),
    from: actor(dv.getUint8(2)),
    to: actor(dv.getUint8(3)),
    what: utf8d.decode(parts[1]),
  } as Crossing;
  const detail: Record<string, number | string | boolean> =
    parts[2]!.length > 0
      ? (JSON.parse(utf8d.decode(parts[2])) as Record<string, number | string | boolean>)
      : {};
  if (parts[3]!.length > 0)
    detail[CROSSING_BYTES_KEY] = [...parts[3]!].map((x) => x.toString(16).padStart(2, "0")).join("");
  if (Object.keys(detail).length > 0) c.detail = detail;
  return c;
}

/** A trace of one or more runs: begin() before each run's crossings. */
export interface TraceWriter {
  begin(run: { name: string; seed: number; description?: string }): void;
  crossing(c: Crossing): void;
  readonly records: number;
}

/** JSON lines: one object per crossing, `config` naming the run it belongs to. */
export class JsonlTraceWriter implements TraceWriter {
  readonly #line: (s: string) => void;
  #config = "";
  records = 0;

  constructor(line: (s: string) => void) {
    this.#line = line;
  }

  begin(run: { name: string }): void {
    this.#config = run.name;
  }

  crossing(c: Crossing): void {
    this.#line(`${JSON.stringify({ config: this.#config, ...c })}\n`);
    this.records++;
  }
}

/**
 * pcapng: one interface (LINKTYPE_USER0) per run, named after its configuration;
 * one Enhanced Packet Block per crossing. The timestamp is not a time: it is the
 * crossing's sequence number in microseconds (deterministic, and in order).
 */
export class PcapngTraceWriter implements TraceWriter {
  readonly #w: PcapngWriter;
  #iface = -1;
  records = 0;

  constructor(w: PcapngWriter) {
    this.#w = w;
  }

  begin(run: { name: string; seed: number; description?: string }): void {
    this.#iface = this.#w.addInterface({
      linktype: LINKTYPE_USER0,
      name: run.name,
      description: run.description ?? `hvcoco boundary crossings of ${run.name} (seed ${run.seed})`,
      tsresolDigits: 6,
    });
  }

  crossing(c: Crossing): void {
    if (this.#iface < 0) throw new Error("PcapngTraceWriter.begin() not called");
    this.#w.packet(this.#iface, c.seq, encodeCrossingRecord(c), {
      comment: `${c.seq} ${c.kind} ${c.from}->${c.to} ${c.what}`,
    });
    this.records++;
  }
}
