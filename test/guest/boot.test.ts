import assert from "node:assert/strict";
import { test } from "node:test";
import { CpuidBit, HvCallCode, X86CpuidLeaf } from "../../src/hyperv/hvgdk.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../src/platform/page.ts";
import { bootVm, COCO_CONFIGS } from "../helpers.ts";

test("C8: one guest image detects SNP/TDX and paravisor/none from the synthetic leaves and boots in all four", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    assert.equal(vm.bootOutcome?.ok, true, `${c.isolation}/${c.mode}: ${vm.bootOutcome?.crash}`);
    assert.equal(vm.guest.info?.isolationType, c.isolation);
    assert.equal(vm.guest.info?.paravisorPresent, c.mode === "paravisor");
  }
  const normal = bootVm({ isolation: "none" });
  assert.equal(normal.bootOutcome?.ok, true);
  assert.equal(normal.guest.info?.isolationType, "none");
});

test("C5: SNP places an enlightened guest at VMPL0; with a paravisor the guest is at VMPL2 and lacks VMPL0 privileges", () => {
  const enl = bootVm({ isolation: "snp", mode: "enlightened" });
  assert.deepEqual(enl.platform.placement, { guest: "VMPL0", paravisor: null });
  assert.deepEqual(enl.guest.hw.validate(100, 1, true), { ok: true });

  const pv = bootVm({ isolation: "snp", mode: "paravisor" });
  assert.deepEqual(pv.platform.placement, { guest: "VMPL2", paravisor: "VMPL0" });
  // PVALIDATE is a VMPL0 instruction: the guest must ask the paravisor.
  assert.deepEqual(pv.guest.hw.validate(100, 1, true), { ok: false, code: "FAIL_PERMISSION" });
  assert.deepEqual(pv.platform.validate("paravisor", 100, 1, true), { ok: true });
  // The paravisor's own memory is out of the guest's reach.
  const pvPage = pv.platform.paravisorPfn * PAGE_SIZE;
  assert.equal(pv.guest.hw.mem.check(pv.platform.paravisorPfn, false), "permission");
  assert.throws(() => pv.guest.hw.mem.read(pvPage, 8), /unrecoverable/);
});

test("C7: TDX places an enlightened guest in L1; with a paravisor the paravisor is L1 and the guest a nested L2", () => {
  const enl = bootVm({ isolation: "tdx", mode: "enlightened" });
  assert.deepEqual(enl.platform.placement, { guest: "L1", paravisor: null });
  assert.deepEqual(enl.guest.hw.validate(100, 1, true), { ok: true });
  const pv = bootVm({ isolation: "tdx", mode: "paravisor" });
  assert.deepEqual(pv.platform.placement, { guest: "L2", paravisor: "L1" });
  assert.deepEqual(pv.guest.hw.validate(100, 1, true), { ok: false, code: "FAIL_PERMISSION" });
});

test("C6: in SNP paravisor mode the guest reaches shared memory through the alias above vTOM", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const vtom = vm.guest.info!.sharedGpaBoundary;
  assert.equal(vtom, 2 ** 46);
  assert.equal(vm.guest.cc.mask, vtom);
  const pool = vm.guest.swiotlb!;
  // A decrypted page goes out above vTOM; a private one below.
  assert.equal(vm.guest.hw.mem.translate(pool.gpa), pool.gpa + vtom);
  const priv = vm.guest.percpu[0]!.inputPage;
  assert.equal(vm.guest.hw.mem.translate(priv), priv);
  // The alias names the same page: a host write through the alias is what the guest reads.
  const host = vm.platform.untrustedView("host");
  assert.equal(host.write(pool.gpa + vtom, new Uint8Array([1, 2, 3])), true);
  assert.deepEqual([...vm.guest.hw.mem.read(pool.gpa, 3)], [1, 2, 3]);
  // Enlightened SNP uses the C-bit instead: no alias.
  const enl = bootVm({ isolation: "snp", mode: "enlightened" });
  assert.equal(enl.guest.hw.mem.translate(enl.guest.swiotlb!.gpa), enl.guest.swiotlb!.gpa);
});

