import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../src/audit/labels.ts";
import { setMemoryDecrypted, setMemoryEncrypted } from "../../src/guest/mm/set_memory.ts";
import { PAGE_SIZE } from "../../src/platform/page.ts";
import { bootVm } from "../helpers.ts";

test("windows: guest and host see one ring's bytes; host reads are weighed by label; a page gone private reads as ciphertext", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const k = vm.guest;
  const gpa = k.alloc.alloc(2)! * PAGE_SIZE;
  assert.equal(setMemoryDecrypted(k, gpa, 2), 0);
  const g = k.hw.mem.window(gpa, 2 * PAGE_SIZE);
  const h = vm.platform.untrustedView("host").window(gpa, 2 * PAGE_SIZE);
  g.write(100, new Uint8Array([1, 2, 3, 4]), 0, 4, Label.PUBLIC);
  g.write(200, new Uint8Array([9, 9]), 0, 2, Label.SECRET);
  const out = new Uint8Array(4);
  h.read(100, out, 0, 4);
  assert.deepEqual([...out], [1, 2, 3, 4]);
  assert.equal(vm.audit.secretBytesLeaked, 0);
  h.read(200, out, 0, 2);
  assert.equal(vm.audit.secretBytesLeaked, 2, "the auditor sees the host read secret bytes");
  h.setU32(8, 0xdeadbeef);
  assert.equal(g.getU32(8), 0xdeadbeef);
  // Back to private: the host's window now yields ciphertext, and its writes are refused.
  assert.equal(setMemoryEncrypted(k, gpa, 2), 0);
  k.hw.mem.write(gpa + 300, new Uint8Array(16).fill(0x77), Label.SECRET);
  const c = new Uint8Array(16);
  h.read(300, c, 0, 16);
  assert.notDeepEqual([...c], new Array(16).fill(0x77));
  const refused = vm.audit.refusedWrites;
  h.write(300, new Uint8Array(4), 0, 4, Label.HOST);
  assert.equal(vm.audit.refusedWrites, refused + 1);
  assert.equal(vm.audit.secretBytesLeaked, 2);
});

test("windows: a guest window over a page converted under it faults like a load would", () => {
  const vm = bootVm({ isolation: "tdx", mode: "enlightened" });
  const k = vm.guest;
  const gpa = k.alloc.alloc(1)! * PAGE_SIZE;
  assert.equal(setMemoryDecrypted(k, gpa, 1), 0);
  const g = k.hw.mem.window(gpa, PAGE_SIZE);
  g.setU32(0, 5);
  // The host converts it back behind the guest's back (its PTE still says decrypted).
  vm.platform.convert(gpa / PAGE_SIZE, 1, "private");
  assert.throws(() => g.getU32(0), /unrecoverable #VE/);
});

test("copy moves labels with the bytes", () => {
  const vm = bootVm({ isolation: "snp", mode: "enlightened" });
  const k = vm.guest;
  const a = k.alloc.alloc(1)! * PAGE_SIZE;
  const b = k.alloc.alloc(1)! * PAGE_SIZE;
  k.hw.mem.write(a, new Uint8Array([5, 6, 7]), new Uint8Array([Label.SECRET, Label.PUBLIC, Label.EXPOSED]));
  k.hw.mem.copy(b + 10, a, 3);
  const r = k.hw.mem.readLabelled(b + 10, 3);
  assert.deepEqual([...r.data], [5, 6, 7]);
  assert.deepEqual([...r.labels], [Label.SECRET, Label.PUBLIC, Label.EXPOSED]);
});
