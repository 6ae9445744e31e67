// An in-memory disk that costs nothing until written: storage is allocated per
// chunk of blocks on first write; a block never written reads as zeros. It is the
// default disk, so a VM with a large disk and little I/O stays small.
import {
  assertRange,
  checkGeometry,
  cleanSerial,
  type Disk,
  type DiskIoError,
  type DiskStats,
  newDiskStats,
  SECTOR_SIZE,
} from "./disk.ts";

/** Default allocation unit: small enough to stay sparse, large enough for 64 KiB I/O in a few steps. */
export const DEFAULT_CHUNK_BYTES = 16 * 1024;

export interface MemoryDiskOptions {
  /** Capacity in bytes (a multiple of the block size). */
  bytes: number;
  blockSize?: number;
  readOnly?: boolean;
  serial?: string;
  /** Blocks per allocation unit (default: 16 KiB worth, 32 blocks of 512 bytes). */
  chunkBlocks?: number;
}

export class MemoryDisk implements Disk {
  readonly blockSize: number;
  readonly blocks: number;
  readonly readOnly: boolean;
  readonly serial: string;
  readonly stats: DiskStats = newDiskStats();
  readonly #chunkBlocks: number;
  readonly #chunkBytes: number;
  readonly #chunks = new Map<number, Uint8Array>();

  constructor(o: MemoryDiskOptions) {
    const blockSize = o.blockSize ?? SECTOR_SIZE;
    const bad = checkGeometry(o.bytes, blockSize);
    if (bad) throw new Error(`memory disk: ${bad}`);
    const chunkBlocks = o.chunkBlocks ?? Math.max(1, DEFAULT_CHUNK_BYTES / blockSize);
    if (!Number.isSafeInteger(chunkBlocks) || chunkBlocks < 1)
      throw new Error(`bad chunkBlocks ${chunkBlocks}`);
    this.blockSize = blockSize;
    this.blocks = o.bytes / blockSize;
    this.readOnly = o.readOnly ?? false;
    this.serial = cleanSerial(o.serial ?? "hvcoco-mem-0");
    this.#chunkBlocks = chunkBlocks;
    this.#chunkBytes = chunkBlocks * blockSize;
  }

  /** Chunks that hold data (a measure of how sparse the disk is). */
  get allocatedChunks(): number {
    return this.#chunks.size;
  }

  read(lba: number, count: number, dst: Uint8Array, dstOff: number): DiskIoError | undefined {
    assertRange(this, lba, count, dst, dstOff);
    let byte = lba * this.blockSize;
    let at = dstOff;
    let left = count * this.blockSize;
    while (left > 0) {
      const c = Math.floor(byte / this.#chunkBytes);
      const o = byte - c * this.#chunkBytes;
      const n = Math.min(left, this.#chunkBytes - o);
      const chunk = this.#chunks.get(c);
      if (chunk) dst.set(chunk.subarray(o, o + n), at);
      else dst.fill(0, at, at + n);
      byte += n;
      at += n;
      left -= n;
    }
    this.stats.reads++;
    this.stats.bytesRead += count * this.blockSize;
    return undefined;
  }

  write(lba: number, count: number, src: Uint8Array, srcOff: number): DiskIoError | undefined {
    assertRange(this, lba, count, src, srcOff);
    if (this.readOnly) throw new Error("write to a read-only memory disk (the target must refuse it)");
    let byte = lba * this.blockSize;
    let at = srcOff;
    let left = count * this.blockSize;
    while (left > 0) {
      const c = Math.floor(byte / this.#chunkBytes);
      const o = byte - c * this.#chunkBytes;
      const n = Math.min(left, this.#chunkBytes - o);
      let chunk = this.#chunks.get(c);
      if (!chunk) {
        chunk = new Uint8Array(this.#chunkBytes);
        this.#chunks.set(c, chunk);
      }
      chunk.set(src.subarray(at, at + n), o);
      byte += n;
      at += n;
      left -= n;
    }
    this.stats.writes++;
    this.stats.bytesWritten += count * this.blockSize;
    return undefined;
  }

  flush(): DiskIoError | undefined {
    this.stats.flushes++;
    return undefined;
  }

  close(): void {
    this.#chunks.clear();
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#chunkBlocks, this.#chunkBytes, this.#chunks];
  }
}
