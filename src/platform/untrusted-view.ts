// The untrusted side's view of guest memory: what the host partition and the
// hypervisor can reach through the SLAT. A shared, host-visible page reads as
// plaintext (and the auditor weighs each byte's label); a private or in-transition
// page reads as ciphertext; a page the SLAT does not map reads as all ones and the
// attempt is recorded. Writes land only on shared, host-visible pages; every other
// write is refused and recorded. There is no other path from host code to guest
// memory.
import type { Auditor } from "../audit/auditor.ts";
import type { Actor } from "../audit/crossings.ts";
import { Label } from "../audit/labels.ts";
import { scratch } from "../util/snapshot-hints.ts";
import type { GuestMemory } from "./memory.ts";
import type { MemoryEncryption } from "./memory-encryption.ts";
import { PAGE_SIZE, PageFlag, PageState, pfnOf } from "./page.ts";

export type HostAccessOutcome = "plaintext" | "ciphertext" | "unmapped" | "refused";

export class UntrustedView {
  readonly actor: Actor;
  readonly #mem: GuestMemory;
  readonly #enc: MemoryEncryption;
  readonly #audit: Auditor;
  readonly #boundary: number;
  readonly #scratch = scratch(new Uint8Array(PAGE_SIZE));

  constructor(actor: Actor, mem: GuestMemory, enc: MemoryEncryption, audit: Auditor, sharedBoundary: number) {
    this.actor = actor;
    this.#mem = mem;
    this.#enc = enc;
    this.#audit = audit;
    this.#boundary = sharedBoundary;
  }

