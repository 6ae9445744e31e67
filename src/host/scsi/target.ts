// A SCSI target with logical units on Disk backends: what storvsp hands each
// EXECUTE_SRB's CDB to. It implements the commands Linux's sd and the SCSI scan
// send to a Hyper-V disk; anything else, and any bad field, ends in CHECK
// CONDITION with fixed-format sense data (autosense: returned with the command).
//
// No allocation per command: response data is built in a scratch buffer owned by
// the target, sense goes into the caller's ScsiResult, and data moves straight
// between the disk and the caller's buffers.

import { scratch } from "../../util/snapshot-hints.ts";
import type { Disk, DiskIoError } from "../backends/disk.ts";
import { be16, be32, be64, putBe32, putBe64 } from "./cdb.ts";
import {
  Asc,
  cdbLengthOfGroup,
  FIXED_SENSE_LENGTH,
  ScsiOp,
  ScsiServiceAction,
  ScsiStatus,
  SenseKey,
} from "./constants.ts";
import { standardInquiry, vpdPage } from "./inquiry.ts";
import { modeSense } from "./mode-sense.ts";
import { writeFixedSense } from "./sense.ts";

export interface ScsiRequest {
  lun: number;
  /** The CDB; `cdbLength` bytes of it are valid (default: all). */
  cdb: Uint8Array;
  cdbLength?: number;
  /** Data from the initiator (WRITE). */
  dataOut?: Uint8Array;
  /** Buffer for data to the initiator (READ, INQUIRY, ...). */
  dataIn?: Uint8Array;
}

export interface ScsiResult {
  /** SAM status: GOOD or CHECK CONDITION. */
  status: number;
  /** Bytes placed at the start of dataIn. */
  dataInLength: number;
  /** Bytes taken from the start of dataOut. */
  dataOutLength: number;
  /** Fixed-format sense in `sense[0..senseLength)`; 0 when status is GOOD. */
  senseLength: number;
  sense: Uint8Array;
  /** The buffer given was smaller than the command's transfer (the VSP reports DATA_OVERRUN). */
  overrun: boolean;
}

export function newScsiResult(): ScsiResult {
  return {
    status: 0,
    dataInLength: 0,
    dataOutLength: 0,
    senseLength: 0,
    sense: new Uint8Array(FIXED_SENSE_LENGTH),
    overrun: false,
  };
}

export interface ScsiTargetStats {
  commands: number;
  checkConditions: number;
  blocksRead: number;
  blocksWritten: number;
  flushes: number;
}

/** Largest response the non-data commands build (INQUIRY/VPD, MODE SENSE, REPORT LUNS for 256 LUNs). */
const SCRATCH = 8 + 8 * 256;

export class ScsiTarget {
  readonly #luns = new Map<number, Disk>();
  readonly #scratch = scratch(new Uint8Array(SCRATCH));
  readonly stats: ScsiTargetStats = {
    commands: 0,
    checkConditions: 0,
    blocksRead: 0,
    blocksWritten: 0,
    flushes: 0,
  };

  constructor(luns: ReadonlyMap<number, Disk> | readonly Disk[] = []) {
    const entries: Iterable<[number, Disk]> = Array.isArray(luns)
      ? (luns as readonly Disk[]).map((d, i): [number, Disk] => [i, d])
      : (luns as ReadonlyMap<number, Disk>).entries();
    for (const [lun, d] of entries) this.attach(lun, d);
  }

  attach(lun: number, disk: Disk): void {
    if (!Number.isInteger(lun) || lun < 0 || lun > 255) throw new Error(`LUN ${lun} outside 0..255`);
    this.#luns.set(lun, disk);
  }

  disk(lun: number): Disk | undefined {
    return this.#luns.get(lun);
  }

  /** Execute one command; fills and returns `res`. Never throws on any CDB. */
  execute(req: ScsiRequest, res: ScsiResult = newScsiResult()): ScsiResult {
    this.stats.commands++;
    res.status = ScsiStatus.GOOD;
    res.dataInLength = 0;
    res.dataOutLength = 0;
    res.senseLength = 0;
    res.overrun = false;
    const cdb = req.cdb;
    const cdbLen = Math.min(req.cdbLength ?? cdb.length, cdb.length);
    if (cdbLen < 1) return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    const op = cdb[0]!;
    const need = cdbLengthOfGroup(op);
    if (need === 0) return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_COMMAND_OPERATION_CODE);
    if (cdbLen < need) return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    const disk = this.#luns.get(req.lun);

