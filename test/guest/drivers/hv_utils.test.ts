// The utility devices a CoCo guest loads — heartbeat, time sync, shutdown — end to
// end between the host's ICs and the guest's hv_utils: version negotiation, their
// messages, and what the guest does with packets that do not fit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { utilService } from "../../../src/guest/drivers/hv_utils/index.ts";
import type { Shutdown, TimeSync } from "../../../src/guest/drivers/hv_utils/services.ts";
import type { UtilService } from "../../../src/guest/drivers/hv_utils/util.ts";
import type { HostOptions } from "../../../src/host/host.ts";
import { defaultDevices } from "../../../src/host/vmbus/devices.ts";
import type { Vsp } from "../../../src/host/vmbus/vsp.ts";
import { HeartbeatIc, IcVsp, TimeSyncIc } from "../../../src/host/vsp/ic.ts";
import { HOST_TIME_NS } from "../../../src/vm/utilities.ts";
import { Vm } from "../../../src/vm/vm.ts";
import {
  IC_OFF,
  ICMSG_HDR,
  IcMsgType,
  IcStatus,
  icVersion,
  TimeSyncFlag,
  writeIcHeader,
} from "../../../src/vmbus/ic.ts";
import { bootVm, config } from "../../helpers.ts";
import { hex, toHex } from "../../vmbus/hex.ts";

const ALL = [
  { isolation: "none" },
  { isolation: "snp", mode: "enlightened" },
  { isolation: "snp", mode: "paravisor" },
  { isolation: "tdx", mode: "enlightened" },
  { isolation: "tdx", mode: "paravisor" },
];

function util(vm: Vm, name: string): UtilService {
  const dev = vm.guest.vmbus!.devices.find((d) => d.name === name);
  const u = utilService(dev);
  assert.ok(u, `${name} bound to hv_utils`);
  return u;
}

test("the ICs negotiate the highest versions both sides know: framework 3.0, heartbeat 3.0, time sync 4.0, shutdown 3.2", () => {
  for (const c of ALL) {
    const vm = bootVm(c);
    const { heartbeat, timesync, shutdown } = vm.host.ics;
    for (const ic of [heartbeat, timesync, shutdown])
      assert.equal(ic.framework, 0x30000, `${c.isolation} ${ic.name}`);
    assert.equal(heartbeat.service, 0x30000);
    assert.equal(timesync.service, 0x40000);
    assert.equal(shutdown.service, 0x30002);
    assert.equal(util(vm, "heartbeat").srvVersion, 0x30000);
    assert.equal(util(vm, "timesync").srvVersion, 0x40000);
    assert.equal(util(vm, "shutdown").srvVersion, 0x30002);
    for (const l of ["Heartbeat IC version 3.0", "TimeSync IC version 4.0", "Shutdown IC version 3.2"])
      assert.ok(vm.guest.dmesg.includes(l), l);
  }
});

test("heartbeat: the guest answers every sequence number with the next one", () => {
  const vm = bootVm({ isolation: "tdx", mode: "paravisor" });
  const hb = vm.host.ics.heartbeat;
  for (let i = 0; i < 5; i++) {
    assert.equal(hb.beat(), true);
    vm.scheduler.runUntilIdle();
  }
  assert.equal(hb.acks, 5);
  assert.equal(hb.lastSeq, 36n, "the fifth request carried 35");
  assert.deepEqual(hb.problems, []);
});

test("time sync: a SYNC sample sets the guest's clock to the host's time, a SAMPLE only records it; both protocol layouts", () => {
  for (const versions of [undefined, [icVersion(3, 0), icVersion(1, 0)]]) {
    const older = versions ? new TimeSyncIc(versions) : undefined;
    const host: HostOptions = older ? { vsps: { timesync: older } } : {};
    const vm = new Vm(config({ isolation: "snp", mode: "enlightened" }), { host });
    vm.boot();
    const ts = util(vm, "timesync").handler as TimeSync;
    const ic = older ?? vm.host.ics.timesync;
    assert.equal(util(vm, "timesync").srvVersion, versions ? 0x30000 : 0x40000);
    ic.sample(HOST_TIME_NS, TimeSyncFlag.ICTIMESYNCFLAG_SAMPLE);
    vm.scheduler.runUntilIdle();
    assert.equal(ts.clockNs, undefined);
    assert.equal(ts.samples, 1);
    ic.sample(HOST_TIME_NS + 123_456_700n, TimeSyncFlag.ICTIMESYNCFLAG_SYNC);
    vm.scheduler.runUntilIdle();
    assert.equal(ts.clockNs, HOST_TIME_NS + 123_456_700n);
    assert.equal(ic.acks, 2);
  }
});

test("shutdown: the request is acknowledged and recorded; hibernation is refused with HV_E_FAIL", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const sd = util(vm, "shutdown").handler as Shutdown;
  const ic = vm.host.ics.shutdown;
  ic.requestShutdown(4);
  vm.scheduler.runUntilIdle();
  assert.equal(ic.lastStatus, IcStatus.HV_E_FAIL);
  assert.equal(sd.requested, undefined);
  ic.requestShutdown(3);
  vm.scheduler.runUntilIdle();
  assert.equal(ic.lastStatus, IcStatus.HV_S_OK);
  assert.deepEqual(sd.requested, { action: "restart", forced: true });
  assert.ok(vm.guest.dmesg.includes("Restart request received - graceful restart initiated"));
  assert.equal(vm.bootOutcome?.ok, true, "the model's guest records the request and keeps running");
});

