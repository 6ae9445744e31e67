// scsi_dma_map / scsi_dma_unmap for one storvsc request (drivers/scsi/scsi_lib_dma.c
// → dma_map_sg → dma-direct; kernel/dma/direct.h, swiotlb.c): what the guest hands
// the host as the one gpa_range of its GPA-direct packet.
//
// In a CoCo VM force_dma_unencrypted() holds, so every streaming mapping bounces
// through the decrypted swiotlb pool (C21): the PFNs the host gets are the pool's,
// and the host never learns a private GPA. In a normal VM dma-direct hands out the
// buffer's own address and the host reads and writes the guest's pages in place.
// With swiotlb=noforce (the "swiotlb-bounce" hardening switched off) a CoCo guest
// does the same, and the host gets the GPA of private memory: ciphertext to read,
// refused writes. On a Confidential VMBus channel with encrypted external memory
// the device is the paravisor's, which reaches private memory: no bounce either.
//
// Labels, decided here because this is where the guest decides what the host gets:
//  - a write payload the guest hands the device (bounced, or its own buffer) is
//    EXPOSED: sent in the clear on purpose;
//  - for a read, swiotlb_tbl_map_single() copies the original buffer into the
//    bounce buffer whatever the direction (so that a device's short write cannot
//    show stale pool bytes), which would give the host whatever the buffer held
//    before the read — private data, if the buffer was reused. storvsc therefore
//    treats a read buffer as zeroed before it is mapped (as init_on_alloc does for
//    fresh pages, which CoCo kernels enable): the bytes that cross are zeros written
//    for the host, PUBLIC, and nothing of the guest's. The map writes those zeros
//    straight into the bounce buffer (swiotlb's `zeroed` option: the copy of a
//    zeroed original, in one pass), and the unmap's copy-back overwrites the whole
//    original, so the buffer ends as it would had it been zeroed first.
import { Label } from "../../../audit/labels.ts";
import { VmbusSize } from "../../../vmbus/constants.ts";
import type { GuestKernel } from "../../kernel.ts";
import {
  DmaDirection,
  dmaNeedsBounce,
  IO_TLB_MAX_MAPPING,
  swiotlbMapWait,
  swiotlbUnmap,
} from "../../mm/swiotlb.ts";
import { Errno } from "../../vmbus/connection.ts";

/** storvsc's dma_get_min_align_mask: HV_HYP_PAGE_SIZE - 1 (so the range's offset survives bouncing). */
export const STORVSC_MIN_ALIGN_MASK = VmbusSize.HV_HYP_PAGE_SIZE - 1;
/** The largest mapping swiotlb takes with that mask (one segment less the alignment slots). */
export const STORVSC_MAX_BOUNCE = IO_TLB_MAX_MAPPING - VmbusSize.HV_HYP_PAGE_SIZE;

/** One request's mapping: where its data is for the device. */
export interface DmaMap {
  dir: DmaDirection;
  gpa: number;
  len: number;
  /** The address the device uses (a bounce buffer's shared alias, or the buffer's own GPA). */
  dmaAddr: number;
  /** The bounce buffer (a pool GPA), when bounced. */
  tlbAddr: number;
  bounced: boolean;
  mapped: boolean;
}

export function newDmaMap(): DmaMap {
  return {
    dir: DmaDirection.DMA_NONE,
    gpa: 0,
    len: 0,
    dmaAddr: 0,
    tlbAddr: 0,
    bounced: false,
    mapped: false,
  };
}

export interface DmaCounters {
  /** Payload bytes bounced through swiotlb: a write's on map, a read's on unmap. */
  bounceBytes: number;
  /** Mappings handed to the device without a bounce. */
  direct: number;
}

/**
 * Whether a storvsc device's mappings bounce: in a CoCo VM (unless swiotlb=noforce),
 * except on a Confidential VMBus channel whose external memory is encrypted — 6.19's
 * vmbus_device_register() does swiotlb_dev_disable() for it: the paravisor's device
 * reaches private memory (C26).
 */
export function storvscBounces(k: GuestKernel, coExternalMemory: boolean): boolean {
  return dmaNeedsBounce(k) && k.swiotlb !== undefined && !coExternalMemory;
}

/**
 * Map `len` bytes at `gpa` for `dir`; fills `m`. 0, or -ENOMEM when the pool cannot
 * take the mapping even after waiting for completions to free slots.
 */
export function storvscDmaMap(
  k: GuestKernel,
  m: DmaMap,
  gpa: number,
  len: number,
  dir: DmaDirection,
  c: DmaCounters,
  bounce: boolean,
): number {
  m.dir = dir;
  m.gpa = gpa;
  m.len = len;
  m.bounced = false;
  m.mapped = false;
  if (len === 0 || dir === DmaDirection.DMA_NONE) return 0;
  const mem = k.hw.mem;
  if (bounce) {
    const toDevice = dir === DmaDirection.DMA_TO_DEVICE;
    const r = swiotlbMapWait(k, k.swiotlb!, gpa, len, dir, {
      minAlignMask: STORVSC_MIN_ALIGN_MASK,
      label: toDevice ? Label.EXPOSED : Label.PUBLIC,
      zeroed: !toDevice,
    });
    if (!r.ok) {
      k.log(`storvsc: DMA mapping of ${len} bytes failed: ${r.detail}`);
      return -Errno.ENOMEM;
    }
    m.dmaAddr = r.dmaAddr;
    m.tlbAddr = r.tlbAddr;
    m.bounced = true;
    m.mapped = true;
    if (toDevice) c.bounceBytes += len;
    return 0;
  }
  // dma-direct: the device gets the buffer itself. In a normal VM a payload handed out
  // is in the clear on purpose; in a CoCo VM it stays in private memory (the host gets
  // ciphertext; a paravisor's device with encrypted-memory support reads it privately).
  if (dir === DmaDirection.DMA_TO_DEVICE && !k.cc.has("CC_ATTR_MEM_ENCRYPT"))
    mem.relabel(gpa, len, Label.EXPOSED);
  m.dmaAddr = mem.translate(gpa);
  m.mapped = true;
  c.direct++;
  return 0;
}

/** Undo a mapping: a bounced read is copied back into the buffer, and the slots are freed. */
export function storvscDmaUnmap(k: GuestKernel, m: DmaMap, c: DmaCounters): void {
  if (!m.mapped) return;
  m.mapped = false;
  if (!m.bounced) return;
  if (m.dir === DmaDirection.DMA_FROM_DEVICE) c.bounceBytes += m.len;
  const r = swiotlbUnmap(k, k.swiotlb!, m.tlbAddr, m.len, m.dir);
  if (r !== "ok") k.log(`storvsc: unmap of 0x${m.tlbAddr.toString(16)} found no mapping`);
}
