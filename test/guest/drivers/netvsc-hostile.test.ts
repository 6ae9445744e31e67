// A hostile host against netvsc: every NVSP and RNDIS message it can send —
// unknown types, short messages, transaction ids the guest never gave out,
// transfer-page headers and ranges that do not fit, RNDIS lengths and offsets
// outside the message, answers to the buffer set-up with impossible section
// layouts, an NVSP version too old for an isolated VM — is refused with a logged
// reason, and the guest stays alive (its NIC still pings, or stays down cleanly).
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetVsp } from "../../../src/host/vsp/netvsp.ts";
import { guestNic } from "../../../src/vm/network.ts";
import { Vm } from "../../../src/vm/vm.ts";
import { NVSP_VERSIONS } from "../../../src/vmbus/netvsc-proto.ts";
import { RndisMsgType } from "../../../src/vmbus/rndis.ts";
import { bootVm, COCO_CONFIGS, config } from "../../helpers.ts";
import { bootWithNic, HOST_IP, nic, payload, stack, tamperingNetVsp } from "./netvsc-helpers.ts";

const INBAND = 6;
const XFER = 7;
const COMP = 0xb;

function u32s(...xs: number[]): Uint8Array {
  const b = new Uint8Array(Math.max(40, xs.length * 4));
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => {
    v.setUint32(4 * i, x >>> 0, true);
  });
  return b;
}

/** As the host, now: send on the NIC's channel, then let the machine run. */
function host(vm: Vm, fn: () => void): void {
  vm.scheduler.post("host", "hostile netvsp", fn);
  vm.scheduler.runUntilIdle();
}

function channel(vm: Vm) {
  return vm.host.vmbus.channel("nic")!.open!;
}

/** A transfer-page packet: descriptor, xfer header with `ranges`, then `nvsp` (16 bytes). */
function xfer(o: {
  setId?: number;
  ranges: [count: number, offset: number][];
  rangeCnt?: number;
  offset8?: number;
  nvsp?: Uint8Array;
}): Uint8Array {
  const hdr = 24 + 8 * o.ranges.length;
  const nvsp = o.nvsp ?? u32s(107, 0, 0xffffffff, 0).subarray(0, 16);
  const len = (hdr + nvsp.length + 7) & ~7;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint16(0, XFER, true);
  v.setUint16(2, (o.offset8 ?? hdr) / 8, true);
  v.setUint16(4, len / 8, true);
  v.setUint16(6, 1, true);
  v.setUint32(8, 0xdead, true);
  v.setUint16(16, o.setId ?? 0xcafe, true);
  v.setUint32(20, o.rangeCnt ?? o.ranges.length, true);
  o.ranges.forEach(([count, offset], i) => {
    v.setUint32(24 + 8 * i, count, true);
    v.setUint32(28 + 8 * i, offset, true);
  });
  b.set(nvsp, o.offset8 ?? hdr);
  return b;
}

/** Put an RNDIS message in the last sub-allocation of the receive buffer; its offset. */
function plant(vm: Vm, msg: Uint8Array): number {
  const r = vm.host.net.recv!;
  const at = (r.count - 1) * r.subAlloc;
  r.mem.write(at, msg, 0, msg.length, 0);
  return at;
}

