// A channel's life after boot: a large ring described in several GPADL messages,
// retargeting its interrupts, the host rescinding it (close, teardown, the ring
// encrypted again, RELID_RELEASED) and unloading the whole connection.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { VmbusChannel } from "../../../src/guest/vmbus/channel.ts";
import { vmbusClose, vmbusOpen, vmbusSendModifyChannel } from "../../../src/guest/vmbus/channel_open.ts";
import { vmbusInitiateUnload } from "../../../src/guest/vmbus/connection.ts";
import { defaultDevices } from "../../../src/host/vmbus/devices.ts";
import { NullVsp } from "../../../src/host/vmbus/vsp.ts";
import { HvCallCode } from "../../../src/hyperv/hvgdk.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../../src/platform/page.ts";
import { Vm } from "../../../src/vm/vm.ts";
import { VmbusVersion as V } from "../../../src/vmbus/constants.ts";
import { monitorPendingOffset } from "../../../src/vmbus/monitor.ts";
import { bootVm, config } from "../../helpers.ts";

/** Run `fn` as guest process context (a task), and the machine until idle. */
function inGuest<T>(vm: Vm, fn: () => T): T {
  let out: T | undefined;
  vm.scheduler.post("guest", "test", () => {
    out = fn();
  });
  vm.scheduler.runUntilIdle();
  return out as T;
}

function state(vm: Vm, gpa: number): number {
  return vm.platform.memory.flags(gpa / PAGE_SIZE) & PageFlag.STATE_MASK;
}

test("a 256 KiB ring goes to the host as a GPADL header of 26 PFNs and bodies of 28, decrypted first", () => {
  const vm = bootVm({ isolation: "snp", mode: "enlightened" });
  const ch = vm.guest.vmbus!.chnList.find((c) => c.name === "scsi")!;
  // storvsc opened it at boot with its own rings: close it first.
  assert.equal(
    inGuest(vm, () => vmbusClose(ch)),
    0,
  );
  const kinds: string[] = [];
  const orig = vm.host.vmbus.onMessage.bind(vm.host.vmbus);
  vm.host.vmbus.onMessage = (vp, payload) => {
    kinds.push(`${payload[0]}:${payload.length}`);
    orig(vp, payload);
  };
  const got: VmbusChannel[] = [];
  const ret = inGuest(vm, () =>
    vmbusOpen(ch, { sendSize: 128 * 1024, recvSize: 128 * 1024, callback: (c) => got.push(c) }),
  );
  assert.equal(ret, 0);
  // GPADL_HEADER 20 + 8 + 26 * 8, GPADL_BODY 16 + 28 * 8, GPADL_BODY 16 + 10 * 8, OPENCHANNEL 148.
  assert.deepEqual(kinds, ["8:236", "9:240", "9:96", "5:148"]);
  const r = ch.ring!;
  for (let i = 0; i < 64; i++) assert.equal(state(vm, r.gpa + i * PAGE_SIZE), PageState.SHARED);
  assert.equal(vm.host.vmbus.channel("scsi")!.state, "open");
  assert.equal(
    inGuest(vm, () => vmbusClose(ch)),
    0,
  );
  for (let i = 0; i < 64; i++)
    assert.equal(state(vm, r.gpa + i * PAGE_SIZE), PageState.PRIVATE, "encrypted again");
  assert.equal(vm.host.vmbus.channel("scsi")!.state, "offered");
});

