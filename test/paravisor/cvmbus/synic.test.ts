// Two SynICs (C31) and the trusted path (C29, C32): interrupts come through the
// paravisor's SynIC, the guest checks events and messages on both, and a message
// that comes the untrusted way while the connection is trusted is refused — by the
// paravisor (a guest message forged through the hypervisor) and by the guest (a
// channel message on the hypervisor's SynIC).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Crossing } from "../../../src/audit/crossings.ts";
import { scsiHostOf } from "../../../src/guest/drivers/storvsc.ts";
import { HvCallCode } from "../../../src/hyperv/hvgdk.ts";
import { encodePostMessageInput } from "../../../src/hypervisor/direct.ts";
import { PAGE_SIZE } from "../../../src/platform/page.ts";
import { exerciseUtilities } from "../../../src/vm/utilities.ts";
import type { Vm } from "../../../src/vm/vm.ts";
import { VmbusConnection as Conn } from "../../../src/vmbus/constants.ts";
import { encodeChannelMessage } from "../../../src/vmbus/messages.ts";
import { bootCvm, channelOf, tally } from "./helpers.ts";

function record(vm: Vm): Crossing[] {
  const out: Crossing[] = [];
  vm.audit.boundary.subscribe((x) => out.push(x));
  return out;
}

/** One disk write through storvsc to the paravisor's disk; true if it completed. */
function diskWrite(vm: Vm): boolean {
  const host = scsiHostOf(vm.guest);
  const disk = host?.disks[0];
  if (!host || !disk) return false;
  const gpa = vm.guest.alloc.alloc(1)! * PAGE_SIZE;
  return host.write(disk, 0, PAGE_SIZE / disk.blockSize, gpa).ok;
}

test("C31: interrupts come through the paravisor's SynIC; the host's channels signal on the hypervisor's, the paravisor's on its own, and the guest serves both", () => {
  const vm = bootCvm();
  const seen = record(vm);
  // A relayed channel: the host's heartbeat.
  assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"]);
  // A paravisor channel: storage.
  assert.ok(diskWrite(vm));
  const events = seen.filter((x) => x.kind === "synic-event");
  const hb = channelOf(vm, "heartbeat").relid;
  const scsi = channelOf(vm, "scsi").relid;
  const flags = (from: string) =>
    new Set(events.filter((x) => x.from === from).map((x) => Number(x.detail?.["flag"] ?? -1)));
  const hostFlags = flags("hypervisor");
  const pvFlags = flags("paravisor");
  assert.ok(hostFlags.has(hb) && !hostFlags.has(scsi), "host channels signal on the hypervisor's SynIC");
  assert.ok(pvFlags.has(scsi) && !pvFlags.has(hb), "paravisor channels on the paravisor's");
  // Every interrupt the guest took was raised by the paravisor, and none was refused.
  const irqs = tally(seen, "interrupt");
  assert.ok((irqs["paravisor>guest"] ?? 0) > 0);
  assert.equal(irqs["hypervisor>guest"] ?? 0, 0);
  assert.equal(vm.paravisor!.interrupts.stats.refused, 0);
});

test("C31 negative control: a guest that checks only the hypervisor's SynIC misses the paravisor's channel events: its storage stalls while the host's heartbeat still works", () => {
  const vm = bootCvm();
  assert.ok(diskWrite(vm));
  // What a guest before 6.19's vmbus_isr would do: look at the hypervisor's pages only.
  vm.guest.paraSynic.length = 0;
  assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"]);
  assert.equal(diskWrite(vm), false, "the storage completion is never seen");
});

/** The host forges a guest channel message and has the hypervisor deliver it to the paravisor's untrusted path. */
function forgeFromGuest(vm: Vm, payload: Uint8Array): void {
  const input = encodePostMessageInput(Conn.VMBUS_MESSAGE_CONNECTION_ID_4, 1, payload);
  vm.hypervisor.toParavisor(0, BigInt(HvCallCode.HVCALL_POST_MESSAGE), input);
  vm.scheduler.runUntilIdle();
}

test("C32: a message that arrives through the hypervisor while the connection is trusted is refused by the paravisor and logged", () => {
  const vm = bootCvm();
  const pv = vm.paravisor!.vmbus!;
  const scsi = channelOf(vm, "scsi");
  forgeFromGuest(vm, encodeChannelMessage({ kind: "close", childRelid: scsi.relid }));
  forgeFromGuest(
    vm,
    encodeChannelMessage({
      kind: "initiate-contact",
      versionRequested: 0x50003,
      targetVcpu: 0,
      interruptPage: 0n,
      msgSint: 2,
      msgVtl: 0,
      featureFlags: 0,
      monitorPage1: 0n,
      monitorPage2: 0n,
    }),
  );
  assert.equal(pv.refusals.filter((r) => r.code === "HVCOCO_ERR_PV_VMBUS_UNTRUSTED").length, 2);
  assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_ERR_PV_VMBUS_UNTRUSTED"));
  assert.equal(pv.local.channels.get(1)!.state, "open", "the storage channel stays open");
  assert.equal(pv.confidential, true, "no downgrade");
  assert.ok(diskWrite(vm));
});

test("C32 negative control: without the trusted-connection check the host's forged CLOSECHANNEL closes the guest's storage in the paravisor", () => {
  const vm = bootCvm({ unharden: ["trusted-connection"] });
  const pv = vm.paravisor!.vmbus!;
  const scsi = channelOf(vm, "scsi");
  forgeFromGuest(vm, encodeChannelMessage({ kind: "close", childRelid: scsi.relid }));
  assert.equal(pv.refusals.length, 0);
  assert.equal(pv.local.channels.get(1)!.state, "offered", "closed behind the guest's back");
  assert.equal(diskWrite(vm), false);
});

test("C29: a channel message on the hypervisor's SynIC while VMBus is confidential is refused by the guest", () => {
  const vm = bootCvm();
  const scsi = channelOf(vm, "scsi");
  vm.host.postRaw(0, encodeChannelMessage({ kind: "rescind", childRelid: scsi.relid }));
  vm.scheduler.runUntilIdle();
  assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_ERR_VMBUS_UNTRUSTED_MSG"));
  assert.equal(scsi.rescind, false);
  assert.ok(diskWrite(vm));
});

test("C29 negative control: a guest that takes messages from both SynICs alike acts on the host's forged rescind of its paravisor storage", () => {
  const vm = bootCvm({ unharden: ["trusted-connection"] });
  const scsi = channelOf(vm, "scsi");
  vm.host.postRaw(0, encodeChannelMessage({ kind: "rescind", childRelid: scsi.relid }));
  vm.scheduler.runUntilIdle();
  assert.equal(scsi.rescind, true);
  assert.ok(!vm.guest.vmbus!.devices.some((d) => d.name === "scsi"));
});
