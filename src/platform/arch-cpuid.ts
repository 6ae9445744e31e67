// Architectural CPUID leaves as the hardware (SNP firmware's CPUID page / the TDX
// module) guarantees them: they tell an enlightened guest it runs on SNP or TDX.
// A paravisor filters these flags out of what its guest sees (C11).

import { CpuidBit, TDX_IDENT, X86CpuidLeaf } from "../hyperv/hvgdk.ts";
import type { CpuidRegs } from "../hypervisor/cpuid.ts";
import { asciiReg } from "../hypervisor/cpuid.ts";
import type { VmConfig } from "../vm/config.ts";

/** C-bit position reported in leaf 0x8000001F EBX[5:0] on SNP machines. */
export const SNP_CBIT_POSITION = 51;

export function archCpuid(c: VmConfig, leaf: number): CpuidRegs | undefined {
  switch (leaf) {
    case X86CpuidLeaf.CPUID_FEATURES:
      return { eax: 0x000a0f11, ebx: 0, ecx: CpuidBit.X86_FEATURE_HYPERVISOR, edx: 0 };
    case X86CpuidLeaf.AMD_MEM_ENCRYPT:
      if (c.isolation !== "snp") return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
      return {
        eax: CpuidBit.AMD_SEV | CpuidBit.AMD_SEV_ES | CpuidBit.AMD_SEV_SNP,
        ebx: SNP_CBIT_POSITION,
        ecx: 0,
        edx: 0,
      };
    case X86CpuidLeaf.TDX_CPUID_LEAF_ID:
      if (c.isolation !== "tdx") return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
      return {
        eax: 0,
        ebx: asciiReg(TDX_IDENT, 0),
        ecx: asciiReg(TDX_IDENT, 8),
        edx: asciiReg(TDX_IDENT, 4),
      };
    default:
      return undefined;
  }
}
