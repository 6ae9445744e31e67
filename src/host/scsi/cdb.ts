// Big-endian field readers and writers for CDBs and parameter data. SCSI is
// big-endian; LBAs of 16-byte CDBs are 64-bit and read here as two halves so that
// no BigInt is made per command.

export function be16(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}

export function be24(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 16) | ((b[at + 1] ?? 0) << 8) | (b[at + 2] ?? 0);
}

export function be32(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}

/** A 64-bit big-endian value; values above 2^53 read as Infinity (out of range of any disk). */
export function be64(b: Uint8Array, at: number): number {
  const hi = be32(b, at);
  const lo = be32(b, at + 4);
  if (hi >= 0x200000) return Number.POSITIVE_INFINITY;
  return hi * 0x100000000 + lo;
}

export function putBe16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

export function putBe24(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 16) & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = v & 0xff;
}

export function putBe32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** Write a non-negative safe integer as 64-bit big-endian. */
export function putBe64(b: Uint8Array, at: number, v: number): void {
  putBe32(b, at, Math.floor(v / 0x100000000));
  putBe32(b, at + 4, v >>> 0);
}

/** Write ASCII text, space-padded to `len` bytes (INQUIRY vendor/product/revision). */
export function putAscii(b: Uint8Array, at: number, len: number, s: string): void {
  for (let i = 0; i < len; i++) b[at + i] = i < s.length ? s.charCodeAt(i) & 0x7f : 0x20;
}
