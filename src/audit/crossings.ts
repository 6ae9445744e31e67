// The boundary: one stream through which every crossing between actors passes
// (CPUID, MSR, hypercall, exception, interrupt, SynIC message or event, host
// access to a guest page, visibility change, MMIO and port I/O, measurement). A
// channel signal shows as a hypercall plus a synic-event. Emitting costs nothing
// beyond a counter when nobody listens; the auditor owns the stream and counts,
// the trace writers and the report subscribe, and the core never imports them.

/** Who acts. The trust column of SPEC.md: guest and paravisor trusted, the rest not. */
export type Actor = "guest" | "paravisor" | "hypervisor" | "host" | "platform";

export const CROSSING_KINDS = [
  "cpuid",
  "msr-read",
  "msr-write",
  "hypercall",
  "exception",
  "interrupt",
  "synic-message",
  "synic-event",
  "host-read",
  "host-write",
  "visibility",
  "boot-step",
  "mmio",
  "port-io",
  "halt",
  "measurement",
  "attestation",
] as const;
export type CrossingKind = (typeof CROSSING_KINDS)[number];

export interface Crossing {
  /** Position in the run's order of crossings (deterministic, starts at 1). */
  seq: number;
  kind: CrossingKind;
  from: Actor;
  to: Actor;
  /** A short name of what crossed: "HvCallModifySparseGpaPageHostVisibility", "#VC cpuid", ... */
  what: string;
  /** Kind-specific facts, JSON-safe (numbers, strings, booleans). */
  detail?: Record<string, number | string | boolean>;
}

export type CrossingListener = (c: Crossing) => void;

export class Boundary {
  #listeners: CrossingListener[] = [];
  #seq = 0;
  readonly counts: Record<CrossingKind, number> = Object.fromEntries(
    CROSSING_KINDS.map((k) => [k, 0]),
  ) as Record<CrossingKind, number>;

  get listening(): boolean {
    return this.#listeners.length > 0;
  }

  subscribe(fn: CrossingListener): () => void {
    this.#listeners.push(fn);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== fn);
    };
  }

  /**
   * Record one crossing. `detail` is built by the caller only when `listening`
   * is true (pass a thunk) so that a run with no subscriber allocates nothing.
   */
  cross(
    kind: CrossingKind,
    from: Actor,
    to: Actor,
    what: string,
    detail?: () => Record<string, number | string | boolean>,
  ): void {
    this.counts[kind]++;
    const seq = ++this.#seq;
    if (this.#listeners.length === 0) return;
    const c: Crossing = detail
      ? { seq, kind, from, to, what, detail: detail() }
      : { seq, kind, from, to, what };
    for (const l of this.#listeners) l(c);
  }

  get seq(): number {
    return this.#seq;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#listeners, this.#seq];
  }
  load(s: unknown[]): void {
    this.#listeners = s[0] as never;
    this.#seq = s[1] as never;
  }
}
