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
import { GuestMemory, LINE_SHIFT } from "../platform/memory.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import { isAppendOnly, isUnkept, type WriteRange, writeRangeOf } from "../util/snapshot-hints.ts";

/** A class whose `#private` fields hold state: the walk reaches them through these. */
export interface Snapshottable {
  /** The private fields, by reference (the snapshot copies what they hold). */
  save(): unknown[];
  /**
   * Put back the private fields save() returned that can change (readonly ones keep
   * their identity); absent when none can.
   */
  load?(s: unknown[]): void;
}

interface ObjectRecord {
  readonly o: Record<string, unknown>;
  readonly keys: string[];
  readonly vals: unknown[];
  readonly priv: unknown[] | undefined;
}

/**
 * Puts back the properties of objects of one shape: objs[j] gets the values at
 * vals[j * keys, (j + 1) * keys), in its keys' order. Compiled per shape (see
 * restorerFor).
 */
type Restorer = (objs: readonly Record<string, unknown>[], vals: readonly unknown[]) => void;

/** The objects of one shape in a snapshot, with their values in one flat array. */
interface ShapeGroup {
  readonly put: Restorer;
  readonly objs: Record<string, unknown>[];
  readonly vals: unknown[];
}

interface ArrayRecord {
  readonly o: unknown[];
  readonly vals: unknown[];
  /** Puts vals back (its own compiled copy of putElements for a long array: see arrayRestorer). */
  readonly put: (o: unknown[], vals: unknown[]) => void;
}

function putElements(o: unknown[], v: unknown[]): void {
  if (o.length !== v.length) o.length = v.length;
  for (let i = 0; i < v.length; i++) if (o[i] !== v[i]) o[i] = v[i];
}

/**
 * putElements compiled afresh for one array: its element loads and stores then see
 * one kind of array (numbers, holes, objects) and stay fast, where a loop shared by
 * every array of a VM goes generic at several times the cost per element.
 */
function arrayRestorer(): (o: unknown[], vals: unknown[]) => void {
  return new Function(
    "o",
    "v",
    "if (o.length !== v.length) o.length = v.length;\nfor (let i = 0; i < v.length; i++) if (o[i] !== v[i]) o[i] = v[i];",
  ) as never;
}

const restorers = new Map<string, Restorer>();

/** Properties added since the snapshot go (class fields are all defined at construction). */
function dropAdded(o: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k) && Object.getOwnPropertyDescriptor(o, k)?.writable) delete o[k];
}

/**
 * A function that puts back the properties `keys` of every object of a shape, in
 * one loop: compiled per shape so that each load and store is a named property
 * access the engine caches for that shape (a generic o[k] = v over a thousand
 * shapes is several times slower), and called once per shape rather than once per
 * object. A plain object (possibly a dictionary) is also checked for properties
 * added since.
 */
function restorerFor(plain: boolean, keys: readonly string[]): Restorer {
  const id = `${plain ? "p" : "c"}\0${keys.join("\0")}`;
  let f = restorers.get(id);
  if (!f) {
    const stores = keys
      .map((k, i) => {
        const q = JSON.stringify(k);
        return `if (o[${q}] !== v[at + ${i}]) o[${q}] = v[at + ${i}];`;
      })
      .join("\n");
    const check = plain ? `let n = 0; for (const k in o) n++; if (n !== ${keys.length}) drop(o, keys);` : "";
    // Generated from property names the walk read (JSON-quoted), nothing else.
    const make = new Function(
      "drop",
      "keys",
      `return (objs, v) => {\nfor (let j = 0, at = 0; j < objs.length; j++, at += ${keys.length}) {\nconst o = objs[j];\n${stores}\n${check}\n}\n};`,
    );
    f = make(dropAdded, keys) as Restorer;
    restorers.set(id, f);
  }
  return f;
}

