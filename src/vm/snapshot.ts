// A VM's state, saved and put back in place: the fuzzer's fresh state per case.
//
// The snapshot walks everything reachable from the VM — its own fields, arrays,
// Maps, Sets and the bytes behind typed arrays — and records it by identity; a
// class that keeps `#private` fields (which no walk can see) is Snapshottable: its
// save() hands the walk those fields by reference and load() puts them back.
// Restoring writes every recorded object back in place (same identities, so the
// closures and views captured during boot stay valid); whatever was created after
// the snapshot is simply no longer referenced. State that lives only in a closure
// is invisible to the walk: the VM keeps such objects reachable (Vm's streams).
import { KeyObject } from "node:crypto";

/** A class whose `#private` fields hold state: the walk reaches them through these. */
export interface Snapshottable {
  /** The private fields, by reference (the snapshot copies what they hold). */
  save(): unknown[];
  /** Put back the private fields save() returned (readonly ones keep their identity). */
  load(s: unknown[]): void;
}

interface ObjectRecord {
  readonly o: Record<string, unknown>;
  readonly keys: string[];
  readonly vals: unknown[];
  readonly priv: unknown[] | undefined;
}

export interface VmSnapshot {
  /** The object the snapshot was taken of. */
  readonly root: object;
  readonly objects: readonly ObjectRecord[];
  readonly arrays: readonly { o: unknown[]; vals: unknown[] }[];
  readonly maps: readonly { o: Map<unknown, unknown>; entries: [unknown, unknown][] }[];
  readonly sets: readonly { o: Set<unknown>; vals: unknown[] }[];
  /** Every ArrayBuffer behind a typed array or DataView, with a copy of its bytes. */
  readonly buffers: readonly { o: Uint8Array; copy: Uint8Array }[];
}

function isSnapshottable(o: object): o is Snapshottable {
  const s = o as Partial<Snapshottable>;
  return typeof s.save === "function" && typeof s.load === "function";
}

/** Objects without state of their own the walk could put back (or that are immutable). */
function isLeaf(o: object): boolean {
  return (
    o instanceof KeyObject ||
    o instanceof Promise ||
    o instanceof WeakMap ||
    o instanceof WeakSet ||
    o instanceof WeakRef ||
    o instanceof RegExp ||
    o instanceof Date
  );
}

export function takeSnapshot(root: object): VmSnapshot {
  const seen = new Set<unknown>();
  const seenBuffers = new Set<ArrayBufferLike>();
  const objects: ObjectRecord[] = [];
  const arrays: { o: unknown[]; vals: unknown[] }[] = [];
  const maps: { o: Map<unknown, unknown>; entries: [unknown, unknown][] }[] = [];
  const sets: { o: Set<unknown>; vals: unknown[] }[] = [];
  const buffers: { o: Uint8Array; copy: Uint8Array }[] = [];
  const stack: unknown[] = [root];
  const buffer = (b: ArrayBufferLike): void => {
    if (seenBuffers.has(b)) return;
    seenBuffers.add(b);
    const o = new Uint8Array(b);
    buffers.push({ o, copy: o.slice() });
  };
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null || seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v)) {
      buffer(v.buffer);
      continue;
    }
    if (
      v instanceof ArrayBuffer ||
      (typeof SharedArrayBuffer !== "undefined" && v instanceof SharedArrayBuffer)
    ) {
      buffer(v);
      continue;
    }
    if (Array.isArray(v)) {
      const vals = v.slice();
      if (!Object.isFrozen(v)) arrays.push({ o: v, vals });
      for (const x of vals) stack.push(x);
      continue;
    }
    if (v instanceof Map) {
      const entries = [...(v as Map<unknown, unknown>).entries()];
      maps.push({ o: v, entries });
      for (const [k, x] of entries) stack.push(k, x);
      continue;
    }
    if (v instanceof Set) {
      const vals = [...(v as Set<unknown>)];
      sets.push({ o: v, vals });
      for (const x of vals) stack.push(x);
      continue;
    }
    if (isLeaf(v)) continue;
    const o = v as Record<string, unknown>;
    const frozen = Object.isFrozen(o);
    const keys: string[] = [];
    const vals: unknown[] = [];
    const descriptors = Object.getOwnPropertyDescriptors(o);
    for (const k of Object.keys(descriptors)) {
      const d = descriptors[k]!;
      if (!("value" in d)) continue;
      stack.push(d.value);
      if (d.writable && d.enumerable) {
        keys.push(k);
        vals.push(d.value);
      }
    }
    const priv = isSnapshottable(o) ? o.save() : undefined;
    if (priv) for (const x of priv) stack.push(x);
    if (!frozen) objects.push({ o, keys, vals, priv });
  }
  return { root, objects, arrays, maps, sets, buffers };
}

export function restoreSnapshot(s: VmSnapshot): void {
  for (const b of s.buffers) b.o.set(b.copy);
  for (const a of s.arrays) {
    const o = a.o;
    const vals = a.vals;
    o.length = vals.length;
    for (let i = 0; i < vals.length; i++) o[i] = vals[i];
  }
  for (const m of s.maps) {
    m.o.clear();
    for (const [k, x] of m.entries) m.o.set(k, x);
  }
  for (const t of s.sets) {
    t.o.clear();
    for (const x of t.vals) t.o.add(x);
  }
  for (const r of s.objects) {
    const o = r.o;
    const keys = r.keys;
    const vals = r.vals;
    for (let i = 0; i < keys.length; i++) o[keys[i]!] = vals[i];
    // Properties added since the snapshot go (class fields are all defined at construction).
    const now = Object.keys(o);
    if (now.length !== keys.length)
      for (const k of now)
        if (!keys.includes(k) && Object.getOwnPropertyDescriptor(o, k)?.writable) delete o[k];
    if (r.priv) (o as unknown as Snapshottable).load(r.priv);
  }
}
