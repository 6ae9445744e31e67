// Guest memory in a snapshot: a restore puts back the pages written since the
// snapshot's mark (every writer logs the pages it changes), and all of them when
// memory went back past that mark.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../src/audit/labels.ts";
import { GuestMemory } from "../../src/platform/memory.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../src/platform/page.ts";
import { restoreSnapshot, takeSnapshot } from "../../src/vm/snapshot.ts";

/** A write as the accessors make one: the bytes, then the report of what was written. */
function poke(m: GuestMemory, pfn: number, at: number, v: number, label?: number): void {
  const p = m.page(pfn);
  p.data[at] = v;
  if (label !== undefined) p.labels[at] = label;
  m.writtenBytes(pfn * PAGE_SIZE + at, 1);
}

test("a restore puts back bytes, labels and flags of the pages written since; views stay live; later pages go", () => {
  const m = new GuestMemory(64 * 1024 * 1024, PageState.PRIVATE);
  const v = m.contiguous(100, 2);
  v.data[7] = 1;
  v.labels[7] = Label.PUBLIC;
  const snap = takeSnapshot(m);
  poke(m, 100, 7, 2, Label.SECRET);
  poke(m, 5000, 0, 9);
  m.updateFlags(100, 1, 0xff, PageFlag.HOST_VISIBLE);
  restoreSnapshot(snap);
  assert.equal(v.data[7], 1, "the old view sees the restored byte");
  assert.equal(v.labels[7], Label.PUBLIC);
  assert.equal(m.peek(5000), undefined, "a page first written after the snapshot is forgotten");
  assert.equal(m.flags(100) & PageFlag.HOST_VISIBLE, 0);
});

test("only logged pages are copied back: a write no writer reported survives the restore", () => {
  const m = new GuestMemory(64 * 1024 * 1024, PageState.PRIVATE);
  const v = m.contiguous(10, 4);
  const snap = takeSnapshot(m);
  v.data[0] = 5; // behind every accessor's back: not logged
  poke(m, 11, 0, 6); // reported
  restoreSnapshot(snap);
  assert.equal(v.data[PAGE_SIZE], 0, "the logged page went back");
  assert.equal(v.data[0], 5, "the unlogged write stayed: the restore was page by page, not a full copy");
});

test("a restore copies back the 256-byte lines written, not whole pages", () => {
  const m = new GuestMemory(64 * 1024 * 1024, PageState.PRIVATE);
  const v = m.contiguous(10, 1);
  const snap = takeSnapshot(m);
  poke(m, 10, 3 * 256 + 5, 1); // line 3
  m.page(10).data[4 * 256] = 2; // line 4, not reported
  m.page(10).data[3 * 256 + 200] = 3; // line 3 again, not reported: the line goes back whole
  m.writtenBytes(10 * PAGE_SIZE + 255, 2); // lines 0 and 1
  m.page(10).data[0] = 4;
  m.page(10).data[256] = 5;
  restoreSnapshot(snap);
  assert.deepEqual(
    [v.data[3 * 256 + 5], v.data[3 * 256 + 200], v.data[0], v.data[256]],
    [0, 0, 0, 0],
    "every byte of the lines written went back",
  );
  assert.equal(v.data[4 * 256], 2, "a line no writer reported was not copied");
});

test("going back past a mark restores every page; the mark is valid again afterwards", () => {
  const m = new GuestMemory(64 * 1024 * 1024, PageState.PRIVATE);
  const v = m.contiguous(10, 2);
  const a = takeSnapshot(m);
  poke(m, 10, 0, 1);
  const b = takeSnapshot(m);
  poke(m, 11, 0, 2);
  restoreSnapshot(a); // drops b's mark
  assert.deepEqual([v.data[0], v.data[PAGE_SIZE]], [0, 0]);
  v.data[PAGE_SIZE + 1] = 7; // unlogged: only a full restore puts this back
  restoreSnapshot(b);
  assert.deepEqual([v.data[0], v.data[PAGE_SIZE], v.data[PAGE_SIZE + 1]], [1, 0, 0], "b came back whole");
  poke(m, 10, 0, 3);
  restoreSnapshot(b);
  assert.equal(v.data[0], 1, "and b restores page by page again");
  restoreSnapshot(a);
  assert.equal(v.data[0], 0, "a, taken before b, is gone from the log: a full restore");
});