  #canonical(addr: number): number {
    return this.#boundary && addr >= this.#boundary ? addr - this.#boundary : addr;
  }

  /** What the host gets for one page. */
  outcome(pfn: number, write: boolean): HostAccessOutcome {
    if (!this.#mem.contains(pfn)) return "unmapped";
    const f = this.#mem.flags(pfn);
    const state = f & PageFlag.STATE_MASK;
    if (state === PageState.SHARED) return f & PageFlag.HOST_VISIBLE ? "plaintext" : "unmapped";
    return write ? "refused" : "ciphertext";
  }

  /** Read `len` bytes at `gpa` (canonical or shared alias) into dst. Returns the worst outcome. */
  read(gpa: number, len: number, dst: Uint8Array = new Uint8Array(len), dstOff = 0): Uint8Array {
    let addr = this.#canonical(gpa);
    let at = dstOff;
    let left = len;
    while (left > 0) {
      const pfn = pfnOf(addr);
      const off = addr - pfn * PAGE_SIZE;
      const n = Math.min(left, PAGE_SIZE - off);
      const o = this.outcome(pfn, false);
      if (o === "plaintext") {
        const run = this.#plainRun(pfn, off, left, false);
        if (run > n) {
          // Following plaintext pages of the same backing: one copy, one weighing of the labels.
          const s = this.#mem.peekSlab(pfn)!;
          const so = (pfn - s.firstPfn) * PAGE_SIZE + off;
          dst.set(s.data.subarray(so, so + run), at);
          this.#audit.plaintextRead(s.labels.subarray(so, so + run));
          this.#crossPages("host-read", addr, run, o);
          addr += run;
          at += run;
          left -= run;
          continue;
        }
      }
      if (o === "plaintext") {
        const s = this.#mem.peekSlab(pfn);
        if (s) {
          const so = (pfn - s.firstPfn) * PAGE_SIZE + off;
          dst.set(s.data.subarray(so, so + n), at);
          this.#audit.plaintextReadAt(s.labels, so, n);
        } else dst.fill(0, at, at + n);
      } else if (o === "ciphertext") {
        const data = this.#mem.peek(pfn);
        const plain = data ? data.subarray(off, off + n) : this.#scratch.fill(0).subarray(0, n);
        this.#enc.encrypt(pfn, off, plain, dst.subarray(at, at + n));
        this.#audit.ciphertextBytesRead += n;
      } else {
        dst.fill(0xff, at, at + n);
        this.#audit.refusedReads++;
      }
      this.#audit.boundary.cross("host-read", this.actor, "guest", o, () => ({
        gpa: pfn * PAGE_SIZE + off,
        len: n,
      }));
      addr += n;
      at += n;
      left -= n;
    }
    return dst;
  }

  /** Write bytes to guest memory; true if every page took them. Refused pages are untouched. */
  write(gpa: number, src: Uint8Array): boolean {
    let addr = this.#canonical(gpa);
    let at = 0;
    let all = true;
    while (at < src.length) {
      const pfn = pfnOf(addr);
      const off = addr - pfn * PAGE_SIZE;
      const n = Math.min(src.length - at, PAGE_SIZE - off);
      const o = this.outcome(pfn, true);
      if (o === "plaintext") {
        const run = this.#plainRun(pfn, off, src.length - at, true);
        if (run > n) {
          const s = this.#mem.peekSlab(pfn)!;
          const so = (pfn - s.firstPfn) * PAGE_SIZE + off;
          this.#mem.writtenBytes(addr, run);
          s.data.set(src.subarray(at, at + run), so);
          s.labels.fill(Label.HOST, so, so + run);
          this.#crossPages("host-write", addr, run, "written");
          addr += run;
          at += run;
          continue;
        }
        const p = this.#mem.page(pfn);
        this.#mem.writtenBytes(pfn * PAGE_SIZE + off, n);
        p.data.set(src.subarray(at, at + n), off);
        p.labels.fill(Label.HOST, off, off + n);
      } else {
        all = false;
        this.#audit.refusedWrites++;
      }
      this.#audit.boundary.cross(
        "host-write",
        this.actor,
        "guest",
        o === "plaintext" ? "written" : "refused",
        () => ({
          gpa: pfn * PAGE_SIZE + off,
          len: n,
        }),
      );
      addr += n;
      at += n;
    }
    return all;
  }

  /**
   * Bytes from page `pfn` + `off` (at most `left`) over plaintext pages that one
   * backing holds in a row; just the first page's share when it has no backing yet
   * (the caller then takes the page-by-page path).
   */
  #plainRun(pfn: number, off: number, left: number, write: boolean): number {
    const s = this.#mem.peekSlab(pfn);
    let n = Math.min(left, PAGE_SIZE - off);
    if (!s) return n;
    const end = s.firstPfn + s.data.length / PAGE_SIZE;
    for (let p = pfn + 1; n < left; p++) {
      if (s.stale ? this.#mem.peekSlab(p) !== s : p >= end) break;
      if (this.outcome(p, write) !== "plaintext") break;
      n += Math.min(PAGE_SIZE, left - n);
    }
    return n;
  }

  /** The crossings of an access over a run of pages: one per page, as the page-by-page path makes them. */
  #crossPages(kind: "host-read" | "host-write", addr: number, len: number, what: string): void {
    const b = this.#audit.boundary;
    for (let a = addr; a < addr + len; ) {
      const pfn = pfnOf(a);
      const off = a - pfn * PAGE_SIZE;
      const n = Math.min(addr + len - a, PAGE_SIZE - off);
      b.cross(kind, this.actor, "guest", what, () => ({ gpa: pfn * PAGE_SIZE + off, len: n }));
      a += n;
    }
  }

  /** Map `size` bytes of whole pages at `gpa` (canonical or alias) as one window. */
  window(gpa: number, size: number): HostWindow {
    return new HostWindow(this, this.#mem, this.#audit, this.#canonical(gpa), size);
  }

  /** The pages this side's SLAT maps to the guest (it knows its own page tables): runs of pfns. */
  *mappedRuns(): Generator<{ pfn: number; count: number }> {
    for (const r of this.#mem.runs())
      if (r.flags & PageFlag.HOST_VISIBLE) yield { pfn: r.pfn, count: r.count };
  }

  /** The size of the guest's physical address space (the host configured it). */
  get pages(): number {
    return this.#mem.pages;
  }

  readU64(gpa: number): bigint {
    const b = this.read(gpa, 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#mem, this.#enc, this.#audit, this.#boundary, this.#scratch];
  }
}

/**
 * The host's mapping of a contiguous run of guest pages (a ring, a receive
 * buffer). While every page is shared and host-visible it works on the plaintext
 * directly, weighing each read's labels for the auditor; once any page is not, it
 * falls back to the view's per-page rules (ciphertext, refused writes).
 * Structurally a vmbus RingMemory.
 */
export class HostWindow {
  readonly size: number;
  readonly gpa: number;
  readonly #view: UntrustedView;
  readonly #mem: GuestMemory;
  readonly #audit: Auditor;
  readonly #data: Uint8Array;
  readonly #labels: Uint8Array;
  readonly #dv: DataView;
  #epoch = -1;
  #direct = false;
  readonly #u32 = scratch(new Uint8Array(4));

  constructor(view: UntrustedView, mem: GuestMemory, audit: Auditor, gpa: number, size: number) {
    if (gpa % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || size === 0)
      throw new Error("window must be whole pages");
    this.#view = view;
    this.#mem = mem;
    this.#audit = audit;
    this.gpa = gpa;
    this.size = size;
    const v = mem.contiguous(pfnOf(gpa), size / PAGE_SIZE);
    this.#data = v.data;
    this.#labels = v.labels;
    this.#dv = new DataView(v.data.buffer, v.data.byteOffset, v.data.byteLength);
  }

  #ok(): boolean {
    if (this.#epoch !== this.#mem.epoch) {
      this.#epoch = this.#mem.epoch;
      this.#direct = true;
      const first = pfnOf(this.gpa);
      for (let i = 0; i < this.size / PAGE_SIZE && this.#direct; i++)
        this.#direct = this.#view.outcome(first + i, true) === "plaintext";
    }
    return this.#direct;
  }

  #bounds(off: number, len: number): void {
    if (!(off >= 0 && len >= 0 && off + len <= this.size))
      throw new Error(`window access ${off}+${len} outside ${this.size}`);
  }

  getU32(off: number): number {
    this.#bounds(off, 4);
    if (!this.#ok()) {
      this.#view.read(this.gpa + off, 4, this.#u32);
      return new DataView(this.#u32.buffer).getUint32(0, true);
    }
    this.#audit.plaintextReadAt(this.#labels, off, 4);
    return this.#dv.getUint32(off, true);
  }

  setU32(off: number, v: number): void {
    this.#bounds(off, 4);
    if (!this.#ok()) {
      new DataView(this.#u32.buffer).setUint32(0, v >>> 0, true);
      this.#view.write(this.gpa + off, this.#u32);
      return;
    }
    this.#mem.writtenBytes(this.gpa + off, 4);
    this.#dv.setUint32(off, v >>> 0, true);
    this.#labels.fill(Label.HOST, off, off + 4);
  }

  read(off: number, dst: Uint8Array, dstOff: number, len: number): void {
    this.#bounds(off, len);
    if (!this.#ok()) {
      this.#view.read(this.gpa + off, len, dst, dstOff);
      return;
    }
    this.#audit.plaintextReadAt(this.#labels, off, len);
    dst.set(this.#data.subarray(off, off + len), dstOff);
  }

  write(off: number, src: Uint8Array, srcOff: number, len: number, _labels: number | Uint8Array): void {
    this.#bounds(off, len);
    if (!this.#ok()) {
      this.#view.write(this.gpa + off, src.subarray(srcOff, srcOff + len));
      return;
    }
    this.#mem.writtenBytes(this.gpa + off, len);
    this.#data.set(src.subarray(srcOff, srcOff + len), off);
    // Whatever label the host claims, bytes it wrote are the host's.
    this.#labels.fill(Label.HOST, off, off + len);
  }

  fill(off: number, len: number, value: number, _label: number): void {
    this.#bounds(off, len);
    if (!this.#ok()) {
      this.#view.write(this.gpa + off, new Uint8Array(len).fill(value));
      return;
    }
    this.#mem.writtenBytes(this.gpa + off, len);
    this.#data.fill(value, off, off + len);
    this.#labels.fill(Label.HOST, off, off + len);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [
      this.#view,
      this.#mem,
      this.#audit,
      this.#data,
      this.#labels,
      this.#dv,
      this.#epoch,
      this.#direct,
      this.#u32,
    ];
  }
  load(s: unknown[]): void {
    this.#epoch = s[6] as never;
    this.#direct = s[7] as never;
  }
}
