// The SCSI commands the guest's SCSI layer sends a Hyper-V disk (drivers/scsi/
// scsi_scan.c, sd.c; include/scsi/scsi_proto.h for the opcodes, SPC-4/SBC-3 for
// the CDB layouts), and the parsers of what comes back. What comes back is the
// host's: every parser takes the bytes the device actually transferred and reads
// nothing beyond them; a response too short for a field is a reason, not a guess.
//
//   INQUIRY         12 | evpd | page | alloc(2) | 0
//   READ CAPACITY10 25 | 0 ... ; SERVICE ACTION IN(16) 9e | 10 | 0(8) | alloc(4) | 0 | 0
//   READ/WRITE(10)  28/2a | 0 | lba(4) | 0 | blocks(2) | 0
//   READ/WRITE(16)  88/8a | 0 | lba(8) | blocks(4) | 0 | 0
//   SYNCHRONIZE CACHE(10) 35 | 0 | lba(4) | 0 | blocks(2) | 0 (0 blocks: to the end)
//   REPORT LUNS     a0 | 0 | select | 0(3) | alloc(4) | 0 | 0
//   MODE SENSE(6)   1a | dbd | pc:page | subpage | alloc | 0

// include/scsi/scsi_proto.h: opcodes
export const ScsiOpcode = {
  TEST_UNIT_READY: 0x00,
  INQUIRY: 0x12,
  MODE_SENSE: 0x1a,
  READ_CAPACITY: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SYNCHRONIZE_CACHE: 0x35,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
} as const;

/** SAI_READ_CAPACITY_16. */
export const SAI_READ_CAPACITY_16 = 0x10;
/** SAM_STAT_CHECK_CONDITION. */
export const SAM_STAT_CHECK_CONDITION = 0x02;

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

function get32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Fill `cdb` (16 bytes, zeroed first) and return the CDB length. */
export function cdbInquiry(cdb: Uint8Array, evpd: boolean, page: number, alloc: number): number {
  cdb.fill(0);
  cdb[0] = ScsiOpcode.INQUIRY;
  cdb[1] = evpd ? 1 : 0;
  cdb[2] = page;
  cdb[3] = (alloc >>> 8) & 0xff;
  cdb[4] = alloc & 0xff;
  return 6;
}

export function cdbTestUnitReady(cdb: Uint8Array): number {
  cdb.fill(0);
  return 6;
}

export function cdbReadCapacity10(cdb: Uint8Array): number {
  cdb.fill(0);
  cdb[0] = ScsiOpcode.READ_CAPACITY;
  return 10;
}

export function cdbReadCapacity16(cdb: Uint8Array, alloc: number): number {
  cdb.fill(0);
  cdb[0] = ScsiOpcode.SERVICE_ACTION_IN_16;
  cdb[1] = SAI_READ_CAPACITY_16;
  put32(cdb, 10, alloc);
  return 16;
}

/** READ/WRITE(10) when the range fits (LBA < 2^32, blocks < 2^16), else (16). */
export function cdbReadWrite(cdb: Uint8Array, write: boolean, lba: number, blocks: number): number {
  cdb.fill(0);
  if (lba + blocks <= 0x100000000 && blocks <= 0xffff) {
    cdb[0] = write ? ScsiOpcode.WRITE_10 : ScsiOpcode.READ_10;
    put32(cdb, 2, lba);
    cdb[7] = (blocks >>> 8) & 0xff;
    cdb[8] = blocks & 0xff;
    return 10;
  }
  cdb[0] = write ? ScsiOpcode.WRITE_16 : ScsiOpcode.READ_16;
  put32(cdb, 2, Math.floor(lba / 0x100000000));
  put32(cdb, 6, lba >>> 0);
  put32(cdb, 10, blocks);
  return 16;
}

/** READ/WRITE(16) always (for tests of the 16-byte form). */
export function cdbReadWrite16(cdb: Uint8Array, write: boolean, lba: number, blocks: number): number {
  cdb.fill(0);
  cdb[0] = write ? ScsiOpcode.WRITE_16 : ScsiOpcode.READ_16;
  put32(cdb, 2, Math.floor(lba / 0x100000000));
  put32(cdb, 6, lba >>> 0);
  put32(cdb, 10, blocks);
  return 16;
}

export function cdbSynchronizeCache(cdb: Uint8Array): number {
  cdb.fill(0);
  cdb[0] = ScsiOpcode.SYNCHRONIZE_CACHE;
  return 10;
}

