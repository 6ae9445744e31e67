// Channels on a Confidential VMBus connection (C30, C33): each offer's flags and
// what the guest does with them, the relay's stripping of a host's flags, and
// relids unique across the host's channels and the paravisor's.
import assert from "node:assert/strict";
import { test } from "node:test";
import { vmbusEstablishGpadl, vmbusOpen } from "../../../src/guest/vmbus/channel_open.ts";
import { defaultDevices } from "../../../src/host/vmbus/devices.ts";
import { type HostDevice, NullVsp } from "../../../src/host/vmbus/vsp.ts";
import { PAGE_SIZE, PageState } from "../../../src/platform/page.ts";
import { exerciseUtilities } from "../../../src/vm/utilities.ts";
import { DeviceGuid, OfferFlag } from "../../../src/vmbus/constants.ts";
import { encodeChannelMessage } from "../../../src/vmbus/messages.ts";
import { bootCvm, channelOf, isPrivate, pageOf } from "./helpers.ts";

const RING = OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER;
const EXT = OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY;

function device(n: number, chnFlags: number): HostDevice {
  return {
    name: `pv${n}`,
    ifType: DeviceGuid.HV_SCSI_GUID,
    ifInstance: `5ec0c0c0-0000-4000-8000-7e57000000${n.toString(16).padStart(2, "0")}`,
    vsp: new NullVsp(),
    chnFlags,
  };
}

/** The guest's channel for a paravisor test device, opened by the test (storvsc gave up on the NullVsp). */
function open(vm: ReturnType<typeof bootCvm>, relid: number) {
  const ch = vm.guest.vmbus!.relid2channel(relid)!;
  assert.ok(ch, `relid ${relid}`);
  assert.equal(vmbusOpen(ch, { sendSize: 4 * PAGE_SIZE, recvSize: 4 * PAGE_SIZE, callback: () => {} }), 0);
  return ch;
}

test("C30: each offer says whether its ring and its external memory are encrypted, devices on one connection differ, and the guest maps each as its offer says", () => {
  const vm = bootCvm({}, { paravisorVmbus: { devices: [device(1, RING), device(2, RING | EXT)] } });
  const pv = vm.paravisor!.vmbus!;
  const [ringOnly, both] = pv.localRelids.map((r) => open(vm, r));
  const hb = channelOf(vm, "heartbeat");
  assert.deepEqual(
    [ringOnly!, both!, hb].map((c) => [c.coRingBuffer, c.coExternalMemory]),
    [
      [true, false],
      [true, true],
      [false, false],
    ],
  );
  // Rings: encrypted for both paravisor channels, decrypted for the relayed one.
  assert.ok(isPrivate(vm, ringOnly!.ring!.gpa) && isPrivate(vm, both!.ring!.gpa));
  assert.equal(pageOf(vm, hb.ring!.gpa).state, PageState.SHARED);
  // External memory (an additional GPADL): encrypted only where the offer says so.
  const k = vm.guest;
  for (const [ch, keep] of [
    [ringOnly!, false],
    [both!, true],
  ] as const) {
    const gpa = k.alloc.alloc(2)! * PAGE_SIZE;
    const g = vmbusEstablishGpadl(ch, "buffer", gpa, 2 * PAGE_SIZE, "test buffer");
    assert.ok(typeof g !== "number", `GPADL on relid ${ch.relid}`);
    assert.equal(g.decrypted, !keep);
    assert.equal(isPrivate(vm, gpa), keep);
  }
});

test("C30: an offer with encrypted external memory but not an encrypted ring is refused, as Linux does", () => {
  const vm = bootCvm({}, { paravisorVmbus: { devices: [device(3, EXT), device(4, RING | EXT)] } });
  const [bad, good] = vm.paravisor!.vmbus!.localRelids;
  assert.equal(vm.guest.vmbus!.relid2channel(bad!), undefined);
  assert.ok(vm.guest.vmbus!.relid2channel(good!));
  assert.ok(vm.guest.dmesg.includes(`rejected: Invalid offer ${bad}: the ring buffer isn't encrypted`));
  assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_ERR_VMBUS_OFFER_CONFIDENTIAL"));
});

/** A host that sets the confidential flags on its heartbeat's offer. */
function lyingHost(): { devices: (ics: Parameters<typeof defaultDevices>[0]) => HostDevice[] } {
  return {
    devices: (ics) =>
      defaultDevices(ics).map((d) => (d.name === "heartbeat" ? { ...d, chnFlags: RING | EXT } : d)),
  };
}

