import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../src/audit/labels.ts";
import { setMemoryDecrypted, setMemoryEncrypted } from "../../src/guest/mm/set_memory.ts";
import { GuestCrash } from "../../src/platform/exceptions.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../src/platform/page.ts";
import { Vm } from "../../src/vm/vm.ts";
import { bootVm, COCO_CONFIGS, config } from "../helpers.ts";

/** Two private pages A, B; decrypt B and run `during` at `point` of the transition. */
function decryptWithStray(vm: Vm, point: string, during: (a: number, b: number) => void): number {
  const k = vm.guest;
  const pfn = k.alloc.alloc(2)!;
  const a = pfn * PAGE_SIZE;
  const b = a + PAGE_SIZE;
  k.hw.mem.write(a, new Uint8Array(PAGE_SIZE).fill(0xaa), Label.SECRET);
  const off = vm.hooks.on(point, () => during(a, b));
  try {
    return setMemoryDecrypted(k, b, 1);
  } finally {
    off();
  }
}

test("C34: a transition takes several steps with the host and the page is unusable until all are done", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const seen: (string | undefined)[] = [];
    const points = ["set_memory:prepared", "set_memory:pte-changed"];
    let bPfn = 0;
    const offs = points.map((pt) =>
      vm.hooks.on(pt, (_p, d) => {
        bPfn = Number(d["pfn"]);
        seen.push(vm.guest.hw.mem.check(bPfn, false));
      }),
    );
    const pfn = vm.guest.alloc.alloc(1)!;
    assert.equal(setMemoryDecrypted(vm.guest, pfn * PAGE_SIZE, 1), 0);
    for (const off of offs) off();
    // Mid-transition the page is not usable (the caller must keep it unused) ...
    assert.ok(
      seen.some((s) => s !== undefined),
      `${c.isolation}/${c.mode}: ${seen.join(",")}`,
    );
    // ... and afterwards it is consistent: shared, mapped decrypted, present, host-visible.
    assert.equal(vm.guest.hw.mem.check(pfn, false), undefined);
    const f = vm.platform.memory.flags(pfn);
    assert.equal(f & PageFlag.STATE_MASK, PageState.SHARED);
    assert.equal(
      f & (PageFlag.ENC_MAPPED | PageFlag.PRESENT | PageFlag.HOST_VISIBLE),
      PageFlag.PRESENT | PageFlag.HOST_VISIBLE,
    );
    // and back: private, validated, mapped encrypted.
    assert.equal(setMemoryEncrypted(vm.guest, pfn * PAGE_SIZE, 1), 0);
    assert.equal(vm.guest.hw.mem.check(pfn, false), undefined);
    assert.equal(vm.platform.memory.flags(pfn) & PageFlag.STATE_MASK, PageState.PRIVATE);
  }
});

test("C35: enlightened, a stray load_unaligned_zeropad() during a transition is fixed up by the guest's #VC/#VE handler", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "enlightened" });
    const before = vm.platform.exceptions.guest;
    let got: Uint8Array | undefined;
    let vector = "";
    // SNP shares the page before the PTE changes; TDX after: each leaves a window.
    const point = iso === "snp" ? "set_memory:prepared" : "set_memory:pte-changed";
    const ret = decryptWithStray(vm, point, (a) => {
      const n = vm.platform.exceptionLog.length;
      got = vm.guest.hw.mem.loadUnalignedZeropad(a + PAGE_SIZE - 3);
      vector = vm.platform.exceptionLog.length > n ? vm.platform.exceptionLog.at(-1)!.vector : "none";
    });
    assert.equal(ret, 0);
    assert.deepEqual([...got!], [0xaa, 0xaa, 0xaa, 0, 0, 0, 0, 0]);
    assert.equal(vector, iso === "snp" ? "VC" : "VE");
    assert.equal(vm.guest.zeropadFixups, 1);
    assert.equal(vm.platform.exceptions.guest, before + 1);
  }
});

test("C36: with a paravisor the pages are not present during the transition: the stray read takes a #PF the guest fixes up", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "paravisor" });
    let got: Uint8Array | undefined;
    let present = true;
    const ret = decryptWithStray(vm, "set_memory:pte-changed", (a, b) => {
      present = (vm.platform.memory.flags(b / PAGE_SIZE) & PageFlag.PRESENT) !== 0;
      got = vm.guest.hw.mem.loadUnalignedZeropad(a + PAGE_SIZE - 3);
    });
    assert.equal(ret, 0);
    assert.equal(present, false, "not present during the transition");
    assert.deepEqual([...got!], [0xaa, 0xaa, 0xaa, 0, 0, 0, 0, 0]);
    assert.equal(vm.platform.exceptionLog.at(-1)?.vector, "PF");
    assert.equal(vm.guest.zeropadFixups, 1);
    // The paravisor never saw the stray read.
    assert.ok(!vm.platform.exceptionLog.some((e) => e.zeropad && e.vector !== "PF"));
  }
});

test("C36: the pages are present again after the transition, also when it fails", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const pfn = vm.guest.alloc.alloc(1)!;
  assert.equal(setMemoryDecrypted(vm.guest, pfn * PAGE_SIZE, 1), 0);
  assert.notEqual(vm.platform.memory.flags(pfn) & PageFlag.PRESENT, 0);
  // A request the paravisor refuses (a page of its own) fails, and still restores PRESENT.
  const bad = vm.platform.paravisorPfn;
  vm.platform.setPte(bad, 1, { present: true });
  assert.notEqual(setMemoryDecrypted(vm.guest, bad * PAGE_SIZE, 1), 0);
  assert.notEqual(vm.platform.memory.flags(bad) & PageFlag.PRESENT, 0);
  assert.match(vm.paravisor!.refusals.at(-1) ?? "", /does not own/);
});

test("C35/C36 negative control: without not-present marking the stray read goes to the paravisor and is unrecoverable", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = new Vm(config({ isolation: iso, mode: "paravisor", unharden: ["not-present"] }));
    assert.equal(vm.boot().ok, true);
    assert.throws(
      () =>
        decryptWithStray(vm, "set_memory:pte-changed", (a) => {
          vm.guest.hw.mem.loadUnalignedZeropad(a + PAGE_SIZE - 3);
        }),
      (e: unknown) =>
        e instanceof GuestCrash && /paravisor cannot fix up.*load_unaligned_zeropad/.test(e.message),
    );
    assert.equal(vm.guest.zeropadFixups, 0);
  }
});

test("C9: the paravisor's boot steps cross the boundary before the guest's first", () => {
  const vm = new Vm(config({ isolation: "tdx", mode: "paravisor" }));
  const order: string[] = [];
  vm.audit.boundary.subscribe((c) => {
    if (c.kind === "boot-step") order.push(c.from);
  });
  vm.boot();
  assert.equal(order[0], "paravisor");
  assert.ok(order.lastIndexOf("paravisor") < order.indexOf("guest"));
});
