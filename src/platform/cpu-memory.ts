// Memory access by a trusted CPU context (the guest, or the paravisor): the
// hardware's checks on each page a load or store touches. A check that fails
// raises an exception through the platform's router; if its owner resolves it
// with a fixup the access completes with zeros for that page (the
// load_unaligned_zeropad contract), otherwise the guest is dead.
import { Label } from "../audit/labels.ts";
import type { CocoException, ExceptionCause } from "./exceptions.ts";
import type { GuestMemory, PageBacking } from "./memory.ts";
import { PAGE_SIZE, PageFlag, PageState, pfnOf } from "./page.ts";

export type CpuLevel = "guest" | "paravisor";

/** Pages a store may give one new backing when it covers pages never written (256 KiB). */
const MAX_NEW_RUN = 64;

export interface Faulting {
  raise(e: Omit<CocoException, "vector" | "errorCode"> & { memory: true }): "fixup" | "retry";
}

export class CpuMemory {
  readonly level: CpuLevel;
  readonly #mem: GuestMemory;
  readonly #isolated: boolean;
  readonly #faults: Faulting;
  /** The shared-GPA boundary (vTOM / TDX shared bit); 0 when the C-bit encodes sharing. */
  readonly sharedBoundary: number;
  readonly vp: number;

  constructor(
    mem: GuestMemory,
    level: CpuLevel,
    isolated: boolean,
    sharedBoundary: number,
    faults: Faulting,
    vp = 0,
  ) {
    this.#mem = mem;
    this.level = level;
    this.#isolated = isolated;
    this.sharedBoundary = sharedBoundary;
    this.#faults = faults;
    this.vp = vp;
  }

  /** Strip the shared alias bit: the page an address names. */
  canonical(addr: number): number {
    return this.sharedBoundary && addr >= this.sharedBoundary ? addr - this.sharedBoundary : addr;
  }

  /**
   * The physical address a guest access to `gpa` goes out on, per its PTE: through
   * the shared alias above the boundary when mapped decrypted (vTOM, C6; TDX shared
   * bit), the plain GPA when mapped encrypted (and always on SNP's C-bit path).
   */
  translate(gpa: number): number {
    const f = this.#mem.flags(pfnOf(gpa));
    if (this.sharedBoundary === 0 || f & PageFlag.ENC_MAPPED) return gpa;
    return gpa + this.sharedBoundary;
  }

