// A deterministic, single-threaded scheduler. Actors never call into each other's
// reactions directly across an asynchronous boundary (a posted message, an
// interrupt, a channel signal): they enqueue a task, and the VM runs tasks in FIFO
// order. A waiting guest runs the queue until its condition holds or the queue is
// empty (then it times out instead of hanging), so every run replays exactly and
// an adversary can act between any two tasks.

export interface Task {
  /** Who runs it (for traces and attacks): "host", "hypervisor", "guest", "paravisor". */
  actor: string;
  what: string;
  run: () => void;
}

export type TaskObserver = (t: Task, seq: number) => void;

export class Scheduler {
  readonly #queue: Task[] = [];
  #head = 0;
  #seq = 0;
  /** Virtual time in nanoseconds: advanced by waits that time out and by explicit delays. */
  now = 0;
  #observers: TaskObserver[] = [];
  /** Upper bound of tasks one wait may run (a storm of host tasks cannot hang the guest). */
  maxTasksPerWait = 100_000;

  post(actor: string, what: string, run: () => void): void {
    this.#queue.push({ actor, what, run });
  }

  observe(fn: TaskObserver): () => void {
    this.#observers.push(fn);
    return () => {
      this.#observers = this.#observers.filter((o) => o !== fn);
    };
  }

  get pending(): number {
    return this.#queue.length - this.#head;
  }

  /** Run one task; false if there was none. */
  step(): boolean {
    if (this.#head >= this.#queue.length) return false;
    const t = this.#queue[this.#head++]!;
    if (this.#head === this.#queue.length) {
      // Drained: forget the tasks run (a snapshot of an idle machine then holds none).
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    const seq = ++this.#seq;
    for (const o of this.#observers) o(t, seq);
    t.run();
    return true;
  }

  /** Run tasks until none is left (bounded). Returns how many ran. */
  runUntilIdle(limit = this.maxTasksPerWait): number {
    let n = 0;
    while (n < limit && this.step()) n++;
    return n;
  }

  /**
   * Run tasks until `cond()` holds. Returns true if it did, false on a timeout: the
   * queue ran dry (nobody will answer) or the task budget ran out (a storm).
   * `timeoutNs` is charged to virtual time on a timeout.
   */
  waitFor(cond: () => boolean, timeoutNs = 60e9): boolean {
    let n = 0;
    while (!cond()) {
      if (n >= this.maxTasksPerWait || !this.step()) {
        this.now += timeoutNs;
        return cond();
      }
      n++;
    }
    return true;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#queue, this.#head, this.#seq, this.#observers];
  }
  load(s: unknown[]): void {
    this.#head = s[1] as never;
    this.#seq = s[2] as never;
    this.#observers = s[3] as never;
  }
}
