// The swiotlb bounce-buffer pool (kernel/dma/swiotlb.c, arch/x86/mm/mem_encrypt.c;
// Linux 0291023e). In a CoCo VM it is sized at 6% of memory, at most 1 GiB, and
// decrypted as a whole at boot (swiotlb_update_mem_attributes), so that DMA
// bounces through shared memory (C21, C22).
//
// Slots: the pool is cut into IO_TLB_SIZE (2 KiB) slots, grouped in segments of
// IO_TLB_SEGSIZE (128); one mapping takes contiguous slots inside one segment, so
// at most 256 KiB. slots[i].list counts the free slots from i to the end of its
// segment; the search, the alignment rules (min_align_mask, page alignment of
// mappings of a page or more, the segment boundary) and the release with merging
// are swiotlb_search_pool_area / swiotlb_tbl_map_single / swiotlb_release_slots,
// with one area (Linux has one per CPU; the order of a search differs, not its rules).
//
// Bouncing: swiotlb_tbl_map_single copies the original into the bounce buffer
// for every direction (so a device's partial write cannot expose stale pool bytes);
// unmap copies back for DMA_FROM_DEVICE and DMA_BIDIRECTIONAL. Bytes the guest
// puts in the pool carry the label it gives: an I/O payload sent in the clear on
// purpose is EXPOSED. A full pool is an outcome ("full"), not an error: the caller
// waits (swiotlbMapWait) or fails the I/O; nothing is corrupted either way.
import { Label } from "../../audit/labels.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import type { GuestKernel } from "../kernel.ts";
import { setMemoryDecrypted } from "./set_memory.ts";

/** IO_TLB_SIZE: the slot size (1 << IO_TLB_SHIFT). */
export const IO_TLB_SHIFT = 11;
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** IO_TLB_SEGSIZE: slots per segment; a mapping never crosses a segment. */
export const IO_TLB_SEGSIZE = 128;
/** swiotlb_max_mapping_size() without a min_align_mask: 256 KiB. */
export const IO_TLB_MAX_MAPPING = IO_TLB_SEGSIZE * IO_TLB_SIZE;
/** The CoCo default: 6% of memory (mem_encrypt_setup_arch), capped at 1 GiB, at least 64 MiB... of what exists. */
export const SWIOTLB_COCO_PERCENT = 6;
export const SWIOTLB_MAX_BYTES = 1024 * 1024 * 1024;
export const IO_TLB_DEFAULT_SIZE = 64 * 1024 * 1024;
/** Default DMA segment boundary (scsi_host_alloc's dma_boundary): a mapping never spans a 4 GiB line. */
export const DMA_SEG_BOUNDARY_4G = 0xffffffff;

/** enum dma_data_direction (include/linux/dma-direction.h). */
export const DmaDirection = {
  DMA_BIDIRECTIONAL: 0,
  DMA_TO_DEVICE: 1,
  DMA_FROM_DEVICE: 2,
  DMA_NONE: 3,
} as const;
export type DmaDirection = (typeof DmaDirection)[keyof typeof DmaDirection];

export interface SwiotlbStats {
  maps: number;
  unmaps: number;
  /** Bytes copied into the pool (map, sync for device). */
  bytesToDevice: number;
  /** Bytes copied back out of the pool (unmap, sync for CPU). */
  bytesFromDevice: number;
  /** Bounce copies made, either way. */
  copies: number;
  /** Maps refused because no run of free slots fit ("swiotlb buffer is full"). */
  full: number;
  /** Maps refused because they exceed what one segment can hold. */
  tooBig: number;
  usedSlots: number;
  hiwaterSlots: number;
}

export interface SwiotlbPool {
  gpa: number;
  pages: number;
  decrypted: boolean;
  /** Number of IO_TLB_SIZE slots. */
  nslabs: number;
  /**
   * Copy the original into the pool on map for every direction, as
   * swiotlb_tbl_map_single does; false copies only for TO_DEVICE/BIDIRECTIONAL.
   */
  syncOnMapAlways: boolean;
  readonly stats: SwiotlbStats;
  /** Slot bookkeeping, made on first use (a pool never used costs nothing). */
  slots: SwiotlbSlots | undefined;
}

