// Fixed-format sense data (SPC-4 §4.5.3), the form storvsc copies back from
// vm_srb.sense_data (20 bytes there; the fixed format uses 18).
//
//   +0 0x70 (current, fixed)  +2 sense key  +7 additional length (10)
//   +12 ASC  +13 ASCQ  +15..17 sense-key specific (unused: zero)
import { FIXED_SENSE_LENGTH } from "./constants.ts";

/** Write 18 bytes of fixed-format sense at dst[off]. `ascq` is (asc << 8) | ascq. */
export function writeFixedSense(dst: Uint8Array, off: number, key: number, ascAscq: number): number {
  dst.fill(0, off, off + FIXED_SENSE_LENGTH);
  dst[off] = 0x70;
  dst[off + 2] = key & 0x0f;
  dst[off + 7] = FIXED_SENSE_LENGTH - 8;
  dst[off + 12] = (ascAscq >>> 8) & 0xff;
  dst[off + 13] = ascAscq & 0xff;
  return FIXED_SENSE_LENGTH;
}

/** The key, ASC and ASCQ of fixed-format sense (for tests and logs). */
export function parseFixedSense(b: Uint8Array): { key: number; asc: number; ascq: number } | undefined {
  if (b.length < 14 || ((b[0] ?? 0) & 0x7e) !== 0x70) return undefined;
  return { key: (b[2] ?? 0) & 0x0f, asc: b[12] ?? 0, ascq: b[13] ?? 0 };
}
