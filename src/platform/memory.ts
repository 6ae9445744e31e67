// Guest physical memory: sparse 4 KiB pages with their flags and byte labels.
//
// Untouched pages cost nothing: page data and labels are allocated on first
// write, and page flags are kept per 2 MiB chunk as one uniform byte until a page
// in the chunk differs from its neighbours (so a 64 GiB guest whose memory is all
// private holds 32 Ki flag bytes, not 16 Mi).
//
// This module holds plaintext. It is the platform's: no actor gets a GuestMemory;
// each gets an accessor (guest/paravisor CPU access, the untrusted view) that
// enforces what that actor may see.
import { Label } from "../audit/labels.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "./page.ts";

/** Lines of a page as write tracking sees them: 16 of 256 bytes (see GuestMemory.written). */
export const LINE_SHIFT = 8;
const ALL_LINES = 0xffff;

/** Pages per flags chunk (2 MiB). */
export const CHUNK_PAGES = 512;

/** Backing of a run of pages allocated together (so rings get one contiguous view). */
interface Slab {
  data: Uint8Array;
  labels: Uint8Array;
  firstPfn: number;
  /** Some of its pages were moved to another slab (contiguous()): it no longer backs all of its range. */
  stale: boolean;
}

/** A page's backing as bulk copies see it: page `pfn` is at ((pfn - firstPfn) << PAGE_SHIFT). */
export interface PageBacking {
  readonly data: Uint8Array;
  readonly labels: Uint8Array;
  readonly firstPfn: number;
  /** False while it backs every page of its range (a run may then skip the per-page lookup). */
  readonly stale: boolean;
}

export class GuestMemory {
  readonly bytes: number;
  readonly pages: number;
  /** Per chunk: the flags all its pages share, when `detail` has no entry for it. */
  readonly #uniform: Uint8Array;
  readonly #detail: (Uint8Array | undefined)[];
  /** pfn → slab that backs it. */
  readonly #backing = new Map<number, Slab>();
  /** Bumped on every flags change, so cached views can tell they went stale. */
  epoch = 0;
  // Write tracking for incremental restores (src/vm/snapshot.ts). Off until a
  // snapshot marks memory; then every page written is logged once per mark, with
  // the 256-byte lines of it written, so a restore puts back only those (a ring
  // index update costs one line, not a page).
  /** Per page: the lines written since the latest mark (0: not logged since it). */
  #lines: Uint16Array | undefined;
  readonly #log: number[] = [];
  /** Marks still valid, oldest first: where the log stood when each was taken. */
  #marks: { seq: number; index: number; flagIndex: number; allocIndex: number }[] = [];
  /** Runs of pages given a new backing since the oldest mark, as (pfn, count) pairs. */
  readonly #allocRuns: number[] = [];
  /** Runs of pages whose flags changed since the oldest mark, as (pfn, count) pairs. */
  readonly #flagRuns: number[] = [];
  #seq = 0;

  constructor(bytes: number, initialFlags: number) {
    if (bytes <= 0 || bytes % PAGE_SIZE !== 0) throw new Error(`memory size ${bytes} is not a page multiple`);
    this.bytes = bytes;
    this.pages = bytes / PAGE_SIZE;
    const chunks = Math.ceil(this.pages / CHUNK_PAGES);
    this.#uniform = new Uint8Array(chunks).fill(initialFlags);
    this.#detail = new Array(chunks);
  }

  contains(pfn: number, count = 1): boolean {
    return Number.isInteger(pfn) && pfn >= 0 && count >= 0 && pfn + count <= this.pages;
  }

  flags(pfn: number): number {
    const c = pfn >>> 9;
    const d = this.#detail[c];
    return d ? d[pfn & (CHUNK_PAGES - 1)]! : this.#uniform[c]!;
  }

