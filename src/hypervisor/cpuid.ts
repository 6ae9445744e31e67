// The CPUID leaves Hyper-V supplies (kernel-facts.md §3.8), computed from the VM's
// configuration. The isolation configuration leaf 0x4000000C is how one guest
// image finds out what it runs on (C8). Values are the hypervisor's: untrusted.
import {
  CpuidBit,
  HV_SIGNATURE,
  HvCpuidLeaf,
  HYPERV_CPUID_SIGNATURE_EAX,
  HYPERV_VS_INTERFACE_EAX_SIGNATURE,
} from "../hyperv/hvgdk.ts";
import { type CpuidRegs, isolationConfigLeaf } from "../hyperv/isolation-config.ts";
import type { Platform } from "../platform/platform.ts";

export type { CpuidRegs };

export const ZERO_REGS: Readonly<CpuidRegs> = Object.freeze({ eax: 0, ebx: 0, ecx: 0, edx: 0 });

/** Four ASCII bytes as a little-endian u32 (how CPUID returns strings). */
export function asciiReg(s: string, at: number): number {
  let v = 0;
  for (let i = 3; i >= 0; i--) v = (v << 8) | (s.charCodeAt(at + i) & 0xff);
  return v >>> 0;
}

/** Windows Server 2025 build number, reported in HYPERV_CPUID_VERSION.EAX. */
export const HV_BUILD = 26100;
export const HV_MAX_VP_INDEX = 240;

export function hypervisorCpuid(p: Platform, leaf: number): CpuidRegs {
  const c = p.config;
  const coco = c.isolation !== "none";
  switch (leaf) {
    case HvCpuidLeaf.HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS:
      return {
        eax: HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG,
        ebx: asciiReg(HV_SIGNATURE, 0),
        ecx: asciiReg(HV_SIGNATURE, 4),
        edx: asciiReg(HV_SIGNATURE, 8),
      };
    case HvCpuidLeaf.HYPERV_CPUID_INTERFACE:
      return { eax: HYPERV_CPUID_SIGNATURE_EAX, ebx: 0, ecx: 0, edx: 0 };
    case HvCpuidLeaf.HYPERV_CPUID_VERSION:
      return { eax: HV_BUILD, ebx: (10 << 16) | 0, ecx: 0, edx: 0 };
    case HvCpuidLeaf.HYPERV_CPUID_FEATURES:
      return {
        // VP_RUNTIME, TIME_REF_COUNT, SYNIC, SYNTIMER, APIC, HYPERCALL, VP_INDEX available.
        eax: 0x7f,
        ebx: CpuidBit.HV_POST_MESSAGES | CpuidBit.HV_SIGNAL_EVENTS | (coco ? CpuidBit.HV_ISOLATION : 0),
        ecx: 0,
        edx: 0,
      };
    case HvCpuidLeaf.HYPERV_CPUID_ENLIGHTMENT_INFO:
      return { eax: coco ? CpuidBit.HV_X64_USE_MMIO_HYPERCALLS : 0, ebx: 0xfff, ecx: 0, edx: 0 };
    case HvCpuidLeaf.HYPERV_CPUID_IMPLEMENT_LIMITS:
      return { eax: HV_MAX_VP_INDEX, ebx: 2048, ecx: 0, edx: 0 };
    case HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG:
      return isolationConfigLeaf(c.isolation, c.mode === "paravisor", p.sharedBoundaryBits);
    case HvCpuidLeaf.HYPERV_CPUID_VIRT_STACK_INTERFACE:
      return { eax: HYPERV_VS_INTERFACE_EAX_SIGNATURE, ebx: 0, ecx: 0, edx: 0 };
    case HvCpuidLeaf.HYPERV_CPUID_VIRT_STACK_PROPERTIES:
      // The host's virtualization stack offers no Confidential VMBus: only a paravisor can.
      return { eax: CpuidBit.HYPERV_VS_PROPERTIES_EAX_EXTENDED_IOAPIC_RTE, ebx: 0, ecx: 0, edx: 0 };
    default:
      return { ...ZERO_REGS };
  }
}
