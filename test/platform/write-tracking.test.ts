// Every writer of guest page bytes reports what it writes (GuestMemory.writtenBytes),
// so a restore of a snapshot puts them back: the CPU's stores and its windows, the
// host's writes and its windows, and discarded pages. Each accessor is checked on
// its own, since in a whole VM one reported write can cover another's line.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../src/audit/labels.ts";
import { PAGE_SIZE } from "../../src/platform/page.ts";
import { restoreSnapshot, takeSnapshot } from "../../src/vm/snapshot.ts";
import { bootVm } from "../helpers.ts";

const writers: [string, (vm: ReturnType<typeof bootVm>, gpa: number) => void][] = [
  ["CpuMemory.write", (vm, gpa) => vm.guest.hw.mem.write(gpa + 600, new Uint8Array([1, 2, 3]), Label.PUBLIC)],
  ["CpuMemory.fill", (vm, gpa) => vm.guest.hw.mem.fill(gpa + 900, 5, 7, Label.PUBLIC)],
  ["CpuMemory.relabel", (vm, gpa) => vm.guest.hw.mem.relabel(gpa + 1200, 4, Label.EXPOSED)],
  ["CpuWindow.setU32", (vm, gpa) => vm.guest.hw.mem.window(gpa, PAGE_SIZE).setU32(1500, 0xdeadbeef)],
  [
    "CpuWindow.write",
    (vm, gpa) =>
      vm.guest.hw.mem.window(gpa, PAGE_SIZE).write(1800, new Uint8Array([9, 9]), 0, 2, Label.PUBLIC),
  ],
  ["CpuWindow.fill", (vm, gpa) => vm.guest.hw.mem.window(gpa, PAGE_SIZE).fill(2100, 3, 4, Label.PUBLIC)],
  [
    "UntrustedView.write",
    (vm, gpa) => vm.platform.untrustedView("host").write(gpa + 2400, new Uint8Array([5])),
  ],
  [
    "UntrustedView.write across pages",
    (vm, gpa) => vm.platform.untrustedView("host").write(gpa + PAGE_SIZE - 4, new Uint8Array(8).fill(3)),
  ],
  [
    "HostWindow.setU32",
    (vm, gpa) => vm.platform.untrustedView("host").window(gpa, PAGE_SIZE).setU32(2700, 77),
  ],
  [
    "HostWindow.write",
    (vm, gpa) =>
      vm.platform
        .untrustedView("host")
        .window(gpa, PAGE_SIZE)
        .write(3000, new Uint8Array([6, 6]), 0, 2, 0),
  ],
  [
    "HostWindow.fill",
    (vm, gpa) => vm.platform.untrustedView("host").window(gpa, PAGE_SIZE).fill(3300, 2, 8, 0),
  ],
  ["GuestMemory.discard", (vm, gpa) => vm.platform.memory.discard(gpa / PAGE_SIZE)],
];

for (const [name, write] of writers)
  test(`${name} reports what it writes: a restore puts the bytes and labels back`, () => {
    const vm = bootVm({ memory: "64M", vcpus: 1 });
    const pfn = vm.guest.alloc.alloc(2)!;
    const gpa = pfn * PAGE_SIZE;
    // Two pages with content of their own (one backing), made before the snapshot.
    const before = new Uint8Array(2 * PAGE_SIZE).map((_, i) => (i * 7 + 1) & 0xff);
    vm.guest.hw.mem.write(gpa, before, Label.SECRET);
    const mem = vm.platform.memory;
    const state = () => [0, 1].flatMap((i) => [mem.peek(pfn + i)!.slice(), mem.peekLabels(pfn + i)!.slice()]);
    const was = state();
    const snap = takeSnapshot(vm);
    write(vm, gpa);
    assert.notDeepEqual(state(), was, "the writer changed the pages");
    restoreSnapshot(snap);
    assert.deepEqual(state(), was, "bytes and labels are back");
  });
