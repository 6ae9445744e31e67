// What a VM snapshot (src/vm/snapshot.ts) may skip, declared where the state lives:
// an append-only log whose records never change once appended needs only its
// length saved (a restore cuts off what came after), not a copy of every record.
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

const scratchBuffers = new WeakSet<ArrayBufferLike>();

/**
 * Declare `b` scratch: each use writes what it then reads, so its bytes between
 * uses mean nothing and a snapshot need not keep them. Only for buffers whose
 * stale bytes can never reach anyone (not a guest's staging buffer, whose stale
 * bytes are exactly what zero-padding is about). Returns `b`.
 */
export function scratch<T extends ArrayBufferView>(b: T): T {
  scratchBuffers.add(b.buffer);
  return b;
}

export function isScratch(b: ArrayBufferLike): boolean {
  return scratchBuffers.has(b);
}

const readonlyBuffers = new WeakSet<ArrayBufferLike>();

/**
 * Declare `b`'s bytes final: nothing writes them after this call (a launch image,
 * a measured page), so a snapshot need not copy them. Returns `b`.
 */
export function readonlyBytes<T extends ArrayBufferView>(b: T): T {
  readonlyBuffers.add(b.buffer);
  return b;
}

export function isReadonlyBytes(b: ArrayBufferLike): boolean {
  return readonlyBuffers.has(b);
}
