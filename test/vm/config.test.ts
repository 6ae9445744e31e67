import assert from "node:assert/strict";
import { test } from "node:test";
import { HvCpuidLeaf } from "../../src/hyperv/hvgdk.ts";
import { configInput, parseConfig } from "../../src/vm/config.ts";
import { bootVm, config } from "../helpers.ts";

test("C1: the isolated attribute is fixed at creation: the config is frozen and the VM keeps its isolation", () => {
  const c = config({ isolation: "snp", mode: "paravisor" });
  assert.ok(Object.isFrozen(c));
  assert.throws(() => {
    (c as { isolation: string }).isolation = "none";
  }, TypeError);
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const before = vm.hypervisor.cpuid(0, HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG, "host");
  // Running the VM does not change what it is: the isolation leaf reads the same later.
  vm.guest.hw.cpus[0]!.cpuid(HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG);
  assert.deepEqual(vm.hypervisor.cpuid(0, HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG, "host"), before);
  assert.equal(vm.platform.config.isolation, "snp");
  // A normal VM is not a CoCo VM and does not become one.
  const normal = bootVm({ isolation: "none" });
  assert.equal(normal.hypervisor.cpuid(0, HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG, "host").ebx, 0);
  assert.equal(normal.guest.cc.has("CC_ATTR_MEM_ENCRYPT"), false);
});

test("C2: SEV, SEV-ES and SME are refused with one clear line; SNP and TDX are accepted", () => {
  for (const iso of ["sev", "sev-es", "sme", "SEV-ES"]) {
    const r = parseConfig({ isolation: iso });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, "HVCOCO_ERR_CONFIG");
      assert.match(r.error.message, /refused/);
      assert.match(r.error.message, /snp or tdx/);
      assert.ok(!r.error.message.includes("\n"));
    }
  }
  assert.equal(parseConfig({ isolation: "snp" }).ok, true);
  assert.equal(parseConfig({ isolation: "tdx" }).ok, true);
});

test("C3: the mode is chosen at creation and fixed; paravisor mode needs isolation", () => {
  const c = config({ isolation: "tdx", mode: "paravisor" });
  assert.throws(() => {
    (c as { mode: string }).mode = "enlightened";
  }, TypeError);
  assert.equal(c.mode, "paravisor");
  const r = parseConfig({ isolation: "none", mode: "paravisor" });
  assert.equal(r.ok, false);
  const vm = bootVm({ isolation: "tdx", mode: "paravisor" });
  assert.equal(vm.guest.info?.paravisorPresent, true);
});

test("configuration errors name the problem", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ isolation: "xyz" }, /isolation must be one of/],
    [{ vcpus: 0 }, /vcpus/],
    [{ memory: "lots" }, /memory/],
    [{ memory: "3M" }, /multiple of 2M/],
    [{ bogus: 1 }, /unknown configuration key "bogus"/],
    [{ isolation: "snp", vmbus: "confidential" }, /needs mode paravisor/],
    [{ unharden: ["nope"] }, /unknown hardening/],
    [{ seed: -1 }, /seed/],
  ];
  for (const [c, re] of cases) {
    const r = parseConfig(c);
    assert.equal(r.ok, false, JSON.stringify(c));
    if (!r.ok) assert.match(r.error.message, re);
  }
});

test("configInput inverts parseConfig, including the optional keys", () => {
  for (const input of [
    { isolation: "snp", mode: "enlightened", restrictedInjection: true, seed: 3, memory: "256M" },
    { isolation: "tdx", mode: "paravisor", paravisorImage: "tampered", unharden: ["not-present"] },
    { isolation: "snp", mode: "paravisor", vmbus: "confidential", paravisorStorage: "ring-only" },
    { isolation: "snp", mode: "paravisor", vmbusProbe: true },
    { isolation: "none" },
  ]) {
    const a = parseConfig(input);
    assert.equal(a.ok, true);
    if (!a.ok) continue;
    const b = parseConfig(configInput(a.config));
    assert.deepEqual(b, a);
  }
});
