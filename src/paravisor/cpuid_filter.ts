// The paravisor's CPUID filter (C11): the guest must not see the SEV-SNP or TDX
// CPUID flags, or it would run the enlightened early-boot paths (PVALIDATE at
// VMPL2, TDX accept from L2) that it has no privilege for. It decides through
// cc_platform_has() instead, from the Hyper-V isolation configuration.

import { CpuidBit, HvCpuidLeaf, X86CpuidLeaf } from "../hyperv/hvgdk.ts";
import type { CpuidRegs } from "../hypervisor/cpuid.ts";

export interface CpuidFilterOptions {
  /** Offer Confidential VMBus (sets the virtualization-stack bit, C28). */
  confidentialVmbus: boolean;
  /**
   * The isolation configuration as the paravisor knows it (it runs inside the CVM).
   * The hypervisor's copy of leaf 0x4000000C and the HV_ISOLATION privilege are
   * replaced by it, so a lying hypervisor cannot misdescribe the VM to its guest.
   */
  isolationConfig?: CpuidRegs;
}

export function filterCpuid(leaf: number, r: CpuidRegs, o: CpuidFilterOptions): CpuidRegs {
  switch (leaf) {
    case X86CpuidLeaf.AMD_MEM_ENCRYPT:
      return {
        eax: r.eax & ~(CpuidBit.AMD_SEV | CpuidBit.AMD_SEV_ES | CpuidBit.AMD_SEV_SNP),
        ebx: 0,
        ecx: 0,
        edx: 0,
      };
    case X86CpuidLeaf.TDX_CPUID_LEAF_ID:
      return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    case HvCpuidLeaf.HYPERV_CPUID_FEATURES:
      return o.isolationConfig ? { ...r, ebx: r.ebx | CpuidBit.HV_ISOLATION } : r;
    case HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG:
      return o.isolationConfig ? { ...o.isolationConfig } : r;
    case HvCpuidLeaf.HYPERV_CPUID_VIRT_STACK_PROPERTIES:
      return o.confidentialVmbus
        ? { ...r, eax: r.eax | CpuidBit.HYPERV_VS_PROPERTIES_EAX_CONFIDENTIAL_VMBUS_AVAILABLE }
        : r;
    default:
      return r;
  }
}