test("MODIFYCHANNEL retargets a channel's interrupts; from 5.3 the host acknowledges it", () => {
  for (const versions of [undefined, [V.VERSION_WIN10_V5_2]]) {
    const vm = new Vm(
      config({ isolation: "tdx", mode: "paravisor" }),
      versions ? { host: { vmbus: { versions } } } : {},
    );
    vm.boot();
    const ch = vm.guest.vmbus!.chnList.find((c) => c.name === "heartbeat")!;
    assert.equal(
      inGuest(vm, () => vmbusSendModifyChannel(ch, 1)),
      0,
    );
    assert.equal(ch.targetVp, 1);
    assert.equal(vm.host.vmbus.channel("heartbeat")!.open!.targetVp, 1);
    const delivered = vm.apics[1]!.delivered;
    vm.host.ics.heartbeat.beat();
    vm.scheduler.runUntilIdle();
    assert.ok(vm.apics[1]!.delivered > delivered, "the channel's interrupt now arrives on VP1");
    assert.equal(vm.host.ics.heartbeat.acks, 1);
  }
});

test("a rescinded channel is closed, its GPADL torn down and re-encrypted, and its relid released", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const conn = vm.guest.vmbus!;
  const ch = conn.chnList.find((c) => c.name === "timesync")!;
  const gpa = ch.ring!.gpa;
  assert.equal(state(vm, gpa), PageState.SHARED);
  const relid = ch.relid;
  assert.equal(vm.host.vmbus.rescind(relid), true);
  vm.scheduler.runUntilIdle();
  assert.equal(ch.rescind, true);
  assert.equal(conn.relid2channel(relid), undefined);
  assert.ok(!conn.devices.some((d) => d.name === "timesync"));
  assert.equal(state(vm, gpa), PageState.PRIVATE, "the ring is the guest's alone again");
  assert.deepEqual(vm.host.vmbus.released, [relid]);
  assert.equal(vm.host.ics.timesync.sample(1n), false, "the host's IC lost its channel");
  // The rest still works.
  vm.host.ics.heartbeat.beat();
  vm.scheduler.runUntilIdle();
  assert.equal(vm.host.ics.heartbeat.acks, 1);
});

test("UNLOAD: the host closes everything and answers; the guest is disconnected", () => {
  const vm = bootVm({ isolation: "tdx", mode: "enlightened" });
  const conn = vm.guest.vmbus!;
  assert.equal(
    inGuest(vm, () => vmbusInitiateUnload(conn)),
    0,
  );
  assert.equal(conn.state, "disconnected");
  assert.equal(vm.host.vmbus.connected, false);
  assert.equal(vm.host.vmbus.channel("heartbeat")!.open, undefined);
});

test("a monitored channel signals the host through the child→parent monitor page, which the host polls", () => {
  const scsi = new NullVsp();
  const vm = new Vm(config({ isolation: "tdx", mode: "enlightened" }), {
    host: {
      devices: (ics) =>
        defaultDevices(ics).map((d) => (d.name === "scsi" ? { ...d, vsp: scsi, monitored: true } : d)),
    },
  });
  vm.boot();
  const ch = vm.guest.vmbus!.chnList.find((c) => c.name === "scsi")!;
  assert.equal(ch.monitorAllocated, true);
  assert.equal(
    inGuest(vm, () => vmbusOpen(ch, { sendSize: 8192, recvSize: 8192, callback: () => {} })),
    0,
  );
  const signals = vm.hypervisor.byCode.get(HvCallCode.HVCALL_SIGNAL_EVENT) ?? 0;
  assert.equal(
    inGuest(vm, () => ch.sendPacket(new Uint8Array(8), 0, 8, 0)),
    0,
  );
  assert.equal(vm.hypervisor.byCode.get(HvCallCode.HVCALL_SIGNAL_EVENT) ?? 0, signals, "no hypercall");
  const page2 = vm.guest.vmbus!.monitorPages[1]!;
  const pending = vm.platform.untrustedView("host").read(page2 + monitorPendingOffset(ch.monitorGrp), 4);
  assert.notEqual(pending[0]! & (1 << ch.monitorBit), 0, "the trigger bit is set in the shared page");
  assert.equal(scsi.packets, 0);
  assert.equal(vm.host.vmbus.pollMonitor(), 1);
  assert.equal(scsi.packets, 1);
  assert.equal(vm.host.vmbus.pollMonitor(), 0, "the host cleared the bit");
});
