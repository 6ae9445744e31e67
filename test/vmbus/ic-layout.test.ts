// The integration-component structs (include/linux/hyperv.h) and the monitor page
// (drivers/hv/hyperv_vmbus.h): sizes and offsets computed by hand, and whole
// packets compared byte for byte with hex written out from the declarations.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ALL_LAYOUTS } from "../../src/layout/all.ts";
import {
  HB_VERSIONS,
  ICMSG_HDR,
  IcConst,
  IcMsgFlag,
  IcMsgType,
  icmsgNegotiatePktSize,
  icVersion,
  readIcHeader,
  SD_VERSIONS,
  TS_VERSIONS,
  UTIL_FW_VERSIONS,
  VMBUS_IC_LAYOUT,
  writeIcHeader,
} from "../../src/vmbus/ic.ts";
import { HV_MONITOR_PAGE, monitorGroupBit, monitorPendingOffset } from "../../src/vmbus/monitor.ts";
import { hex, toHex } from "./hex.ts";

const EXPECTED: [string, number, Record<string, number>][] = [
  ["vmbuspipe_hdr", 8, { flags: 0, msgsize: 4 }],
  ["ic_version", 4, { major: 0, minor: 2 }],
  [
    "icmsg_hdr",
    20,
    {
      icverframe: 0,
      icmsgtype: 4,
      icvermsg: 6,
      icmsgsize: 10,
      status: 12,
      ictransaction_id: 16,
      icflags: 17,
      reserved: 18,
    },
  ],
  ["icmsg_negotiate", 8, { icframe_vercnt: 0, icmsg_vercnt: 2, reserved: 4, icversion_data: 8 }],
  ["shutdown_msg_data", 2060, { reason_code: 0, timeout_seconds: 4, flags: 8, display_message: 12 }],
  ["heartbeat_msg_data", 40, { seq_num: 0, reserved: 8 }],
  ["ictimesync_data", 25, { parenttime: 0, childtime: 8, roundtriptime: 16, flags: 24 }],
  [
    "ictimesync_ref_data",
    22,
    { parenttime: 0, vmreferencetime: 8, flags: 16, leapflags: 17, stratum: 18, reserved: 19 },
  ],
];

test("every IC struct has the size and offsets of include/linux/hyperv.h", () => {
  const byName = new Map(VMBUS_IC_LAYOUT.structs.map((s) => [s.name, s]));
  for (const [name, size, offs] of EXPECTED) {
    const s = byName.get(name);
    assert.ok(s, name);
    assert.equal(s.size, size, `${name} size`);
    for (const [f, o] of Object.entries(offs))
      assert.equal((s.off as Record<string, number>)[f], o, `${name}.${f}`);
    assert.match(s.header, /include\/linux\/hyperv\.h/);
  }
  assert.equal(byName.size, EXPECTED.length);
  assert.equal(ICMSG_HDR, 28);
  assert.equal(icmsgNegotiatePktSize(2, 2), 28 + 8 + 16);
  assert.ok(ALL_LAYOUTS.includes(VMBUS_IC_LAYOUT), "`hvcoco layout` prints the IC section");
});

test("the IC constants and version lists are hv_util.c's", () => {
  assert.deepEqual(IcMsgType, {
    ICMSGTYPE_NEGOTIATE: 0,
    ICMSGTYPE_HEARTBEAT: 1,
    ICMSGTYPE_KVPEXCHANGE: 2,
    ICMSGTYPE_SHUTDOWN: 3,
    ICMSGTYPE_TIMESYNC: 4,
    ICMSGTYPE_VSS: 5,
    ICMSGTYPE_FCOPY: 7,
  });
  assert.deepEqual(IcMsgFlag, {
    ICMSGHDRFLAG_TRANSACTION: 1,
    ICMSGHDRFLAG_REQUEST: 2,
    ICMSGHDRFLAG_RESPONSE: 4,
  });
  assert.equal(IcConst.WLTIMEDELTA, 116444736000000000n);
  assert.equal(IcConst.HV_UTIL_RING_SIZE, 16384, "VMBUS_RING_SIZE(3 * HV_HYP_PAGE_SIZE)");
  assert.deepEqual(UTIL_FW_VERSIONS, [0x30000, 0x10000]);
  assert.deepEqual(SD_VERSIONS, [0x30002, 0x30001, 0x30000, 0x10000]);
  assert.deepEqual(TS_VERSIONS, [0x40000, 0x30000, 0x10000]);
  assert.deepEqual(HB_VERSIONS, [0x30000, 0x10000]);
});

test("golden bytes: a heartbeat request's pipe and icmsg headers", () => {
  const b = new Uint8Array(ICMSG_HDR + 40).fill(0xee);
  const v = new DataView(b.buffer);
  writeIcHeader(v, {
    frameworkVersion: icVersion(3, 0),
    msgType: IcMsgType.ICMSGTYPE_HEARTBEAT,
    messageVersion: icVersion(3, 0),
    msgSize: 40,
    status: 0,
    transactionId: 0x12,
    flags: IcMsgFlag.ICMSGHDRFLAG_TRANSACTION | IcMsgFlag.ICMSGHDRFLAG_REQUEST,
  });
  assert.equal(
    toHex(b.subarray(0, ICMSG_HDR)),
    toHex(
      hex(`
      00000000 3c000000
      0300 0000 0100 0300 0000 2800 00000000 12 03 0000`),
    ),
    "flags 0, msgsize 20 + 40; icverframe 3.0, type 1, icvermsg 3.0, size 40, status 0, txid 0x12, flags 3",
  );
  assert.equal(b[ICMSG_HDR], 0xee, "writeIcHeader touches only the headers");
  assert.deepEqual(readIcHeader(v), {
    frameworkVersion: 0x30000,
    msgType: 1,
    messageVersion: 0x30000,
    msgSize: 40,
    status: 0,
    transactionId: 0x12,
    flags: 3,
  });
});

test("the monitor page: trigger groups, pending bits, 4 KiB", () => {
  assert.equal(HV_MONITOR_PAGE.size, 4096);
  assert.equal(HV_MONITOR_PAGE.off.parameter, 0x440);
  assert.deepEqual(monitorGroupBit(37), { group: 1, bit: 5 });
  assert.equal(monitorPendingOffset(1), 16, "trigger_group[1].pending");
});
