// GUIDs as they sit in VMBus structs (guid_t, GUID_INIT order): the first three
// groups little-endian, the last eight bytes in the order written.
// "f8615163-df3e-46c5-913f-f2d2f965ed0e" → 63 51 61 f8 3e df c5 46 91 3f f2 d2 f9 65 ed 0e.

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Byte i of the wire form comes from hex pair ORDER[i] of the 32 hex digits. */
const ORDER = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15] as const;

export const GUID_SIZE = 16;
export const NULL_GUID = "00000000-0000-0000-0000-000000000000";

export function isGuid(s: string): boolean {
  return GUID_RE.test(s);
}

/** Write a GUID string in wire order. A malformed string is a caller bug (throws). */
export function writeGuid(guid: string, dst: Uint8Array, off: number): void {
  if (!GUID_RE.test(guid)) throw new Error(`not a GUID: ${JSON.stringify(guid)}`);
  const hex = guid.replaceAll("-", "");
  for (let i = 0; i < GUID_SIZE; i++) {
    const j = ORDER[i]!;
    dst[off + i] = Number.parseInt(hex.slice(j * 2, j * 2 + 2), 16);
  }
}

/** Read 16 wire-order bytes as a lower-case GUID string (any 16 bytes are a GUID). */
export function readGuid(src: Uint8Array, off: number): string {
  const hex: string[] = new Array(GUID_SIZE);
  for (let i = 0; i < GUID_SIZE; i++) hex[ORDER[i]!] = src[off + i]!.toString(16).padStart(2, "0");
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
