// An ordered, single-threaded workqueue (alloc_ordered_workqueue): work items run
// one at a time, in the order queued. The VMBus client queues offer and rescind
// handling here (channel_message_table type 0); the queue runs after the interrupt
// that queued the work, or when the boot path flushes it. A work item may wait
// (for a GPADL_CREATED, an OPENCHANNEL_RESULT): the interrupts that arrive
// meanwhile only queue more work, which runs after the current item.

export class WorkQueue {
  readonly #items: (() => void)[] = [];
  #head = 0;
  #running = false;
  /** Items run so far. */
  done = 0;

  queue(fn: () => void): void {
    this.#items.push(fn);
  }

  get idle(): boolean {
    return !this.#running && this.#head >= this.#items.length;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Run queued work to the end, unless this queue is already running further up the stack. */
  run(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#head < this.#items.length) {
        const fn = this.#items[this.#head]!;
        this.#items[this.#head++] = noop;
        this.done++;
        fn();
      }
      this.#items.length = 0;
      this.#head = 0;
    } finally {
      this.#running = false;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#items, this.#head, this.#running];
  }
  load(s: unknown[]): void {
    this.#head = s[1] as never;
    this.#running = s[2] as never;
  }
}

function noop(): void {}
