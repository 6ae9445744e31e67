import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Label } from "../../src/audit/labels.ts";
import { CHUNK_PAGES, GuestMemory } from "../../src/platform/memory.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../src/platform/page.ts";

const GiB = 1024 * 1024 * 1024;

test("sparse memory: a 64 GiB guest's flags stay per chunk and untouched pages hold no data", () => {
  const m = new GuestMemory(64 * GiB, PageState.PRIVATE | PageFlag.PRESENT);
  assert.equal(m.pages, 16 * 1024 * 1024);
  assert.equal(m.detailedChunks, 0);
  assert.equal(m.touchedPages, 0);
  m.updateFlags(0, m.pages, 0xff, PageFlag.VALIDATED);
  assert.equal(m.detailedChunks, 0, "a whole-memory update stays uniform");
  m.updateFlags(1000, 3, ~PageFlag.STATE_MASK & 0xff, PageState.SHARED);
  assert.equal(m.detailedChunks, 1);
  assert.equal(m.countPages(PageFlag.STATE_MASK, PageState.SHARED), 3);
  m.updateFlags(1000, 3, ~PageFlag.STATE_MASK & 0xff, PageState.PRIVATE);
  assert.equal(m.detailedChunks, 0, "a chunk whose pages agree again collapses");
  assert.equal(m.peek(123456), undefined);
});

test("flags: range updates agree with a per-page model", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.nat(4 * CHUNK_PAGES - 1),
          fc.nat(2 * CHUNK_PAGES),
          fc.integer({ min: 0, max: 255 }),
          fc.integer({ min: 0, max: 255 }),
        ),
        { maxLength: 20 },
      ),
      (ops) => {
        const pages = 4 * CHUNK_PAGES;
        const m = new GuestMemory(pages * PAGE_SIZE, 0x05);
        const model = new Uint8Array(pages).fill(0x05);
        for (const [pfn, n, keep, set] of ops) {
          const count = Math.min(n, pages - pfn);
          m.updateFlags(pfn, count, keep, set);
          for (let i = pfn; i < pfn + count; i++) model[i] = (model[i]! & keep) | set;
        }
        for (let i = 0; i < pages; i++) assert.equal(m.flags(i), model[i]);
        let total = 0;
        for (const r of m.runs()) {
          for (let i = r.pfn; i < r.pfn + r.count; i++) assert.equal(model[i], r.flags);
          total += r.count;
        }
        assert.equal(total, pages);
      },
    ),
    { numRuns: 200 },
  );
});

test("contiguous views keep earlier contents and share storage with page views", () => {
  const m = new GuestMemory(64 * 1024 * 1024, 0);
  m.page(10).data[5] = 42;
  m.page(10).labels[5] = Label.PUBLIC;
  const v = m.contiguous(9, 4);
  assert.equal(v.data.length, 4 * PAGE_SIZE);
  assert.equal(v.data[PAGE_SIZE + 5], 42);
  assert.equal(v.labels[PAGE_SIZE + 5], Label.PUBLIC);
  v.data[2 * PAGE_SIZE] = 9;
  assert.equal(m.peek(11)![0], 9);
  assert.equal(m.contiguous(10, 2).data[5], 42, "a sub-range of one backing is a view, not a copy");
});