test("C30: a host that sets confidential flags on a relayed offer sees them stripped; the channel works in shared memory", () => {
  const vm = bootCvm({}, { host: lyingHost() });
  const hb = channelOf(vm, "heartbeat");
  assert.equal(hb.coRingBuffer, false);
  assert.equal(hb.coExternalMemory, false);
  assert.equal(pageOf(vm, hb.ring!.gpa).state, PageState.SHARED);
  assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"]);
});

test("C30 negative control: without the relay's stripping the guest takes the host's channel for a confidential one and the heartbeat breaks", () => {
  const vm = bootCvm({ unharden: ["relay-flag-strip"] }, { host: lyingHost() });
  const hb = channelOf(vm, "heartbeat");
  assert.equal(hb.coRingBuffer, true, "the guest believed the host");
  assert.ok(isPrivate(vm, hb.ring!.gpa), "ring kept encrypted: the host cannot serve it");
  const refused = vm.audit.refusedWrites;
  assert.deepEqual(exerciseUtilities(vm), ["ts", "sd"]);
  assert.ok(vm.audit.refusedWrites > refused || vm.audit.ciphertextBytesRead > 0);
});

test("C33: the host's channels (through the relay) and the paravisor's coexist with unique relids", () => {
  const vm = bootCvm();
  const pv = vm.paravisor!.vmbus!;
  const k = vm.guest;
  const relids = k.vmbus!.chnList.map((c) => c.relid);
  assert.equal(new Set(relids).size, relids.length);
  const hostRelids = [...vm.host.vmbus.channels.keys()];
  const scsi = channelOf(vm, "scsi");
  assert.ok(scsi.coRingBuffer);
  assert.ok(!hostRelids.includes(scsi.relid), "the paravisor's relid is one the host does not use");
  assert.deepEqual(pv.localRelids, [scsi.relid]);
  // Relayed channels keep the host's relid and connection id (their signals go straight to the host).
  const hb = channelOf(vm, "heartbeat");
  assert.equal(hb.relid, vm.host.vmbus.channel("heartbeat")!.relid);
  assert.equal(hb.sigEvent, vm.host.vmbus.channel("heartbeat")!.connectionId);
  assert.ok(vm.hypervisor.paravisorPorts.has(scsi.sigEvent));
  assert.ok(!vm.hypervisor.paravisorPorts.has(hb.sigEvent));
});

test("C33: a host offer that would take a paravisor channel's relid is not relayed", () => {
  const vm = bootCvm();
  const pv = vm.paravisor!;
  const scsi = channelOf(vm, "scsi");
  const hb = vm.host.vmbus.channel("heartbeat")!;
  // The host hot-adds an offer with the paravisor channel's relid (to VTL2, as it talks to the relay).
  const offer = encodeChannelMessage({
    kind: "offer",
    offer: {
      ifType: DeviceGuid.HV_NIC_GUID,
      ifInstance: "5ec0c0c0-0000-4000-8000-0000000000ee",
      reserved1: 0n,
      reserved2: 0n,
      chnFlags: 0,
      mmioMegabytes: 0,
      userDefined: new Uint8Array(120),
      subChannelIndex: 0,
      reserved3: 0,
    },
    childRelid: scsi.relid,
    monitorId: 0,
    monitorAllocated: 0,
    isDedicatedInterrupt: 0,
    connectionId: hb.connectionId,
  });
  vm.hypervisor.postToParavisor(0, 7, 1, offer);
  vm.scheduler.runUntilIdle();
  assert.ok(pv.vmbus!.refusals.some((r) => r.code === "HVCOCO_ERR_PV_VMBUS_RELID"));
  assert.equal(vm.guest.vmbus!.relid2channel(scsi.relid), scsi, "the guest's channel is untouched");
  assert.ok(!vm.audit.rejections.some((r) => r.code === "HVCOCO_ERR_VMBUS_DUPLICATE_RELID"));
});

test("C33 negative control: without relid coordination the paravisor's channel takes the heartbeat's relid and the guest refuses it as a duplicate", () => {
  const vm = bootCvm({ unharden: ["relid-coordination"] });
  const pv = vm.paravisor!.vmbus!;
  assert.deepEqual(pv.localRelids, [1]);
  assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_ERR_VMBUS_DUPLICATE_RELID"));
  assert.ok(!vm.guest.vmbus!.devices.some((d) => d.name === "scsi"), "the paravisor's storage is lost");
});
