// Test helpers: hand-written hex (spaces and newlines ignored) to bytes, and back.
export function hex(s: string): Uint8Array {
  const h = s.replace(/\s+/g, "");
  if (h.length % 2 !== 0 || /[^0-9a-f]/i.test(h)) throw new Error(`bad hex: ${s}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function zeros(n: number): string {
  return "00".repeat(n);
}