    // Commands a target answers for any LUN.
    if (op === ScsiOp.INQUIRY) return this.#inquiry(req, res, disk);
    if (op === ScsiOp.REPORT_LUNS) return this.#reportLuns(req, res);
    if (op === ScsiOp.REQUEST_SENSE) return this.#requestSense(req, res, disk !== undefined);
    if (!disk) {
      if (!isKnown(op, cdb))
        return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_COMMAND_OPERATION_CODE);
      return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.LOGICAL_UNIT_NOT_SUPPORTED);
    }
    switch (op) {
      case ScsiOp.TEST_UNIT_READY:
        return res;
      case ScsiOp.READ_CAPACITY_10:
        return this.#readCapacity10(req, res, disk);
      case ScsiOp.SERVICE_ACTION_IN_16:
        if (((cdb[1] ?? 0) & 0x1f) === ScsiServiceAction.READ_CAPACITY_16)
          return this.#readCapacity16(req, res, disk);
        return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
      case ScsiOp.READ_10:
        return this.#read(req, res, disk, be32(cdb, 2), be16(cdb, 7));
      case ScsiOp.READ_16:
        return this.#read(req, res, disk, be64(cdb, 2), be32(cdb, 10));
      case ScsiOp.WRITE_10:
        return this.#write(req, res, disk, be32(cdb, 2), be16(cdb, 7));
      case ScsiOp.WRITE_16:
        return this.#write(req, res, disk, be64(cdb, 2), be32(cdb, 10));
      case ScsiOp.SYNCHRONIZE_CACHE_10:
        return this.#sync(res, disk, be32(cdb, 2), be16(cdb, 7));
      case ScsiOp.SYNCHRONIZE_CACHE_16:
        return this.#sync(res, disk, be64(cdb, 2), be32(cdb, 10));
      case ScsiOp.MODE_SENSE_6:
        return this.#modeSense(req, res, disk, false, cdb[4] ?? 0);
      case ScsiOp.MODE_SENSE_10:
        return this.#modeSense(req, res, disk, true, be16(cdb, 7));
      default:
        return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_COMMAND_OPERATION_CODE);
    }
  }

  #check(res: ScsiResult, key: number, asc: number): ScsiResult {
    this.stats.checkConditions++;
    res.status = ScsiStatus.CHECK_CONDITION;
    res.senseLength = writeFixedSense(res.sense, 0, key, asc);
    return res;
  }

  #ioError(res: ScsiResult, e: DiskIoError): ScsiResult {
    return this.#check(
      res,
      SenseKey.MEDIUM_ERROR,
      e.op === "read" ? Asc.UNRECOVERED_READ_ERROR : Asc.WRITE_ERROR,
    );
  }

  /** Copy `len` bytes of scratch to dataIn, cut at the allocation length and the buffer. */
  #respond(req: ScsiRequest, res: ScsiResult, len: number, allocLen: number): ScsiResult {
    const want = Math.min(len, allocLen);
    const room = req.dataIn?.length ?? 0;
    const n = Math.min(want, room);
    if (n > 0) req.dataIn!.set(this.#scratch.subarray(0, n));
    res.dataInLength = n;
    res.overrun = want > room;
    return res;
  }

  #inquiry(req: ScsiRequest, res: ScsiResult, disk: Disk | undefined): ScsiResult {
    const cdb = req.cdb;
    const evpd = ((cdb[1] ?? 0) & 0x01) !== 0;
    const page = cdb[2] ?? 0;
    const alloc = be16(cdb, 3);
    if (!evpd) {
      if (page !== 0) return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
      return this.#respond(req, res, standardInquiry(this.#scratch, disk !== undefined), alloc);
    }
    if (!disk) return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.LOGICAL_UNIT_NOT_SUPPORTED);
    const len = vpdPage(this.#scratch, page, disk);
    if (len === undefined) return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    return this.#respond(req, res, len, alloc);
  }

  #reportLuns(req: ScsiRequest, res: ScsiResult): ScsiResult {
    const cdb = req.cdb;
    if ((cdb[2] ?? 0) > 2) return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    const luns = [...this.#luns.keys()].sort((a, b) => a - b);
    const s = this.#scratch;
    s.fill(0, 0, 8 + 8 * luns.length);
    putBe32(s, 0, 8 * luns.length);
    luns.forEach((lun, i) => {
      // Peripheral device addressing (single level) for LUNs below 256.
      s[8 + 8 * i + 1] = lun;
    });
    return this.#respond(req, res, 8 + 8 * luns.length, be32(cdb, 6));
  }

  #requestSense(req: ScsiRequest, res: ScsiResult, present: boolean): ScsiResult {
    const cdb = req.cdb;
    if (((cdb[1] ?? 0) & 0x01) !== 0)
      return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    // Sense travels with each failed command (autosense), so none is pending here.
    const len = present
      ? writeFixedSense(this.#scratch, 0, SenseKey.NO_SENSE, Asc.NO_ADDITIONAL_SENSE)
      : writeFixedSense(this.#scratch, 0, SenseKey.ILLEGAL_REQUEST, Asc.LOGICAL_UNIT_NOT_SUPPORTED);
    return this.#respond(req, res, len, cdb[4] ?? 0);
  }

  #readCapacity10(req: ScsiRequest, res: ScsiResult, disk: Disk): ScsiResult {
    const s = this.#scratch;
    putBe32(s, 0, Math.min(disk.blocks - 1, 0xffffffff));
    putBe32(s, 4, disk.blockSize);
    return this.#respond(req, res, 8, 8);
  }

  #readCapacity16(req: ScsiRequest, res: ScsiResult, disk: Disk): ScsiResult {
    const s = this.#scratch;
    s.fill(0, 0, 32);
    putBe64(s, 0, disk.blocks - 1);
    putBe32(s, 8, disk.blockSize);
    return this.#respond(req, res, 32, be32(req.cdb, 10));
  }

  #range(res: ScsiResult, disk: Disk, lba: number, count: number): ScsiResult | undefined {
    if (!(lba + count <= disk.blocks))
      return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    return undefined;
  }

  #read(req: ScsiRequest, res: ScsiResult, disk: Disk, lba: number, count: number): ScsiResult {
    const bad = this.#range(res, disk, lba, count);
    if (bad) return bad;
    const room = Math.floor((req.dataIn?.length ?? 0) / disk.blockSize);
    const n = Math.min(count, room);
    res.overrun = n < count;
    if (n > 0) {
      const e = disk.read(lba, n, req.dataIn!, 0);
      if (e) return this.#ioError(res, e);
    }
    res.dataInLength = n * disk.blockSize;
    this.stats.blocksRead += n;
    return res;
  }

  #write(req: ScsiRequest, res: ScsiResult, disk: Disk, lba: number, count: number): ScsiResult {
    const bad = this.#range(res, disk, lba, count);
    if (bad) return bad;
    if (disk.readOnly) return this.#check(res, SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    const bytes = count * disk.blockSize;
    if ((req.dataOut?.length ?? 0) < bytes) {
      res.overrun = true;
      return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    }
    if (count > 0) {
      const e = disk.write(lba, count, req.dataOut!, 0);
      if (e) return this.#ioError(res, e);
    }
    res.dataOutLength = bytes;
    this.stats.blocksWritten += count;
    return res;
  }

  #sync(res: ScsiResult, disk: Disk, lba: number, count: number): ScsiResult {
    // NUMBER OF LOGICAL BLOCKS 0: from LBA to the end of the medium.
    const bad = this.#range(res, disk, lba, count === 0 ? 0 : count);
    if (bad) return bad;
    const e = disk.flush();
    if (e) return this.#ioError(res, e);
    this.stats.flushes++;
    return res;
  }

  #modeSense(req: ScsiRequest, res: ScsiResult, disk: Disk, ten: boolean, alloc: number): ScsiResult {
    const r = modeSense(this.#scratch, req.cdb, ten, disk);
    if (r === "invalid-field") return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    if (r === "saving-not-supported")
      return this.#check(res, SenseKey.ILLEGAL_REQUEST, Asc.SAVING_PARAMETERS_NOT_SUPPORTED);
    return this.#respond(req, res, r, alloc);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#luns, this.#scratch];
  }
}

/** The operations this target implements (for the LUN-not-present answer). */
function isKnown(op: number, cdb: Uint8Array): boolean {
  if (op === ScsiOp.SERVICE_ACTION_IN_16)
    return ((cdb[1] ?? 0) & 0x1f) === ScsiServiceAction.READ_CAPACITY_16;
  return Object.values(ScsiOp).includes(op as (typeof ScsiOp)[keyof typeof ScsiOp]);
}
