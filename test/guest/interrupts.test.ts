// C14: a malicious hypervisor can inject interrupts that break the x86 rules into an
// enlightened guest without injection enlightenments; an SNP guest with Restricted
// Injection filters them itself; with a paravisor the guest sees only legal ones.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Auditor } from "../../src/audit/auditor.ts";
import { localIrqDisable, localIrqEnable } from "../../src/guest/arch/hv_doorbell.ts";
import { HYPERVISOR_CALLBACK_VECTOR } from "../../src/hyperv/synic-abi.ts";
import { ILLEGAL_INTERRUPT, LocalApic } from "../../src/platform/apic.ts";
import { HV_DOORBELL_PAGE } from "../../src/platform/ghcb.ts";
import { PROBE_VECTORS } from "../../src/vm/interrupts.ts";
import { runConfiguration } from "../../src/vm/run.ts";
import { bootVm, config } from "../helpers.ts";

const DEV = 0x41; // a device vector the guest installs in these tests (class 4)
const DEV_SAME_CLASS = 0x45;

function apicWithHandlers(): { apic: LocalApic; audit: Auditor; ran: number[] } {
  const audit = new Auditor();
  const apic = new LocalApic(0, audit);
  const ran: number[] = [];
  apic.install(DEV, (v) => ran.push(v), { eoi: "manual" });
  apic.install(DEV_SAME_CLASS, (v) => ran.push(v));
  apic.install(0x61, (v) => ran.push(v));
  return { apic, audit, ran };
}

test("C14: the local APIC keeps the x86 rules: exception vectors dropped, IF and TPR hold, one in service per class until EOI", () => {
  const { apic, audit, ran } = apicWithHandlers();
  // Vectors 0..31 are exceptions: an APIC drops them and flags an illegal vector.
  assert.equal(apic.request(29, "hypervisor"), "rejected");
  assert.equal(apic.esr & 0x40, 0x40);
  // IF clear: pending until the guest enables interrupts.
  apic.setInterruptFlag(false);
  assert.equal(apic.request(DEV_SAME_CLASS, "hypervisor"), "pending");
  assert.deepEqual(ran, []);
  apic.setInterruptFlag(true);
  assert.deepEqual(ran, [DEV_SAME_CLASS]);
  // TPR masks its class and below.
  apic.setTpr(0x50);
  assert.equal(apic.request(DEV_SAME_CLASS, "hypervisor"), "pending");
  assert.equal(apic.request(0x61, "hypervisor"), "delivered");
  apic.setTpr(0);
  assert.deepEqual(ran, [DEV_SAME_CLASS, 0x61, DEV_SAME_CLASS]);
  // One in service per priority class: DEV waits for its EOI, so a same-class vector waits too.
  ran.length = 0;
  apic.request(DEV, "hypervisor");
  assert.equal(apic.inService(DEV), true);
  assert.equal(apic.request(DEV_SAME_CLASS, "hypervisor"), "pending");
  assert.equal(apic.request(0x61, "hypervisor"), "delivered", "a higher class nests");
  apic.eoi();
  assert.deepEqual(ran, [DEV, 0x61, DEV_SAME_CLASS]);
  assert.equal(audit.violations.length, 0, "nothing illegal reached the guest");
  assert.equal(apic.illegalReceived, 0);
});

test("C14: raw event injection breaks every rule, and the auditor records each illegal interrupt", () => {
  const { apic, audit, ran } = apicWithHandlers();
  assert.deepEqual(apic.forceInject(29, "hypervisor"), ["exception-vector"]);
  assert.deepEqual(apic.forceInject(0x80, "hypervisor"), ["not-set-up"]);
  apic.setInterruptFlag(false);
  assert.deepEqual(apic.forceInject(DEV_SAME_CLASS, "hypervisor"), ["interrupts-disabled"]);
  apic.setInterruptFlag(true);
  apic.setTpr(0x50);
  assert.deepEqual(apic.forceInject(DEV_SAME_CLASS, "hypervisor"), ["tpr-masked"]);
  apic.setTpr(0);
  apic.request(DEV, "hypervisor"); // in service, awaiting EOI
  assert.deepEqual(apic.forceInject(DEV_SAME_CLASS, "hypervisor"), ["in-service-class"]);
  assert.deepEqual(ran, [DEV_SAME_CLASS, DEV_SAME_CLASS, DEV, DEV_SAME_CLASS]);
  assert.equal(apic.illegalReceived, 5);
  assert.deepEqual(
    audit.violations.map((v) => v.code),
    new Array(5).fill(ILLEGAL_INTERRUPT),
  );
  // A legal interrupt injected raw is no violation.
  apic.eoi();
  assert.deepEqual(apic.forceInject(0x61, "hypervisor"), []);
  assert.equal(audit.violations.length, 5);
});

test("C14: an enlightened SNP guest without injection enlightenments receives the hypervisor's illegal interrupts", () => {
  const vm = bootVm({ isolation: "snp", mode: "enlightened" });
  assert.equal(vm.interrupts.path, "event-injection");
  const apic = vm.apics[0]!;
  for (const v of PROBE_VECTORS) vm.hypervisor.inject(0, v);
  localIrqDisable(vm.guest, 0);
  vm.hypervisor.inject(0, HYPERVISOR_CALLBACK_VECTOR); // with IF clear
  localIrqEnable(vm.guest, 0);
  assert.equal(apic.illegalReceived, PROBE_VECTORS.length + 1);
  assert.equal(
    vm.audit.violations.filter((v) => v.code === ILLEGAL_INTERRUPT).length,
    PROBE_VECTORS.length + 1,
  );
});

