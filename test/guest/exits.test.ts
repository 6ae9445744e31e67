// C10: #VC (SNP) / #VE (TDX) for what really raises them — CPUID, MSR access, MMIO,
// port I/O and (TDX) HLT — go to the paravisor in paravisor mode, which emulates the
// effect, and to the guest's own handler when the guest is fully enlightened.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HV_IOAPIC_BASE_ADDRESS } from "../../src/hyperv/hvgdk.ts";
import { COM1_BASE, UART_REG } from "../../src/hypervisor/ports.ts";
import { SvmExit, VmxExit } from "../../src/platform/exceptions.ts";
import { bootVm, COCO_CONFIGS } from "../helpers.ts";

/** Exceptions raised by one action, by cause and owner. */
function during(vm: ReturnType<typeof bootVm>, fn: () => void) {
  const n = vm.platform.exceptionLog.length;
  fn();
  return vm.platform.exceptionLog.slice(n).map((e) => ({
    cause: e.cause,
    vector: e.vector,
    errorCode: e.errorCode,
    owner: vm.platform.ownerOf(e.vector),
  }));
}

test("C10: MMIO, port I/O and HLT raise #VC/#VE handled by the paravisor in paravisor mode and by the guest when enlightened", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    assert.equal(vm.bootOutcome?.ok, true, `${c.isolation}/${c.mode}`);
    const cpu = vm.guest.hw.cpus[0]!;
    const owner = c.mode === "paravisor" ? "paravisor" : "guest";
    const where = `${c.isolation}/${c.mode}`;
    // MMIO: the IO-APIC's version register through the guest's own mapping.
    const ioapic = vm.guest.iomaps.find((m) => m.phys === HV_IOAPIC_BASE_ADDRESS)!;
    let ver = 0;
    const mmio = during(vm, () => {
      ioapic.writel(0, 1);
      ver = ioapic.readl(0x10);
    });
    assert.equal(ver, 0x00170011, `${where}: IO-APIC version read through the emulation`);
    assert.deepEqual(
      mmio.map((e) => [e.cause, e.owner, e.errorCode]),
      [
        ["mmio", owner, c.isolation === "snp" ? SvmExit.SVM_EXIT_NPF : VmxExit.EXIT_REASON_EPT_VIOLATION],
        ["mmio", owner, c.isolation === "snp" ? SvmExit.SVM_EXIT_NPF : VmxExit.EXIT_REASON_EPT_VIOLATION],
      ],
      where,
    );
    // Port I/O: the UART's line status register.
    let lsr = 0;
    const io = during(vm, () => {
      lsr = cpu.in(COM1_BASE + UART_REG.LSR, 1);
    });
    assert.equal(lsr & 0x20, 0x20, `${where}: LSR says THRE`);
    assert.deepEqual(
      io.map((e) => [e.cause, e.owner, e.errorCode]),
      [["ioio", owner, c.isolation === "snp" ? SvmExit.SVM_EXIT_IOIO : VmxExit.EXIT_REASON_IO_INSTRUCTION]],
      where,
    );
    // HLT: #VE on TDX; an automatic exit (no #VC) for an enlightened SNP guest; the paravisor's otherwise.
    const halts = vm.hypervisor.exits.hlt;
    const hlt = during(vm, () => cpu.hlt());
    assert.equal(vm.hypervisor.exits.hlt, halts + 1, `${where}: the VP halted in the hypervisor`);
    if (c.isolation === "snp" && c.mode === "enlightened") assert.deepEqual(hlt, []);
    else
      assert.deepEqual(
        hlt.map((e) => [e.cause, e.owner]),
        [["hlt", owner]],
        where,
      );
    // Nothing of the kind ever reaches the guest's handler in paravisor mode.
    if (c.mode === "paravisor") assert.equal(vm.platform.exceptions.guest, 0, where);
    else assert.equal(vm.platform.exceptions.paravisor, 0, where);
  }
});

test("C10: at boot every exit cause reaches its owner: the paravisor serves the private MMIO itself and passes the rest on", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const causes = new Set(vm.platform.exceptionLog.filter((e) => e.vector !== "PF").map((e) => e.cause));
    for (const cause of ["cpuid", "msr-write", "mmio", "ioio"])
      assert.ok(causes.has(cause as never), `${cause}`);
    const hv = vm.hypervisor;
    if (c.mode === "paravisor") {
      const d = vm.paravisor!.devices.stats;
      // IO-APIC and vTPM stay in the paravisor; only the console's port I/O and the idle HLT go on.
      assert.ok(d.mmioEmulated > 50, `${d.mmioEmulated}`);
      assert.equal(d.mmioForwarded, 0);
      assert.equal(hv.exits.mmio, 0);
      assert.equal(hv.exitsByCaller.guest, 0);
      assert.equal(hv.exitsByCaller.paravisor, hv.exits.io + hv.exits.hlt);
    } else {
      // The guest's own #VC/#VE handler sent them through the GHCB / TDVMCALL.
      assert.ok(hv.exits.mmio > 50);
      assert.equal(hv.exitsByCaller.paravisor, 0);
      assert.equal(hv.exitsByCaller.guest, hv.exits.mmio + hv.exits.io + hv.exits.hlt);
    }
    assert.equal(hv.ports.console, "Linux version 6.19.0-hvcoco\n");
  }
});

test("C10 negative control: without ReflectVC the VMPL2 guest takes its own #VC, sees the unfiltered CPUID and dies in SNP early boot", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor", unharden: ["reflect-vc"] });
  assert.equal(vm.bootOutcome?.ok, false);
  assert.match(vm.bootOutcome?.crash ?? "", /PVALIDATE failed \(FAIL_PERMISSION\)/);
  assert.ok(vm.platform.exceptions.guest > 0, "the guest handled #VC itself");
  assert.equal(vm.platform.exceptions.paravisor, 0, "the paravisor saw none");
  // With ReflectVC the same guest boots and handles none.
  const ok = bootVm({ isolation: "snp", mode: "paravisor" });
  assert.equal(ok.bootOutcome?.ok, true);
  assert.equal(ok.platform.exceptions.guest, 0);
});