export interface VmSnapshot {
  /** The object the snapshot was taken of. */
  readonly root: object;
  /**
   * What a restore reads for the objects: per shape, the objects and their values
   * in one flat array (so it streams through memory instead of chasing a record
   * per object); and the objects whose private fields load() puts back, each
   * followed by those fields.
   */
  readonly shapes: readonly ShapeGroup[];
  readonly loads: readonly unknown[];
  readonly objects: readonly ObjectRecord[];
  readonly arrays: readonly ArrayRecord[];
  /** Append-only logs (util/snapshot-hints.ts): their length only; their records never change. */
  readonly logs: readonly { o: unknown[]; length: number }[];
  readonly maps: readonly { o: Map<unknown, unknown>; entries: [unknown, unknown][] }[];
  readonly sets: readonly { o: Set<unknown>; vals: unknown[] }[];
  /**
   * Every ArrayBuffer behind a typed array or DataView, with a copy of its bytes;
   * `memory` when it backs guest pages (restored page by page, see memories).
   */
  readonly buffers: readonly {
    o: Uint8Array;
    copy: Uint8Array;
    memory?: GuestMemory;
    /** Its writers report what they write (util/snapshot-hints.ts trackWrites). */
    range?: WriteRange;
  }[];
  /**
   * Guest memories in the graph, each marked when the snapshot was taken: a restore
   * puts back only the pages written since the mark (the memory logs its writers),
   * and copies every page only when the memory went back past the mark.
   */
  readonly memories: readonly {
    mem: GuestMemory;
    mark: number;
    copies: Map<ArrayBufferLike, Uint8Array>;
    /** The pfn → backing map as it was. */
    backing: ReadonlyMap<number, unknown>;
  }[];
}

