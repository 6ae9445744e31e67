// set_memory_encrypted() / set_memory_decrypted() through the generic
// __set_memory_enc_pgtable() (arch/x86/mm/pat/set_memory.c; kernel-facts.md §5.3):
//  1. flush caches/TLB if the platform needs it;
//  2. enc_status_change_prepare();
//  3. flip the encryption bit in the PTEs;
//  4. enc_status_change_finish().
// The memory is inconsistent until the last step is done, and the caller must
// keep it unused meanwhile (C34); named points let a test act in between.
import type { GuestKernel } from "../kernel.ts";

export interface SetMemoryResult {
  ret: number;
  tlbFlushes: number;
}

function setMemoryEncPgtable(k: GuestKernel, pfn: number, count: number, enc: boolean): SetMemoryResult {
  const cb = k.enc;
  if (!cb || cb.name === "none" || !k.cc.has("CC_ATTR_MEM_ENCRYPT")) return { ret: 0, tlbFlushes: 0 };
  let tlbFlushes = 0;
  if (cb.tlbFlushRequired(enc)) tlbFlushes++;
  const detail = { pfn, count, enc: enc ? 1 : 0 };
  k.hooks.fire("set_memory:begin", detail);
  let ret = cb.prepare(k, pfn, count, enc);
  if (ret !== 0) {
    k.log(`CPA VMM failure to convert memory (prepare): ${ret}`);
    return { ret, tlbFlushes };
  }
  k.hooks.fire("set_memory:prepared", detail);
  k.hw.setPte(pfn, count, { encrypted: enc });
  tlbFlushes++;
  k.hooks.fire("set_memory:pte-changed", detail);
  ret = cb.finish(k, pfn, count, enc);
  if (ret !== 0) k.log(`CPA VMM failure to convert memory (finish): ${ret}`);
  k.hooks.fire("set_memory:done", detail);
  return { ret, tlbFlushes };
}

/**
 * Decrypt (share with the host) `pages` pages at `gpa`. `purpose` names what the
 * range is for; the guest keeps it so the report can say why each page is shared.
 */
export function setMemoryDecrypted(
  k: GuestKernel,
  gpa: number,
  pages: number,
  purpose = "unspecified",
): number {
  const ret = setMemoryEncPgtable(k, gpa / 4096, pages, false).ret;
  if (ret === 0) k.sharedRanges.set(gpa, Object.freeze({ gpa, pages, purpose }));
  else leak(k, gpa, pages, ret);
  return ret;
}

export function setMemoryEncrypted(k: GuestKernel, gpa: number, pages: number): number {
  const ret = setMemoryEncPgtable(k, gpa / 4096, pages, true).ret;
  if (ret === 0) {
    k.sharedRanges.delete(gpa);
    k.leaked.delete(gpa / 4096);
  } else leak(k, gpa, pages, ret);
  return ret;
}

/**
 * A conversion failed part-way: the pages' state is unknown (some may be shared),
 * so they must never be handed out again (Linux leaks them; see the 2024 series
 * "hv: Don't free decrypted memory").
 */
function leak(k: GuestKernel, gpa: number, pages: number, ret: number): void {
  k.leaked.set(gpa / 4096, pages);
  k.log(`leaking ${pages} pages at 0x${gpa.toString(16)} whose encryption state is unknown (${ret})`);
}
