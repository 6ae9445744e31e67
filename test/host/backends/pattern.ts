// The byte pattern the flush test writes in a child process and looks for afterwards.
export function pattern(len: number, seed: number): Uint8Array {
  return new Uint8Array(len).map((_, i) => (i * 31 + seed * 7 + (i >> 9)) & 0xff);
}
