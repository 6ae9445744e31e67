// The VMBus connection end to end through a booted VM: vmbus_bus_init's order,
// version negotiation and its fallbacks, what the guest decrypts for the host
// (C17) and which offers it accepts (C20).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HostOptions } from "../../../src/host/host.ts";
import { defaultDevices } from "../../../src/host/vmbus/devices.ts";
import { NullVsp } from "../../../src/host/vmbus/vsp.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../../src/platform/page.ts";
import { Vm } from "../../../src/vm/vm.ts";
import { VmbusVersion as V } from "../../../src/vmbus/constants.ts";
import { HV_RING_BUFFER } from "../../../src/vmbus/layout.ts";
import { bootVm, COCO_CONFIGS, config } from "../../helpers.ts";

function boot(c: Record<string, unknown>, host: HostOptions = {}): Vm {
  const vm = new Vm(config(c), { host });
  vm.boot();
  assert.equal(vm.bootOutcome?.ok, true, vm.bootOutcome?.crash);
  return vm;
}

function shared(vm: Vm, gpa: number): boolean {
  const f = vm.platform.memory.flags(gpa / PAGE_SIZE);
  return (f & PageFlag.STATE_MASK) === PageState.SHARED && (f & PageFlag.HOST_VISIBLE) !== 0;
}

const ALLOWED = ["heartbeat", "timesync", "shutdown", "scsi", "nic"];
const REFUSED = ["kvp", "vss", "fcopy", "balloon", "keyboard", "mouse", "video", "ide"];
const BELOW_5_2 = [
  V.VERSION_WIN10_V5_1,
  V.VERSION_WIN10_V5,
  V.VERSION_WIN10_V4_1,
  V.VERSION_WIN10,
  V.VERSION_WIN8_1,
  V.VERSION_WIN8,
];

test("vmbus_bus_init runs in the kernel's order: SynIC on every CPU, vmbus_connect, vmbus_request_offers", () => {
  const vm = bootVm({ isolation: "snp", mode: "enlightened" });
  const steps = vm.guest.bootSteps;
  const at = (s: string) => steps.findIndex((x) => x.startsWith(s));
  assert.ok(at("swiotlb") < at("vmbus_bus_init"));
  assert.ok(at("vmbus_bus_init") < at("vmbus_connect"));
  assert.ok(at("vmbus_connect") < at("vmbus_request_offers"));
  for (let vp = 0; vp < vm.config.vcpus; vp++) {
    const m = vm.hypervisor.vps[vp]!;
    assert.equal(m.scontrol & 1n, 1n, `SCONTROL.enable on VP${vp}`);
    assert.equal(m.sint[2]! & 0x100ffn, 0xf3n, "SINT2: vector 0xf3, unmasked");
    assert.ok(vm.apics[vp]!.has(0xf3));
  }
  assert.equal(vm.guest.vmbus?.state, "connected");
});

test("version negotiation starts at 6.0 on connection id 4 with msg_sint 2 and then posts to the id the host returned", () => {
  const vm = boot({ isolation: "tdx", mode: "enlightened" }, { vmbus: { responseConnectionId: 4 } });
  const c = vm.host.vmbus.contacts;
  assert.equal(c.length, 1);
  assert.equal(c[0]!.versionRequested, V.VERSION_WIN10_V6_0);
  assert.equal(c[0]!.msgSint, 2);
  assert.equal(c[0]!.targetVcpu, 0);
  assert.equal(vm.guest.vmbus?.version, V.VERSION_WIN10_V6_0);
  assert.equal(vm.guest.vmbus?.msgConnId, 4);
  assert.ok(vm.guest.dmesg.includes("Vmbus version:6.0"));
});

test("version negotiation falls back from 6.0 when the host refuses it", () => {
  const versions = [V.VERSION_WIN10_V5_3, V.VERSION_WIN10_V5_2, ...BELOW_5_2];
  for (const c of [{ isolation: "snp", mode: "paravisor" }, { isolation: "none" }]) {
    const vm = boot(c, { vmbus: { versions } });
    assert.deepEqual(
      vm.host.vmbus.contacts.map((x) => x.versionRequested),
      [V.VERSION_WIN10_V6_0, V.VERSION_WIN10_V5_3],
    );
    assert.equal(vm.guest.vmbus?.version, V.VERSION_WIN10_V5_3);
    assert.equal(vm.guest.vmbus?.state, "connected");
    assert.ok(vm.guest.vmbus!.devices.some((d) => d.name === "heartbeat" && d.driver));
  }
});

