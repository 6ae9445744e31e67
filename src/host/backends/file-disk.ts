// A disk backed by a raw image file (`--disk FILE`): positional reads and writes
// straight to the file (no cache in the process), and a flush that is fsync(2), so
// whatever SYNCHRONIZE CACHE acknowledged survives the process being killed.
//
// This is the Node adapter: the only backend module that imports node:fs. A bad
// image (missing, unreadable, not a regular file, empty, not a whole number of
// blocks) is a DiskImageError with one line naming the problem; nothing is written
// to an image that is refused.
import * as fs from "node:fs";
import {
  assertRange,
  checkGeometry,
  cleanSerial,
  type Disk,
  type DiskImageError,
  type DiskIoError,
  type DiskStats,
  imageError,
  ioError,
  newDiskStats,
  SECTOR_SIZE,
} from "./disk.ts";

export interface FileDiskOptions {
  readOnly?: boolean;
  blockSize?: number;
  serial?: string;
}

function errText(e: unknown): string {
  if (e && typeof e === "object" && "code" in e && typeof e.code === "string") {
    switch (e.code) {
      case "ENOENT":
        return "no such file";
      case "EACCES":
      case "EPERM":
        return "permission denied";
      case "EISDIR":
        return "is a directory";
      case "EROFS":
        return "read-only file system (use a read-only disk)";
      default:
        return e.code;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

/** Open an image file as a disk, or say in one line why it cannot be used. */
export function openFileDisk(
  path: string,
  o: FileDiskOptions = {},
): { ok: true; disk: FileDisk } | { ok: false; error: DiskImageError } {
  const blockSize = o.blockSize ?? SECTOR_SIZE;
  let fd: number;
  try {
    fd = fs.openSync(path, o.readOnly ? "r" : "r+");
  } catch (e) {
    return { ok: false, error: imageError(`disk image ${path}: ${errText(e)}`) };
  }
  let why: string | undefined;
  let size = 0;
  try {
    const st = fs.fstatSync(fd);
    size = st.size;
    if (!st.isFile()) why = "not a regular file";
    else if (size === 0) why = "the file is empty";
    else why = checkGeometry(size, blockSize);
    if (!why) {
      // A file we may open but not read (e.g. a FIFO slipped past, or EIO) is refused too.
      fs.readSync(fd, new Uint8Array(Math.min(blockSize, size)), 0, Math.min(blockSize, size), 0);
    }
  } catch (e) {
    why = errText(e);
  }
  if (why) {
    fs.closeSync(fd);
    return { ok: false, error: imageError(`disk image ${path}: ${why}`) };
  }
  return { ok: true, disk: new FileDisk(path, fd, size, blockSize, o) };
}

/**
 * Create (or truncate to) a sparse image of `bytes` bytes, for tests and for
 * `--disk` with a size. Refuses sizes that are not a whole number of blocks.
 */
export function createImageFile(
  path: string,
  bytes: number,
  blockSize = SECTOR_SIZE,
): DiskImageError | undefined {
  const bad = checkGeometry(bytes, blockSize);
  if (bad) return imageError(`disk image ${path}: ${bad}`);
  try {
    const fd = fs.openSync(path, "w");
    try {
      fs.ftruncateSync(fd, bytes);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    return imageError(`disk image ${path}: ${errText(e)}`);
  }
  return undefined;
}

export class FileDisk implements Disk {
  readonly path: string;
  readonly blockSize: number;
  readonly blocks: number;
  readonly readOnly: boolean;
  readonly serial: string;
  readonly stats: DiskStats = newDiskStats();
  #fd: number | undefined;

  constructor(path: string, fd: number, bytes: number, blockSize: number, o: FileDiskOptions) {
    this.path = path;
    this.#fd = fd;
    this.blockSize = blockSize;
    this.blocks = bytes / blockSize;
    this.readOnly = o.readOnly ?? false;
    this.serial = cleanSerial(o.serial ?? `hvcoco-img-${bytes.toString(16)}`);
  }

  #open(): number {
    if (this.#fd === undefined) throw new Error(`disk image ${this.path} used after close`);
    return this.#fd;
  }

  read(lba: number, count: number, dst: Uint8Array, dstOff: number): DiskIoError | undefined {
    assertRange(this, lba, count, dst, dstOff);
    const fd = this.#open();
    const len = count * this.blockSize;
    let done = 0;
    try {
      while (done < len) {
        const n = fs.readSync(fd, dst, dstOff + done, len - done, lba * this.blockSize + done);
        if (n === 0)
          return ioError("read", `${this.path}: end of file at byte ${lba * this.blockSize + done}`);
        done += n;
      }
    } catch (e) {
      return ioError("read", `${this.path}: ${errText(e)}`);
    }
    this.stats.reads++;
    this.stats.bytesRead += len;
    return undefined;
  }

  write(lba: number, count: number, src: Uint8Array, srcOff: number): DiskIoError | undefined {
    assertRange(this, lba, count, src, srcOff);
    if (this.readOnly) throw new Error("write to a read-only file disk (the target must refuse it)");
    const fd = this.#open();
    const len = count * this.blockSize;
    let done = 0;
    try {
      while (done < len)
        done += fs.writeSync(fd, src, srcOff + done, len - done, lba * this.blockSize + done);
    } catch (e) {
      return ioError("write", `${this.path}: ${errText(e)}`);
    }
    this.stats.writes++;
    this.stats.bytesWritten += len;
    return undefined;
  }

  flush(): DiskIoError | undefined {
    const fd = this.#open();
    try {
      if (!this.readOnly) fs.fsyncSync(fd);
    } catch (e) {
      return ioError("flush", `${this.path}: ${errText(e)}`);
    }
    this.stats.flushes++;
    return undefined;
  }

  close(): void {
    if (this.#fd === undefined) return;
    fs.closeSync(this.#fd);
    this.#fd = undefined;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#fd];
  }
  load(s: unknown[]): void {
    this.#fd = s[0] as never;
  }
}
