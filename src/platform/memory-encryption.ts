// The memory encryption engine's effect as the host sees it: DRAM holds private
// pages encrypted under a per-VM key, so a host read of a private page yields
// ciphertext. Modelled as a keyed, deterministic keystream (address-tweaked, as
// SNP/TDX tweak by physical address); the key never leaves the platform.
import { PAGE_SIZE } from "./page.ts";

function mix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export class MemoryEncryption {
  readonly #key: number;

  constructor(key: number) {
    this.#key = key >>> 0;
  }

  /** Ciphertext of `len` plaintext bytes at page offset `off` of page `pfn` into `dst`. */
  encrypt(pfn: number, off: number, plain: Uint8Array, dst: Uint8Array): void {
    if (off + plain.length > PAGE_SIZE) throw new Error("encrypt crosses a page");
    const base = mix32(this.#key ^ mix32(pfn * 0x9e3779b1 + 0x632be5ab));
    for (let i = 0; i < plain.length; i++) {
      const at = off + i;
      const ks = mix32(base ^ (at >>> 2));
      dst[i] = plain[i]! ^ ((ks >>> ((at & 3) * 8)) & 0xff) ^ 0x5a;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#key];
  }
}
