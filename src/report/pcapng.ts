// A pcapng writer (and a reader for tests), written by hand: no maintained npm
// package writes pcapng. Format: IETF draft-ietf-opsawg-pcapng (the "PCAP Next
// Generation Dump File Format"); block layouts below are from it.
//
//   Section Header Block (SHB), type 0x0A0D0D0A
//     +0 block type | +4 block total length | +8 byte-order magic 0x1A2B3C4D
//     +12 major 1 (u16) | +14 minor 0 (u16) | +16 section length (i64, -1 = unknown)
//     +24 options | block total length
//   Interface Description Block (IDB), type 1
//     +8 link type (u16) | +10 reserved (u16) | +12 snap length (u32, 0 = no limit)
//     +16 options (if_name 2, if_description 3, if_tsresol 9) | block total length
//   Enhanced Packet Block (EPB), type 6
//     +8 interface id | +12 timestamp high | +16 timestamp low
//     +20 captured length | +24 original length | +28 data (padded to 4)
//     options (opt_comment 1) | block total length
//
// Everything is written little-endian; the byte-order magic tells readers so.
// The writer does not care what the packets are: LINKTYPE_USER0 for hvcoco's
// boundary-crossing records (trace-record.ts), LINKTYPE_ETHERNET for frames.

export const LINKTYPE_ETHERNET = 1;
/** The first of the 16 link types reserved for private use (DLT_USER0). */
export const LINKTYPE_USER0 = 147;

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_HARDWARE = 2;
const SHB_OS = 3;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;

export interface SectionOptions {
  /** shb_userappl: the application that wrote the file. */
  application?: string;
  hardware?: string;
  os?: string;
}

export interface InterfaceOptions {
  linktype: number;
  /** if_name (Wireshark shows it as the interface). */
  name?: string;
  description?: string;
  /** Bytes kept of each packet; 0 = no limit. */
  snaplen?: number;
  /** if_tsresol as a power of ten: 6 (microseconds, pcapng's default) or 9 (nanoseconds). */
  tsresolDigits?: number;
}

export interface PacketOptions {
  /** opt_comment: shown by Wireshark as the packet comment (tshark field frame.comment). */
  comment?: string;
  /** The packet's length on the wire, when more than the bytes captured. */
  originalLength?: number;
}

export type ByteSink = (chunk: Uint8Array) => void;

const utf8 = new TextEncoder();

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Encode options as code/length/value records, each padded to 4, closed by opt_endofopt. */
function encodeOptions(opts: readonly { code: number; value: Uint8Array }[]): Uint8Array {
  if (opts.length === 0) return new Uint8Array(0);
  let len = 4;
  for (const o of opts) len += 4 + pad4(o.value.length);
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const o of opts) {
    if (o.value.length > 0xffff) throw new RangeError(`pcapng option ${o.code} longer than 65535 bytes`);
    dv.setUint16(at, o.code, true);
    dv.setUint16(at + 2, o.value.length, true);
    out.set(o.value, at + 4);
    at += 4 + pad4(o.value.length);
  }
  dv.setUint16(at, OPT_ENDOFOPT, true);
  dv.setUint16(at + 2, 0, true);
  return out;
}

function stringOption(code: number, s: string | undefined): { code: number; value: Uint8Array }[] {
  return s === undefined || s === "" ? [] : [{ code, value: utf8.encode(s) }];
}

/** One block: type, total length, body, total length again. */
function block(type: number, body: Uint8Array): Uint8Array {
  const total = 12 + body.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, total, true);
  out.set(body, 8);
  dv.setUint32(total - 4, total, true);
  return out;
}

/**
 * Writes one pcapng section to a sink: the section header at construction, then
 * interfaces and packets in the order they are added.
 */
export class PcapngWriter {
  readonly #sink: ByteSink;
  readonly #interfaces: InterfaceOptions[] = [];
  #bytes = 0;
  #packets = 0;

  constructor(sink: ByteSink, section: SectionOptions = {}) {
    this.#sink = sink;
    const options = encodeOptions([
      ...stringOption(SHB_HARDWARE, section.hardware),
      ...stringOption(SHB_OS, section.os),
      ...stringOption(SHB_USERAPPL, section.application),
    ]);
    const body = new Uint8Array(16 + options.length);
    const dv = new DataView(body.buffer);
    dv.setUint32(0, BYTE_ORDER_MAGIC, true);
    dv.setUint16(4, 1, true);
    dv.setUint16(6, 0, true);
    dv.setBigInt64(8, -1n, true);
    body.set(options, 16);
    this.#emit(block(BT_SHB, body));
  }

  /** Describe an interface; returns its id for packet(). */
  addInterface(o: InterfaceOptions): number {
    if (!Number.isInteger(o.linktype) || o.linktype < 0 || o.linktype > 0xffff)
      throw new RangeError(`bad link type ${o.linktype}`);
    const digits = o.tsresolDigits ?? 6;
    if (!Number.isInteger(digits) || digits < 0 || digits > 127)
      throw new RangeError(`bad tsresol ${digits}`);
    const options = encodeOptions([
      ...stringOption(IF_NAME, o.name),
      ...stringOption(IF_DESCRIPTION, o.description),
      { code: IF_TSRESOL, value: Uint8Array.of(digits) },
    ]);
    const body = new Uint8Array(8 + options.length);
    const dv = new DataView(body.buffer);
    dv.setUint16(0, o.linktype, true);
    dv.setUint16(2, 0, true);
    dv.setUint32(4, o.snaplen ?? 0, true);
    body.set(options, 8);
    this.#emit(block(BT_IDB, body));
    this.#interfaces.push(o);
    return this.#interfaces.length - 1;
  }

