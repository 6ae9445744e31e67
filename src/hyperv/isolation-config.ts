// The isolation-configuration CPUID leaf 0x4000000C as the ABI encodes it
// (include/hyperv/hvgdk_mini.h; kernel-facts.md §3.8): EAX bit 0 paravisor
// present; EBX[3:0] isolation type, bit 5 shared-GPA boundary active, [11:6] its
// bits. Shared by the hypervisor (which reports it) and the paravisor (which knows
// its own VM and supplies the leaf to its guest itself): neither calls the other.
import { CpuidBit, HV_SHARED_GPA_BOUNDARY_BITS_SHIFT, HvIsolationType } from "./hvgdk.ts";

/** Four CPUID output registers. */
export interface CpuidRegs {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export function isolationConfigLeaf(
  isolation: "none" | "snp" | "tdx",
  paravisor: boolean,
  boundaryBits: number,
): CpuidRegs {
  if (isolation === "none") return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  const type =
    isolation === "snp" ? HvIsolationType.HV_ISOLATION_TYPE_SNP : HvIsolationType.HV_ISOLATION_TYPE_TDX;
  const ebx =
    type |
    (boundaryBits
      ? CpuidBit.HV_SHARED_GPA_BOUNDARY_ACTIVE | (boundaryBits << HV_SHARED_GPA_BOUNDARY_BITS_SHIFT)
      : 0);
  return { eax: paravisor ? CpuidBit.HV_PARAVISOR_PRESENT : 0, ebx, ecx: 0, edx: 0 };
}