/** Send raw bytes as one IC packet on a channel, from the host. */
function sendRaw(vm: Vm, name: string, bytes: Uint8Array): void {
  vm.host.vmbus.channel(name)!.open!.send(bytes, 0, bytes.length, 77);
  vm.scheduler.runUntilIdle();
}

function icPacket(msgType: number, dataLen: number, fill?: (v: DataView) => void): Uint8Array {
  const b = new Uint8Array(ICMSG_HDR + dataLen);
  const v = new DataView(b.buffer);
  writeIcHeader(v, {
    frameworkVersion: 0x30000,
    msgType,
    messageVersion: 0x30000,
    msgSize: dataLen,
    status: 0,
    transactionId: 9,
    flags: 3,
  });
  fill?.(v);
  return b;
}

test("hostile IC packets are checked before use: short packets, negotiate counts that do not fit, unknown types", () => {
  const vm = bootVm({ isolation: "tdx", mode: "enlightened" });
  const u = util(vm, "heartbeat");
  const before = vm.audit.rejections.length;
  const answers = u.responses;
  sendRaw(vm, "heartbeat", new Uint8Array(20)); // shorter than ICMSG_HDR
  sendRaw(vm, "heartbeat", icPacket(IcMsgType.ICMSGTYPE_HEARTBEAT, 4)); // no room for seq_num
  sendRaw(
    vm,
    "heartbeat",
    icPacket(IcMsgType.ICMSGTYPE_NEGOTIATE, 8, (v) => {
      v.setUint16(ICMSG_HDR, 200, true); // icframe_vercnt > IC_VERSION_NEGOTIATION_MAX_VER_COUNT
      v.setUint16(ICMSG_HDR + 2, 1, true);
    }),
  );
  sendRaw(vm, "heartbeat", icPacket(9, 8));
  assert.deepEqual(
    vm.audit.rejections.slice(before).map((r) => r.code),
    ["HVCOCO_ERR_IC_SHORT", "HVCOCO_ERR_IC_SHORT", "HVCOCO_ERR_IC_NEGOTIATE", "HVCOCO_ERR_IC_MSGTYPE"],
  );
  assert.ok(vm.guest.dmesg.includes("rejected: Heartbeat request received. Packet length too small: 24"));
  assert.ok(
    vm.guest.dmesg.includes("rejected: Invalid icmsg negotiate - icframe_major: 200, icmsg_major: 1"),
  );
  // hv_util.c drops the short ones unanswered, answers the bad negotiate with no versions and
  // the unknown type with HV_E_FAIL.
  assert.equal(u.responses, answers + 2);
  assert.equal(u.view.getUint32(IC_OFF.status, true), IcStatus.HV_E_FAIL);
  assert.equal(u.srvVersion, 0x30000, "the negotiated version stands");
  assert.equal(vm.host.ics.heartbeat.beat(), true);
  vm.scheduler.runUntilIdle();
  assert.ok(vm.host.ics.heartbeat.lastSeq !== undefined, "and the heartbeat goes on");
});

test("a host offering no IC version the guest knows gets an answer with none, and boot does not wait for it forever", () => {
  class OddIc extends IcVsp {}
  const odd = new OddIc("heartbeat", IcMsgType.ICMSGTYPE_HEARTBEAT, [icVersion(9, 0)]);
  const vm = new Vm(config({ isolation: "snp", mode: "paravisor" }), {
    host: { devices: (ics) => defaultDevices(ics, { heartbeat: odd }) },
  });
  vm.boot();
  assert.equal(vm.bootOutcome?.ok, true);
  assert.equal(odd.negotiated, false);
  assert.match(odd.problems.join(), /none of the versions offered/);
  assert.equal(util(vm, "heartbeat").negotiated, false);
  assert.ok(vm.guest.dmesg.includes("timed out waiting for VMBus devices"));
  assert.ok(util(vm, "timesync").negotiated, "the other services are unaffected");
});

test("golden bytes: the guest's answer to the host's heartbeat negotiation (vmbus_prep_negotiate_resp)", () => {
  const hb = new HeartbeatIc();
  const answers: Uint8Array[] = [];
  const spy: Vsp = {
    onOpen: (ch) => hb.onOpen(ch),
    onPacket: (ch, pkt) => {
      answers.push(pkt.buf.slice(pkt.payloadOffset, pkt.payloadOffset + pkt.payloadLength));
      hb.onPacket(ch, pkt);
    },
  };
  const vm = new Vm(config({ isolation: "tdx", mode: "paravisor" }), { host: { vsps: { heartbeat: spy } } });
  vm.boot();
  assert.equal(answers.length, 1);
  assert.equal(
    toHex(answers[0]!),
    toHex(
      hex(`
      00000000 2c000000
      0300 0000 0000 0000 0000 1000 00000000 00 05 0000
      0100 0100 00000000
      0300 0000 0300 0000 0300 0000 0100 0000
      00000000`),
    ),
    "pipe header as sent; icmsgsize 0x10, flags TRANSACTION|RESPONSE; one framework (3.0) and one service version (3.0)",
  );
  assert.equal(hb.service, 0x30000);
});