  /** flags = (flags & keep) | set, for `count` pages from `pfn`. Whole uniform chunks stay O(1). */
  updateFlags(pfn: number, count: number, keep: number, set: number): void {
    if (!this.contains(pfn, count)) throw new Error(`page range ${pfn}+${count} outside guest memory`);
    this.epoch++;
    // What the host may read of these pages changed: note them (their bytes did not).
    if (this.#lines) this.#flagRuns.push(pfn, count);
    let p = pfn;
    const end = pfn + count;
    while (p < end) {
      const c = p >>> 9;
      const chunkStart = c * CHUNK_PAGES;
      const chunkEnd = Math.min(chunkStart + CHUNK_PAGES, this.pages);
      const stop = Math.min(end, chunkEnd);
      let d = this.#detail[c];
      if (!d && p === chunkStart && stop === chunkEnd) {
        this.#uniform[c] = (this.#uniform[c]! & keep) | set;
      } else {
        if (!d) {
          d = new Uint8Array(CHUNK_PAGES).fill(this.#uniform[c]!);
          this.#detail[c] = d;
        }
        for (let i = p - chunkStart; i < stop - chunkStart; i++) d[i] = (d[i]! & keep) | set;
        this.#collapse(c);
      }
      p = stop;
    }
  }

  /** Fold a chunk's detail back to one uniform byte when all its pages agree. */
  #collapse(c: number): void {
    const d = this.#detail[c]!;
    const v = d[0]!;
    for (let i = 1; i < CHUNK_PAGES; i++) if (d[i] !== v) return;
    this.#uniform[c] = v;
    this.#detail[c] = undefined;
  }

  /** Number of pages whose (flags & mask) === value. */
  countPages(mask: number, value: number): number {
    let n = 0;
    for (let c = 0; c < this.#uniform.length; c++) {
      const chunkPages = Math.min(CHUNK_PAGES, this.pages - c * CHUNK_PAGES);
      const d = this.#detail[c];
      if (!d) {
        if ((this.#uniform[c]! & mask) === value) n += chunkPages;
      } else {
        for (let i = 0; i < chunkPages; i++) if ((d[i]! & mask) === value) n++;
      }
    }
    return n;
  }

  /** Runs of pages with equal flags, in address order (for the memory map). */
  *runs(): Generator<{ pfn: number; count: number; flags: number }> {
    let start = 0;
    let cur = this.flags(0);
    let p = 0;
    while (p < this.pages) {
      const c = p >>> 9;
      const d = this.#detail[c];
      const chunkEnd = Math.min((c + 1) * CHUNK_PAGES, this.pages);
      if (!d) {
        const f = this.#uniform[c]!;
        if (f !== cur) {
          yield { pfn: start, count: p - start, flags: cur };
          start = p;
          cur = f;
        }
        p = chunkEnd;
        continue;
      }
      for (; p < chunkEnd; p++) {
        const f = d[p & (CHUNK_PAGES - 1)]!;
        if (f !== cur) {
          yield { pfn: start, count: p - start, flags: cur };
          start = p;
          cur = f;
        }
      }
    }
    yield { pfn: start, count: this.pages - start, flags: cur };
  }

  /** Chunks whose flags are kept page by page (a measure of how sparse the state is). */
  get detailedChunks(): number {
    let n = 0;
    for (const d of this.#detail) if (d) n++;
    return n;
  }

  /** Pages that hold data (were ever written). */
  get touchedPages(): number {
    return this.#backing.size;
  }

  /** The page's data, or undefined if the page was never written (reads as zeros). */
  peek(pfn: number): Uint8Array | undefined {
    const s = this.#backing.get(pfn);
    if (!s) return undefined;
    const o = (pfn - s.firstPfn) << PAGE_SHIFT;
    return s.data.subarray(o, o + PAGE_SIZE);
  }

  peekLabels(pfn: number): Uint8Array | undefined {
    const s = this.#backing.get(pfn);
    if (!s) return undefined;
    const o = (pfn - s.firstPfn) << PAGE_SHIFT;
    return s.labels.subarray(o, o + PAGE_SIZE);
  }

  /**
   * The slab that backs `pfn` (allocated on first use, for up to `upTo` pages never
   * written from `pfn` on), without making a view: for bulk copies, which then move
   * a run of pages of one slab in one call. A slab can
   * be replaced by contiguous(), so callers do not keep it.
   */
  slab(pfn: number, upTo = 1): PageBacking {
    const s = this.#backing.get(pfn);
    if (s) return s;
    // A write about to cover several pages never written gets one backing for them.
    let n = 1;
    while (n < upTo && this.contains(pfn + n) && !this.#backing.has(pfn + n)) n++;
    return this.#allocate(pfn, n);
  }

  /** The slab that backs `pfn`, or undefined if the page was never written. */
  peekSlab(pfn: number): PageBacking | undefined {
    return this.#backing.get(pfn);
  }

  /**
   * A page's data and labels to write, allocated on first use (zeros, labelled
   * HOST: no guest data yet). The caller reports what it writes (writtenBytes).
   */
  page(pfn: number): { data: Uint8Array; labels: Uint8Array } {
    let s = this.#backing.get(pfn);
    if (!s) s = this.#allocate(pfn, 1);
    const o = (pfn - s.firstPfn) << PAGE_SHIFT;
    return { data: s.data.subarray(o, o + PAGE_SIZE), labels: s.labels.subarray(o, o + PAGE_SIZE) };
  }

  /**
   * One contiguous view of `count` pages (data and labels), as the kernel's vmap
   * of a ring gives one virtual range. Pages already written are moved into the
   * new backing; views handed out earlier for them go stale, so callers take this
   * view when they allocate the range, before anyone uses it.
   */
  contiguous(pfn: number, count: number): { data: Uint8Array; labels: Uint8Array } {
    if (!this.contains(pfn, count) || count === 0)
      throw new Error(`page range ${pfn}+${count} outside guest memory`);
    const first = this.#backing.get(pfn);
    if (first) {
      let same = true;
      for (let i = 1; i < count && same; i++) same = this.#backing.get(pfn + i) === first;
      const o = (pfn - first.firstPfn) << PAGE_SHIFT;
      if (same && o + count * PAGE_SIZE <= first.data.length) {
        return {
          data: first.data.subarray(o, o + count * PAGE_SIZE),
          labels: first.labels.subarray(o, o + count * PAGE_SIZE),
        };
      }
    }
    const s = this.#allocate(pfn, count);
    return { data: s.data, labels: s.labels };
  }

  #allocate(pfn: number, count: number): Slab {
    if (!this.contains(pfn, count)) throw new Error(`page range ${pfn}+${count} outside guest memory`);
    if (this.#lines) this.#allocRuns.push(pfn, count);
    const slab: Slab = {
      data: new Uint8Array(count * PAGE_SIZE),
      labels: new Uint8Array(count * PAGE_SIZE).fill(Label.HOST),
      firstPfn: pfn,
      stale: false,
    };
    for (let i = 0; i < count; i++) {
      const prev = this.#backing.get(pfn + i);
      if (prev) prev.stale = true;
      const old = this.peek(pfn + i);
      if (old) {
        slab.data.set(old, i * PAGE_SIZE);
        slab.labels.set(this.peekLabels(pfn + i)!, i * PAGE_SIZE);
      }
      this.#backing.set(pfn + i, slab);
    }
    return slab;
  }

  /**
   * Every writer of page bytes says so here (the CPU and untrusted accessors, their
   * windows): pages `pfn` .. `pfn + count - 1` changed. Costs a bit test per page
   * while a snapshot tracks writes, nothing otherwise.
   */
  written(pfn: number, count = 1): void {
    const lines = this.#lines;
    if (lines === undefined) return;
    for (let p = pfn, end = pfn + count; p < end; p++) {
      if (lines[p] === 0) this.#log.push(p);
      lines[p] = ALL_LINES;
    }
  }

  /** written() for a byte range: the lines of each page it covers. */
  writtenBytes(gpa: number, len: number): void {
    const lines = this.#lines;
    if (lines === undefined || len <= 0) return;
    let p = Math.floor(gpa / PAGE_SIZE);
    let off = gpa - p * PAGE_SIZE;
    let left = len;
    while (left > 0) {
      const n = Math.min(left, PAGE_SIZE - off);
      const first = off >>> LINE_SHIFT;
      const last = (off + n - 1) >>> LINE_SHIFT;
      const mask = ((2 << last) - (1 << first)) & ALL_LINES;
      const was = lines[p]!;
      if (was === 0) this.#log.push(p);
      lines[p] = was | mask;
      left -= n;
      off = 0;
      p++;
    }
  }

  #clearLogged(from: number): void {
    const lines = this.#lines!;
    const log = this.#log;
    for (let k = from; k < log.length; k++) lines[log[k]!] = 0;
  }

  /** Start a mark (a snapshot was taken): pages written from now on are logged against it. */
  mark(): number {
    if (this.#lines === undefined) this.#lines = new Uint16Array(this.pages);
    else this.#clearLogged(this.#marks.at(-1)?.index ?? 0);
    const seq = ++this.#seq;
    this.#marks.push({
      seq,
      index: this.#log.length,
      flagIndex: this.#flagRuns.length,
      allocIndex: this.#allocRuns.length,
    });
    return seq;
  }

  /**
   * The pages changed since mark `seq` — their bytes, or their flags — each once
   * or more; undefined when the mark is gone.
   */
  changedSince(seq: number): number[] | undefined {
    const m = this.#marks.find((x) => x.seq === seq);
    if (!m) return undefined;
    const out = this.#log.slice(m.index);
    const runs = this.#flagRuns;
    for (let k = m.flagIndex; k < runs.length; k += 2)
      for (let p = runs[k]!, end = p + runs[k + 1]!; p < end; p++) out.push(p);
    return out;
  }

  /**
   * Go back to mark `seq`: `restore` is called for each page written since, with
   * the lines of it written (a bit per 256 bytes; all of them for a page logged
   * before a later mark, which kept no lines); a page may come more than once. Then
   * the log forgets them. False, with nothing done, when the mark is gone (memory
   * went back past it): the caller restores every page and calls restartAt().
   */
  rewind(seq: number, restore: (pfn: number, lines: number) => void): boolean {
    const at = this.#marks.findIndex((m) => m.seq === seq);
    if (at < 0) return false;
    const { index, flagIndex, allocIndex } = this.#marks[at]!;
    const log = this.#log;
    const lines = this.#lines!;
    const latest = this.#marks.at(-1)!.index;
    for (let k = index; k < log.length; k++) {
      const p = log[k]!;
      restore(p, k >= latest ? lines[p]! : ALL_LINES);
    }
    this.#clearLogged(this.#marks.at(-1)!.index);
    log.length = index;
    this.#flagRuns.length = flagIndex;
    this.#allocRuns.length = allocIndex;
    // Later marks at the same place in the log still describe this state.
    while (this.#marks.at(-1)!.index > index) this.#marks.pop();
    return true;
  }

  /** After a full restore to mark `seq`'s state: the only mark is that one, with nothing logged. */
  restartAt(seq: number): void {
    if (this.#lines) this.#clearLogged(this.#marks.at(-1)?.index ?? 0);
    else this.#lines = new Uint16Array(this.pages);
    this.#log.length = 0;
    this.#flagRuns.length = 0;
    this.#allocRuns.length = 0;
    this.#marks = [{ seq, index: 0, flagIndex: 0, allocIndex: 0 }];
  }

  /**
   * The pages given a new backing since mark `seq`, as (pfn, count) pairs (their
   * entries are all of the pfn → backing map that changed since), or undefined
   * when the mark is gone.
   */
  allocatedSince(seq: number): readonly number[] | undefined {
    const m = this.#marks.find((x) => x.seq === seq);
    return m ? this.#allocRuns.slice(m.allocIndex) : undefined;
  }

  /**
   * Put back the pfn → backing entries of `runs` (from allocatedSince) as `was`
   * held them (a snapshot's copy of the map): the rest of the map is unchanged.
   * Called before rewind(), which forgets the runs.
   */
  restoreBacking(runs: readonly number[], was: ReadonlyMap<number, unknown>): void {
    for (let k = 0; k < runs.length; k += 2)
      for (let p = runs[k]!, end = p + runs[k + 1]!; p < end; p++) {
        const s = was.get(p) as Slab | undefined;
        if (s) this.#backing.set(p, s);
        else this.#backing.delete(p);
      }
  }

  /** The pfn → backing map, by identity (for a snapshot to tell it among the maps it holds). */
  get backingMap(): ReadonlyMap<number, unknown> {
    return this.#backing;
  }

  /** Every buffer that backs pages (data and labels), for a snapshot to restore page by page. */
  slabBuffers(): Set<ArrayBufferLike> {
    const out = new Set<ArrayBufferLike>();
    for (const s of this.#backing.values()) out.add(s.data.buffer).add(s.labels.buffer);
    return out;
  }

  /** Forget a page's contents: it reads as zeros again, which hold no guest data. */
  discard(pfn: number): void {
    const s = this.#backing.get(pfn);
    if (!s) return;
    const o = (pfn - s.firstPfn) << PAGE_SHIFT;
    this.written(pfn);
    s.data.fill(0, o, o + PAGE_SIZE);
    s.labels.fill(Label.HOST, o, o + PAGE_SIZE);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#uniform, this.#detail, this.#backing];
  }
}
