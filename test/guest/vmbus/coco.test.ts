// C16, C18, C19 end to end, through a booted CoCo VM, its host and the auditor:
// what the guest shares with the host carries only what it meant to send (zeroed
// padding, or else the auditor reports the secret bytes the host read), and what
// it reads from the host is validated on a private copy (or else a host that
// rewrites a packet's length after validation decides what the guest acts on).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../../src/audit/labels.ts";
import { utilService } from "../../../src/guest/drivers/hv_utils/index.ts";
import type { Heartbeat } from "../../../src/guest/drivers/hv_utils/services.ts";
import { RING_READ_HOOKS } from "../../../src/guest/vmbus/channel_open.ts";
import { hostScan } from "../../../src/host/scan.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../../src/platform/page.ts";
import { exerciseUtilities } from "../../../src/vm/utilities.ts";
import type { Vm } from "../../../src/vm/vm.ts";
import { PacketFlag } from "../../../src/vmbus/constants.ts";
import {
  HEARTBEAT_MSG_DATA,
  ICMSG_HDR,
  IcMsgFlag,
  IcMsgType,
  icVersion,
  writeIcHeader,
} from "../../../src/vmbus/ic.ts";
import { bootVm, COCO_CONFIGS } from "../../helpers.ts";

test("C16: every page VMBus shares is decrypted, and a host that reads all it can reads no secret", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"]);
    const mem = vm.platform.memory;
    let pages = 0;
    for (const r of vm.guest.sharedRanges.values()) {
      if (!r.purpose.startsWith("VMBus")) continue;
      for (let i = 0; i < r.pages; i++) {
        assert.equal(mem.flags(r.gpa / PAGE_SIZE + i) & PageFlag.STATE_MASK, PageState.SHARED, r.purpose);
        pages++;
      }
    }
    let rings = 0;
    for (const ch of vm.guest.vmbus!.chnList)
      if (ch.ring) rings += (ch.ring.sendSize + ch.ring.recvSize) / PAGE_SIZE;
    assert.equal(pages, 2 + rings, "two monitor pages and the rings of the channels opened");
    hostScan(vm.platform.untrustedView("host"));
    assert.equal(vm.audit.secretBytesLeaked, 0, `${c.isolation}/${c.mode}`);
    assert.ok(vm.audit.publicBytesRead > 0, "the host did read what the guest wrote for it");
  }
});

/**
 * A driver's message whose length is not a multiple of 8 (storage and network
 * messages often are not): 101 bytes the guest sends in the clear on purpose, on
 * the heartbeat channel. The host drains the channel, reading the whole packet.
 */
function oddMessage(vm: Vm): void {
  const ch = vm.guest.vmbus!.chnList.find((x) => x.name === "heartbeat")!;
  const msg = new Uint8Array(101).fill(0x61);
  vm.scheduler.post("guest", "send", () =>
    assert.equal(ch.sendPacket(msg, 0, 101, 0, 6, 0, Label.EXPOSED), 0),
  );
  vm.scheduler.runUntilIdle();
}

test("C18: with zeroed padding the host reads every packet the guest wrote and no secret byte", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"]);
    const hb = vm.host.vmbus.channel("heartbeat")!.open!;
    const n = hb.packetsIn;
    const exposed = vm.audit.exposedBytesRead;
    oddMessage(vm);
    assert.equal(hb.packetsIn, n + 1, "the host read the packet");
    assert.equal(vm.audit.exposedBytesRead - exposed, 101, "its payload, sent in the clear on purpose");
    assert.equal(vm.audit.secretBytesLeaked, 0, "and padding that holds nothing");
  }
});

test("C18 negative control: a writer that does not zero padding leaks secret bytes the auditor reports", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm({ ...c, unharden: ["zero-padding"] });
    exerciseUtilities(vm);
    assert.equal(vm.audit.secretBytesLeaked, 0, "IC answers are multiples of 8: no padding yet");
    oddMessage(vm);
    // 16-byte descriptor + 101 bytes: 3 bytes of padding, stale private bytes of the
    // writer's reused staging buffer (beyond what the IC answers had used of it).
    assert.equal(vm.audit.secretBytesLeaked, 3);
  }
});