/** Pool size in bytes for a guest of `memoryBytes` (rounded to whole 2 MiB). */
export function swiotlbSize(memoryBytes: number, coco: boolean): number {
  if (!coco) return Math.min(IO_TLB_DEFAULT_SIZE, Math.floor(memoryBytes / 16));
  const want = Math.min(SWIOTLB_MAX_BYTES, Math.floor((memoryBytes * SWIOTLB_COCO_PERCENT) / 100));
  const mb2 = 2 * 1024 * 1024;
  return Math.max(mb2, Math.floor(want / mb2) * mb2);
}

export function newSwiotlbStats(): SwiotlbStats {
  return {
    maps: 0,
    unmaps: 0,
    bytesToDevice: 0,
    bytesFromDevice: 0,
    copies: 0,
    full: 0,
    tooBig: 0,
    usedSlots: 0,
    hiwaterSlots: 0,
  };
}

/** A pool over `pages` pages at `gpa` (swiotlb_init_io_tlb_pool), for the default pool and for tests. */
export function swiotlbPoolAt(gpa: number, pages: number, decrypted: boolean): SwiotlbPool {
  if (gpa % PAGE_SIZE !== 0 || !Number.isSafeInteger(pages) || pages <= 0)
    throw new Error(`swiotlb pool ${gpa}+${pages} pages is not whole pages`);
  return {
    gpa,
    pages,
    decrypted,
    nslabs: (pages * PAGE_SIZE) / IO_TLB_SIZE,
    syncOnMapAlways: true,
    stats: newSwiotlbStats(),
    slots: undefined,
  };
}

export function swiotlbInit(k: GuestKernel, memoryBytes: number): SwiotlbPool {
  const coco = k.cc.has("CC_ATTR_MEM_ENCRYPT");
  const pages = swiotlbSize(memoryBytes, coco) / PAGE_SIZE;
  const pfn = k.alloc.alloc(pages);
  if (pfn === undefined) throw new Error("swiotlb: no memory for the bounce pool");
  const gpa = pfn * PAGE_SIZE;
  let decrypted = false;
  if (coco) {
    const ret = setMemoryDecrypted(k, gpa, pages, "swiotlb bounce buffers");
    if (ret !== 0) k.log(`swiotlb: set_memory_decrypted failed (${ret})`);
    decrypted = ret === 0;
  }
  k.log(
    `software IO TLB: mapped [mem 0x${gpa.toString(16)}-0x${(gpa + pages * PAGE_SIZE - 1).toString(16)}] (${(pages * PAGE_SIZE) >> 20}MB)${decrypted ? " decrypted" : ""}`,
  );
  return swiotlbPoolAt(gpa, pages, decrypted);
}

/**
 * Whether the DMA API bounces at all: in a CoCo VM every streaming mapping goes
 * through swiotlb (force_dma_unencrypted); in a normal VM devices DMA straight
 * to the guest's buffers. With swiotlb=noforce (the "swiotlb-bounce" hardening
 * off) nothing bounces: a CoCo guest then hands devices its private GPAs.
 */
export function dmaNeedsBounce(k: GuestKernel): boolean {
  return k.cc.has("CC_ATTR_MEM_ENCRYPT") && !k.swiotlbNoForce;
}

// ---- slot bookkeeping ----

const INVALID = -1;

/** x & mask for a non-negative safe integer x and a mask below 2^32. */
function and32(x: number, mask: number): number {
  return ((x % 0x100000000) & mask) >>> 0;
}

function nrSlots(bytes: number): number {
  return Math.ceil(bytes / IO_TLB_SIZE);
}

/** The per-slot arrays of struct io_tlb_slot, the area's search index and use count. */
export class SwiotlbSlots {
  readonly nslabs: number;
  /** Free slots from each index to the end of its segment (0: taken). */
  readonly list: Uint8Array;
  /** orig_addr per slot (GPA, or offset into a private buffer); -1 = INVALID_PHYS_ADDR. */
  readonly origAddr: Float64Array;
  readonly allocSize: Uint32Array;
  readonly padSlots: Uint8Array;
  /** Per mapping, at its first slot: 1 while mapped. */
  readonly head: Uint8Array;
  /** Per mapping, at its first slot: the device's min_align_mask. */
  readonly alignMask: Uint32Array;
  /** Per mapping, at its first slot: where in the slot the mapping starts (tlb_addr's low bits). */
  readonly startOffset: Uint16Array;
  /** Per mapping, at its first slot: a private-bytes source, when the original is not in guest memory. */
  readonly privateSrc = new Map<number, Uint8Array>();
  index = 0;
  used = 0;
  /** Per segment: its pages are backed as one run (made on first use, so a bounce is one copy). */
  readonly segBacked: Uint8Array;

