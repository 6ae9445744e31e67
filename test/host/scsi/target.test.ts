import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MemoryDisk } from "../../../src/host/backends/memory-disk.ts";
import { Asc, ScsiOp, ScsiStatus, SenseKey } from "../../../src/host/scsi/constants.ts";
import { parseFixedSense } from "../../../src/host/scsi/sense.ts";
import { newScsiResult, type ScsiResult, ScsiTarget } from "../../../src/host/scsi/target.ts";
import { hex, toHex } from "../../vmbus/hex.ts";

const MiB = 1024 * 1024;

function target(opts: { readOnly?: boolean } = {}) {
  const disk = new MemoryDisk({ bytes: 64 * MiB, serial: "disk0-serial", readOnly: opts.readOnly ?? false });
  return { disk, t: new ScsiTarget([disk]) };
}

function run(
  t: ScsiTarget,
  cdb: string | number[],
  o: { lun?: number; dataIn?: number; dataOut?: Uint8Array } = {},
) {
  const c = typeof cdb === "string" ? hex(cdb) : new Uint8Array(cdb);
  const dataIn = new Uint8Array(o.dataIn ?? 0);
  const req = { lun: o.lun ?? 0, cdb: c, dataIn, ...(o.dataOut ? { dataOut: o.dataOut } : {}) };
  const res = t.execute(req);
  return { res, data: dataIn.subarray(0, res.dataInLength) };
}

function expectSense(res: ScsiResult, key: number, asc: number): void {
  assert.equal(res.status, ScsiStatus.CHECK_CONDITION);
  assert.equal(res.senseLength, 18);
  assert.deepEqual(parseFixedSense(res.sense), { key, asc: asc >> 8, ascq: asc & 0xff });
}

test("TEST UNIT READY: GOOD, no data, no sense", () => {
  const { t } = target();
  const { res } = run(t, "00 00 00 00 00 00");
  assert.equal(res.status, ScsiStatus.GOOD);
  assert.equal(res.senseLength, 0);
});

test("golden: standard INQUIRY data (Msft Virtual Disk, SPC-3, CMDQUE)", () => {
  const { t } = target();
  const { res, data } = run(t, "12 00 00 00 60 00", { dataIn: 96 });
  assert.equal(res.status, ScsiStatus.GOOD);
  assert.equal(
    toHex(data),
    toHex(
      hex(`00 00 05 12 1f 00 00 02
           4d736674 20202020
           5669727475616c20 4469736b20202020
           312e3020`),
    ),
  );
  // The allocation length cuts the data.
  assert.equal(run(t, "12 00 00 00 05 00", { dataIn: 96 }).res.dataInLength, 5);
  // A LUN with no disk: peripheral qualifier 3, type 0x1f.
  assert.equal(run(t, "12 00 00 00 24 00", { dataIn: 36, lun: 3 }).data[0], 0x7f);
});

test("golden: VPD pages 0x00, 0x80, 0x83", () => {
  const { t } = target();
  assert.equal(toHex(run(t, "12 01 00 00 ff 00", { dataIn: 255 }).data), "0000000300" + "8083");
  assert.equal(
    toHex(run(t, "12 01 80 00 ff 00", { dataIn: 255 }).data),
    `0080000c${toHex(new TextEncoder().encode("disk0-serial"))}`,
  );
  const id = run(t, "12 01 83 00 ff 00", { dataIn: 255 }).data;
  // Header, then an NAA-6 designator (binary, LU, 16 bytes) with Microsoft's OUI 00-22-48,
  // then a T10 vendor-id designator (ASCII) "Msft    disk0-serial".
  assert.equal(toHex(id.subarray(0, 4)), "0083002c");
  assert.equal(toHex(id.subarray(4, 8)), "01030010");
  assert.equal(id[8]! >> 4, 6);
  assert.equal(((id[8]! & 0xf) << 20) | (id[9]! << 12) | (id[10]! << 4) | (id[11]! >> 4), 0x002248);
  assert.equal(toHex(id.subarray(24, 28)), "02010014");
  assert.equal(new TextDecoder().decode(id.subarray(28, 48)), "Msft    disk0-serial");
  assert.equal(id.length, 48);
  // The identifier is stable for a serial.
  assert.equal(toHex(run(t, "12 01 83 00 ff 00", { dataIn: 255 }).data), toHex(id));
});

