// The host's GPADLs: a guest buffer described by its PFNs in GPADL_HEADER plus
// GPADL_BODY messages, assembled, checked, and mapped through the host's own view
// of guest memory. A contiguous run of pages is one HostWindow; anything else is
// read and written page by page through the UntrustedView. Either way the host
// gets plaintext only of pages the guest shared.
import type { GpadlBodyMsg, GpadlHeaderMsg } from "../../vmbus/messages.ts";
import type { RingMemory } from "../../vmbus/ring.ts";
import type { ServerMemory } from "./io.ts";

const PAGE = 4096;

export interface ServerGpadl {
  readonly handle: number;
  readonly relid: number;
  /** Total PFNs the header announced (range_buflen / 8 - 1). */
  readonly expected: number;
  readonly byteCount: number;
  readonly byteOffset: number;
  readonly pfns: number[];
  /** The range is fully described and passed the checks. */
  created: boolean;
}

/** Start a GPADL from its header; a string says why the header cannot describe one. */
export function gpadlFromHeader(m: GpadlHeaderMsg): ServerGpadl | string {
  if (m.rangeCount !== 1) return `gpadl 0x${m.gpadl.toString(16)}: ${m.rangeCount} ranges (only 1 is served)`;
  const expected = m.rangeBufLen / 8 - 1;
  if (m.byteOffset >= PAGE) return `gpadl 0x${m.gpadl.toString(16)}: byte_offset ${m.byteOffset}`;
  if (Math.ceil((m.byteOffset + m.byteCount) / PAGE) !== expected || expected === 0)
    return `gpadl 0x${m.gpadl.toString(16)}: ${expected} PFNs for ${m.byteCount} bytes at offset ${m.byteOffset}`;
  if (m.pfns.length > expected) return `gpadl 0x${m.gpadl.toString(16)}: more PFNs than announced`;
  return {
    handle: m.gpadl,
    relid: m.childRelid,
    expected,
    byteCount: m.byteCount,
    byteOffset: m.byteOffset,
    pfns: [...m.pfns],
    created: false,
  };
}

/** Add a GPADL_BODY's PFNs; a string says why they do not fit. */
export function gpadlAddBody(g: ServerGpadl, m: GpadlBodyMsg): string | undefined {
  if (g.pfns.length + m.pfns.length > g.expected)
    return `gpadl 0x${g.handle.toString(16)}: body brings ${g.pfns.length + m.pfns.length} of ${g.expected} PFNs`;
  g.pfns.push(...m.pfns);
  return undefined;
}

export function gpadlComplete(g: ServerGpadl): boolean {
  return g.pfns.length === g.expected;
}

/** Every PFN names a page of the partition. */
export function gpadlInRange(g: ServerGpadl, pages: number): boolean {
  return g.pfns.every((p) => p < pages);
}

/** Map pages [first, first + count) of a GPADL as one RingMemory. */
export function mapGpadlPages(view: ServerMemory, g: ServerGpadl, first: number, count: number): RingMemory {
  const pfns = Object.freeze(g.pfns.slice(first, first + count));
  let contiguous = true;
  for (let i = 1; i < pfns.length && contiguous; i++) contiguous = pfns[i] === pfns[0]! + i;
  if (contiguous) return view.window(pfns[0]! * PAGE, count * PAGE);
  return new PagedHostMemory(view, pfns);
}

/** A RingMemory over scattered guest pages, every access through the server's view (the host's UntrustedView). */
export class PagedHostMemory implements RingMemory {
  readonly size: number;
  readonly #view: ServerMemory;
  readonly #pfns: readonly number[];
  readonly #u32 = new Uint8Array(4);
  readonly #dv = new DataView(this.#u32.buffer);

  constructor(view: ServerMemory, pfns: readonly number[]) {
    this.#view = view;
    this.#pfns = pfns;
    this.size = pfns.length * PAGE;
  }

  #each(off: number, len: number, fn: (gpa: number, at: number, n: number) => void): void {
    if (!(off >= 0 && len >= 0 && off + len <= this.size))
      throw new Error(`gpadl access ${off}+${len} outside ${this.size}`);
    let at = 0;
    while (at < len) {
      const o = off + at;
      const n = Math.min(len - at, PAGE - (o % PAGE));
      fn(this.#pfns[Math.floor(o / PAGE)]! * PAGE + (o % PAGE), at, n);
      at += n;
    }
  }

  getU32(off: number): number {
    this.read(off, this.#u32, 0, 4);
    return this.#dv.getUint32(0, true);
  }

  setU32(off: number, v: number): void {
    this.#dv.setUint32(0, v >>> 0, true);
    this.write(off, this.#u32, 0, 4, 0);
  }

  read(off: number, dst: Uint8Array, dstOff: number, len: number): void {
    this.#each(off, len, (gpa, at, n) => this.#view.read(gpa, n, dst, dstOff + at));
  }

  write(off: number, src: Uint8Array, srcOff: number, len: number, _labels: number | Uint8Array): void {
    this.#each(off, len, (gpa, at, n) => this.#view.write(gpa, src.subarray(srcOff + at, srcOff + at + n)));
  }

  fill(off: number, len: number, value: number, _label: number): void {
    this.#each(off, len, (gpa, _at, n) => this.#view.write(gpa, new Uint8Array(n).fill(value)));
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#view, this.#pfns, this.#u32, this.#dv];
  }
}