test("C14: an enlightened TDX guest's virtual APIC keeps the APIC rules, but vectors it never set up still reach it", () => {
  const vm = bootVm({ isolation: "tdx", mode: "enlightened" });
  assert.equal(vm.interrupts.path, "posted-interrupt");
  const apic = vm.apics[0]!;
  vm.hypervisor.inject(0, 29);
  assert.equal(apic.rejected, 1, "the exception vector is dropped");
  localIrqDisable(vm.guest, 0);
  vm.hypervisor.inject(0, HYPERVISOR_CALLBACK_VECTOR);
  assert.equal(apic.isPending(HYPERVISOR_CALLBACK_VECTOR), true, "held while IF is clear");
  localIrqEnable(vm.guest, 0);
  assert.equal(apic.isPending(HYPERVISOR_CALLBACK_VECTOR), false);
  vm.hypervisor.inject(0, 0x80);
  assert.equal(apic.illegalReceived, 1, "int 0x80's vector arrives as an interrupt the guest never set up");
});

test("C14: an enlightened SNP guest with Restricted Injection takes only #HV and filters the doorbell's vectors itself", () => {
  const vm = bootVm({ isolation: "snp", mode: "enlightened", restrictedInjection: true });
  assert.equal(vm.bootOutcome?.ok, true, vm.bootOutcome?.crash);
  assert.equal(vm.interrupts.path, "restricted-injection");
  const k = vm.guest;
  const apic = vm.apics[0]!;
  assert.equal(k.hvDoorbell.length, 2, "one doorbell page per CPU, registered with the hypervisor");
  assert.equal(vm.hypervisor.hvDoorbell[0], k.hvDoorbell[0]);
  const raised = apic.hvRaised;
  assert.ok(raised > 0, "the SynIC's interrupts at boot came as #HV");
  for (const v of PROBE_VECTORS) vm.hypervisor.inject(0, v);
  assert.equal(apic.hvRaised, raised + PROBE_VECTORS.length);
  assert.equal(apic.illegalReceived, 0);
  assert.equal(
    vm.audit.rejections.filter((r) => r.code === "HVCOCO_REJECT_ILLEGAL_INTERRUPT").length,
    PROBE_VECTORS.length,
  );
  // With IF clear the vector waits in the doorbell; local_irq_enable() takes it, by the rules.
  const before = apic.delivered;
  localIrqDisable(k, 0);
  vm.hypervisor.inject(0, HYPERVISOR_CALLBACK_VECTOR);
  assert.equal(
    k.hw.mem.read(k.hvDoorbell[0]! + HV_DOORBELL_PAGE.off.vector, 1)[0],
    HYPERVISOR_CALLBACK_VECTOR,
  );
  assert.equal(apic.delivered, before);
  localIrqEnable(k, 0);
  assert.equal(apic.delivered, before + 1);
  assert.equal(vm.audit.violations.length, 0);
});

test("C14: with a paravisor the guest sees only legal interrupts: the paravisor refuses what the guest did not set up", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "paravisor" });
    assert.equal(vm.interrupts.path, "paravisor");
    const apic = vm.apics[0]!;
    const med = vm.paravisor!.interrupts;
    for (const v of PROBE_VECTORS) vm.hypervisor.inject(0, v);
    assert.equal(med.stats.refused, PROBE_VECTORS.length);
    assert.equal(apic.illegalReceived, 0);
    // A vector the guest set up passes, by the rules: held while IF is clear.
    med.allowDeviceVector(0x34);
    localIrqDisable(vm.guest, 0);
    vm.hypervisor.inject(0, 0x34);
    assert.equal(apic.isPending(0x34), true);
    localIrqEnable(vm.guest, 0);
    assert.equal(apic.isPending(0x34), false);
    assert.equal(vm.audit.violations.length, 0, iso);
  }
});

test("C14 negative control: with interrupt mediation off the hypervisor's illegal interrupts reach the paravisor-mode guest", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "paravisor", unharden: ["interrupt-mediation"] });
    const unmediated = vm.paravisor!.interrupts.stats.unmediated;
    for (const v of PROBE_VECTORS) vm.hypervisor.inject(0, v);
    assert.equal(vm.apics[0]!.illegalReceived, PROBE_VECTORS.length, iso);
    assert.equal(vm.paravisor!.interrupts.stats.unmediated, unmediated + PROBE_VECTORS.length);
    assert.equal(
      vm.audit.violations.filter((v) => v.code === ILLEGAL_INTERRUPT).length,
      PROBE_VECTORS.length,
    );
  }
});

test("C14: hvcoco run's interrupt probe: illegal interrupts reach SNP and TDX enlightened guests, none reach a paravisor's", () => {
  const got: Record<string, number> = {};
  for (const c of [
    { isolation: "snp", mode: "enlightened" },
    { isolation: "snp", mode: "enlightened", restrictedInjection: true },
    { isolation: "snp", mode: "paravisor" },
    { isolation: "tdx", mode: "enlightened" },
    { isolation: "tdx", mode: "paravisor" },
  ])
    got[config(c).name] = runConfiguration(config(c)).row.illegalInterrupts;
  assert.deepEqual(got, {
    "snp-enlightened": 3,
    "snp-enlightened-ri": 0,
    "snp-paravisor": 0,
    "tdx-enlightened": 2,
    "tdx-paravisor": 0,
  });
});
