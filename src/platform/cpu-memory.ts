// Memory access by a trusted CPU context (the guest, or the paravisor): the
// hardware's checks on each page a load or store touches. A check that fails
// raises an exception through the platform's router; if its owner resolves it
// with a fixup the access completes with zeros for that page (the
// load_unaligned_zeropad contract), otherwise the guest is dead.
import { Label } from "../audit/labels.ts";
import type { CocoException, ExceptionCause } from "./exceptions.ts";
import type { GuestMemory } from "./memory.ts";
import { PAGE_SIZE, PageFlag, PageState, pfnOf } from "./page.ts";

export type CpuLevel = "guest" | "paravisor";

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

  read(gpa: number, len: number, dst: Uint8Array = new Uint8Array(len), dstOff = 0): Uint8Array {
    let at = dstOff;
    this.#access(gpa, len, false, false, (pfn, off, n, ok) => {
      const page = ok ? this.#mem.peek(pfn) : undefined;
      if (page) dst.set(page.subarray(off, off + n), at);
      else dst.fill(0, at, at + n);
      at += n;
    });
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
    let at = 0;
    this.#access(gpa, src.length, true, false, (pfn, off, n, ok) => {
      if (ok) {
        const p = this.#mem.page(pfn);
        p.data.set(src.subarray(at, at + n), off);
        if (typeof labels === "number") p.labels.fill(labels, off, off + n);
        else p.labels.set(labels.subarray(at, at + n), off);
      }
      at += n;
    });
  }

  fill(gpa: number, len: number, value: number, label: number): void {
    this.#access(gpa, len, true, false, (pfn, off, n, ok) => {
      if (!ok) return;
      const p = this.#mem.page(pfn);
      p.data.fill(value, off, off + n);
      p.labels.fill(label, off, off + n);
    });
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

  /** Read bytes with their labels (for code that moves guest data on, e.g. a bounce). */
  readLabelled(gpa: number, len: number): { data: Uint8Array; labels: Uint8Array } {
    const data = new Uint8Array(len);
    const labels = new Uint8Array(len);
    let at = 0;
    this.#access(gpa, len, false, false, (pfn, off, n, ok) => {
      const page = ok ? this.#mem.peek(pfn) : undefined;
      if (page) {
        data.set(page.subarray(off, off + n), at);
        labels.set(this.#mem.peekLabels(pfn)!.subarray(off, off + n), at);
      } else labels.fill(Label.HOST, at, at + n);
      at += n;
    });
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
    this.#data.set(srcOff === 0 && len === src.length ? src : src.subarray(srcOff, srcOff + len), off);
    if (typeof labels === "number") this.#labels.fill(labels, off, off + len);
    else this.#labels.set(labels.subarray(srcOff, srcOff + len), off);
  }

  fill(off: number, len: number, value: number, label: number): void {
    this.#valid();
    this.#bounds(off, len);
    this.#data.fill(value, off, off + len);
    this.#labels.fill(label, off, off + len);
  }
}
