// The x86_platform.guest callbacks an encrypt/decrypt transition goes through
// (C13): the native SEV-SNP and TDX ones when the guest is fully enlightened, the
// Hyper-V vTOM ones (hv_vtom_clear_present / hv_vtom_set_host_visibility, which ask
// the paravisor) in paravisor mode. Returns are 0 or a negative errno.
import { HV_MAX_MODIFY_GPA_REP_COUNT, HvMemHostVisibility } from "../../hyperv/hvgdk.ts";
import { hvMarkGpaVisibility } from "../hypercall.ts";
import type { GuestKernel } from "../kernel.ts";

export interface EncCallbacks {
  readonly name: "snp" | "tdx" | "hv_vtom" | "none";
  tlbFlushRequired(enc: boolean): boolean;
  cacheFlushRequired(): boolean;
  /** enc_status_change_prepare(). */
  prepare(k: GuestKernel, pfn: number, count: number, enc: boolean): number;
  /** enc_status_change_finish(). */
  finish(k: GuestKernel, pfn: number, count: number, enc: boolean): number;
}

const EIO = -5;

/** SEV-SNP native: PVALIDATE plus GHCB Page State Change (arch/x86/coco/sev). */
export const snpCallbacks: EncCallbacks = {
  name: "snp",
  tlbFlushRequired: () => true,
  cacheFlushRequired: () => false,
  prepare(k, pfn, count, enc) {
    if (enc) return 0;
    // snp_set_memory_shared(): rescind validation, then ask the hypervisor to make the pages shared.
    if (!k.hw.validate(pfn, count, false).ok) return EIO;
    k.hooks.fire("set_memory:snp-rescinded", { pfn, count });
    return k.hw.ghcb!.pageStateChange(0, pfn, count, "shared") ? 0 : EIO;
  },
  finish(k, pfn, count, enc) {
    if (!enc) return 0;
    // snp_set_memory_private(): Page State Change to private, then PVALIDATE.
    if (!k.hw.ghcb!.pageStateChange(0, pfn, count, "private")) return EIO;
    k.hooks.fire("set_memory:snp-psc-private", { pfn, count });
    return k.hw.validate(pfn, count, true).ok ? 0 : EIO;
  },
};

/** TDX native: MapGPA through TDG.VP.VMCALL, then TDG.MEM.PAGE.ACCEPT for private (arch/x86/coco/tdx). */
export const tdxCallbacks: EncCallbacks = {
  name: "tdx",
  tlbFlushRequired: () => true,
  cacheFlushRequired: () => true,
  prepare(k, pfn, count, enc) {
    if (!enc) return 0;
    if (!k.hw.tdvmcall!.pageStateChange(0, pfn, count, "private")) return EIO;
    k.hooks.fire("set_memory:tdx-mapgpa-private", { pfn, count });
    return k.hw.validate(pfn, count, true).ok ? 0 : EIO;
  },
  finish(k, pfn, count, enc) {
    if (enc) return 0;
    return k.hw.tdvmcall!.pageStateChange(0, pfn, count, "shared") ? 0 : EIO;
  },
};

/**
 * Hyper-V vTOM (arch/x86/hyperv/ivm.c): the pages are not present for the whole
 * transition (C36), so a stray load_unaligned_zeropad() takes an ordinary #PF the
 * guest fixes up instead of a #VC/#VE that the paravisor would get (C35).
 */
export function hvVtomCallbacks(notPresent: boolean): EncCallbacks {
  return {
    name: "hv_vtom",
    tlbFlushRequired: () => false,
    cacheFlushRequired: () => false,
    prepare(k, pfn, count) {
      // hv_vtom_clear_present(): set_memory_np().
      if (notPresent) k.hw.setPte(pfn, count, { present: false });
      return 0;
    },
    finish(k, pfn, count, enc) {
      // hv_vtom_set_host_visibility(): batches of at most 510 PFNs, stop at the first error,
      // and always restore PRESENT.
      const vis = enc
        ? HvMemHostVisibility.VMBUS_PAGE_NOT_VISIBLE
        : HvMemHostVisibility.VMBUS_PAGE_VISIBLE_READ_WRITE;
      let ret = 0;
      const batch: number[] = [];
      for (let i = 0; i < count && ret === 0; i++) {
        batch.push(pfn + i);
        if (batch.length === HV_MAX_MODIFY_GPA_REP_COUNT || i === count - 1) {
          ret = hvMarkGpaVisibility(k, 0, batch, vis);
          batch.length = 0;
        }
      }
      k.hooks.fire("set_memory:visibility-done", { pfn, count, ret });
      if (notPresent) k.hw.setPte(pfn, count, { present: true });
      return ret;
    },
  };
}

/** No memory encryption: transitions are no-ops. */
export const noEncCallbacks: EncCallbacks = {
  name: "none",
  tlbFlushRequired: () => false,
  cacheFlushRequired: () => false,
  prepare: () => 0,
  finish: () => 0,
};