test("C9: the paravisor runs first and makes all memory private; the guest skips early validation and shares only what it decrypts", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "paravisor" });
    assert.equal(vm.paravisor?.booted, true);
    assert.equal(vm.guest.earlyValidation, false, "guest must not run early-boot validation");
    const mem = vm.platform.memory;
    // Everything is private and validated except the ranges the guest (or paravisor) shared.
    const shared = mem.countPages(PageFlag.STATE_MASK, PageState.SHARED);
    const pool = vm.guest.swiotlb!;
    const vcpus = vm.config.vcpus;
    // What the VMBus client shares: its two monitor pages and the rings of the channels
    // it opened; and netvsc its receive and send buffers (C22).
    let vmbus = 0;
    let netvsc = 0;
    for (const r of vm.guest.sharedRanges.values()) {
      if (r.purpose.startsWith("VMBus")) vmbus += r.pages;
      if (r.purpose.startsWith("netvsc")) netvsc += r.pages;
    }
    let rings = 0;
    for (const ch of vm.guest.vmbus!.chnList)
      if (ch.ring) rings += (ch.ring.sendSize + ch.ring.recvSize) / PAGE_SIZE;
    assert.equal(vmbus, 2 + rings);
    assert.ok(netvsc > 0);
    // The swiotlb pool, the paravisor's two forwarding pages (hypercall input and
    // output), the SynIC pages it supplies, one GHCB (SNP) or post_msg_page (TDX) per
    // CPU, and VMBus's pages.
    assert.equal(shared, pool.pages + 2 + 2 * vcpus + vcpus + vmbus + netvsc);
    assert.equal(
      mem.countPages(PageFlag.STATE_MASK | PageFlag.VALIDATED, PageState.PRIVATE | PageFlag.VALIDATED),
      mem.pages - shared,
    );
  }
});

test("C9 negative control: without a paravisor having validated memory, a VMPL2 guest cannot use its memory", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  // Undo the paravisor's validation of one page, then touch it as the guest.
  const pfn = vm.platform.paravisorPfn - 10;
  assert.equal(vm.guest.hw.mem.check(pfn, false), undefined);
  vm.platform.validate("paravisor", pfn, 1, false);
  assert.throws(() => vm.guest.hw.mem.read(pfn * PAGE_SIZE, 8), /unrecoverable #VC \(not-validated\)/);
});

test("C11: the paravisor hides the SNP/TDX CPUID flags; the guest decides by cc_platform_has() and skips SNP early boot", () => {
  const snp = bootVm({ isolation: "snp", mode: "paravisor" });
  const amd = snp.guest.hw.cpus[0]!.cpuid(X86CpuidLeaf.AMD_MEM_ENCRYPT);
  assert.equal(amd.eax & CpuidBit.AMD_SEV_SNP, 0);
  assert.equal(snp.guest.cc.has("CC_ATTR_GUEST_MEM_ENCRYPT"), true);
  assert.equal(snp.guest.cc.has("CC_ATTR_GUEST_SEV_SNP"), false);
  assert.equal(snp.guest.earlyValidation, false);
  const tdx = bootVm({ isolation: "tdx", mode: "paravisor" });
  assert.equal(tdx.guest.hw.cpus[0]!.cpuid(X86CpuidLeaf.TDX_CPUID_LEAF_ID).ebx, 0);
  assert.equal(tdx.guest.cc.has("CC_ATTR_GUEST_UNROLL_STRING_IO"), true);
  // An enlightened guest sees the flag and runs the early path.
  const enl = bootVm({ isolation: "snp", mode: "enlightened" });
  assert.notEqual(enl.guest.hw.cpus[0]!.cpuid(X86CpuidLeaf.AMD_MEM_ENCRYPT).eax & CpuidBit.AMD_SEV_SNP, 0);
  assert.equal(enl.guest.earlyValidation, true);
  assert.equal(enl.guest.cc.has("CC_ATTR_GUEST_SEV_SNP"), true);
});

