// The guest's page allocator: hands out runs of its own pages (a bump allocator
// with a free list per size, enough for the kernel's long-lived allocations:
// hypercall pages, GHCBs, rings, swiotlb). Allocation takes one contiguous view of
// the run so that a ring over it is one Uint8Array, as the kernel's vmap is.
import { PAGE_SIZE } from "../../platform/page.ts";

/** The guest's pages start above the first 16 MiB (firmware, kernel image). */
export const ALLOC_BASE_PFN = (16 * 1024 * 1024) / PAGE_SIZE;

export class PageAllocator {
  #next: number;
  readonly #limit: number;
  readonly #free = new Map<number, number[]>();

  readonly #leaked: (pfn: number, count: number) => boolean;
  /** Pages a free() refused because their encryption state is unknown. */
  leakedPages = 0;

  constructor(
    usablePages: number,
    base = ALLOC_BASE_PFN,
    leaked: (pfn: number, count: number) => boolean = () => false,
  ) {
    this.#next = base;
    this.#limit = usablePages;
    this.#leaked = leaked;
  }

  /** The first pfn of `count` free pages, or undefined when memory is exhausted. */
  alloc(count: number): number | undefined {
    const list = this.#free.get(count);
    if (list && list.length > 0) return list.pop();
    if (this.#next + count > this.#limit) return undefined;
    const pfn = this.#next;
    this.#next += count;
    return pfn;
  }

  free(pfn: number, count: number): void {
    if (this.#leaked(pfn, count)) {
      this.leakedPages += count;
      return;
    }
    const list = this.#free.get(count) ?? [];
    list.push(pfn);
    this.#free.set(count, list);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#next, this.#limit, this.#free, this.#leaked];
  }
  load(s: unknown[]): void {
    this.#next = s[0] as never;
  }
}