test("hostile NVSP and RNDIS messages are refused with logged reasons, and the guest stays alive", () => {
  for (const c of [{ isolation: "none" }, ...COCO_CONFIGS]) {
    const vm = bootVm(c);
    const nd = nic(vm);
    const size = nd.recv!.size;
    const section = nd.recv!.sectionSize;
    const cases: [string, string, () => void][] = [
      [
        "unknown in-band NVSP type",
        "HVCOCO_ERR_NETVSC_UNKNOWN_TYPE",
        () => channel(vm).send(u32s(999), 0, 40, 0, INBAND),
      ],
      [
        "an in-band SEND_RNDIS_PKT naming a send section",
        "HVCOCO_ERR_NETVSC_UNKNOWN_TYPE",
        () => channel(vm).send(u32s(107, 0, 3, 100), 0, 40, 0, INBAND),
      ],
      [
        "an in-band packet with no payload",
        "HVCOCO_ERR_NETVSC_SHORT",
        () => channel(vm).sendRaw(...raw(empty(INBAND))),
      ],
      [
        "a VMBus packet type netvsc does not take",
        "HVCOCO_ERR_NETVSC_PKT_TYPE",
        () => channel(vm).send(u32s(107), 0, 40, 0, 0xd),
      ],
      [
        "a completion of a transaction never sent",
        "HVCOCO_ERR_RQST_NOT_OUTSTANDING",
        () => channel(vm).send(u32s(108, 1), 0, 40, 777, COMP),
      ],
      [
        "a completion with transaction id 0",
        "HVCOCO_ERR_RQST_ID_RANGE",
        () => channel(vm).send(u32s(108, 1), 0, 40, 0, COMP),
      ],
      [
        "a completion with an id beyond the requestor table",
        "HVCOCO_ERR_RQST_ID_RANGE",
        () => channel(vm).send(u32s(108, 1), 0, 40, 0x7fffffff, COMP),
      ],
      [
        "an INIT_COMPLETE nobody waits for",
        "HVCOCO_ERR_RQST_NOT_OUTSTANDING",
        () => channel(vm).send(u32s(2, 0x60001, 0, 1), 0, 40, 5, COMP),
      ],
      [
        "a completion of an unknown type",
        "HVCOCO_ERR_NETVSC_UNKNOWN_TYPE",
        () => channel(vm).send(u32s(55), 0, 40, 1, COMP),
      ],
      [
        "an empty completion",
        "HVCOCO_ERR_NETVSC_UNSOLICITED",
        () => channel(vm).send(new Uint8Array(0), 0, 0, 1, COMP),
      ],
      [
        "a transfer-page packet with no payload",
        "HVCOCO_ERR_NETVSC_SHORT",
        () => channel(vm).sendRaw(...raw(empty(XFER))),
      ],
      [
        "a transfer-page packet of another page set",
        "HVCOCO_ERR_NETVSC_XFER_HEADER",
        () => channel(vm).sendRaw(...raw(xfer({ setId: 0x1234, ranges: [[100, 0]] }))),
      ],
      [
        "a transfer-page header cut short by offset8",
        "HVCOCO_ERR_NETVSC_XFER_HEADER",
        () => channel(vm).sendRaw(...raw(xfer({ ranges: [], offset8: 16 }))),
      ],
      [
        "a range count that does not fit the header",
        "HVCOCO_ERR_NETVSC_XFER_HEADER",
        () => channel(vm).sendRaw(...raw(xfer({ ranges: [[100, 0]], rangeCnt: 1000 }))),
      ],
      [
        "a range past the end of the receive buffer",
        "HVCOCO_ERR_NETVSC_XFER_RANGE",
        () => channel(vm).sendRaw(...raw(xfer({ ranges: [[100, size - 10]] }))),
      ],
      [
        "a range starting past the receive buffer",
        "HVCOCO_ERR_NETVSC_XFER_RANGE",
        () => channel(vm).sendRaw(...raw(xfer({ ranges: [[0, size + 4096]] }))),
      ],
      [
        "a range larger than a sub-allocation",
        "HVCOCO_ERR_NETVSC_XFER_TOO_BIG",
        () => channel(vm).sendRaw(...raw(xfer({ ranges: [[section + 8, 0]] }))),
      ],
      [
        "a transfer-page packet carrying another NVSP type",
        "HVCOCO_ERR_NETVSC_UNKNOWN_TYPE",
        () => channel(vm).sendRaw(...raw(xfer({ ranges: [[100, 0]], nvsp: u32s(102, 1).subarray(0, 16) }))),
      ],
      [
        "an RNDIS msg_len beyond the range",
        "HVCOCO_ERR_RNDIS_MSG_LEN",
        () => {
          const at = plant(vm, u32s(RndisMsgType.RNDIS_MSG_PACKET, 5000, 36, 10));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[100, at]] })));
        },
      ],
      [
        "an RNDIS data_offset beyond the message",
        "HVCOCO_ERR_RNDIS_DATA_RANGE",
        () => {
          const at = plant(vm, u32s(RndisMsgType.RNDIS_MSG_PACKET, 100, 4000, 10));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[100, at]] })));
        },
      ],
      [
        "an RNDIS data_len beyond the message",
        "HVCOCO_ERR_RNDIS_DATA_RANGE",
        () => {
          const at = plant(vm, u32s(RndisMsgType.RNDIS_MSG_PACKET, 100, 36, 4000));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[100, at]] })));
        },
      ],
      [
        "a per-packet-info area outside the message",
        "HVCOCO_ERR_RNDIS_PPI",
        () => {
          const at = plant(vm, u32s(RndisMsgType.RNDIS_MSG_PACKET, 100, 36, 10, 0, 0, 0, 9000, 12));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[100, at]] })));
        },
      ],
      [
        "an RNDIS message of 4 bytes",
        "HVCOCO_ERR_RNDIS_TRUNCATED",
        () => {
          const at = plant(vm, u32s(RndisMsgType.RNDIS_MSG_PACKET));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[4, at]] })));
        },
      ],
      [
        "an RNDIS message type the guest does not handle",
        "HVCOCO_ERR_NETVSC_RNDIS_TYPE",
        () => {
          const at = plant(vm, u32s(0x77, 16, 0, 0));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[16, at]] })));
        },
      ],
      [
        "an RNDIS completion to no request",
        "HVCOCO_ERR_NETVSC_UNSOLICITED",
        () => {
          const at = plant(vm, u32s(RndisMsgType.RNDIS_MSG_QUERY_C, 24, 999, 0, 0, 16));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[24, at]] })));
        },
      ],
      [
        "an RNDIS query completion whose info lies outside it",
        "HVCOCO_ERR_RNDIS_INFO_RANGE",
        () => {
          const at = plant(vm, u32s(RndisMsgType.RNDIS_MSG_QUERY_C, 24, 1, 0, 500, 16));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[24, at]] })));
        },
      ],
      [
        "an indication whose status buffer lies outside it",
        "HVCOCO_ERR_RNDIS_INFO_RANGE",
        () => {
          const at = plant(vm, u32s(RndisMsgType.RNDIS_MSG_INDICATE, 20, 0x4001000b, 64, 12));
          channel(vm).sendRaw(...raw(xfer({ ranges: [[20, at]] })));
        },
      ],
      [
        "an indirection table of 15 entries",
        "HVCOCO_ERR_NETVSC_INDIRECTION",
        () => channel(vm).send(u32s(134, 15, 12), 0, 40, 0, INBAND),
      ],
      [
        "an indirection table past the message",
        "HVCOCO_ERR_NETVSC_INDIRECTION",
        () => channel(vm).send(u32s(134, 16, 1000), 0, 40, 0, INBAND),
      ],
    ];
    for (const [what, code, fn] of cases) {
      const before = vm.audit.rejections.length;
      host(vm, fn);
      const got = vm.audit.rejections.slice(before);
      assert.ok(
        got.some((r) => r.code === code),
        `${vm.config.name}: ${what}: expected ${code}, got ${JSON.stringify(got.map((r) => r.code))}`,
      );
    }
    assert.equal(vm.audit.violations.length, 0, "no crash");
    assert.equal(stack(vm).ping(HOST_IP, 1, payload(1000)), true, `${vm.config.name}: the NIC still works`);
    assert.equal(stack(vm).ping(HOST_IP, 2, payload(7000)), true);
    assert.ok(vm.guest.dmesg.some((l) => l.includes("rejected: Packet offset:")));
  }
});