  constructor(nslabs: number) {
    this.nslabs = nslabs;
    this.list = new Uint8Array(nslabs);
    this.origAddr = new Float64Array(nslabs).fill(INVALID);
    this.allocSize = new Uint32Array(nslabs);
    this.padSlots = new Uint8Array(nslabs);
    this.head = new Uint8Array(nslabs);
    this.alignMask = new Uint32Array(nslabs);
    this.startOffset = new Uint16Array(nslabs);
    this.segBacked = new Uint8Array(Math.ceil(nslabs / IO_TLB_SEGSIZE));
    for (let i = 0; i < nslabs; i++)
      this.list[i] = Math.min(IO_TLB_SEGSIZE - (i % IO_TLB_SEGSIZE), nslabs - i);
  }

  #wrap(i: number): number {
    return i >= this.nslabs ? 0 : i;
  }

  /**
   * swiotlb_search_pool_area: the first slot of `allocSize` bytes of free,
   * suitably aligned slots, marked taken; -1 when none fits.
   */
  search(
    poolDma: number,
    orig: number,
    allocSize: number,
    minAlignMask: number,
    segBoundary: number,
    allocAlignMaskIn = 0,
  ): number {
    const tblDma = segBoundary >= Number.MAX_SAFE_INTEGER ? poolDma : and32(poolDma, segBoundary);
    const maxSlots =
      segBoundary >= Number.MAX_SAFE_INTEGER
        ? Number.POSITIVE_INFINITY
        : Math.floor(segBoundary / IO_TLB_SIZE) + 1;
    let iotlbAlignMask = minAlignMask >>> 0;
    const nslots = nrSlots(allocSize);
    const offset = and32(orig, iotlbAlignMask & (IO_TLB_SIZE - 1));
    let allocAlignMask = allocAlignMaskIn;
    if (!allocAlignMask && !iotlbAlignMask && allocSize >= PAGE_SIZE) allocAlignMask = PAGE_SIZE - 1;
    allocAlignMask = (allocAlignMask | (IO_TLB_SIZE - 1)) >>> 0;
    iotlbAlignMask = (iotlbAlignMask & ~allocAlignMask) >>> 0;
    const stride = Math.floor(Math.max(allocAlignMask, iotlbAlignMask) / IO_TLB_SIZE) + 1;
    if (nslots > this.nslabs - this.used) return -1;
    const shift = nrSlots(tblDma);
    let index = this.index;
    let found = -1;
    for (let checked = 0; checked < this.nslabs; ) {
      const slot = index;
      const tlbAddr = tblDma + slot * IO_TLB_SIZE;
      if (
        and32(tlbAddr, allocAlignMask) !== 0 ||
        (orig !== 0 && and32(tlbAddr, iotlbAlignMask) !== and32(orig, iotlbAlignMask))
      ) {
        index = this.#wrap(index + 1);
        checked++;
        continue;
      }
      // iommu_is_span_boundary(): the run must not cross a segment-boundary line.
      const spans = maxSlots !== Number.POSITIVE_INFINITY && ((shift + slot) % maxSlots) + nslots > maxSlots;
      if (!spans && (this.list[slot] ?? 0) >= nslots) {
        found = slot;
        break;
      }
      index = this.#wrap(index + stride);
      checked += stride;
    }
    if (found < 0) return -1;
    for (let i = found; i < found + nslots; i++) {
      this.list[i] = 0;
      this.allocSize[i] = allocSize - (offset + (i - found) * IO_TLB_SIZE);
    }
    let count = 0;
    for (let i = found - 1; (i & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && this.list[i]; i--)
      this.list[i] = ++count;
    this.index = this.#wrap(index + nslots);
    this.used += nslots;
    return found;
  }

  /** swiotlb_release_slots for the mapping whose first slot is `index`; returns the slots freed. */
  release(index: number, offset: number): number {
    const nslots = nrSlots((this.allocSize[index] ?? 0) + offset);
    let count = 0;
    if (index + nslots < Math.ceil((index + 1) / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE)
      count = this.list[index + nslots] ?? 0;
    for (let i = index + nslots - 1; i >= index; i--) {
      this.list[i] = ++count;
      this.origAddr[i] = INVALID;
      this.allocSize[i] = 0;
      this.padSlots[i] = 0;
    }
    for (let i = index - 1; (i & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && this.list[i]; i--)
      this.list[i] = ++count;
    this.used -= nslots;
    this.head[index] = 0;
    this.alignMask[index] = 0;
    this.startOffset[index] = 0;
    this.privateSrc.delete(index);
    return nslots;
  }
}

function slotsOf(pool: SwiotlbPool): SwiotlbSlots {
  if (!pool.slots) pool.slots = new SwiotlbSlots(pool.nslabs);
  return pool.slots;
}

// ---- map / unmap / sync ----

export interface SwiotlbMapOptions {
  /** The device's dma_get_min_align_mask (storvsc: HV_HYP_PAGE_SIZE - 1; netvsc: 0). */
  minAlignMask?: number;
  /** The device's segment boundary mask (default 0xffffffff; Infinity for none). */
  segBoundary?: number;
  /**
   * The label of the bytes copied into the pool. Default: EXPOSED for
   * TO_DEVICE/BIDIRECTIONAL (a payload sent in the clear on purpose); SECRET for the
   * copy a FROM_DEVICE map makes of the original (the guest does not mean to share it).
   */
  label?: Label;
  /** For a private-bytes source: the offset its first byte has in its page (orig_addr's low bits). */
  origOffset?: number;
  /**
   * FROM_DEVICE only: the caller zeroes its buffer before the device fills it, so
   * the bounce buffer gets zeros (what the map's copy of a zeroed original holds)
   * written straight into it, labelled `label`, instead of a copy of the original.
   */
  zeroed?: boolean;
}

export type SwiotlbMapResult =
  | { ok: true; tlbAddr: number; dmaAddr: number }
  | { ok: false; reason: "full" | "too-big" | "bad-length"; detail: string };

export type SwiotlbUnmapResult = "ok" | "not-mapped";

function copyIn(
  k: GuestKernel,
  tlbAddr: number,
  src: number | Uint8Array,
  srcOff: number,
  len: number,
  label: Label,
): void {
  if (typeof src === "number") {
    k.hw.mem.move(tlbAddr, src + srcOff, len, label);
  } else {
    k.hw.mem.write(tlbAddr, src.subarray(srcOff, srcOff + len), label);
  }
}

function copyOut(
  k: GuestKernel,
  tlbAddr: number,
  dst: number | Uint8Array,
  dstOff: number,
  len: number,
): void {
  if (typeof dst === "number") {
    // What the device wrote is the host's data, not the guest's: it reveals nothing.
    k.hw.mem.move(dst + dstOff, tlbAddr, len, Label.HOST);
  } else {
    k.hw.mem.read(tlbAddr, len, dst, dstOff);
  }
}

function attemptMap(
  k: GuestKernel,
  pool: SwiotlbPool,
  src: number | Uint8Array,
  len: number,
  dir: DmaDirection,
  o: SwiotlbMapOptions,
): SwiotlbMapResult {
  const minAlignMask = o.minAlignMask ?? 0;
  const maxMap =
    IO_TLB_MAX_MAPPING - (minAlignMask ? Math.ceil(minAlignMask / IO_TLB_SIZE) * IO_TLB_SIZE : 0);
  if (!Number.isSafeInteger(len) || len <= 0 || (typeof src !== "number" && len > src.length))
    return { ok: false, reason: "bad-length", detail: `mapping of ${len} bytes` };
  if (len > maxMap) return { ok: false, reason: "too-big", detail: `${len} bytes > max mapping ${maxMap}` };
  const s = slotsOf(pool);
  const orig = typeof src === "number" ? src : (o.origOffset ?? 0) % PAGE_SIZE;
  // swiotlb_tbl_map_single with alloc_align_mask 0 (a streaming mapping).
  const offset = and32(orig, minAlignMask & (IO_TLB_SIZE - 1));
  const size = len + offset;
  const poolDma = k.hw.mem.translate(pool.gpa);
  const index = s.search(poolDma, orig, size, minAlignMask, o.segBoundary ?? DMA_SEG_BOUNDARY_4G);
  if (index < 0)
    return {
      ok: false,
      reason: "full",
      detail: `swiotlb buffer is full (sz: ${size} bytes), total ${s.nslabs} (slots), used ${s.used} (slots)`,
    };
  s.padSlots[index] = 0;
  backSegment(k, pool, s, index);
  for (let i = 0; i < nrSlots(size); i++) s.origAddr[index + i] = orig + i * IO_TLB_SIZE;
  s.head[index] = 1;
  s.alignMask[index] = minAlignMask >>> 0;
  s.startOffset[index] = offset;
  if (typeof src !== "number") s.privateSrc.set(index, src);
  const tlbAddr = pool.gpa + index * IO_TLB_SIZE + offset;
  const st = pool.stats;
  st.maps++;
  st.usedSlots = s.used;
  st.hiwaterSlots = Math.max(st.hiwaterSlots, s.used);
  if (o.zeroed && dir === DmaDirection.DMA_FROM_DEVICE) {
    k.hw.mem.fill(tlbAddr, len, 0, o.label ?? Label.PUBLIC);
  } else if (
    pool.syncOnMapAlways ||
    dir === DmaDirection.DMA_TO_DEVICE ||
    dir === DmaDirection.DMA_BIDIRECTIONAL
  ) {
    const label = o.label ?? (dir === DmaDirection.DMA_FROM_DEVICE ? Label.SECRET : Label.EXPOSED);
    copyIn(k, tlbAddr, src, 0, len, label);
    st.copies++;
    st.bytesToDevice += len;
  }
  return { ok: true, tlbAddr, dmaAddr: k.hw.mem.translate(tlbAddr) };
}

/**
 * Back the segment holding slot `index` as one run of pages the first time it is
 * used (the kernel's pool is one linear mapping; here it makes a bounce one copy
 * instead of one per page). Costs what touching those pages would cost anyway.
 */
function backSegment(k: GuestKernel, pool: SwiotlbPool, s: SwiotlbSlots, index: number): void {
  const seg = Math.floor(index / IO_TLB_SEGSIZE);
  if (s.segBacked[seg]) return;
  s.segBacked[seg] = 1;
  const first = seg * IO_TLB_SEGSIZE * IO_TLB_SIZE;
  const bytes = Math.min(IO_TLB_SEGSIZE * IO_TLB_SIZE, pool.pages * PAGE_SIZE - first);
  if (bytes >= PAGE_SIZE && first % PAGE_SIZE === 0)
    k.hw.mem.window(pool.gpa + first, bytes - (bytes % PAGE_SIZE));
}

/**
 * swiotlb_map / swiotlb_tbl_map_single: take slots for `len` bytes of `src` (a
 * guest GPA, or private bytes not in guest memory) and bounce them in. Returns the
 * bounce address (tlbAddr, a GPA in the pool) and the address the device uses
 * (dmaAddr: through the shared alias on vTOM/TDX), or why not: "full" (wait or
 * fail), "too-big" (more than one segment), "bad-length".
 */
export function swiotlbMap(
  k: GuestKernel,
  pool: SwiotlbPool,
  src: number | Uint8Array,
  len: number,
  dir: DmaDirection,
  o: SwiotlbMapOptions = {},
): SwiotlbMapResult {
  const r = attemptMap(k, pool, src, len, dir, o);
  if (!r.ok) refused(k, pool, r.reason, r.detail);
  return r;
}

/** Count a refusal; log "full" as dev_warn_ratelimited would (1st, 2nd, 4th, 8th, ...). */
function refused(k: GuestKernel, pool: SwiotlbPool, reason: string, detail: string): void {
  if (reason === "too-big") pool.stats.tooBig++;
  if (reason !== "full") return;
  const n = ++pool.stats.full;
  if ((n & (n - 1)) === 0) k.log(`swiotlb: ${detail}`);
}

/**
 * Map, and while the pool is full let the machine run (completions unmap) until
 * it fits; "full" only when nothing freed enough room before the wait gave up.
 */
export function swiotlbMapWait(
  k: GuestKernel,
  pool: SwiotlbPool,
  src: number | Uint8Array,
  len: number,
  dir: DmaDirection,
  o: SwiotlbMapOptions = {},
): SwiotlbMapResult {
  let r = attemptMap(k, pool, src, len, dir, o);
  if (!r.ok && r.reason === "full")
    k.hw.waitFor(() => {
      r = attemptMap(k, pool, src, len, dir, o);
      return r.ok || r.reason !== "full";
    }, "swiotlb slots");
  if (!r.ok) refused(k, pool, r.reason, r.detail);
  return r;
}

/** The mapping `tlbAddr` points into: its first slot and in-slot offset, or undefined. */
function mappingAt(pool: SwiotlbPool, tlbAddr: number): { index: number; offset: number } | undefined {
  const s = pool.slots;
  if (!s || !Number.isSafeInteger(tlbAddr) || tlbAddr < pool.gpa) return undefined;
  const index = Math.floor((tlbAddr - pool.gpa) / IO_TLB_SIZE);
  if (index >= s.nslabs || s.head[index] !== 1) return undefined;
  // The kernel trusts the caller here; the model checks it is the address map returned.
  const offset = s.startOffset[index] ?? 0;
  if (tlbAddr - pool.gpa - index * IO_TLB_SIZE !== offset) return undefined;
  return { index, offset };
}

/**
 * swiotlb_bounce for a mapping's start: copy `len` bytes (clamped to the
 * allocation) between the bounce buffer and the original (a GPA, or the private
 * bytes the mapping was made from).
 */
function bounce(
  k: GuestKernel,
  pool: SwiotlbPool,
  index: number,
  tlbAddr: number,
  len: number,
  toDevice: boolean,
): number {
  const s = pool.slots!;
  const orig = s.origAddr[index] ?? INVALID;
  if (orig === INVALID) return 0;
  const n = Math.min(len, s.allocSize[index] ?? 0);
  const target = s.privateSrc.get(index) ?? orig;
  if (toDevice) copyIn(k, tlbAddr, target, 0, n, Label.EXPOSED);
  else copyOut(k, tlbAddr, target, 0, n);
  pool.stats.copies++;
  if (toDevice) pool.stats.bytesToDevice += n;
  else pool.stats.bytesFromDevice += n;
  return n;
}

/**
 * swiotlb_tbl_unmap_single: bounce back for FROM_DEVICE/BIDIRECTIONAL, then free
 * the slots. An address that is not the start of a live mapping changes nothing.
 */
export function swiotlbUnmap(
  k: GuestKernel,
  pool: SwiotlbPool,
  tlbAddr: number,
  len: number,
  dir: DmaDirection,
): SwiotlbUnmapResult {
  const m = mappingAt(pool, tlbAddr);
  if (!m) return "not-mapped";
  if (dir === DmaDirection.DMA_FROM_DEVICE || dir === DmaDirection.DMA_BIDIRECTIONAL)
    bounce(k, pool, m.index, tlbAddr, len, false);
  pool.slots!.release(m.index, m.offset);
  pool.stats.unmaps++;
  pool.stats.usedSlots = pool.slots!.used;
  return "ok";
}

/** swiotlb_sync_single_for_cpu: bounce back (FROM_DEVICE/BIDIRECTIONAL) without unmapping. */
export function swiotlbSyncForCpu(
  k: GuestKernel,
  pool: SwiotlbPool,
  tlbAddr: number,
  len: number,
  dir: DmaDirection,
): SwiotlbUnmapResult {
  const m = mappingAt(pool, tlbAddr);
  if (!m) return "not-mapped";
  if (dir === DmaDirection.DMA_FROM_DEVICE || dir === DmaDirection.DMA_BIDIRECTIONAL)
    bounce(k, pool, m.index, tlbAddr, len, false);
  return "ok";
}

/** swiotlb_sync_single_for_device: bounce in again (TO_DEVICE/BIDIRECTIONAL), labelled EXPOSED. */
export function swiotlbSyncForDevice(
  k: GuestKernel,
  pool: SwiotlbPool,
  tlbAddr: number,
  len: number,
  dir: DmaDirection,
): SwiotlbUnmapResult {
  const m = mappingAt(pool, tlbAddr);
  if (!m) return "not-mapped";
  if (dir === DmaDirection.DMA_TO_DEVICE || dir === DmaDirection.DMA_BIDIRECTIONAL)
    bounce(k, pool, m.index, tlbAddr, len, true);
  return "ok";
}

/** is_swiotlb_buffer: whether `gpa` lies in the pool. */
export function isSwiotlbBuffer(pool: SwiotlbPool, gpa: number): boolean {
  return gpa >= pool.gpa && gpa < pool.gpa + pool.pages * PAGE_SIZE;
}
