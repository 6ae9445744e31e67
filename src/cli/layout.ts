// `hvcoco layout`: every struct (name, field, offset, size) and constant, as a table or JSON.
import Table from "cli-table3";
import { ALL_LAYOUTS } from "../layout/all.ts";
import type { ConstantEntry } from "../layout/struct.ts";

function hex(v: ConstantEntry["value"]): string {
  if (typeof v === "string") return JSON.stringify(v);
  const n = typeof v === "bigint" ? v : BigInt(v);
  return n < 0n ? String(v) : `0x${n.toString(16)}`;
}

export function layoutJson(section?: string): unknown {
  return ALL_LAYOUTS.filter((s) => !section || s.section === section).map((s) => ({
    section: s.section,
    structs: s.structs.map((st) => ({ name: st.name, header: st.header, size: st.size, fields: st.fields })),
    constants: s.constants.map((c) => ({
      ...c,
      value: typeof c.value === "bigint" ? `0x${c.value.toString(16)}` : c.value,
    })),
  }));
}

export function layoutText(section?: string): string {
  const out: string[] = [];
  for (const s of ALL_LAYOUTS.filter((x) => !section || x.section === section)) {
    out.push(`== ${s.section} ==`);
    for (const st of s.structs) {
      const t = new Table({ head: ["field", "offset", "size", "note"], style: { head: [], border: [] } });
      for (const f of st.fields)
        t.push([f.count > 1 ? `${f.name}[${f.count}]` : f.name, f.offset, f.size * f.count, f.note ?? ""]);
      out.push(`struct ${st.name} (${st.size} bytes; ${st.header})`, t.toString());
    }
    const t = new Table({ head: ["group", "name", "value", "header"], style: { head: [], border: [] } });
    for (const c of s.constants) t.push([c.group, c.name, hex(c.value), c.header]);
    out.push("constants", t.toString());
  }
  return out.join("\n");
}

export function layoutSections(): string[] {
  return ALL_LAYOUTS.map((s) => s.section);
}