test("C11 negative control: without the CPUID filter the paravisor-mode guest runs SNP early boot and dies", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor", unharden: ["cpuid-filter"] });
  assert.equal(vm.bootOutcome?.ok, false);
  assert.match(vm.bootOutcome?.crash ?? "", /PVALIDATE failed \(FAIL_PERMISSION\)/);
  const tdx = bootVm({ isolation: "tdx", mode: "paravisor", unharden: ["cpuid-filter"] });
  assert.equal(tdx.bootOutcome?.ok, false);
});

test("C13: transitions use the native SNP/TDX callbacks when enlightened and Hyper-V callbacks through the paravisor otherwise", () => {
  const expect = {
    "snp/enlightened": "snp",
    "tdx/enlightened": "tdx",
    "snp/paravisor": "hv_vtom",
    "tdx/paravisor": "hv_vtom",
  };
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    assert.equal(vm.guest.enc?.name, expect[`${c.isolation}/${c.mode}`]);
    if (c.mode === "paravisor") {
      // The swiotlb pool's decryption asked the paravisor, which forwarded to the hypervisor
      // (plus one call per CPU for its GHCB / post_msg_page, and one per range VMBus shares).
      const batches =
        Math.ceil(vm.guest.swiotlb!.pages / 510) + vm.config.vcpus + vm.guest.vmbus!.decryptCalls;
      assert.equal(vm.paravisor!.served, batches);
      assert.equal(vm.hypervisor.byCaller.paravisor, batches);
    } else {
      // Native: page state changes straight to the hypervisor, no paravisor, no hypercalls.
      assert.equal(vm.paravisor, undefined);
      assert.ok(vm.audit.boundary.counts.visibility >= 2);
    }
    // The only hypercalls the guest makes straight to the hypervisor are VMBus's
    // post-message and signal-event: no transition goes that way.
    const direct =
      (vm.hypervisor.byCode.get(HvCallCode.HVCALL_POST_MESSAGE) ?? 0) +
      (vm.hypervisor.byCode.get(HvCallCode.HVCALL_SIGNAL_EVENT) ?? 0);
    assert.equal(vm.hypervisor.byCaller.guest, direct);
    assert.equal(
      vm.hypervisor.byCode.get(HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY) ?? 0,
      c.mode === "paravisor" ? vm.paravisor!.served : 0,
    );
  }
});

test("C17: per-CPU hypercall input/output pages are decrypted only when there is no paravisor", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    for (const pc of vm.guest.percpu) {
      for (const gpa of [pc.inputPage, pc.outputPage]) {
        const f = vm.platform.memory.flags(gpa / PAGE_SIZE);
        const shared = (f & PageFlag.STATE_MASK) === PageState.SHARED;
        assert.equal(shared, c.mode === "enlightened", `${c.isolation}/${c.mode} page 0x${gpa.toString(16)}`);
      }
    }
  }
});

test("hyperv_init: TDX without a paravisor has no hypercall page; every other CoCo guest enables one", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    assert.equal(vm.guest.hypercallPage, !(c.isolation === "tdx" && c.mode === "enlightened"));
    assert.equal(vm.hypervisor.vps[0]!.guestOsId >> 48n, 0x8100n);
  }
});

test("C10: #VC/#VE from the guest's CPUID and MSR accesses go to the paravisor in paravisor mode, to the guest when enlightened", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const owners = new Set(
      vm.platform.exceptionLog.filter((e) => e.vector !== "PF").map((e) => vm.platform.ownerOf(e.vector)),
    );
    assert.deepEqual(
      [...owners],
      [c.mode === "paravisor" ? "paravisor" : "guest"],
      `${c.isolation}/${c.mode}`,
    );
    if (c.mode === "paravisor") assert.equal(vm.platform.exceptions.guest, 0);
    else assert.equal(vm.platform.exceptions.paravisor, 0);
  }
});