test("an isolated guest refuses a host that offers only versions below 5.2; a normal guest takes 5.1", () => {
  for (const c of COCO_CONFIGS) {
    const vm = boot(c, { vmbus: { versions: BELOW_5_2 } });
    const conn = vm.guest.vmbus!;
    assert.equal(conn.state, "failed");
    assert.deepEqual(conn.versionsTried, [
      V.VERSION_WIN10_V6_0,
      V.VERSION_WIN10_V5_3,
      V.VERSION_WIN10_V5_2,
      V.VERSION_WIN10_V5_1,
    ]);
    assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_ERR_VMBUS_VERSION_ISOLATED"));
    assert.ok(vm.guest.dmesg.some((l) => /Invalid VMBus version 5\.1 \(expected >= 5\.2\)/.test(l)));
    assert.equal(conn.devices.length, 0, "no offers requested");
  }
  const normal = boot({ isolation: "none" }, { vmbus: { versions: BELOW_5_2 } });
  assert.equal(normal.guest.vmbus?.version, V.VERSION_WIN10_V5_1);
  assert.equal(normal.guest.vmbus?.state, "connected");
});

test("a host before 5.0 takes INITIATE_CONTACT only on connection id 1, with the interrupt page", () => {
  const vm = boot(
    { isolation: "none" },
    { vmbus: { versions: [V.VERSION_WIN10, V.VERSION_WIN8_1], messageConnectionIds: [1] } },
  );
  const conn = vm.guest.vmbus!;
  // 6.0 .. 5.0 went to connection id 4, which this host does not have (the post fails).
  assert.deepEqual(
    vm.host.vmbus.contacts.map((x) => x.versionRequested),
    [V.VERSION_WIN10_V4_1, V.VERSION_WIN10],
  );
  assert.equal(conn.version, V.VERSION_WIN10);
  assert.equal(conn.msgConnId, 1);
  assert.equal(vm.host.vmbus.contacts[1]!.interruptPage, BigInt(conn.intPage));
  assert.ok(conn.devices.some((d) => d.name === "heartbeat" && d.driver));
});

test("C17: the SynIC message and event pages are decrypted: the guest's own when enlightened, supplied by the paravisor otherwise", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    for (let vp = 0; vp < vm.config.vcpus; vp++) {
      const pages = vm.guest.synic[vp]!;
      for (const gpa of [pages.message, pages.event]) {
        assert.ok(shared(vm, gpa), `${c.isolation}/${c.mode} VP${vp} 0x${gpa.toString(16)}`);
        assert.equal(vm.platform.memory.flags(gpa / PAGE_SIZE) & PageFlag.ENC_MAPPED, 0, "mapped decrypted");
        assert.equal(gpa / PAGE_SIZE >= vm.platform.synicOverlayPfn, c.mode === "paravisor");
      }
    }
    const own = [...vm.guest.sharedRanges.values()].some((r) => r.purpose.startsWith("SynIC"));
    assert.equal(own, c.mode === "enlightened");
  }
});

test("C17: both monitor pages are decrypted and zeroed, and INITIATE_CONTACT names them by their decrypted alias", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const conn = vm.guest.vmbus!;
    const boundary = BigInt(vm.guest.info!.sharedGpaBoundary);
    assert.equal(conn.monitorPages.length, 2);
    const host = vm.platform.untrustedView("host");
    for (const gpa of conn.monitorPages) {
      assert.ok(shared(vm, gpa));
      assert.ok(
        host.read(gpa, PAGE_SIZE).every((b) => b === 0),
        "zeroed",
      );
    }
    const contact = vm.host.vmbus.contacts.at(-1)!;
    assert.equal(contact.monitorPage1, BigInt(conn.monitorPages[0]!) | boundary);
    assert.equal(contact.monitorPage2, BigInt(conn.monitorPages[1]!) | boundary);
    assert.ok(!shared(vm, conn.intPage), "the interrupt page stays private");
  }
});

test("C17: ring buffers are decrypted in their direct mapping and in the rings' own mapping, and the host works on them in plaintext", () => {
  const R = HV_RING_BUFFER.off;
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const host = vm.platform.untrustedView("host");
    for (const ch of vm.guest.vmbus!.chnList.filter((x) => x.ring)) {
      const r = ch.ring!;
      assert.equal(r.mappedDecrypted, true);
      assert.equal(r.gpadl.decrypted, true);
      for (let i = 0; i < (r.sendSize + r.recvSize) / PAGE_SIZE; i++) {
        const gpa = r.gpa + i * PAGE_SIZE;
        assert.ok(shared(vm, gpa), `${ch.name} page ${i}`);
        assert.equal(vm.platform.memory.flags(gpa / PAGE_SIZE) & PageFlag.ENC_MAPPED, 0);
      }
      // Both ends see the same control pages: the host reads feature_bits in plaintext.
      assert.equal(new DataView(host.read(r.gpa + R.feature_bits, 4).buffer).getUint32(0, true), 1);
      assert.equal(r.outMem.getU32(R.feature_bits), 1);
      const w = host.read(r.gpa + r.sendSize + R.write_index, 4);
      assert.equal(r.inMem.getU32(R.write_index), new DataView(w.buffer).getUint32(0, true));
    }
  }
});

