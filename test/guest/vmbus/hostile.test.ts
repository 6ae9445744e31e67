// A hostile host's channel messages: short, oversized, of unknown or host-bound
// type, for relids the guest does not know, or repeating a relid it does. The guest
// copies each SynIC message to private memory, validates the copy, refuses what
// does not fit with a logged reason and a stable code, ends the message (EOM) and
// carries on: the utilities still work afterwards.
import assert from "node:assert/strict";
import { test } from "node:test";
import { VMBUS_REJECTS } from "../../../src/guest/vmbus/rejects.ts";
import {
  HV_MESSAGE,
  HV_MESSAGE_SIZE,
  HvMessageType,
  VMBUS_MESSAGE_SINT,
} from "../../../src/hyperv/synic-abi.ts";
import { Synic } from "../../../src/hypervisor/synic.ts";
import { exerciseUtilities } from "../../../src/vm/utilities.ts";
import type { Vm } from "../../../src/vm/vm.ts";
import { DeviceGuid } from "../../../src/vmbus/constants.ts";
import { VMBUS_ERRORS } from "../../../src/vmbus/errors.ts";
import { type ChannelMessage, encodeChannelMessage } from "../../../src/vmbus/messages.ts";
import { bootVm } from "../../helpers.ts";

const SINT = VMBUS_MESSAGE_SINT;

function post(vm: Vm, payload: Uint8Array, type: number = HvMessageType.HVMSG_VMBUS): void {
  vm.hypervisor.synic.postMessage(0, SINT, type, payload);
  vm.scheduler.runUntilIdle();
}

/** Write a SINT2 slot by hand (what the SynIC refuses to: payload_size > 240) and interrupt the guest. */
function postRawSlot(vm: Vm, payloadSize: number, payload: Uint8Array): void {
  const base = Synic.pageGpa(vm.hypervisor.vps[0]!.simp)! + SINT * HV_MESSAGE_SIZE;
  const slot = new Uint8Array(HV_MESSAGE_SIZE);
  new DataView(slot.buffer).setUint32(HV_MESSAGE.off.message_type, HvMessageType.HVMSG_VMBUS, true);
  slot[HV_MESSAGE.off.payload_size] = payloadSize;
  slot.set(payload.subarray(0, 240), HV_MESSAGE.off.payload);
  assert.equal(vm.hypervisor.view.write(base, slot), true);
  vm.hypervisor.injectInterrupt(0, 0xf3, SINT);
  vm.scheduler.runUntilIdle();
}

function offer(relid: number, ifType: string, instance: string): ChannelMessage {
  return {
    kind: "offer",
    offer: {
      ifType,
      ifInstance: instance,
      reserved1: 0n,
      reserved2: 0n,
      chnFlags: 0,
      mmioMegabytes: 0,
      userDefined: new Uint8Array(120),
      subChannelIndex: 0,
      reserved3: 0,
    },
    childRelid: relid,
    monitorId: 0,
    monitorAllocated: 0,
    isDedicatedInterrupt: 0,
    connectionId: 0x2000 | relid,
  };
}

const codes = (vm: Vm) => vm.audit.rejections.map((r) => r.code);

