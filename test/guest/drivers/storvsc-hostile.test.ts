// A malicious storvsp: each completion altered before it is sent. storvsc checks
// the packet's length, its transaction id against the tags outstanding, its
// operation, the SRB status, the sense length and the bytes moved, and logs why it
// refused; the guest keeps running and its next command works.
import assert from "node:assert/strict";
import { test } from "node:test";
import { STORVSC_REJECTS, type StorvscRejectCode } from "../../../src/guest/drivers/storvsc/device.ts";
import type { StorVspCompletion, VspChannel } from "../../../src/host/vsp/storvsp.ts";
import { PacketType } from "../../../src/vmbus/constants.ts";
import { VSTOR_PAYLOAD, VstorOperation } from "../../../src/vmbus/storvsc-proto.ts";
import { guestBuffer, pattern, scsi, storageVm } from "./storvsc-helpers.ts";

interface Case {
  name: string;
  code: StorvscRejectCode;
  /** Change the completion of the command under test. */
  tamper: (c: StorVspCompletion) => void;
  /** The command: a read past the end (CHECK CONDITION) instead of a good read. */
  checkCondition?: boolean;
  /** What the command returns: -errno, or "error" (completed with an error status), or "ok". */
  expect: number | "error" | "ok";
}

const S = VSTOR_PAYLOAD;
const CASES: Case[] = [
  {
    name: "bad length: a completion cut to 40 bytes",
    code: "HVCOCO_ERR_STORVSC_PKT_LEN",
    tamper: (c) => {
      c.length = 40;
    },
    expect: -110,
  },
  {
    name: "unknown transaction id",
    code: "HVCOCO_ERR_STORVSC_TRANS_ID",
    tamper: (c) => {
      c.transLo = 29;
    },
    expect: -110,
  },
  {
    name: "transaction id above the tag space",
    code: "HVCOCO_ERR_STORVSC_TRANS_ID",
    tamper: (c) => {
      c.transHi = 7;
    },
    expect: -110,
  },
  {
    name: "COMPLETE_IO with transaction id 0",
    code: "HVCOCO_ERR_STORVSC_ID_ZERO",
    tamper: (c) => {
      c.transLo = 0;
      c.transHi = 0;
    },
    expect: -110,
  },
  {
    name: "an operation other than COMPLETE_IO",
    code: "HVCOCO_ERR_STORVSC_OPERATION",
    tamper: (c) => {
      new DataView(c.packet.buffer).setUint32(0, VstorOperation.VSTOR_OPERATION_RESET_BUS, true);
    },
    expect: -110,
  },
  {
    name: "bad status: an SRB status the driver does not know",
    code: "HVCOCO_ERR_STORVSC_SRB_STATUS",
    tamper: (c) => {
      c.packet[S + 2] = 0x3f;
    },
    expect: -5,
  },
  {
    name: "sense data longer than the 20-byte buffer",
    code: "HVCOCO_ERR_STORVSC_SENSE_LENGTH",
    checkCondition: true,
    tamper: (c) => {
      c.packet[S + 9] = 200;
    },
    expect: "error",
  },
  {
    name: "data_transfer_length above what was asked",
    code: "HVCOCO_ERR_STORVSC_XFER_LENGTH",
    tamper: (c) => {
      new DataView(c.packet.buffer).setUint32(S + 12, 1 << 30, true);
    },
    expect: "ok",
  },
];