test("C17 negative control: a ring mapped without pgprot_decrypted faults on the guest's first access", () => {
  const vm = bootVm({ isolation: "snp", mode: "enlightened" });
  const ch = vm.guest.vmbus!.chnList.find((x) => x.name === "heartbeat")!;
  const r = ch.ring!;
  vm.guest.hw.setPte(r.gpa / PAGE_SIZE, (r.sendSize + r.recvSize) / PAGE_SIZE, { encrypted: true });
  assert.throws(() => r.outMem.getU32(0), /enc-mismatch/);
});

test("C20: a CoCo guest accepts only the allowed-in-isolated offers and refuses the rest with the kernel's log line", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const conn = vm.guest.vmbus!;
    assert.deepEqual(
      conn.devices.map((d) => d.name),
      ALLOWED,
    );
    assert.deepEqual(conn.refusedOffers, REFUSED);
    for (const name of REFUSED) {
      const relid = vm.host.vmbus.channel(name)!.relid;
      assert.ok(
        vm.guest.dmesg.includes(`rejected: Invalid offer ${relid} from the host supporting isolation`),
      );
      assert.equal(vm.host.vmbus.channel(name)!.open, undefined, `${name} never opened`);
    }
    assert.equal(vm.audit.rejections.filter((r) => r.code === "HVCOCO_ERR_VMBUS_OFFER_ISOLATED").length, 8);
    assert.deepEqual(vm.host.vmbus.released, [], "a refused offer's relid is not released");
    for (const name of ["heartbeat", "timesync", "shutdown"])
      assert.equal(conn.devices.find((d) => d.name === name)?.driver?.name, "hv_utils");
  }
});

test("C20: an offer of an unknown device class is refused in a CoCo VM and loaded as a device in a normal VM", () => {
  const odd = "01234567-89ab-cdef-0123-456789abcdef";
  const host: HostOptions = {
    devices: (ics) => [
      ...defaultDevices(ics),
      { name: "odd", ifType: odd, ifInstance: "01234567-89ab-cdef-0123-000000000001", vsp: new NullVsp() },
    ],
  };
  const coco = boot({ isolation: "tdx", mode: "paravisor" }, host);
  assert.equal(coco.guest.vmbus!.refusedOffers.at(-1), "unknown");
  const normal = boot({ isolation: "none" }, host);
  assert.ok(normal.guest.vmbus!.devices.some((d) => d.name === "unknown" && !d.driver));
});

test("C20: a normal VM loads the driver of every class offered", () => {
  const vm = bootVm({ isolation: "none" });
  const conn = vm.guest.vmbus!;
  assert.equal(conn.refusedOffers.length, 0);
  const bound = Object.fromEntries(conn.devices.map((d) => [d.name, d.driver?.name ?? "-"]));
  assert.deepEqual(bound, {
    heartbeat: "hv_utils",
    timesync: "hv_utils",
    shutdown: "hv_utils",
    kvp: "hv_utils",
    vss: "hv_utils",
    fcopy: "hv_fcopy_uio",
    balloon: "hv_balloon",
    keyboard: "hyperv_keyboard",
    mouse: "hid_hyperv",
    video: "hyperv_drm",
    ide: "storvsc (IDE)",
    scsi: "storvsc",
    nic: "hv_netvsc",
  });
  for (const name of ["kvp", "keyboard", "video"])
    assert.ok(vm.host.vmbus.channel(name)!.open, `${name} open`);
});

test("C20 negative control: with the isolated-offer filter off, a CoCo guest loads the non-hardened drivers and shares their rings", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm({ ...c, unharden: ["isolation-filter"] });
    const conn = vm.guest.vmbus!;
    assert.equal(conn.refusedOffers.length, 0);
    const kbd = conn.devices.find((d) => d.name === "keyboard")!;
    assert.equal(kbd.driver?.name, "hyperv_keyboard", "a driver never hardened for a CoCo VM loaded");
    assert.ok(vm.host.vmbus.channel("keyboard")!.open, "and its channel is open to the host");
    assert.ok(shared(vm, kbd.channel.ring!.gpa));
    assert.equal(conn.devices.find((d) => d.name === "kvp")?.driver?.name, "hv_utils");
  }
});
