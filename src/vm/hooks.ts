// Named interleaving points: places in the model's order of steps where a test or
// an attack may act (for example between two steps of an encryption transition).
// Firing a point nobody listens to costs one Map lookup.

export type HookFn = (point: string, detail: Record<string, number | string>) => void;

export class Hooks {
  readonly #at = new Map<string, HookFn[]>();

  on(point: string, fn: HookFn): () => void {
    const list = this.#at.get(point) ?? [];
    list.push(fn);
    this.#at.set(point, list);
    return () => {
      const l = this.#at.get(point);
      if (l)
        this.#at.set(
          point,
          l.filter((f) => f !== fn),
        );
    };
  }

  fire(point: string, detail: Record<string, number | string> = {}): void {
    const l = this.#at.get(point);
    if (!l) return;
    for (const f of l) f(point, detail);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#at];
  }
}
