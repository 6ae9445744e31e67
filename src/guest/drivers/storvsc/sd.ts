// The SCSI scan and the disk driver above storvsc, as far as the model needs them
// (drivers/scsi/scsi_scan.c scsi_probe_and_add_lun / scsi_report_lun_scan,
// drivers/scsi/sd.c sd_revalidate_disk, sd_read_capacity, sd_read_cache_type,
// sd_sync_cache): INQUIRY of LUN 0, REPORT LUNS, then for each LUN INQUIRY, TEST
// UNIT READY, READ CAPACITY(10) and (16), MODE SENSE, the VPD pages 0x00, 0x80 and
// 0x83; and block reads, writes and cache flushes. A command that fails comes back
// as a typed outcome with its sense key, never as an exception.
import { PAGE_SIZE } from "../../../platform/page.ts";
import { DmaDirection } from "../../mm/swiotlb.ts";
import { Errno } from "../../vmbus/connection.ts";
import type { StorvscCommand, StorvscDevice, StorvscPending, StorvscResult } from "./device.ts";
import { STORVSC_MAX_BOUNCE } from "./dma.ts";
import {
  cdbInquiry,
  cdbModeSense6,
  cdbReadCapacity10,
  cdbReadCapacity16,
  cdbReadWrite,
  cdbReportLuns,
  cdbSynchronizeCache,
  cdbTestUnitReady,
  parseCapacity10,
  parseCapacity16,
  parseModeSense6,
  parseReportLuns,
  parseSense,
  parseStdInquiry,
  parseVpd,
} from "./scsi.ts";

/** A disk as sd knows it after the scan. */
export interface ScsiDisk {
  lun: number;
  vendor: string;
  product: string;
  revision: string;
  blockSize: number;
  blocks: number;
  /** VPD 0x80 unit serial number. */
  serial: string;
  /** VPD 0x83 designators, as hex strings. */
  ids: string[];
  vpdPages: number[];
  writeProtect: boolean;
  writeCache: boolean;
}

/** The outcome of a block command. */
export type SdOutcome =
  | { ok: true; bytes: number }
  | {
      ok: false;
      /** -errno when the command did not complete; 0 when the device refused it. */
      errno: number;
      reason: string;
      sense?: { key: number; asc: number; ascq: number };
    };

/** sd and the scan's own buffer: one private page the responses land in. */
export class ScsiHost {
  readonly dev: StorvscDevice;
  readonly disks: ScsiDisk[] = [];
  /** Why the scan skipped or failed a step, in order. */
  readonly scanLog: string[] = [];
  readonly #bufGpa: number;
  readonly #cdb = new Uint8Array(16);
  readonly #cmd: StorvscCommand;
  readonly #resp = new Uint8Array(PAGE_SIZE);
  readonly #inflight: StorvscPending[] = [];
  /** Commands sd keeps in flight for one large transfer (1: one at a time). */
  queueDepth = 8;

  constructor(dev: StorvscDevice, bufGpa: number) {
    this.dev = dev;
    this.#bufGpa = bufGpa;
    this.#cmd = { lun: 0, cdb: this.#cdb, cdbLength: 0, dir: DmaDirection.DMA_NONE, gpa: 0, len: 0 };
  }

  /** The largest transfer one command may carry here. */
  get maxIo(): number {
    const host = this.dev.maxTransferBytes || STORVSC_MAX_BOUNCE;
    return Math.min(host, this.dev.bounces ? STORVSC_MAX_BOUNCE : host);
  }

  /** Send the CDB in #cdb; data moves through `gpa` (or the scan page). */
  command(lun: number, cdbLength: number, dir: DmaDirection, len: number, gpa = this.#bufGpa): StorvscResult {
    const c = this.#cmd;
    c.lun = lun;
    c.cdbLength = cdbLength;
    c.dir = dir;
    c.gpa = gpa;
    c.len = len;
    return this.dev.execute(c);
  }

