// The hypervisor ABI as `hvcoco layout` prints it.
import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf, defineStruct } from "../layout/struct.ts";
import {
  CpuidBit,
  HV_HYPERCALL_MMIO_MAX_DATA_LENGTH,
  HV_IOAPIC_BASE_ADDRESS,
  HV_LINUX_VENDOR_ID,
  HV_MAX_MODIFY_GPA_REP_COUNT,
  HvCallCode,
  HvCpuidLeaf,
  HvIsolationType,
  HvMemHostVisibility,
  HvMsr,
  HvStatus,
  SevStatus,
  VTPM_BASE_ADDRESS,
  X86CpuidLeaf,
  X86Msr,
} from "./hvgdk.ts";
import {
  HV_GHCB_HYPERCALL,
  HV_GPA_RANGE_FOR_VISIBILITY,
  HV_INPUT_POST_MESSAGE,
  HV_INPUT_SIGNAL_EVENT,
  HV_MMIO_READ_INPUT,
  HV_MMIO_READ_OUTPUT,
  HV_MMIO_WRITE_INPUT,
} from "./hypercall-abi.ts";

const H = "include/hyperv/hvgdk_mini.h";

// include/hyperv/hvgdk_mini.h: union hv_hypercall_input (the 64-bit control word, as bit fields)
const HV_HYPERCALL_INPUT = defineStruct("hv_hypercall_input (bits)", H, [
  { name: "code", size: 2, note: "bits 15:0 call code" },
  {
    name: "fast_varhead_rsvd_nested",
    size: 2,
    note: "bit 16 fast; 26:17 variable header size (8-byte units); 30:27 rsvd; 31 nested",
  },
  { name: "rep_comp", size: 2, note: "bits 43:32 rep count (reps completed in the result); 47:44 rsvd" },
  { name: "rep_start", size: 2, note: "bits 59:48 rep start index; 63:60 rsvd" },
]);

// arch/x86/include/asm/mshyperv.h: cpuid 0x4000000C (ms_hyperv_info isolation_config_a/b)
const ISOLATION_CONFIG = defineStruct("HYPERV_CPUID_ISOLATION_CONFIG", "include/asm-generic/mshyperv.h", [
  { name: "eax", size: 4, note: "bit 0 paravisor_present" },
  {
    name: "ebx",
    size: 4,
    note: "bits 3:0 cvm_type (0 none, 1 VBS, 2 SNP, 3 TDX); bit 5 shared_gpa_boundary_active; bits 11:6 shared_gpa_boundary_bits",
  },
  { name: "ecx", size: 4 },
  { name: "edx", size: 4 },
]);

export const HYPERV_LAYOUT: LayoutSection = {
  section: "hypervisor",
  structs: [
    HV_HYPERCALL_INPUT,
    HV_GPA_RANGE_FOR_VISIBILITY,
    HV_INPUT_POST_MESSAGE,
    HV_INPUT_SIGNAL_EVENT,
    HV_MMIO_READ_INPUT,
    HV_MMIO_READ_OUTPUT,
    HV_MMIO_WRITE_INPUT,
    HV_GHCB_HYPERCALL,
    ISOLATION_CONFIG,
  ],
  constants: [
    ...constantsOf("cpuid leaf", "include/hyperv/hvgdk.h", HvCpuidLeaf),
    ...constantsOf("cpuid leaf (architectural)", "arch/x86/include/asm/cpufeatures.h", X86CpuidLeaf),
    ...constantsOf("cpuid bit", "include/hyperv/hvgdk_mini.h", CpuidBit),
    ...constantsOf("isolation type", "include/hyperv/hvgdk_mini.h", HvIsolationType),
    ...constantsOf("msr", "include/hyperv/hvgdk_mini.h", HvMsr),
    ...constantsOf("msr (architectural)", "arch/x86/include/asm/msr-index.h", X86Msr),
    ...constantsOf("sev status bit", "arch/x86/include/asm/msr-index.h", SevStatus),
    ...constantsOf("hypercall code", H, HvCallCode),
    ...constantsOf("hypercall status", H, HvStatus),
    ...constantsOf("host visibility", H, HvMemHostVisibility),
    ...constantsOf("limit", H, {
      HV_MAX_MODIFY_GPA_REP_COUNT,
      HV_HYPERCALL_MMIO_MAX_DATA_LENGTH,
      HV_LINUX_VENDOR_ID,
    }),
    ...constantsOf("private mmio", "include/asm-generic/mshyperv.h", {
      HV_IOAPIC_BASE_ADDRESS,
      VTPM_BASE_ADDRESS,
    }),
  ],
};
