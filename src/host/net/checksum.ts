// The Internet checksum (RFC 1071): the ones' complement of the ones' complement
// sum of 16-bit big-endian words, an odd last byte padded with zero.

/** Add the 16-bit words of buf[off, off+len) to `sum` (not folded, not complemented). */
export function sum16(buf: Uint8Array, off: number, len: number, sum = 0): number {
  let s = sum;
  let i = off;
  const end = off + len;
  for (; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) s += buf[i]! << 8;
  return s;
}

/** Fold a sum to 16 bits and complement it: the checksum to put in a header. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** The checksum of buf[off, off+len) with an initial sum (e.g. a pseudo-header). */
export function inetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return fold(sum16(buf, off, len, initial));
}

/** The sum of the IPv4 pseudo-header for TCP/UDP (src, dst, protocol, length). */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}
