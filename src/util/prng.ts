// Seeded, replayable randomness. Every random choice in hvcoco comes from a Prng
// derived from the run's seed; a stream's state can be saved and restored so that a
// snapshot replays exactly (pure-rand's xoroshiro128+, the engine fast-check uses).
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus, xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";

type Engine = ReturnType<typeof xoroshiro128plus>;

export class Prng {
  #engine: Engine;

  private constructor(engine: Engine) {
    this.#engine = engine;
  }

  static fromSeed(seed: number): Prng {
    return new Prng(xoroshiro128plus(seed | 0));
  }

  static fromState(state: readonly number[]): Prng {
    return new Prng(xoroshiro128plusFromState(state));
  }

  /** An independent stream for one actor: the parent is jumped 2^64 steps ahead. */
  fork(): Prng {
    const child = new Prng(this.#engine.clone());
    this.#engine.jump();
    return child;
  }

  /** Uniform integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.#engine, from, to);
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    return this.#engine.next() >>> 0;
  }

  fill(dst: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= dst.length; i += 4) {
      const v = this.#engine.next();
      dst[i] = v & 0xff;
      dst[i + 1] = (v >>> 8) & 0xff;
      dst[i + 2] = (v >>> 16) & 0xff;
      dst[i + 3] = (v >>> 24) & 0xff;
    }
    for (; i < dst.length; i++) dst[i] = this.#engine.next() & 0xff;
    return dst;
  }

  state(): readonly number[] {
    return this.#engine.getState();
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#engine];
  }
  load(s: unknown[]): void {
    this.#engine = s[0] as never;
  }
}
