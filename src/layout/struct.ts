// Struct definitions: one table per wire struct gives its fields' offsets and sizes.
// Codecs read and write with DataView at these offsets; `hvcoco layout` prints the
// same tables, so what is printed is what is used. Each definition names the header
// it is exact to.

export interface FieldDef {
  name: string;
  /** Size in bytes. */
  size: number;
  /** Number of elements for arrays (size is the element size). Default 1. */
  count?: number;
  /** One line: meaning, units, bit layout. */
  note?: string;
}

export interface Field {
  name: string;
  offset: number;
  size: number;
  count: number;
  note?: string;
}

export interface StructLayout<N extends string = string> {
  name: string;
  /** The header (and, where useful, the kernel/OpenVMM tree) the layout is exact to. */
  header: string;
  /** Total size in bytes (a variable-length tail counts as zero elements). */
  size: number;
  fields: readonly Field[];
  /** Offset of each field by name. */
  off: Record<N, number>;
}

/** Lay out packed fields in order (the structs hvcoco models are all __packed or naturally aligned). */
export function defineStruct<const F extends readonly FieldDef[]>(
  name: string,
  header: string,
  defs: F,
  opts: { size?: number } = {},
): StructLayout<F[number]["name"]> {
  const fields: Field[] = [];
  const off = {} as Record<string, number>;
  let at = 0;
  for (const d of defs) {
    const count = d.count ?? 1;
    const f: Field = { name: d.name, offset: at, size: d.size, count };
    if (d.note !== undefined) f.note = d.note;
    fields.push(f);
    off[d.name] = at;
    at += d.size * count;
  }
  const size = opts.size ?? at;
  if (size < at) throw new Error(`${name}: declared size ${size} < fields ${at}`);
  return { name, header, size, fields, off: off as Record<F[number]["name"], number> };
}

export interface ConstantEntry {
  group: string;
  name: string;
  value: number | bigint | string;
  header: string;
  note?: string;
}

/** Turn an `as const` table of numbers into constant entries. */
export function constantsOf(
  group: string,
  header: string,
  table: Record<string, number | bigint | string>,
  notes: Record<string, string> = {},
): ConstantEntry[] {
  return Object.entries(table).map(([name, value]) => {
    const e: ConstantEntry = { group, name, value, header };
    const n = notes[name];
    if (n !== undefined) e.note = n;
    return e;
  });
}
