// The swiotlb bounce-buffer pool (kernel/dma/swiotlb.c, arch/x86/mm/mem_encrypt.c):
// in a CoCo VM it is sized at 6% of memory, at most 1 GiB, and decrypted as a
// whole at boot (swiotlb_update_mem_attributes), so that DMA bounces through
// shared memory (C21). Slot allocation and bouncing come with the storage path.
import { Label } from "../../audit/labels.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import type { GuestKernel } from "../kernel.ts";
import { setMemoryDecrypted } from "./set_memory.ts";

/** IO_TLB_SIZE: the slot size (1 << IO_TLB_SHIFT). */
export const IO_TLB_SHIFT = 11;
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** The CoCo default: 6% of memory (mem_encrypt_setup_arch), capped at 1 GiB, at least 64 MiB... of what exists. */
export const SWIOTLB_COCO_PERCENT = 6;
export const SWIOTLB_MAX_BYTES = 1024 * 1024 * 1024;
export const IO_TLB_DEFAULT_SIZE = 64 * 1024 * 1024;

export interface SwiotlbPool {
  gpa: number;
  pages: number;
  decrypted: boolean;
}

/** Pool size in bytes for a guest of `memoryBytes` (rounded to whole 2 MiB). */
export function swiotlbSize(memoryBytes: number, coco: boolean): number {
  if (!coco) return Math.min(IO_TLB_DEFAULT_SIZE, Math.floor(memoryBytes / 16));
  const want = Math.min(SWIOTLB_MAX_BYTES, Math.floor((memoryBytes * SWIOTLB_COCO_PERCENT) / 100));
  const mb2 = 2 * 1024 * 1024;
  return Math.max(mb2, Math.floor(want / mb2) * mb2);
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
  void Label;
  return { gpa, pages, decrypted };
}