test("hostile control messages are rejected with logged reasons and the guest stays alive", () => {
  for (const c of [
    { isolation: "snp", mode: "enlightened" },
    { isolation: "tdx", mode: "paravisor" },
  ]) {
    const vm = bootVm(c);
    const conn = vm.guest.vmbus!;
    const before = vm.audit.rejections.length;
    const devices = conn.devices.length;

    // Short: an offer cut to 100 bytes (channel_message_table wants 196).
    post(
      vm,
      encodeChannelMessage(offer(40, DeviceGuid.HV_TS_GUID, "00000000-0000-0000-0000-00000000aaaa")).subarray(
        0,
        100,
      ),
    );
    // Oversized: payload_size 250 in the slot.
    postRawSlot(vm, 250, encodeChannelMessage({ kind: "all-offers-delivered" }));
    // Unknown type, and a host-bound type the guest has no handler for.
    const t30 = new Uint8Array(8);
    t30[0] = 30;
    post(vm, t30);
    post(vm, encodeChannelMessage({ kind: "request-offers" }));
    // Not a VMBus message at all on the VMBus SINT.
    post(vm, encodeChannelMessage({ kind: "all-offers-delivered" }), 0x1234);
    // Unknown relids: an open result nobody asked for, a rescind of a relid never offered.
    post(vm, encodeChannelMessage({ kind: "open-result", childRelid: 77, openId: 77, status: 0 }));
    post(vm, encodeChannelMessage({ kind: "rescind", childRelid: 99 }));
    // A relid that is taken, and relids the guest cannot map.
    post(vm, encodeChannelMessage(offer(1, DeviceGuid.HV_TS_GUID, "00000000-0000-0000-0000-00000000bbbb")));
    post(
      vm,
      encodeChannelMessage(offer(4000, DeviceGuid.HV_TS_GUID, "00000000-0000-0000-0000-00000000cccc")),
    );
    post(vm, encodeChannelMessage(offer(0, DeviceGuid.HV_TS_GUID, "00000000-0000-0000-0000-00000000dddd")));

    assert.deepEqual(codes(vm).slice(before), [
      "HVCOCO_ERR_VMBUS_MSG_SHORT",
      "HVCOCO_ERR_VMBUS_PAYLOAD_SIZE",
      "HVCOCO_ERR_VMBUS_MSGTYPE_RANGE",
      "HVCOCO_ERR_VMBUS_NO_HANDLER",
      "HVCOCO_ERR_SYNIC_MSG_TYPE",
      "HVCOCO_ERR_VMBUS_UNSOLICITED",
      "HVCOCO_ERR_VMBUS_UNKNOWN_RELID",
      "HVCOCO_ERR_VMBUS_DUPLICATE_RELID",
      "HVCOCO_ERR_VMBUS_RELID_RANGE",
      "HVCOCO_ERR_VMBUS_RELID_RANGE",
    ]);
    for (const r of vm.audit.rejections.slice(before)) {
      assert.ok(vm.guest.dmesg.includes(`rejected: ${r.message}`), r.message);
      assert.ok(r.code in VMBUS_REJECTS || r.code in VMBUS_ERRORS, `${r.code} is a documented code`);
    }
    assert.ok(vm.guest.dmesg.includes("rejected: Message too short: msgtype=1 len=100"));
    // Nothing changed: no new device, the heartbeat channel is still relid 1, the guest is alive.
    assert.equal(conn.devices.length, devices);
    assert.equal(conn.relid2channel(1)?.name, "heartbeat");
    assert.equal(vm.audit.violations.length, 0);
    assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"]);
  }
});

test("each refused SynIC message is ended: the slot is freed and the next message is delivered", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const eoms = vm.hypervisor.vps[0]!.eomCount;
  // Three at once: the SynIC queues two behind the first (msg_pending) and needs EOMs to deliver them.
  const bad = encodeChannelMessage({ kind: "rescind", childRelid: 555 });
  vm.hypervisor.synic.postMessage(0, SINT, HvMessageType.HVMSG_VMBUS, bad);
  vm.hypervisor.synic.postMessage(0, SINT, HvMessageType.HVMSG_VMBUS, bad);
  vm.hypervisor.synic.postMessage(0, SINT, HvMessageType.HVMSG_VMBUS, bad);
  vm.scheduler.runUntilIdle();
  assert.equal(vm.audit.rejections.filter((r) => r.code === "HVCOCO_ERR_VMBUS_UNKNOWN_RELID").length, 3);
  assert.equal(vm.hypervisor.synic.pendingCount(0, SINT), 0);
  assert.ok(vm.hypervisor.vps[0]!.eomCount >= eoms + 2, "EOM when msg_pending was set");
});