/** A packet of `type` whose payload is empty (offset8 == len8). */
function empty(type: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint16(0, type, true);
  v.setUint16(2, 2, true);
  v.setUint16(4, 2, true);
  return b;
}

function raw(b: Uint8Array): [Uint8Array, number] {
  return [b, b.length];
}

test("hostile answers to the buffer set-up are refused with logged reasons; the NIC stays down, its buffers re-encrypted, and the guest boots", () => {
  const edits: [string, string, (b: Uint8Array) => void][] = [
    ["receive buffer: status FAIL", "HVCOCO_ERR_NETVSC_RECV_BUF", (b) => at(b, 102, 4, 2)],
    ["receive buffer: two sections", "HVCOCO_ERR_NVSP_SECTION_COUNT", (b) => at(b, 102, 8, 2)],
    [
      "receive buffer: the section does not start at 0",
      "HVCOCO_ERR_NETVSC_RECV_BUF",
      (b) => at(b, 102, 12, 4096),
    ],
    [
      "receive buffer: sub-allocations below ETH_MIN_MTU",
      "HVCOCO_ERR_NETVSC_RECV_BUF",
      (b) => at(b, 102, 16, 64),
    ],
    [
      "receive buffer: sub-allocations that overflow it",
      "HVCOCO_ERR_NETVSC_RECV_BUF",
      (b) => at(b, 102, 20, 100000),
    ],
    ["send buffer: status FAIL", "HVCOCO_ERR_NETVSC_SEND_BUF", (b) => at(b, 105, 4, 2)],
    ["send buffer: sections of 32 bytes", "HVCOCO_ERR_NETVSC_SEND_BUF", (b) => at(b, 105, 8, 32)],
    [
      "send buffer: a section larger than the buffer",
      "HVCOCO_ERR_NETVSC_SEND_BUF",
      (b) => at(b, 105, 8, 1 << 30),
    ],
  ];
  for (const c of COCO_CONFIGS.slice(0, 2)) {
    for (const [what, code, edit] of edits) {
      const { vsp, net } = tamperingNetVsp(edit);
      const vm = bootWithNic(c, vsp, net);
      assert.equal(vm.bootOutcome?.ok, true, what);
      assert.ok(
        vm.audit.rejections.some((r) => r.code === code),
        `${what}: ${JSON.stringify(vm.audit.rejections.map((r) => r.code))}`,
      );
      assert.equal(guestNic(vm), undefined, `${what}: no NIC`);
      const stillShared = [...vm.guest.sharedRanges.values()].filter((r) => r.purpose.startsWith("netvsc"));
      assert.deepEqual(stillShared, [], `${what}: the buffers are encrypted again`);
    }
  }
});

/** Set the u32 at `off` of an nvsp_message of type `type`. */
function at(b: Uint8Array, type: number, off: number, value: number): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= off + 4 && v.getUint32(0, true) === type) v.setUint32(off, value >>> 0, true);
}

test("an isolated guest refuses an NVSP version below 6.1 (the NIC stays down); a normal VM takes 6.0", () => {
  const old = NVSP_VERSIONS.filter((v) => v < 0x60001);
  for (const c of [{ isolation: "none" }, ...COCO_CONFIGS]) {
    const vm = new Vm(config(c), { host: { vsps: { nic: new NetVsp({ versions: old }) } } });
    assert.equal(vm.boot().ok, true);
    if (c.isolation === "none") {
      assert.equal(nic(vm).nvspVersion, 0x60000);
      assert.equal(stack(vm).ping(HOST_IP, 1, payload(64)), true);
    } else {
      assert.equal(guestNic(vm), undefined);
      assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_ERR_NETVSC_VERSION"));
      assert.ok(vm.guest.dmesg.some((l) => l.includes("Invalid NVSP version 0x60000 (expected >= 0x60001)")));
    }
  }
});