function isSnapshottable(o: object): o is Snapshottable {
  const s = o as Partial<Snapshottable>;
  return typeof s.save === "function";
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
  const arrays: ArrayRecord[] = [];
  const shapes = new Map<Restorer, ShapeGroup>();
  const loads: unknown[] = [];
  const logs: { o: unknown[]; length: number }[] = [];
  const maps: { o: Map<unknown, unknown>; entries: [unknown, unknown][] }[] = [];
  const sets: { o: Set<unknown>; vals: unknown[] }[] = [];
  const buffers: { o: Uint8Array; copy: Uint8Array; memory?: GuestMemory; range?: WriteRange }[] = [];
  const mems: GuestMemory[] = [];
  const stack: unknown[] = [root];
  const buffer = (b: ArrayBufferLike): void => {
    if (seenBuffers.has(b) || isUnkept(b)) return;
    seenBuffers.add(b);
    const o = new Uint8Array(b);
    const range = writeRangeOf(b);
    buffers.push(range ? { o, copy: o.slice(), range } : { o, copy: o.slice() });
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
    if (Array.isArray(v) && isAppendOnly(v)) {
      logs.push({ o: v, length: v.length });
      continue;
    }
    if (Array.isArray(v)) {
      const vals = v.slice();
      if (!Object.isFrozen(v))
        arrays.push({ o: v, vals, put: vals.length >= 8 ? arrayRestorer() : putElements });
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
    if (o instanceof GuestMemory) mems.push(o);
    const priv = isSnapshottable(o) ? o.save() : undefined;
    if (priv) for (const x of priv) stack.push(x);
    if (!frozen) {
      const proto = Object.getPrototypeOf(o);
      objects.push({ o, keys, vals, priv });
      const put = restorerFor(proto === Object.prototype || proto === null, keys);
      let g = shapes.get(put);
      if (!g) {
        g = { put, objs: [], vals: [] };
        shapes.set(put, g);
      }
      g.objs.push(o);
      for (const x of vals) g.vals.push(x);
      if (priv && typeof (o as Partial<Snapshottable>).load === "function") loads.push(o, priv);
    }
  }
  const memories = mems.map((mem) => {
    const slabs = mem.slabBuffers();
    const copies = new Map<ArrayBufferLike, Uint8Array>();
    for (const b of buffers)
      if (slabs.has(b.o.buffer)) {
        b.memory = mem;
        copies.set(b.o.buffer, b.copy);
      }
    return { mem, mark: mem.mark(), copies, backing: new Map(mem.backingMap) };
  });
  const snapshot = {
    root,
    shapes: [...shapes.values()],
    loads,
    objects,
    arrays,
    logs,
    maps,
    sets,
    buffers,
    memories,
  };
  for (const b of buffers) b.range?.reset(snapshot);
  return snapshot;
}

/**
 * Put back the lines `lines` (a bit per 256 bytes) of page `pfn` of `mem`, in its
 * backing as at the snapshot, from the snapshot's copies.
 */
function restorePage(
  mem: GuestMemory,
  copies: Map<ArrayBufferLike, Uint8Array>,
  pfn: number,
  lines: number,
): void {
  const s = mem.peekSlab(pfn);
  if (!s) return; // first written after the snapshot: its backing is gone with it
  const d = copies.get(s.data.buffer)!;
  const l = copies.get(s.labels.buffer)!;
  const page = (pfn - s.firstPfn) * PAGE_SIZE;
  for (let i = 0; i < PAGE_SIZE >>> LINE_SHIFT; i++) {
    if ((lines & (1 << i)) === 0) continue;
    let j = i + 1;
    while (j < PAGE_SIZE >>> LINE_SHIFT && lines & (1 << j)) j++;
    const from = page + (i << LINE_SHIFT);
    const to = page + (j << LINE_SHIFT);
    s.data.set(d.subarray(s.data.byteOffset + from, s.data.byteOffset + to), from);
    s.labels.set(l.subarray(s.labels.byteOffset + from, s.labels.byteOffset + to), from);
    i = j;
  }
}

/** Whether a map holds exactly these entries, in this order (then it needs no rebuilding). */
function sameEntries(m: Map<unknown, unknown>, entries: readonly [unknown, unknown][]): boolean {
  if (m.size !== entries.length) return false;
  let i = 0;
  for (const [k, x] of m) {
    const e = entries[i++]!;
    if (e[0] !== k || e[1] !== x) return false;
  }
  return true;
}

export function restoreSnapshot(s: VmSnapshot): void {
  // Memories still holding the snapshot's mark go back page by page (below).
  const incremental = new Set<GuestMemory>();
  // Their pfn → backing maps go back entry by entry: those allocated since.
  const managed = new Set<unknown>();
  for (const m of s.memories) {
    const runs = m.mem.allocatedSince(m.mark);
    if (!runs) continue;
    incremental.add(m.mem);
    managed.add(m.mem.backingMap);
    m.mem.restoreBacking(runs, m.backing);
  }
  for (const b of s.buffers) {
    if (b.memory && incremental.has(b.memory)) continue;
    const o = b.o;
    const c = b.copy;
    const r = b.range;
    if (r) {
      // Only what was written since this snapshot (all of it after another one's).
      if (r.owner !== s) o.set(c);
      else if (r.hi > r.lo) o.set(c.subarray(r.lo, r.hi), r.lo);
      r.reset(s);
      continue;
    }
    // A few bytes: compared and put back in place, cheaper than a native copy call.
    if (c.length <= 64) {
      for (let i = 0; i < c.length; i++) if (o[i] !== c[i]) o[i] = c[i]!;
    } else o.set(c);
  }
  for (const l of s.logs) l.o.length = l.length;
  for (const a of s.arrays) a.put(a.o, a.vals);
  for (const m of s.maps)
    if (!managed.has(m.o) && !sameEntries(m.o, m.entries)) {
      m.o.clear();
      for (const [k, x] of m.entries) m.o.set(k, x);
    }
  for (const t of s.sets) {
    t.o.clear();
    for (const x of t.vals) t.o.add(x);
  }
  for (const g of s.shapes) g.put(g.objs, g.vals);
  const l = s.loads;
  for (let i = 0; i < l.length; i += 2) (l[i] as Required<Snapshottable>).load(l[i + 1] as unknown[]);
  // Last: the pages go back into their backings as the snapshot had them (restored above).
  for (const m of s.memories)
    if (incremental.has(m.mem))
      m.mem.rewind(m.mark, (pfn, lines) => restorePage(m.mem, m.copies, pfn, lines));
    else m.mem.restartAt(m.mark);
}