/** A heartbeat request with sequence number `seq`, as the host's IC writes it. */
function heartbeatRequest(seq: bigint): Uint8Array {
  const b = new Uint8Array(ICMSG_HDR + HEARTBEAT_MSG_DATA.size);
  const v = new DataView(b.buffer);
  writeIcHeader(v, {
    frameworkVersion: icVersion(3, 0),
    msgType: IcMsgType.ICMSGTYPE_HEARTBEAT,
    messageVersion: icVersion(3, 0),
    msgSize: HEARTBEAT_MSG_DATA.size,
    status: 0,
    transactionId: 1,
    flags: IcMsgFlag.ICMSGHDRFLAG_TRANSACTION | IcMsgFlag.ICMSGHDRFLAG_REQUEST,
  });
  v.setBigUint64(ICMSG_HDR, seq, true);
  return b;
}

/**
 * The host queues two heartbeat requests, and when the guest's reader has validated
 * the first one's length (its "after-validate" point) the host rewrites that length
 * in the shared ring to cover both packets.
 */
function lengthSwapAttack(vm: Vm): { hb: Heartbeat; responses: number; recvLen: number } {
  const hc = vm.host.vmbus.channel("heartbeat")!.open!;
  const relid = hc.relid;
  const dev = vm.guest.vmbus!.devices.find((d) => d.name === "heartbeat")!;
  const u = utilService(dev)!;
  const before = u.responses;
  const start = hc.outMem.getU32(0); // write_index: where the first packet goes
  const p = heartbeatRequest(100n);
  hc.send(p, 0, p.length, 1);
  const q = heartbeatRequest(200n);
  hc.send(q, 0, q.length, 2);
  const pkt = (16 + p.length + 7) & ~7; // 88
  let fired = false;
  vm.hooks.on(RING_READ_HOOKS["after-validate"], (_pt, d) => {
    if (fired || d["relid"] !== relid) return;
    fired = true;
    const len8 = new Uint8Array(2);
    new DataView(len8.buffer).setUint16(0, (pkt + 8 + pkt) / 8, true);
    hc.outMem.write(4096 + start + 4, len8, 0, 2, 0);
  });
  vm.scheduler.runUntilIdle();
  assert.ok(fired, "the host acted at the reader's after-validate point");
  return { hb: u.handler as Heartbeat, responses: u.responses - before, recvLen: u.lastRecvLen };
}

test("C19: a host that rewrites a packet's length after validation does not change what the guest reads", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const r = lengthSwapAttack(vm);
    assert.equal(r.responses, 2, "both requests answered");
    assert.equal(r.hb.lastSeq, 201n);
    assert.equal(r.recvLen, 88 - 16, "the first packet's payload, padding included");
    assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"], "the ring stays in step");
  }
});

test("C19 negative control: a reader without copy-before-validate is fooled by the same host", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm({ ...c, unharden: ["copy-before-validate"] });
    const r = lengthSwapAttack(vm);
    assert.equal(r.responses, 1, "the second request vanished into the first");
    assert.equal(r.hb.lastSeq, 101n);
    assert.equal(r.recvLen, 88 + 8 + 88 - 16, "the guest acted on a length it never validated");
  }
});

test("C19: a host-supplied transaction id is validated before the guest uses it", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const ch = vm.guest.vmbus!.chnList.find((x) => x.name === "heartbeat")!;
  ch.allocRequestor(4);
  const cookie = { request: "mine" };
  const payload = new Uint8Array(8);
  const flags = PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED;
  assert.equal(ch.sendPacket(payload, 0, 8, cookie as unknown as number, 6, flags), 0);
  const n = vm.audit.rejections.length;
  assert.equal(ch.requestAddr(9, 0), undefined, "out of range");
  assert.equal(ch.requestAddr(1, 1), undefined, "high half set");
  assert.equal(ch.requestAddr(2, 0), undefined, "not outstanding");
  assert.equal(ch.requestAddr(1, 0), cookie, "the slot the guest handed out");
  assert.equal(ch.requestAddr(1, 0), undefined, "and only once");
  assert.deepEqual(
    vm.audit.rejections.slice(n).map((r) => r.code),
    [
      "HVCOCO_ERR_RQST_ID_RANGE",
      "HVCOCO_ERR_RQST_ID_RANGE",
      "HVCOCO_ERR_RQST_NOT_OUTSTANDING",
      "HVCOCO_ERR_RQST_NOT_OUTSTANDING",
    ],
  );
});
