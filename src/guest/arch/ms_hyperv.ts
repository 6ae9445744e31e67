// Boot-time detection of Hyper-V and its isolation configuration, as Linux's
// ms_hyperv_platform() / ms_hyperv_init_platform() do (kernel-facts.md §5.1): one
// guest image reads the synthetic CPUID leaves and finds out whether it runs on
// SNP or TDX, with or without a paravisor (C8).

import {
  CpuidBit,
  HV_SHARED_GPA_BOUNDARY_BITS_MASK,
  HV_SHARED_GPA_BOUNDARY_BITS_SHIFT,
  HV_SIGNATURE,
  HvCpuidLeaf,
  HvIsolationType,
} from "../../hyperv/hvgdk.ts";
import type { CpuidRegs } from "../../hypervisor/cpuid.ts";

export type IsolationType = "none" | "vbs" | "snp" | "tdx" | "unknown";

/** struct ms_hyperv_info, the parts hvcoco uses. */
export interface MsHypervInfo {
  maxLeaf: number;
  features: number;
  privHigh: number;
  hints: number;
  isolationConfigA: number;
  isolationConfigB: number;
  isolationType: IsolationType;
  paravisorPresent: boolean;
  sharedGpaBoundaryActive: boolean;
  sharedGpaBoundaryBits: number;
  /** 1 << bits when active, else 0. */
  sharedGpaBoundary: number;
  /** CPUID 0x40000082 EAX bit 3 (6.19). */
  confidentialVmbusAvailable: boolean;
  useMmioHypercalls: boolean;
}

export type DetectResult = { ok: true; info: MsHypervInfo } | { ok: false; reason: string };

function ascii(r: CpuidRegs): string {
  const s = [r.ebx, r.ecx, r.edx]
    .map((v) => String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff))
    .join("");
  return s;
}

export function detectHyperV(cpuid: (leaf: number) => CpuidRegs): DetectResult {
  const vendor = cpuid(HvCpuidLeaf.HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS);
  if (ascii(vendor) !== HV_SIGNATURE) return { ok: false, reason: 'CPUID 0x40000000 is not "Microsoft Hv"' };
  const maxLeaf = vendor.eax >>> 0;
  if (maxLeaf < 0x40000005 || maxLeaf > 0x4000ffff)
    return { ok: false, reason: `CPUID 0x40000000 EAX 0x${maxLeaf.toString(16)} out of range` };
  const f = cpuid(HvCpuidLeaf.HYPERV_CPUID_FEATURES);
  const need = CpuidBit.HV_MSR_HYPERCALL_AVAILABLE | CpuidBit.HV_MSR_VP_INDEX_AVAILABLE;
  if ((f.eax & need) !== need) return { ok: false, reason: "hypercall and VP index MSRs not available" };
  const hints = cpuid(HvCpuidLeaf.HYPERV_CPUID_ENLIGHTMENT_INFO).eax >>> 0;
  // 6.19 reads the virtualization-stack properties leaf unconditionally.
  const vs = cpuid(HvCpuidLeaf.HYPERV_CPUID_VIRT_STACK_PROPERTIES).eax >>> 0;
  const info: MsHypervInfo = {
    maxLeaf,
    features: f.eax >>> 0,
    privHigh: f.ebx >>> 0,
    hints,
    isolationConfigA: 0,
    isolationConfigB: 0,
    isolationType: "none",
    paravisorPresent: false,
    sharedGpaBoundaryActive: false,
    sharedGpaBoundaryBits: 0,
    sharedGpaBoundary: 0,
    confidentialVmbusAvailable: (vs & CpuidBit.HYPERV_VS_PROPERTIES_EAX_CONFIDENTIAL_VMBUS_AVAILABLE) !== 0,
    useMmioHypercalls: (hints & CpuidBit.HV_X64_USE_MMIO_HYPERCALLS) !== 0,
  };
  if (info.privHigh & CpuidBit.HV_ISOLATION) {
    const iso = cpuid(HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG);
    info.isolationConfigA = iso.eax >>> 0;
    info.isolationConfigB = iso.ebx >>> 0;
    info.paravisorPresent = (iso.eax & CpuidBit.HV_PARAVISOR_PRESENT) !== 0;
    const t = iso.ebx & 0xf;
    info.isolationType =
      t === HvIsolationType.HV_ISOLATION_TYPE_NONE
        ? "none"
        : t === HvIsolationType.HV_ISOLATION_TYPE_VBS
          ? "vbs"
          : t === HvIsolationType.HV_ISOLATION_TYPE_SNP
            ? "snp"
            : t === HvIsolationType.HV_ISOLATION_TYPE_TDX
              ? "tdx"
              : "unknown";
    info.sharedGpaBoundaryActive = (iso.ebx & CpuidBit.HV_SHARED_GPA_BOUNDARY_ACTIVE) !== 0;
    info.sharedGpaBoundaryBits =
      (iso.ebx >>> HV_SHARED_GPA_BOUNDARY_BITS_SHIFT) & HV_SHARED_GPA_BOUNDARY_BITS_MASK;
    if (info.sharedGpaBoundaryActive) info.sharedGpaBoundary = 2 ** info.sharedGpaBoundaryBits;
  }
  return { ok: true, info };
}