export function cdbReportLuns(cdb: Uint8Array, alloc: number): number {
  cdb.fill(0);
  cdb[0] = ScsiOpcode.REPORT_LUNS;
  put32(cdb, 6, alloc);
  return 12;
}

export function cdbModeSense6(cdb: Uint8Array, page: number, alloc: number): number {
  cdb.fill(0);
  cdb[0] = ScsiOpcode.MODE_SENSE;
  cdb[2] = page & 0x3f;
  cdb[4] = alloc & 0xff;
  return 6;
}

// ---- parsers (the bytes are the host's) ----

export interface StdInquiry {
  peripheral: number;
  vendor: string;
  product: string;
  revision: string;
  cmdQue: boolean;
}

function ascii(b: Uint8Array, at: number, len: number): string {
  let s = "";
  for (let i = at; i < at + len && i < b.length; i++) {
    const c = b[i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : ".";
  }
  return s.trimEnd();
}

export function parseStdInquiry(b: Uint8Array, n: number): StdInquiry | string {
  if (n < 36) return `standard INQUIRY data of ${n} bytes < 36`;
  return {
    peripheral: b[0]!,
    vendor: ascii(b, 8, 8),
    product: ascii(b, 16, 16),
    revision: ascii(b, 32, 4),
    cmdQue: (b[7]! & 0x02) !== 0,
  };
}

/** READ CAPACITY(10): last LBA and block length. */
export function parseCapacity10(b: Uint8Array, n: number): { lastLba: number; blockSize: number } | string {
  if (n < 8) return `READ CAPACITY(10) data of ${n} bytes < 8`;
  return { lastLba: get32(b, 0), blockSize: get32(b, 4) };
}

/** READ CAPACITY(16): last LBA (as a safe integer) and block length. */
export function parseCapacity16(b: Uint8Array, n: number): { lastLba: number; blockSize: number } | string {
  if (n < 12) return `READ CAPACITY(16) data of ${n} bytes < 12`;
  const hi = get32(b, 0);
  if (hi > 0x1fffff) return `READ CAPACITY(16) last LBA 0x${hi.toString(16)}... beyond 2^53`;
  return { lastLba: hi * 0x100000000 + get32(b, 4), blockSize: get32(b, 8) };
}

/** REPORT LUNS: the single-level LUNs listed, as far as both the list length and the data go. */
export function parseReportLuns(b: Uint8Array, n: number): number[] | string {
  if (n < 8) return `REPORT LUNS data of ${n} bytes < 8`;
  const listLen = get32(b, 0);
  const count = Math.min(Math.floor(listLen / 8), Math.floor((n - 8) / 8));
  const luns: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = 8 + 8 * i;
    // Peripheral device addressing, single level: byte 0 = 0, byte 1 = LUN.
    if ((b[at]! & 0xc0) === 0 && b[at]! === 0) luns.push(b[at + 1]!);
  }
  return luns;
}

/** A VPD page's payload (after its 4-byte header), cut at what arrived. */
export function parseVpd(b: Uint8Array, n: number, page: number): Uint8Array | string {
  if (n < 4) return `VPD page 0x${page.toString(16)} of ${n} bytes < 4`;
  if (b[1] !== page) return `VPD page 0x${b[1]!.toString(16)} returned for 0x${page.toString(16)}`;
  const len = (b[2]! << 8) | b[3]!;
  return b.slice(4, 4 + Math.min(len, n - 4));
}

/** MODE SENSE(6): write protect (WP in the header) and, when the caching page is present, WCE. */
export function parseModeSense6(b: Uint8Array, n: number): { writeProtect: boolean; wce: boolean } | string {
  if (n < 4) return `MODE SENSE(6) data of ${n} bytes < 4`;
  const total = Math.min(b[0]! + 1, n);
  let at = 4 + b[3]!;
  let wce = false;
  while (at + 2 <= total) {
    const page = b[at]! & 0x3f;
    const len = b[at + 1]!;
    if (page === 0x08 && at + 2 < total) wce = (b[at + 2]! & 0x04) !== 0;
    at += 2 + len;
  }
  return { writeProtect: (b[2]! & 0x80) !== 0, wce };
}

/** Fixed-format sense (SPC-4 §4.5.3): key, ASC, ASCQ; undefined when it is not fixed format. */
export function parseSense(
  sense: Uint8Array,
  len: number,
): { key: number; asc: number; ascq: number } | undefined {
  if (len < 14 || (sense[0]! & 0x7e) !== 0x70) return undefined;
  return { key: sense[2]! & 0x0f, asc: sense[12]!, ascq: sense[13]! };
}
