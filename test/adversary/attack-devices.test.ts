// The attack API's device seams and the auditor's device checks: a host that offers
// a vPCI bus because the attack asks it to, messages posted where the server's
// own go (the paravisor's relay with Confidential VMBus) or on the guest's
// hypervisor SynIC, the paravisor's storage probed whatever the host did, and the
// verdicts of the network, vPCI and Confidential VMBus attacks on both sides of
// their hardenings.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Attack } from "../../src/adversary/api.ts";
import { checkVpciBars } from "../../src/adversary/checks-devices.ts";
import { findAttack } from "../../src/adversary/library/index.ts";
import { offer } from "../../src/adversary/library/util.ts";
import { runAttack } from "../../src/adversary/runner.ts";
import { hvPciBusOf } from "../../src/guest/drivers/hv_pci.ts";
import { Vm } from "../../src/vm/vm.ts";
import { DeviceGuid } from "../../src/vmbus/constants.ts";
import { config } from "../helpers.ts";

const CVM = { isolation: "snp", mode: "paravisor", vmbus: "confidential", memory: "64M" } as const;

function attack(a: Partial<Attack> & Pick<Attack, "name">): Attack {
  return { description: "a test attack", klass: "test", defeatedBy: [], ...a };
}

test("an attack's host setup offers a vPCI bus: the guest enumerates it (through the paravisor too), and the host sees its channel", () => {
  for (const c of [
    { isolation: "tdx", mode: "enlightened" },
    { isolation: "snp", mode: "paravisor" },
  ]) {
    let vm: Vm | undefined;
    const seen: string[] = [];
    const v = runAttack(
      attack({
        name: "offer-vpci",
        host: { vpci: true },
        after(ctx) {
          seen.push(...ctx.host.vmbus.channels().map((ch) => ch.name));
        },
      }),
      config({ ...c, memory: "64M" }),
      undefined,
      (x) => {
        vm = x;
      },
    );
    assert.equal(v.finding, false, v.findings.join("; "));
    assert.ok(seen.includes("pcie"), `${c.mode}: ${seen.join(",")}`);
    assert.equal(hvPciBusOf(vm!.guest)?.state, "ready");
  }
  // Without it, the default host offers no vPCI bus.
  const plain = runAttack(
    attack({
      name: "no-vpci",
      after(ctx) {
        assert.ok(!ctx.host.vmbus.offers().some((o) => o.name === "pcie"));
      },
    }),
    config({ isolation: "snp", mode: "enlightened", memory: "64M" }),
  );
  assert.equal(plain.finding, false);
});

test("with Confidential VMBus, sendToClient reaches the paravisor's relay (a hot-added offer is relayed) while send lands on the guest's hypervisor SynIC and is refused", () => {
  let vm: Vm | undefined;
  const v = runAttack(
    attack({
      name: "post-both-ways",
      after(ctx) {
        ctx.host.vmbus.sendToClient(offer(40, DeviceGuid.HV_SHUTDOWN_GUID, 40));
        ctx.host.vmbus.send(offer(41, DeviceGuid.HV_SHUTDOWN_GUID, 41));
        ctx.letGuestRun();
      },
    }),
    config(CVM),
    undefined,
    (x) => {
      vm = x;
    },
  );
  assert.equal(v.finding, false, v.findings.join("; "));
  const relids = vm!.guest.vmbus!.chnList.map((c) => c.relid);
  assert.ok(relids.includes(40), "the relay passed the hot-added offer on");
  assert.ok(!relids.includes(41));
  assert.ok(v.rejections.some((r) => r.code === "HVCOCO_ERR_VMBUS_UNTRUSTED_MSG"));
  assert.ok(v.channelsChecked.includes("paravisor storage"), "the guest's key page came back");
});

test("the relay's offers pass the host's interposer: flags it sets are stripped, or (relay-flag-strip off) a violation", () => {
  const a = findAttack("relay-offer-confidential-flags")!;
  const ok = runAttack(a, config(CVM));
  assert.equal(ok.finding, false, ok.findings.join("; "));
  assert.match(ok.notes.join(), /on 13 offers/);
  const bad = runAttack(a, config({ ...CVM, unharden: ["relay-flag-strip"] }));
  assert.ok(bad.violations.some((x) => x.code === "HVCOCO_VIOLATION_CONFIDENTIAL_OFFER"));
});