  /**
   * One packet on interface `iface`. `timestamp` counts units of the interface's
   * resolution (microseconds by default) since 1970-01-01 00:00:00 UTC.
   */
  packet(iface: number, timestamp: bigint | number, data: Uint8Array, o: PacketOptions = {}): void {
    const itf = this.#interfaces[iface];
    if (!itf) throw new RangeError(`no interface ${iface}`);
    const ts = BigInt(timestamp);
    if (ts < 0n || ts > 0xffffffffffffffffn) throw new RangeError(`timestamp ${ts} out of range`);
    const captured = itf.snaplen ? Math.min(itf.snaplen, data.length) : data.length;
    const options = encodeOptions(stringOption(OPT_COMMENT, o.comment));
    const body = new Uint8Array(20 + pad4(captured) + options.length);
    const dv = new DataView(body.buffer);
    dv.setUint32(0, iface, true);
    dv.setUint32(4, Number(ts >> 32n), true);
    dv.setUint32(8, Number(ts & 0xffffffffn), true);
    dv.setUint32(12, captured, true);
    dv.setUint32(16, Math.max(o.originalLength ?? data.length, captured), true);
    body.set(data.subarray(0, captured), 20);
    body.set(options, 20 + pad4(captured));
    this.#emit(block(BT_EPB, body));
    this.#packets++;
  }

  get bytesWritten(): number {
    return this.#bytes;
  }

  get packets(): number {
    return this.#packets;
  }

  #emit(b: Uint8Array): void {
    this.#bytes += b.length;
    this.#sink(b);
  }
}

/** Build a whole pcapng file in memory. */
export function pcapngBytes(build: (w: PcapngWriter) => void, section: SectionOptions = {}): Uint8Array {
  const chunks: Uint8Array[] = [];
  build(new PcapngWriter((c) => chunks.push(c), section));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// --- reading (for tests and tools; handles what this writer writes, either byte order) ---

export interface PcapngInterface {
  linktype: number;
  snaplen: number;
  name?: string;
  description?: string;
  tsresolDigits: number;
}

export interface PcapngPacket {
  iface: number;
  timestamp: bigint;
  data: Uint8Array;
  originalLength: number;
  comment?: string;
}

export interface PcapngFile {
  application?: string;
  interfaces: PcapngInterface[];
  packets: PcapngPacket[];
}

const utf8d = new TextDecoder();

function readOptions(dv: DataView, at: number, end: number, le: boolean): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  while (at + 4 <= end) {
    const code = dv.getUint16(at, le);
    const len = dv.getUint16(at + 2, le);
    if (code === OPT_ENDOFOPT) break;
    if (at + 4 + len > end) throw new Error("pcapng: option runs past its block");
    m.set(code, new Uint8Array(dv.buffer, dv.byteOffset + at + 4, len));
    at += 4 + pad4(len);
  }
  return m;
}

/** Parse a single-section pcapng file (SHB, IDBs, EPBs; other blocks are skipped). */
export function readPcapng(bytes: Uint8Array): PcapngFile {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 28 || dv.getUint32(0, true) !== BT_SHB) throw new Error("pcapng: no section header");
  const le = dv.getUint32(8, true) === BYTE_ORDER_MAGIC;
  if (!le && dv.getUint32(8, false) !== BYTE_ORDER_MAGIC) throw new Error("pcapng: bad byte-order magic");
  const file: PcapngFile = { interfaces: [], packets: [] };
  let at = 0;
  while (at < bytes.length) {
    if (at + 12 > bytes.length) throw new Error(`pcapng: truncated block at ${at}`);
    const type = dv.getUint32(at, le);
    const total = dv.getUint32(at + 4, le);
    if (total < 12 || total % 4 !== 0 || at + total > bytes.length)
      throw new Error(`pcapng: bad block length ${total} at ${at}`);
    if (dv.getUint32(at + total - 4, le) !== total)
      throw new Error(`pcapng: trailing length mismatch at ${at}`);
    const end = at + total - 4;
    if (type === BT_SHB) {
      const o = readOptions(dv, at + 24, end, le);
      const app = o.get(SHB_USERAPPL);
      if (app) file.application = utf8d.decode(app);
    } else if (type === BT_IDB) {
      const o = readOptions(dv, at + 16, end, le);
      const name = o.get(IF_NAME);
      const desc = o.get(IF_DESCRIPTION);
      const itf: PcapngInterface = {
        linktype: dv.getUint16(at + 8, le),
        snaplen: dv.getUint32(at + 12, le),
        tsresolDigits: o.get(IF_TSRESOL)?.[0] ?? 6,
      };
      if (name) itf.name = utf8d.decode(name);
      if (desc) itf.description = utf8d.decode(desc);
      file.interfaces.push(itf);
    } else if (type === BT_EPB) {
      const captured = dv.getUint32(at + 20, le);
      if (at + 28 + captured > end) throw new Error(`pcapng: packet data runs past its block at ${at}`);
      const o = readOptions(dv, at + 28 + pad4(captured), end, le);
      const comment = o.get(OPT_COMMENT);
      const p: PcapngPacket = {
        iface: dv.getUint32(at + 8, le),
        timestamp: (BigInt(dv.getUint32(at + 12, le)) << 32n) | BigInt(dv.getUint32(at + 16, le)),
        data: bytes.slice(at + 28, at + 28 + captured),
        originalLength: dv.getUint32(at + 24, le),
      };
      if (comment) p.comment = utf8d.decode(comment);
      file.packets.push(p);
    }
    at += total;
  }
  return file;
}
