// What a VM snapshot (src/vm/snapshot.ts) may skip, declared where the state lives:
// an append-only log whose records never change once appended needs only its
// length saved (a restore cuts off what came after), not a copy of every record;
// scratch and final bytes need no copy at all; a buffer whose writers report what
// they write needs only that range put back.
// Kept apart from the snapshot so that low layers (the platform, the auditor) can
// declare their logs without importing the VM.

const logs = new WeakSet<readonly unknown[]>();

/** Declare `a` an append-only log of records never changed once appended. Returns `a`. */
export function appendOnly<T>(a: T[]): T[] {
  logs.add(a);
  return a;
}

export function isAppendOnly(a: readonly unknown[]): boolean {
  return logs.has(a);
}

/** Buffers whose bytes a snapshot need not keep (declared by scratch or readonlyBytes). */
const unkept = new WeakSet<ArrayBufferLike>();

/**
 * Declare `b` scratch: each use writes what it then reads, so its bytes between
 * uses mean nothing and a snapshot need not keep them. Only for buffers whose
 * stale bytes can never reach anyone (not a guest's staging buffer, whose stale
 * bytes are exactly what zero-padding is about). Returns `b`.
 */
export function scratch<T extends ArrayBufferView>(b: T): T {
  unkept.add(b.buffer);
  return b;
}

/**
 * Declare `b`'s bytes final: nothing writes them after this call (a launch image,
 * a measured page), so a snapshot need not copy them. Returns `b`.
 */
export function readonlyBytes<T extends ArrayBufferView>(b: T): T {
  unkept.add(b.buffer);
  return b;
}

/** Whether a snapshot may leave the bytes of `b` out (scratch or read-only). */
export function isUnkept(b: ArrayBufferLike): boolean {
  return unkept.has(b);
}

/**
 * The bytes of a buffer written since a snapshot, as one range (reported by its
 * writers): a restore of that snapshot copies back only the range. `owner` is the
 * snapshot the range counts from; any other snapshot restores the whole buffer.
 */
export class WriteRange {
  lo = Number.POSITIVE_INFINITY;
  hi = 0;
  owner: object | undefined;

  /** Bytes [from, to) of the buffer (relative to the view it was declared with) are written. */
  wrote(from: number, to: number): void {
    if (from < this.lo) this.lo = from;
    if (to > this.hi) this.hi = to;
  }

  /** Start counting from snapshot `owner`. */
  reset(owner: object): void {
    this.lo = Number.POSITIVE_INFINITY;
    this.hi = 0;
    this.owner = owner;
  }
}

const writeRanges = new WeakMap<ArrayBufferLike, WriteRange>();

/**
 * Declare that every write of `b` is reported to the returned range (a whole buffer
 * of its own, from offset 0): a snapshot then copies back only what was written
 * since, not the whole buffer.
 */
export function trackWrites(b: Uint8Array): WriteRange {
  if (b.byteOffset !== 0 || b.byteLength !== b.buffer.byteLength)
    throw new Error("trackWrites needs a view of a whole buffer");
  const r = new WriteRange();
  writeRanges.set(b.buffer, r);
  return r;
}

export function writeRangeOf(b: ArrayBufferLike): WriteRange | undefined {
  return writeRanges.get(b);
}