test("the paravisor's storage is probed whatever the host did: forged closes and rescinds lose it only without the trusted-connection check", () => {
  for (const name of ["untrusted-path-close", "untrusted-synic-rescind"]) {
    const a = findAttack(name)!;
    const ok = runAttack(a, config(CVM));
    assert.deepEqual(ok.channelsLost, [], name);
    assert.ok(ok.channelsChecked.includes("paravisor storage"), name);
    const bad = runAttack(a, config({ ...CVM, unharden: ["trusted-connection"] }));
    assert.deepEqual(bad.channelsLost, ["paravisor storage"], name);
    assert.equal(bad.finding, true, name);
  }
});

test("the paravisor's bounce pages: the guest's key page passes through them, and the host reads it only without the SLAT exclusion", () => {
  const a = findAttack("host-reads-bounce-pages")!;
  const c = { ...CVM, paravisorStorage: "bounce" };
  const ok = runAttack(a, config(c));
  assert.equal(ok.finding, false, ok.findings.join("; "));
  const bad = runAttack(a, config({ ...c, unharden: ["slat-exclusion"] }));
  assert.ok(bad.secretBytesLeaked >= 4096, `${bad.secretBytesLeaked} secret bytes`);
});

test("netvsc: a host that rewrites data_offset/data_len after the checks decides nothing with netvsc-copy, and is seen by the auditor without it", () => {
  const a = findAttack("netvsc-rewrite-after-check")!;
  const c = { isolation: "tdx", mode: "paravisor", memory: "64M" };
  const ok = runAttack(a, config(c));
  assert.equal(ok.finding, false, ok.findings.join("; "));
  assert.match(ok.notes.join(), /rewrote data_offset/);
  const bad = runAttack(a, config({ ...c, unharden: ["netvsc-copy"] }));
  assert.deepEqual(
    bad.violations.map((x) => x.code),
    ["HVCOCO_VIOLATION_UNVALIDATED_USE"],
  );
  assert.match(bad.violations[0]!.message, /took 3000 bytes .* it checked 100 bytes/);
});

test("RNDIS messages with bad offsets and transfer-page packets with bad ranges are each refused with a logged reason", () => {
  const c = config({ isolation: "snp", mode: "enlightened", memory: "64M" });
  const rndis = runAttack(findAttack("rndis-bad-offsets")!, c);
  const codes = rndis.rejections.map((r) => r.code).filter((x) => x.startsWith("HVCOCO_ERR_RNDIS"));
  assert.equal(codes.length, 16, codes.join(","));
  const xfer = runAttack(findAttack("netvsc-xfer-ranges")!, c);
  const x = xfer.rejections.map((r) => r.code).filter((y) => y.startsWith("HVCOCO_ERR_NETVSC_XFER"));
  assert.equal(x.length, 7, x.join(","));
  assert.equal(rndis.finding || xfer.finding, false);
});

test("vPCI BARs sized beyond the resource requirements stay unassigned and memory decode stays off", () => {
  let vm: Vm | undefined;
  const v = runAttack(
    findAttack("vpci-bar-size-lies")!,
    config({ isolation: "tdx", mode: "paravisor" }),
    undefined,
    (x) => {
      vm = x;
    },
  );
  assert.equal(v.finding, false, v.findings.join("; "));
  assert.ok(v.rejections.some((r) => r.code === "HVCOCO_ERR_HVPCI_BAR_WINDOW"));
  const f = hvPciBusOf(vm!.guest)!.functions[0]!;
  assert.equal(f.command & 2, 0, "memory decode off");
  assert.ok(f.bars.length >= 2);
  assert.ok(
    f.bars.every((b) => b.address === 0),
    "no BAR placed",
  );
  assert.equal(vm!.host.vpci!.functions[0]!.command & 2, 0, "the host's device does not decode");
});

test("the auditor flags a vPCI BAR enabled over guest RAM or over another BAR", () => {
  const vm = new Vm(config({ isolation: "snp", mode: "enlightened", memory: "64M" }), {
    host: { vpci: true },
  });
  assert.ok(vm.boot().ok);
  const f = hvPciBusOf(vm.guest)!.functions[0]!;
  checkVpciBars(vm);
  assert.equal(vm.audit.violations.length, 0, "as the guest placed them");
  f.bars[0]!.address = 0x100000;
  f.bars[1]!.address = f.bars[0]!.address;
  checkVpciBars(vm);
  assert.deepEqual(
    vm.audit.violations.map((x) => x.code),
    ["HVCOCO_VIOLATION_VPCI_BAR", "HVCOCO_VIOLATION_VPCI_BAR"],
  );
});
