// A ring's memory as two plain arrays: the bytes, and one label per byte (what the
// auditor would see). For tests and benches; the VM gives each side a RingMemory
// over its own view of guest memory instead.
import { Label } from "../audit/labels.ts";
import { VmbusSize } from "./constants.ts";
import type { RingMemory } from "./ring.ts";

const RING_DATA = VmbusSize.RING_HEADER_SIZE;
/** Pieces up to this many bytes are copied in a loop (cheaper than a builtin call and a view). */
const SMALL = 32;

/**
 * A ring over plain arrays: data plus one label byte per data byte. For tests and
 * benches. Fresh memory is zero and labelled `initialLabel` (PUBLIC by default: a
 * zeroed ring the guest has just shared); setU32 labels its bytes `u32Label`.
 */
export class ArrayRingMemory implements RingMemory {
  readonly size: number;
  readonly data: Uint8Array;
  readonly labels: Uint8Array;
  /** The label setU32 gives the four bytes it writes (the writing side's protocol fields). */
  u32Label: number;
  readonly #dv: DataView;

  constructor(size: number, opts: { u32Label?: number; initialLabel?: number } = {}) {
    if (!Number.isInteger(size) || size < RING_DATA + 8 || size % 8 !== 0)
      throw new Error(`ring size ${size}: need a multiple of 8 above the 4 KiB header`);
    this.size = size;
    this.data = new Uint8Array(size);
    this.labels = new Uint8Array(size).fill(opts.initialLabel ?? Label.PUBLIC);
    this.u32Label = opts.u32Label ?? Label.PUBLIC;
    this.#dv = new DataView(this.data.buffer);
  }

  #check(off: number, len: number): void {
    if (!(off >= 0 && len >= 0 && off + len <= this.size))
      throw new Error(`ring access ${off}+${len} outside ${this.size}`);
  }

  getU32(off: number): number {
    return this.#dv.getUint32(off, true);
  }

  setU32(off: number, v: number): void {
    this.#dv.setUint32(off, v, true);
    const l = this.labels;
    const lab = this.u32Label;
    l[off] = lab;
    l[off + 1] = lab;
    l[off + 2] = lab;
    l[off + 3] = lab;
  }

  read(off: number, dst: Uint8Array, dstOff: number, len: number): void {
    this.#check(off, len);
    const d = this.data;
    if (len <= SMALL) for (let i = 0; i < len; i++) dst[dstOff + i] = d[off + i]!;
    else dst.set(d.subarray(off, off + len), dstOff);
  }

  write(off: number, src: Uint8Array, srcOff: number, len: number, labels: number | Uint8Array): void {
    this.#check(off, len);
    const d = this.data;
    const l = this.labels;
    if (len <= SMALL && typeof labels === "number") {
      // Small pieces (descriptor, trailer): a loop beats the builtins' call overhead.
      for (let i = 0; i < len; i++) {
        d[off + i] = src[srcOff + i]!;
        l[off + i] = labels;
      }
      return;
    }
    const whole = srcOff === 0 && len === src.length; // skip the subarray view (an allocation)
    d.set(whole ? src : src.subarray(srcOff, srcOff + len), off);
    if (typeof labels === "number") l.fill(labels, off, off + len);
    else l.set(srcOff === 0 && labels.length === len ? labels : labels.subarray(srcOff, srcOff + len), off);
  }

  fill(off: number, len: number, value: number, label: number): void {
    this.#check(off, len);
    if (len <= SMALL) {
      const d = this.data;
      const l = this.labels;
      for (let i = 0; i < len; i++) {
        d[off + i] = value;
        l[off + i] = label;
      }
      return;
    }
    this.data.fill(value, off, off + len);
    this.labels.fill(label, off, off + len);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#dv];
  }
}
