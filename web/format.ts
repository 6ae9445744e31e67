// Number and address formatting for the report page.

export function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A page range as GPAs: "0x1004000–0x4f04fff". */
export function gpaRange(pfn: number, pages: number): string {
  return `${hex(pfn * 4096)}–${hex((pfn + pages) * 4096 - 1)}`;
}

/** A crossing's detail as "key=value" pairs (long hex payloads shortened). */
export function detailText(d: Record<string, number | string | boolean> | undefined): string {
  if (!d) return "";
  return Object.entries(d)
    .map(([k, v]) => {
      const s = String(v);
      return `${k}=${s.length > 48 ? `${s.slice(0, 48)}…(${s.length})` : s}`;
    })
    .join(" ");
}