  /** The hardware check for one page; undefined when the access may proceed. */
  check(pfn: number, write: boolean): ExceptionCause | undefined {
    if (!this.#mem.contains(pfn)) return "permission";
    if (!this.#isolated) return undefined;
    const f = this.#mem.flags(pfn);
    if (this.level === "guest") {
      // SNP: no RMP permission at VMPL2; TDX: not mapped into the L2 guest.
      if (f & PageFlag.PARAVISOR) return "permission";
      if (!(f & PageFlag.PRESENT)) return "not-present";
    }
    const state = f & PageFlag.STATE_MASK;
    if (state === PageState.TRANSITION) return "transition";
    if (this.level === "guest") {
      const enc = (f & PageFlag.ENC_MAPPED) !== 0;
      if (state === PageState.PRIVATE && !enc) return "enc-mismatch";
      if (state === PageState.SHARED && enc) return "enc-mismatch";
    }
    if (state === PageState.PRIVATE && !(f & PageFlag.VALIDATED)) return "not-validated";
    void write;
    return undefined;
  }

  #access(
    gpa: number,
    len: number,
    write: boolean,
    zeropad: boolean,
    each: (pfn: number, off: number, n: number, ok: boolean) => void,
  ): void {
    let addr = this.canonical(gpa);
    let left = len;
    while (left > 0) {
      const pfn = pfnOf(addr);
      const off = addr - pfn * PAGE_SIZE;
      const n = Math.min(left, PAGE_SIZE - off);
      let cause = this.check(pfn, write);
      let ok = true;
      while (cause !== undefined) {
        const how = this.#faults.raise({
          cause,
          vp: this.vp,
          gpa: pfn * PAGE_SIZE + off,
          zeropad,
          memory: true,
        });
        if (how === "fixup") {
          ok = false;
          break;
        }
        cause = this.check(pfn, write);
      }
      each(pfn, off, n, ok);
      addr += n;
      left -= n;
    }
  }

  /**
   * The length of the run from `addr` (at most `left` bytes) over pages that pass
   * the check and sit in one slab; 0 when the first page needs the checked path
   * (it faults). Leaves the slab in #runSlab (undefined: a page never written,
   * which reads as zeros) and the run's offset in it in #runOff.
   */
  #fastRun(addr: number, left: number, write: boolean): number {
    const pfn = pfnOf(addr);
    if (this.check(pfn, write) !== undefined) return 0;
    const off = addr - pfn * PAGE_SIZE;
    const s = write
      ? this.#mem.slab(pfn, Math.min(MAX_NEW_RUN, Math.ceil((off + left) / PAGE_SIZE)))
      : this.#mem.peekSlab(pfn);
    let n = Math.min(left, PAGE_SIZE - off);
    if (s) {
      // A slab that still backs its whole range needs no per-page lookup.
      const end = s.firstPfn + s.data.length / PAGE_SIZE;
      for (let p = pfn + 1; n < left; p++) {
        if (s.stale ? this.#mem.peekSlab(p) !== s : p >= end) break;
        if (this.check(p, write) !== undefined) break;
        n += Math.min(PAGE_SIZE, left - n);
      }
      this.#runOff = (pfn - s.firstPfn) * PAGE_SIZE + off;
    }
    if (write) this.#mem.writtenBytes(addr, n);
    this.#runSlab = s;
    return n;
  }

  #runSlab: PageBacking | undefined;
  #runOff = 0;

  /** Bytes to the end of the page `addr` is in, at most `left`. */
  #inPage(addr: number, left: number): number {
    return Math.min(left, PAGE_SIZE - (addr % PAGE_SIZE));
  }

  read(gpa: number, len: number, dst: Uint8Array = new Uint8Array(len), dstOff = 0): Uint8Array {
    let addr = this.canonical(gpa);
    let at = dstOff;
    let left = len;
    while (left > 0) {
      let n = this.#fastRun(addr, left, false);
      if (n === 0) {
        n = this.#inPage(addr, left);
        let to = at;
        this.#access(addr, n, false, false, (pfn, off, m, ok) => {
          const page = ok ? this.#mem.peek(pfn) : undefined;
          if (page) dst.set(page.subarray(off, off + m), to);
          else dst.fill(0, to, to + m);
          to += m;
        });
      } else {
        const s = this.#runSlab;
        if (s) dst.set(s.data.subarray(this.#runOff, this.#runOff + n), at);
        else dst.fill(0, at, at + n);
      }
      addr += n;
      at += n;
      left -= n;
    }
    return dst;
  }

  /**
   * load_unaligned_zeropad(): an 8-byte read that may run into the next page; a
   * fault there is fixed up by the exception table and the bytes read as zero.
   */
  loadUnalignedZeropad(gpa: number): Uint8Array {
    const dst = new Uint8Array(8);
    let at = 0;
    this.#access(gpa, 8, false, true, (pfn, off, n, ok) => {
      const page = ok ? this.#mem.peek(pfn) : undefined;
      if (page) dst.set(page.subarray(off, off + n), at);
      at += n;
    });
    return dst;
  }

  /** Store bytes with their labels: one label for all, or a label array parallel to src. */
  write(gpa: number, src: Uint8Array, labels: number | Uint8Array = Label.SECRET): void {
    let addr = this.canonical(gpa);
    let at = 0;
    const len = src.length;
    while (at < len) {
      let n = this.#fastRun(addr, len - at, true);
      if (n === 0) {
        n = this.#inPage(addr, len - at);
        const from = at;
        this.#access(addr, n, true, false, (pfn, off, m, ok) => {
          if (!ok) return;
          const p = this.#mem.page(pfn);
          this.#mem.writtenBytes(pfn * PAGE_SIZE + off, m);
          p.data.set(src.subarray(from, from + m), off);
          if (typeof labels === "number") p.labels.fill(labels, off, off + m);
          else p.labels.set(labels.subarray(from, from + m), off);
        });
      } else {
        const s = this.#runSlab!;
        const o = this.#runOff;
        s.data.set(at === 0 && n === len ? src : src.subarray(at, at + n), o);
        if (typeof labels === "number") s.labels.fill(labels, o, o + n);
        else s.labels.set(labels.subarray(at, at + n), o);
      }
      addr += n;
      at += n;
    }
  }

  fill(gpa: number, len: number, value: number, label: number): void {
    let addr = this.canonical(gpa);
    let left = len;
    while (left > 0) {
      let n = this.#fastRun(addr, left, true);
      if (n === 0) {
        n = this.#inPage(addr, left);
        this.#access(addr, n, true, false, (pfn, off, m, ok) => {
          if (!ok) return;
          const p = this.#mem.page(pfn);
          this.#mem.writtenBytes(pfn * PAGE_SIZE + off, m);
          p.data.fill(value, off, off + m);
          p.labels.fill(label, off, off + m);
        });
      } else {
        const s = this.#runSlab!;
        s.data.fill(value, this.#runOff, this.#runOff + n);
        s.labels.fill(label, this.#runOff, this.#runOff + n);
      }
      addr += n;
      left -= n;
    }
  }

  /**
   * Give `len` bytes at `gpa` a new label, leaving the bytes as they are: the
   * auditor's bookkeeping when the guest hands its own buffer to a device (the bytes
   * are then sent on purpose). The pages get the checks a store would.
   */
  relabel(gpa: number, len: number, label: number): void {
    let addr = this.canonical(gpa);
    let left = len;
    while (left > 0) {
      let n = this.#fastRun(addr, left, true);
      if (n === 0) {
        n = this.#inPage(addr, left);
        this.#access(addr, n, true, false, (pfn, off, m, ok) => {
          if (!ok) return;
          this.#mem.writtenBytes(pfn * PAGE_SIZE + off, m);
          this.#mem.page(pfn).labels.fill(label, off, off + m);
        });
      } else this.#runSlab!.labels.fill(label, this.#runOff, this.#runOff + n);
      addr += n;
      left -= n;
    }
  }

  /**
   * memcpy within guest memory: the bytes and their labels travel together (a
   * bounce of secret data stays secret; a copy of host data stays the host's).
   * Both ranges get the hardware's checks.
   */
  copy(dstGpa: number, srcGpa: number, len: number): void {
    const { data, labels } = this.readLabelled(srcGpa, len);
    this.write(dstGpa, data, labels);
  }

  /**
   * memcpy between two guest ranges that do not overlap, page by page with no
   * staging copy (a swiotlb bounce is one memcpy in Linux). Both pages of each
   * piece get the hardware's checks; a piece that fails one goes through read and
   * write, whose faults behave as for any load and store. The bytes take `label`,
   * or keep their own labels when it is undefined.
   */
  move(dstGpa: number, srcGpa: number, len: number, label?: number): void {
    let d = this.canonical(dstGpa);
    let s = this.canonical(srcGpa);
    let left = len;
    while (left > 0) {
      let n = this.#fastRun(d, left, true);
      const dst = this.#runSlab;
      const doff = this.#runOff;
      if (n > 0) n = this.#fastRun(s, n, false);
      if (n === 0) {
        // A page that faults on either side: the checked load and store.
        n = Math.min(this.#inPage(d, left), this.#inPage(s, left));
        const piece = this.readLabelled(s, n);
        this.write(d, piece.data, label ?? piece.labels);
      } else {
        const src = this.#runSlab;
        const soff = this.#runOff;
        if (src) dst!.data.set(src.data.subarray(soff, soff + n), doff);
        else dst!.data.fill(0, doff, doff + n);
        if (label !== undefined) dst!.labels.fill(label, doff, doff + n);
        else if (src) dst!.labels.set(src.labels.subarray(soff, soff + n), doff);
        else dst!.labels.fill(Label.HOST, doff, doff + n);
      }
      d += n;
      s += n;
      left -= n;
    }
  }

  /** Read bytes with their labels (for code that moves guest data on, e.g. a bounce). */
  readLabelled(gpa: number, len: number): { data: Uint8Array; labels: Uint8Array } {
    const data = new Uint8Array(len);
    const labels = new Uint8Array(len);
    let addr = this.canonical(gpa);
    let at = 0;
    while (at < len) {
      let n = this.#fastRun(addr, len - at, false);
      if (n === 0) {
        n = this.#inPage(addr, len - at);
        let to = at;
        this.#access(addr, n, false, false, (pfn, off, m, ok) => {
          const page = ok ? this.#mem.peek(pfn) : undefined;
          if (page) {
            data.set(page.subarray(off, off + m), to);
            labels.set(this.#mem.peekLabels(pfn)!.subarray(off, off + m), to);
          } else labels.fill(Label.HOST, to, to + m);
          to += m;
        });
      } else {
        const s = this.#runSlab;
        const o = this.#runOff;
        if (s) {
          data.set(s.data.subarray(o, o + n), at);
          labels.set(s.labels.subarray(o, o + n), at);
        } else labels.fill(Label.HOST, at, at + n);
      }
      addr += n;
      at += n;
    }
    return { data, labels };
  }

  /** Map `size` bytes of whole pages at `gpa` as one window (for rings and other long-lived buffers). */
  window(gpa: number, size: number): CpuWindow {
    return new CpuWindow(this, this.#mem, this.canonical(gpa), size);
  }

  readU64(gpa: number): bigint {
    const b = this.read(gpa, 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    // #runSlab and #runOff are not state: each access sets them before it reads them.
    return [this.#mem, this.#isolated, this.#faults];
  }
}

/**
 * A trusted context's mapping of a contiguous run of pages (the kernel's vmap of a
 * ring): one view, checked page by page when made and again whenever any page's
 * state changed since (the memory's epoch), so a page converted under it faults as
 * a load or store would. Structurally a vmbus RingMemory.
 */
export class CpuWindow {
  readonly size: number;
  readonly gpa: number;
  readonly #cpu: CpuMemory;
  readonly #mem: GuestMemory;
  readonly #data: Uint8Array;
  readonly #labels: Uint8Array;
  readonly #dv: DataView;
  #epoch = -1;

  constructor(cpu: CpuMemory, mem: GuestMemory, gpa: number, size: number) {
    if (gpa % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || size === 0)
      throw new Error("window must be whole pages");
    this.#cpu = cpu;
    this.#mem = mem;
    this.gpa = gpa;
    this.size = size;
    const v = mem.contiguous(pfnOf(gpa), size / PAGE_SIZE);
    this.#data = v.data;
    this.#labels = v.labels;
    this.#dv = new DataView(v.data.buffer, v.data.byteOffset, v.data.byteLength);
  }

  /** Re-run the hardware checks if any page changed state since the last access. */
  #valid(): void {
    if (this.#epoch === this.#mem.epoch) return;
    const first = pfnOf(this.gpa);
    for (let i = 0; i < this.size / PAGE_SIZE; i++) {
      // A failing page raises through the owner's handler (and kills the guest if unresolved).
      if (this.#cpu.check(first + i, true) !== undefined) this.#cpu.read((first + i) * PAGE_SIZE, 1);
    }
    this.#epoch = this.#mem.epoch;
  }

  #bounds(off: number, len: number): void {
    if (!(off >= 0 && len >= 0 && off + len <= this.size))
      throw new Error(`window access ${off}+${len} outside ${this.size}`);
  }

  getU32(off: number): number {
    this.#valid();
    return this.#dv.getUint32(off, true);
  }

  setU32(off: number, v: number): void {
    this.#valid();
    this.#mem.writtenBytes(this.gpa + off, 4);
    this.#dv.setUint32(off, v >>> 0, true);
    this.#labels.fill(Label.PUBLIC, off, off + 4);
  }

  read(off: number, dst: Uint8Array, dstOff: number, len: number): void {
    this.#valid();
    this.#bounds(off, len);
    dst.set(this.#data.subarray(off, off + len), dstOff);
  }

  write(off: number, src: Uint8Array, srcOff: number, len: number, labels: number | Uint8Array): void {
    this.#valid();
    this.#bounds(off, len);
    this.#mem.writtenBytes(this.gpa + off, len);
    this.#data.set(srcOff === 0 && len === src.length ? src : src.subarray(srcOff, srcOff + len), off);
    if (typeof labels === "number") this.#labels.fill(labels, off, off + len);
    else this.#labels.set(labels.subarray(srcOff, srcOff + len), off);
  }

  fill(off: number, len: number, value: number, label: number): void {
    this.#valid();
    this.#bounds(off, len);
    this.#mem.writtenBytes(this.gpa + off, len);
    this.#data.fill(value, off, off + len);
    this.#labels.fill(label, off, off + len);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#cpu, this.#mem, this.#data, this.#labels, this.#dv, this.#epoch];
  }
  load(s: unknown[]): void {
    this.#epoch = s[5] as never;
  }
}
