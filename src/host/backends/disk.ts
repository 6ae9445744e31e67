// The disk a SCSI target serves: whole blocks addressed by LBA, and a flush that
// makes everything written so far durable. Backends: MemoryDisk (sparse, the
// default) and FileDisk (a raw image file, the Node adapter in file-disk.ts).
//
// Error channels: an I/O failure of the medium is a DiskIoError value (the target
// answers MEDIUM ERROR); a bad image given by the user is a DiskImageError value
// (the CLI prints one line and exits 2); a caller asking for blocks outside the
// disk or a buffer too small is a simulator bug and throws.

export interface DiskStats {
  reads: number;
  writes: number;
  flushes: number;
  bytesRead: number;
  bytesWritten: number;
}

/** A failed read, write or flush of the medium. */
export interface DiskIoError {
  readonly code: "HVCOCO_ERR_DISK_IO";
  readonly op: "read" | "write" | "flush";
  readonly message: string;
}

/** A disk image the user named that cannot be used, with one line saying why. */
export interface DiskImageError {
  readonly code: "HVCOCO_ERR_DISK_IMAGE";
  readonly message: string;
}

export interface Disk {
  /** Bytes per logical block: 512 or 4096. */
  readonly blockSize: number;
  /** Capacity in blocks. */
  readonly blocks: number;
  readonly readOnly: boolean;
  /** Identity the target reports (INQUIRY VPD 0x80/0x83): printable ASCII, at most 20 characters. */
  readonly serial: string;
  readonly stats: DiskStats;
  /** Read `count` blocks from `lba` into dst at dstOff. */
  read(lba: number, count: number, dst: Uint8Array, dstOff: number): DiskIoError | undefined;
  /** Write `count` blocks at `lba` from src at srcOff. */
  write(lba: number, count: number, src: Uint8Array, srcOff: number): DiskIoError | undefined;
  /** Make every completed write durable (SYNCHRONIZE CACHE). */
  flush(): DiskIoError | undefined;
  close(): void;
}

export const SECTOR_SIZE = 512;

export function newDiskStats(): DiskStats {
  return { reads: 0, writes: 0, flushes: 0, bytesRead: 0, bytesWritten: 0 };
}

export function ioError(op: DiskIoError["op"], message: string): DiskIoError {
  return { code: "HVCOCO_ERR_DISK_IO", op, message };
}

export function imageError(message: string): DiskImageError {
  return { code: "HVCOCO_ERR_DISK_IMAGE", message };
}

/** Assert a block range and its buffer (a violation is a bug in the caller, not bad input). */
export function assertRange(d: Disk, lba: number, count: number, buf: Uint8Array, off: number): void {
  if (
    !Number.isSafeInteger(lba) ||
    !Number.isSafeInteger(count) ||
    lba < 0 ||
    count < 0 ||
    lba + count > d.blocks
  )
    throw new Error(`disk access ${lba}+${count} outside ${d.blocks} blocks`);
  if (!Number.isSafeInteger(off) || off < 0 || off + count * d.blockSize > buf.length)
    throw new Error(`disk buffer ${off}+${count * d.blockSize} outside ${buf.length} bytes`);
}

/** Check a block size and capacity a backend is created with. */
export function checkGeometry(bytes: number, blockSize: number): string | undefined {
  if (blockSize !== 512 && blockSize !== 4096) return `block size ${blockSize} is not 512 or 4096`;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) return `size ${bytes} is not a positive byte count`;
  if (bytes % blockSize !== 0) return `size ${bytes} bytes is not a multiple of the ${blockSize}-byte block`;
  return undefined;
}

/** A serial usable in INQUIRY: printable ASCII, at most 20 characters. */
export function cleanSerial(s: string): string {
  const t = s.replace(/[^\x21-\x7e]/g, "").slice(0, 20);
  return t.length > 0 ? t : "0";
}
