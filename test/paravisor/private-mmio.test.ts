// C12: the paravisor emulates the IO-APIC and the vTPM; the guest maps them private
// (hv_is_private_mmio), so their accesses reach the paravisor; mapped shared, they
// reach the untrusted host instead, which sees the data.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { MEASURE_PCR } from "../../src/guest/drivers/tpm_crb.ts";
import { hvIsPrivateMmio, ioremap } from "../../src/guest/mm/ioremap.ts";
import { HV_IOAPIC_BASE_ADDRESS, VTPM_BASE_ADDRESS } from "../../src/hyperv/hvgdk.ts";
import { crbMmio } from "../../src/paravisor/devices.ts";
import { TPM_ALG } from "../../src/paravisor/tpm/constants.ts";
import { TpmCrb } from "../../src/paravisor/tpm/crb.ts";
import { VirtualTpm } from "../../src/paravisor/tpm/engine.ts";
import { Vm } from "../../src/vm/vm.ts";
import { bootVm, COCO_CONFIGS, config } from "../helpers.ts";

test("C12: hv_is_private_mmio claims exactly the IO-APIC page and the vTPM page", () => {
  assert.equal(hvIsPrivateMmio(0xfec00000), true);
  assert.equal(hvIsPrivateMmio(0xfec00fff), true);
  assert.equal(hvIsPrivateMmio(0xfec01000), false);
  assert.equal(hvIsPrivateMmio(0xfebfffff), false);
  assert.equal(hvIsPrivateMmio(0xfed40000), true);
  assert.equal(hvIsPrivateMmio(0xfed40fff), true);
  assert.equal(hvIsPrivateMmio(0xfed41000), false);
  assert.equal(hvIsPrivateMmio(0xfed00000), false); // HPET: the host's
});

test("C12: with a paravisor the guest maps the IO-APIC and vTPM encrypted and the paravisor serves them; nothing reaches the host", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "paravisor" });
    const k = vm.guest;
    const pv = vm.paravisor!;
    const maps = k.iomaps.map((m) => [m.phys, m.encrypted]);
    assert.deepEqual(maps, [
      [HV_IOAPIC_BASE_ADDRESS, true],
      [VTPM_BASE_ADDRESS, true],
    ]);
    // Other MMIO is still mapped decrypted (the host's).
    assert.equal(ioremap(k, 0xfed00000, 4096).encrypted, false);
    // The guest programmed the paravisor's IO-APIC: COM1's pin routed to ISA_IRQ_VECTOR(4) = 0x34.
    assert.equal(pv.devices.ioapic.redirectionEntry(4), 0x34n);
    assert.equal(pv.devices.ioapic.redirectionEntry(5) & 0x10000n, 0x10000n, "other pins masked");
    // The vTPM ran Startup, GetRandom, PCR_Extend, PCR_Read through the CRB.
    assert.equal(pv.devices.crb.stats.starts, 4);
    assert.equal(k.tpm?.present, true, k.tpm?.error);
    const expected = createHash("sha256").update(new Uint8Array(32)).update(k.tpm!.measured!).digest();
    assert.deepEqual([...k.tpm!.pcr10!], [...expected]);
    assert.deepEqual([...pv.devices.tpm.pcrValue(TPM_ALG.SHA256, MEASURE_PCR)!], [...expected]);
    // The host saw none of it.
    assert.equal(vm.hypervisor.exits.mmio, 0);
    assert.equal(vm.audit.secretBytesLeaked, 0);
    assert.equal(vm.hypervisor.hostIoApic, undefined, "the host emulates no IO-APIC here");
  }
});

test("C12: the paravisor's IO-APIC delivers the interrupts the guest routed", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const before = vm.apics[0]!.delivered;
  assert.equal(vm.paravisor!.devices.ioapic.assertIrq(4), true);
  assert.equal(vm.apics[0]!.delivered, before + 1);
  assert.equal(vm.audit.violations.length, 0);
});

test("C12: without a paravisor the guest maps them decrypted and the host emulates the IO-APIC", () => {
  for (const c of COCO_CONFIGS.filter((c) => c.mode === "enlightened")) {
    const vm = bootVm(c);
    assert.deepEqual(
      vm.guest.iomaps.map((m) => [m.phys, m.encrypted]),
      [[HV_IOAPIC_BASE_ADDRESS, false]],
    );
    assert.equal(vm.guest.isPrivateMmio, undefined);
    assert.equal(vm.hypervisor.hostIoApic!.redirectionEntry(4), 0x34n);
    assert.equal(vm.guest.tpm, undefined, "no vTPM without a paravisor");
  }
});

test("C12 negative control: mapped shared, the IO-APIC and vTPM accesses reach the host, which sees the TPM commands", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = new Vm(config({ isolation: iso, mode: "paravisor", unharden: ["private-mmio"] }));
    // The host answers at the vTPM's address with a TPM of its own (what a malicious host would do).
    const hostTpm = new TpmCrb(new VirtualTpm({ random: (d) => d.fill(0x41) }));
    vm.hypervisor.hostMmio.add(crbMmio(hostTpm, "host's fake vTPM"));
    const seen: Uint8Array[] = [];
    const orig = hostTpm.tpm.execute.bind(hostTpm.tpm);
    hostTpm.tpm.execute = (cmd) => {
      seen.push(cmd.slice());
      return orig(cmd);
    };
    vm.boot();
    assert.equal(vm.bootOutcome?.ok, true);
    const k = vm.guest;
    assert.deepEqual(
      k.iomaps.map((m) => [m.phys, m.encrypted]),
      [
        [HV_IOAPIC_BASE_ADDRESS, false],
        [VTPM_BASE_ADDRESS, false],
      ],
    );
    // The paravisor's devices got nothing; the host got every access.
    assert.equal(vm.paravisor!.devices.stats.mmioEmulated, 0);
    assert.equal(vm.paravisor!.devices.crb.stats.starts, 0);
    assert.ok(vm.paravisor!.devices.stats.mmioForwarded > 50);
    assert.ok(vm.hypervisor.exits.mmio > 50);
    // The host read the guest's PCR_Extend, measurement digest included, and supplied its "random".
    const ext = seen.find((c) => c[9] === 0x82);
    assert.ok(ext, "the host saw TPM2_PCR_Extend");
    assert.deepEqual([...ext!.subarray(ext!.length - 32)], [...k.tpm!.measured!]);
    assert.deepEqual([...k.tpm!.random!], new Array(32).fill(0x41));
    // The auditor counts the command bytes as secret bytes the host read.
    assert.ok(vm.audit.secretBytesLeaked >= ext!.length, `${vm.audit.secretBytesLeaked}`);
    assert.ok(vm.audit.deviceBytesToHost > 0);
  }
});

test("C12 negative control: mapped shared with no device at the host, the guest's TPM driver finds nothing and says why", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor", unharden: ["private-mmio"] });
  assert.equal(vm.bootOutcome?.ok, true);
  assert.equal(vm.guest.tpm?.present, false);
  assert.match(vm.guest.tpm?.error ?? "", /not CRB/);
  assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_REJECT_TPM"));
  assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_REJECT_IOAPIC"));
});
