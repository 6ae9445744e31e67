// What an attack touched, for the verdict's "integrity of unaffected channels": the
// relids whose rings, GPADLs, messages or packets it changed, and the pages it
// wrote through the host's view (a ring page written behind the handles' back
// counts for its channel). Reads touch nothing. Only the auditor reads this.
import { PAGE_SIZE } from "../platform/page.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";

export class Touched {
  readonly relids = new Set<number>();
  readonly pages = new Set<number>();
  /** Writes that spanned so many pages that every channel counts as touched. */
  everything = false;

  relid(r: number | undefined): void {
    if (r !== undefined) this.relids.add(r);
  }

  range(gpa: number, len: number): void {
    if (len <= 0) return;
    const first = Math.floor(gpa / PAGE_SIZE);
    const last = Math.floor((gpa + len - 1) / PAGE_SIZE);
    if (last - first > 4096) {
      this.everything = true;
      return;
    }
    for (let p = first; p <= last; p++) this.pages.add(p);
  }

  /** Did the attack change anything of channel `relid`, whose rings sit in `pages`? */
  affects(relid: number, pages: Iterable<number>): boolean {
    if (this.everything || this.relids.has(relid)) return true;
    for (const p of pages) if (this.pages.has(p)) return true;
    return false;
  }
}

/** The host's view with its writes (and the windows it maps, which it may write) recorded. */
export function recordingView(view: UntrustedView, t: Touched): UntrustedView {
  return new Proxy(view, {
    get(target, key) {
      if (key === "write")
        return (gpa: number, src: Uint8Array) => {
          t.range(gpa, src.length);
          return target.write(gpa, src);
        };
      if (key === "window")
        return (gpa: number, size: number) => {
          t.range(gpa, size);
          return target.window(gpa, size);
        };
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The auditor's side of one run's attack context: what the attack touched, and how to stop it acting. */
export class AttackSession {
  readonly touched = new Touched();
  readonly #detach: (() => void)[] = [];

  onDetach(fn: () => void): void {
    this.#detach.push(fn);
  }

  /** The attack stops acting: its interleaving actions and interposers are removed. */
  detach(): void {
    for (const f of this.#detach.splice(0)) f();
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference. */
  save(): unknown[] {
    return [this.#detach];
  }
}