test("INQUIRY errors: page code without EVPD, unsupported VPD page", () => {
  const { t } = target();
  expectSense(
    run(t, "12 00 80 00 ff 00", { dataIn: 255 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_FIELD_IN_CDB,
  );
  expectSense(
    run(t, "12 01 b0 00 ff 00", { dataIn: 255 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_FIELD_IN_CDB,
  );
});

test("golden: READ CAPACITY (10) and (16)", () => {
  const { t } = target();
  assert.equal(toHex(run(t, "25 00 00000000 0000 00 00", { dataIn: 8 }).data), "0001ffff00000200");
  assert.equal(
    toHex(run(t, "9e 10 0000000000000000 00000020 00 00", { dataIn: 32 }).data),
    toHex(hex(`000000000001ffff 00000200 ${"00".repeat(20)}`)),
  );
  expectSense(
    run(t, "9e 11 0000000000000000 00000020 00 00", { dataIn: 32 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_FIELD_IN_CDB,
  );
  // Beyond 2^32 blocks READ CAPACITY(10) says 0xffffffff (use the 16-byte form).
  const big = new ScsiTarget([new MemoryDisk({ bytes: 4 * 1024 * 1024 * MiB, blockSize: 512 })]);
  assert.equal(toHex(run(big, "25 00 00000000 0000 00 00", { dataIn: 8 }).data), "ffffffff00000200");
  assert.equal(
    toHex(run(big, "9e 10 0000000000000000 00000020 00 00", { dataIn: 32 }).data.subarray(0, 8)),
    "00000001ffffffff",
  );
});

test("READ/WRITE (10) and (16) move data, and round-trip", () => {
  const { t, disk } = target();
  const pattern = new Uint8Array(8 * 512).map((_, i) => (i * 7 + 3) & 0xff);
  let r = run(t, "2a 00 00001000 00 0008 00", { dataOut: pattern });
  assert.equal(r.res.status, ScsiStatus.GOOD);
  assert.equal(r.res.dataOutLength, 4096);
  r = run(t, "28 00 00001000 00 0008 00", { dataIn: 4096 });
  assert.equal(toHex(r.data), toHex(pattern));
  r = run(t, "88 00 0000000000001004 00000002 00 00", { dataIn: 1024 });
  assert.equal(toHex(r.data), toHex(pattern.subarray(2048, 3072)));
  r = run(t, "8a 00 000000000001fff8 00000008 00 00", { dataOut: pattern });
  assert.equal(r.res.status, ScsiStatus.GOOD);
  r = run(t, "28 00 0001fff8 00 0008 00", { dataIn: 4096 });
  assert.equal(toHex(r.data), toHex(pattern));
  // Blocks never written read as zeros; transfer length 0 moves nothing.
  assert.ok(run(t, "28 00 00000000 00 0001 00", { dataIn: 512 }).data.every((b) => b === 0));
  assert.equal(run(t, "28 00 00000000 00 0000 00", { dataIn: 512 }).res.dataInLength, 0);
  assert.equal(disk.stats.writes, 2);
  assert.deepEqual({ r: t.stats.blocksRead, w: t.stats.blocksWritten }, { r: 8 + 2 + 8 + 1, w: 16 });
});

test("READ/WRITE errors: LBA out of range, short buffers, write protect", () => {
  const { t } = target();
  expectSense(
    run(t, "28 00 0001fff9 00 0008 00", { dataIn: 4096 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.LBA_OUT_OF_RANGE,
  );
  expectSense(
    run(t, "88 00 ffffffffffffffff 00000001 00 00", { dataIn: 512 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.LBA_OUT_OF_RANGE,
  );
  expectSense(
    run(t, "8a 00 0000000000020000 00000001 00 00", { dataOut: new Uint8Array(512) }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.LBA_OUT_OF_RANGE,
  );
  // A read buffer too small: what fits is moved, and the overrun is reported.
  const short = run(t, "28 00 00000000 00 0004 00", { dataIn: 1024 });
  assert.equal(short.res.status, ScsiStatus.GOOD);
  assert.equal(short.res.dataInLength, 1024);
  assert.equal(short.res.overrun, true);
  // A write whose data is short writes nothing.
  const w = run(t, "2a 00 00000000 00 0004 00", { dataOut: new Uint8Array(1024).fill(9) });
  expectSense(w.res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  assert.equal(w.res.overrun, true);
  assert.ok(run(t, "28 00 00000000 00 0001 00", { dataIn: 512 }).data.every((b) => b === 0));
  const ro = target({ readOnly: true });
  expectSense(
    run(ro.t, "2a 00 00000000 00 0001 00", { dataOut: new Uint8Array(512) }).res,
    SenseKey.DATA_PROTECT,
    Asc.WRITE_PROTECTED,
  );
});

test("SYNCHRONIZE CACHE (10)/(16) flush the disk; range-checked", () => {
  const { t, disk } = target();
  assert.equal(run(t, "35 00 00000000 00 0000 00").res.status, ScsiStatus.GOOD);
  assert.equal(run(t, "91 00 0000000000000000 00000000 00 00").res.status, ScsiStatus.GOOD);
  assert.equal(disk.stats.flushes, 2);
  expectSense(run(t, "35 00 00020001 00 0000 00").res, SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
});

test("an I/O error of the medium is MEDIUM ERROR", () => {
  const { disk } = target();
  const failing = Object.assign(Object.create(disk) as MemoryDisk, {
    read: () => ({ code: "HVCOCO_ERR_DISK_IO", op: "read", message: "EIO" }) as const,
    flush: () => ({ code: "HVCOCO_ERR_DISK_IO", op: "flush", message: "EIO" }) as const,
  });
  const t = new ScsiTarget([failing]);
  expectSense(
    run(t, "28 00 00000000 00 0001 00", { dataIn: 512 }).res,
    SenseKey.MEDIUM_ERROR,
    Asc.UNRECOVERED_READ_ERROR,
  );
  expectSense(run(t, "35 00 00000000 00 0000 00").res, SenseKey.MEDIUM_ERROR, Asc.WRITE_ERROR);
});

test("golden: MODE SENSE (6) caching page, (10) all pages with a long descriptor", () => {
  const { t } = target();
  assert.equal(
    toHex(run(t, "1a 00 08 00 ff 00", { dataIn: 255 }).data),
    toHex(hex(`1f 00 10 08  00020000 00 000200  08 12 04 00 ${"00".repeat(16)}`)),
  );
  // DBD: no block descriptor.
  assert.equal(toHex(run(t, "1a 08 08 00 ff 00", { dataIn: 255 }).data.subarray(0, 4)), "17001000");
  const ten = run(t, "5a 10 3f 00 00 00 00 00 ff 00", { dataIn: 255 }).data;
  assert.equal(
    toHex(ten),
    toHex(
      hex(`0036 00 10 01 00 0010
           0000000000020000 00000000 00000200
           08 12 04 00 ${"00".repeat(16)}
           0a 0a ${"00".repeat(10)}`),
    ),
  );
  // Changeable values: WCE is not changeable.
  assert.equal(run(t, "1a 08 48 00 ff 00", { dataIn: 255 }).data[6], 0);
  expectSense(
    run(t, "1a 00 c8 00 ff 00", { dataIn: 255 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.SAVING_PARAMETERS_NOT_SUPPORTED,
  );
  expectSense(
    run(t, "1a 00 1c 00 ff 00", { dataIn: 255 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_FIELD_IN_CDB,
  );
  expectSense(
    run(t, "1a 00 08 01 ff 00", { dataIn: 255 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_FIELD_IN_CDB,
  );
  assert.equal(run(t, "1a 00 3f ff ff 00", { dataIn: 255 }).res.status, ScsiStatus.GOOD);
  // Read-only disk: WP in the device-specific parameter.
  assert.equal(run(target({ readOnly: true }).t, "1a 00 08 00 ff 00", { dataIn: 255 }).data[2], 0x90);
});

test("golden: REPORT LUNS", () => {
  const d = () => new MemoryDisk({ bytes: MiB });
  const t = new ScsiTarget(
    new Map([
      [0, d()],
      [5, d()],
    ]),
  );
  assert.equal(
    toHex(run(t, "a0 00 00 00 00 00 00000100 00 00", { dataIn: 256, lun: 9 }).data),
    toHex(hex("00000010 00000000 0000000000000000 0005000000000000")),
  );
});

test("REQUEST SENSE: no sense pending; descriptor format refused", () => {
  const { t } = target();
  const r = run(t, "03 00 00 00 12 00", { dataIn: 18 });
  assert.equal(r.res.status, ScsiStatus.GOOD);
  assert.deepEqual(parseFixedSense(r.data), { key: 0, asc: 0, ascq: 0 });
  assert.deepEqual(parseFixedSense(run(t, "03 00 00 00 12 00", { dataIn: 18, lun: 4 }).data), {
    key: SenseKey.ILLEGAL_REQUEST,
    asc: 0x25,
    ascq: 0,
  });
  expectSense(
    run(t, "03 01 00 00 12 00", { dataIn: 18 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_FIELD_IN_CDB,
  );
});

test("golden sense: unknown opcode, short CDB, missing LUN", () => {
  const { t } = target();
  const r = run(t, "ff 00 00 00 00 00");
  expectSense(r.res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_COMMAND_OPERATION_CODE);
  assert.equal(toHex(r.res.sense), toHex(hex("70 00 05 00000000 0a 00000000 20 00 00 000000")));
  expectSense(
    run(t, "42 00 00 00 00 00 00 00 00 00").res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_COMMAND_OPERATION_CODE,
  );
  expectSense(run(t, "28 00 00 00").res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  expectSense(
    run(t, "00 00 00 00 00 00", { lun: 7 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.LOGICAL_UNIT_NOT_SUPPORTED,
  );
  expectSense(
    run(t, [ScsiOp.READ_10, 0, 0, 0, 0, 0, 0, 0, 1, 0], { lun: 7 }).res,
    SenseKey.ILLEGAL_REQUEST,
    Asc.LOGICAL_UNIT_NOT_SUPPORTED,
  );
  expectSense(run(t, []).res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
});

test("the target never throws and never writes outside the buffers it is given", () => {
  const { t } = target();
  const res = newScsiResult();
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 16 }),
      fc.nat(600),
      fc.nat(600),
      fc.nat(3),
      (cdb, inLen, outLen, lun) => {
        const guard = new Uint8Array(inLen + 8).fill(0xa5);
        const dataIn = guard.subarray(0, inLen);
        t.execute({ lun, cdb, dataIn, dataOut: new Uint8Array(outLen) }, res);
        assert.ok(res.dataInLength <= inLen);
        assert.ok(guard.subarray(inLen).every((b) => b === 0xa5));
        assert.ok(res.status === ScsiStatus.GOOD || res.senseLength === 18);
      },
    ),
  );
});