test("hostile storvsp completions are rejected with logged reasons: bad length, bad status, unknown transaction id, sense longer than the buffer; the guest stays alive", () => {
  for (const cfg of [{ isolation: "none" }, { isolation: "snp", mode: "paravisor" }]) {
    for (const c of CASES) {
      const { vm, vsp } = storageVm(cfg);
      const { host, disk } = scsi(vm);
      const data = pattern(16 * 1024, 5);
      const buf = guestBuffer(vm, data.length, data);
      assert.equal(host.write(disk, 64, 32, buf).ok, true);
      const back = guestBuffer(vm, data.length);
      let armed = true;
      vsp.completionHook = (comp) => {
        if (!armed || comp.answers !== VstorOperation.VSTOR_OPERATION_EXECUTE_SRB) return;
        armed = false;
        c.tamper(comp);
      };
      const rejects0 = vm.audit.rejections.length;
      const lba = c.checkCondition ? disk.blocks - 1 : 64;
      const r = host.dev.execute({
        lun: 0,
        cdb: Uint8Array.of(
          0x28,
          0,
          lba >>> 24,
          (lba >>> 16) & 0xff,
          (lba >>> 8) & 0xff,
          lba & 0xff,
          0,
          0,
          32,
          0,
        ),
        cdbLength: 10,
        dir: 2, // DMA_FROM_DEVICE
        gpa: back,
        len: data.length,
      });
      const what = `${vm.config.name} / ${c.name}`;
      const rej = vm.audit.rejections.slice(rejects0);
      assert.ok(
        rej.some((x) => x.code === c.code),
        `${what}: expected ${c.code}, got ${rej.map((x) => x.code).join(", ")}`,
      );
      assert.ok(STORVSC_REJECTS[c.code].length > 0);
      for (const x of rej)
        assert.match(x.message, /^storvsc relid \d+: /, `${what}: the reason names the device`);
      if (typeof c.expect === "number") assert.equal(r.errno, c.expect, what);
      else if (c.expect === "error") {
        assert.equal(r.errno, 0, what);
        assert.equal(r.scsiStatus, 2, what);
        assert.equal(r.senseLength, 20, `${what}: the sense is cut at the buffer`);
        assert.equal(r.sense[12], 0x21, `${what}: LBA OUT OF RANGE survives`);
      } else {
        assert.equal(r.errno, 0, what);
        assert.equal(r.transferred, data.length, `${what}: clamped to the request`);
      }
      // Alive and well: the next command works.
      vsp.completionHook = undefined;
      assert.equal(host.read(disk, 64, 32, back).ok, true, `${what}: the guest goes on`);
      assert.deepEqual(vm.guest.hw.mem.read(back, data.length), data);
      assert.equal(vm.audit.violations.length, 0, what);
      assert.equal(
        vm.audit.secretBytesLeaked,
        vm.config.isolation === "none" ? vm.audit.secretBytesLeaked : 0,
      );
    }
  }
});

test("a completion that arrives after its command timed out is refused, and the timed-out bounce buffer is never reused", () => {
  const { vm, vsp } = storageVm({ isolation: "tdx", mode: "enlightened" });
  const { host, disk } = scsi(vm);
  const buf = guestBuffer(vm, 8192);
  // Hold the first completion back (the guest sees only an id-0 packet it refuses), replay it late.
  let held: { pkt: Uint8Array; lo: number; ch: VspChannel } | undefined;
  vsp.completionHook = (c, ch) => {
    if (c.answers !== VstorOperation.VSTOR_OPERATION_EXECUTE_SRB || held) return;
    held = { pkt: c.packet.slice(), lo: c.transLo, ch };
    c.transLo = 0;
    c.transHi = 0;
  };
  const pool = vm.guest.swiotlb!;
  const used0 = pool.stats.usedSlots;
  const r = host.read(disk, 0, 16, buf);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.errno, -110);
  assert.ok(pool.stats.usedSlots > used0, "the timed-out mapping stays out of the pool");
  vsp.completionHook = undefined;
  assert.ok(held);
  const rejects0 = vm.audit.rejections.length;
  held.ch.send(held.pkt, 0, held.pkt.length, held.lo, PacketType.VM_PKT_COMP, 0);
  vm.scheduler.runUntilIdle();
  assert.deepEqual(
    vm.audit.rejections.slice(rejects0).map((x) => x.code),
    ["HVCOCO_ERR_STORVSC_TRANS_ID"],
  );
  // Later commands get fresh slots and work.
  assert.equal(host.read(disk, 0, 16, buf).ok, true);
  assert.ok(pool.stats.usedSlots > used0);
});