  /** A data-in command into the scan page; the bytes that arrived, or why none are usable. */
  #dataIn(lun: number, cdbLength: number, len: number): { b: Uint8Array; n: number } | string {
    const r = this.command(lun, cdbLength, DmaDirection.DMA_FROM_DEVICE, len);
    const bad = failure(r);
    if (bad) return bad.reason;
    this.dev.k.hw.mem.read(this.#bufGpa, r.transferred, this.#resp);
    return { b: this.#resp, n: r.transferred };
  }

  /** scsi_scan_host(): LUN 0, REPORT LUNS, then each LUN's sd probe. Returns the disks found. */
  scan(): ScsiDisk[] {
    const log = (s: string) => this.scanLog.push(s);
    const std0 = this.#dataIn(0, cdbInquiry(this.#cdb, false, 0, 36), 36);
    if (typeof std0 === "string") {
      log(`INQUIRY LUN 0: ${std0}`);
      return this.disks;
    }
    const inq0 = parseStdInquiry(std0.b, std0.n);
    if (typeof inq0 !== "string") this.dev.tagged = inq0.cmdQue;
    let luns: number[] = [0];
    const rl = this.#dataIn(0, cdbReportLuns(this.#cdb, 8 + 8 * 64), 8 + 8 * 64);
    if (typeof rl === "string") log(`REPORT LUNS: ${rl}`);
    else {
      const l = parseReportLuns(rl.b, rl.n);
      if (typeof l === "string") log(`REPORT LUNS: ${l}`);
      else luns = l;
    }
    for (const lun of luns) {
      const d = this.#probeLun(lun, log);
      if (d) this.disks.push(d);
    }
    return this.disks;
  }

  #probeLun(lun: number, log: (s: string) => void): ScsiDisk | undefined {
    const std = this.#dataIn(lun, cdbInquiry(this.#cdb, false, 0, 36), 36);
    if (typeof std === "string") return void log(`INQUIRY LUN ${lun}: ${std}`);
    const inq = parseStdInquiry(std.b, std.n);
    if (typeof inq === "string") return void log(`INQUIRY LUN ${lun}: ${inq}`);
    if ((inq.peripheral & 0x1f) !== 0 || inq.peripheral >> 5 !== 0)
      return void log(`LUN ${lun}: peripheral 0x${inq.peripheral.toString(16)} is not a disk`);
    const tur = failure(this.command(lun, cdbTestUnitReady(this.#cdb), DmaDirection.DMA_NONE, 0));
    if (tur) log(`TEST UNIT READY LUN ${lun}: ${tur.reason}`);
    const c10 = this.#dataIn(lun, cdbReadCapacity10(this.#cdb), 8);
    let cap = typeof c10 === "string" ? c10 : parseCapacity10(c10.b, c10.n);
    // sd_read_capacity: READ CAPACITY(16) when (10) says the disk is larger than it can express.
    const c16 = this.#dataIn(lun, cdbReadCapacity16(this.#cdb, 32), 32);
    const cap16 = typeof c16 === "string" ? c16 : parseCapacity16(c16.b, c16.n);
    if (typeof cap === "string" || (typeof cap16 !== "string" && cap.lastLba === 0xffffffff)) cap = cap16;
    if (typeof cap === "string") return void log(`READ CAPACITY LUN ${lun}: ${cap}`);
    if (cap.blockSize !== 512 && cap.blockSize !== 4096)
      return void log(`LUN ${lun}: block size ${cap.blockSize} unsupported`);
    const disk: ScsiDisk = {
      lun,
      vendor: inq.vendor,
      product: inq.product,
      revision: inq.revision,
      blockSize: cap.blockSize,
      blocks: cap.lastLba + 1,
      serial: "",
      ids: [],
      vpdPages: [],
      writeProtect: false,
      writeCache: false,
    };
    const ms = this.#dataIn(lun, cdbModeSense6(this.#cdb, 0x3f, 192), 192);
    const mode = typeof ms === "string" ? ms : parseModeSense6(ms.b, ms.n);
    if (typeof mode === "string") log(`MODE SENSE LUN ${lun}: ${mode}`);
    else {
      disk.writeProtect = mode.writeProtect;
      disk.writeCache = mode.wce;
    }
    const pages = this.#vpd(lun, 0x00, log);
    if (pages) disk.vpdPages = [...pages];
    if (disk.vpdPages.includes(0x80)) {
      const sn = this.#vpd(lun, 0x80, log);
      if (sn) disk.serial = String.fromCharCode(...sn.filter((c) => c >= 0x20 && c < 0x7f)).trim();
    }
    if (disk.vpdPages.includes(0x83)) {
      const id = this.#vpd(lun, 0x83, log);
      for (let at = 0; id && at + 4 <= id.length; ) {
        const len = id[at + 3]!;
        const body = id.subarray(at + 4, Math.min(at + 4 + len, id.length));
        disk.ids.push(Buffer.from(body).toString("hex"));
        at += 4 + len;
      }
    }
    this.dev.k.log(
      `sd 0:0:0:${lun}: [sd${String.fromCharCode(97 + this.disks.length)}] ${disk.blocks} ${disk.blockSize}-byte logical blocks, ${inq.vendor} ${inq.product}, write cache: ${disk.writeCache ? "enabled" : "disabled"}`,
    );
    return disk;
  }

  #vpd(lun: number, page: number, log: (s: string) => void): Uint8Array | undefined {
    const r = this.#dataIn(lun, cdbInquiry(this.#cdb, true, page, 252), 252);
    const v = typeof r === "string" ? r : parseVpd(r.b, r.n, page);
    if (typeof v === "string") {
      log(`VPD 0x${page.toString(16)} LUN ${lun}: ${v}`);
      return undefined;
    }
    return v;
  }

  /** Read `blocks` blocks at `lba` into guest memory at `gpa`, in commands of at most `chunk` bytes (default maxIo). */
  read(disk: ScsiDisk, lba: number, blocks: number, gpa: number, chunk = this.maxIo): SdOutcome {
    return this.#rw(disk, false, lba, blocks, gpa, chunk);
  }

  /** Write `blocks` blocks at `lba` from guest memory at `gpa`, in commands of at most `chunk` bytes. */
  write(disk: ScsiDisk, lba: number, blocks: number, gpa: number, chunk = this.maxIo): SdOutcome {
    if (disk.writeProtect) return { ok: false, errno: -30, reason: "the disk is write protected" }; // -EROFS
    return this.#rw(disk, true, lba, blocks, gpa, chunk);
  }

  /**
   * Split the transfer at maxIo and keep up to `queueDepth` commands in flight, as
   * blk-mq does for a large sequential request; the first failure ends it (the
   * commands already sent are waited for).
   */
  #rw(disk: ScsiDisk, write: boolean, lba: number, blocks: number, gpa: number, chunk: number): SdOutcome {
    const per = Math.max(1, Math.floor(Math.min(chunk, this.maxIo) / disk.blockSize));
    const dir = write ? DmaDirection.DMA_TO_DEVICE : DmaDirection.DMA_FROM_DEVICE;
    const inflight = this.#inflight;
    let sent = 0;
    let done = 0;
    let bad: SdOutcome | undefined;
    while (done < blocks) {
      while (!bad && sent < blocks && inflight.length < this.queueDepth) {
        const n = Math.min(per, blocks - sent);
        const c = this.#cmd;
        c.lun = disk.lun;
        c.cdbLength = cdbReadWrite(this.#cdb, write, lba + sent, n);
        c.dir = dir;
        c.gpa = gpa + sent * disk.blockSize;
        c.len = n * disk.blockSize;
        inflight.push(this.dev.submit(c));
        sent += n;
      }
      const p = inflight.shift();
      if (!p) break;
      const n = Math.min(per, blocks - done);
      const r = this.dev.wait(p);
      done += n;
      if (bad) continue;
      bad = failure(r);
      if (!bad && r.transferred !== n * disk.blockSize)
        bad = {
          ok: false,
          errno: -Errno.EIO,
          reason: `short ${write ? "write" : "read"}: ${r.transferred} of ${n * disk.blockSize}`,
        };
    }
    inflight.length = 0;
    return bad ?? { ok: true, bytes: blocks * disk.blockSize };
  }

  /** sd_sync_cache(): SYNCHRONIZE CACHE(10) of the whole disk. */
  sync(disk: ScsiDisk): SdOutcome {
    const r = this.command(disk.lun, cdbSynchronizeCache(this.#cdb), DmaDirection.DMA_NONE, 0);
    return failure(r) ?? { ok: true, bytes: 0 };
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#bufGpa, this.#cdb, this.#cmd, this.#resp, this.#inflight];
  }
}

/** The failure a result describes, or undefined when the command succeeded. */
export function failure(r: StorvscResult): (SdOutcome & { ok: false }) | undefined {
  if (r.errno !== 0) return { ok: false, errno: r.errno, reason: `command did not complete (${r.errno})` };
  if (r.scsiStatus === 0 && r.srbStatus === 1) return undefined;
  const sense = r.senseLength > 0 ? parseSense(r.sense, r.senseLength) : undefined;
  const what = sense
    ? `sense key 0x${sense.key.toString(16)}, ASC/ASCQ 0x${sense.asc.toString(16)}/0x${sense.ascq.toString(16)}`
    : "no sense data";
  return {
    ok: false,
    errno: 0,
    reason: `scsi status 0x${r.scsiStatus.toString(16)}, srb status 0x${r.srbStatus.toString(16)}: ${what}`,
    ...(sense ? { sense } : {}),
  };
}
