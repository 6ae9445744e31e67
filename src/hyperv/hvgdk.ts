// The Hyper-V hypervisor ABI as Linux declares it (include/hyperv/hvgdk_mini.h,
// hvgdk.h, hvhdk.h, hvhdk_mini.h; arch/x86/include/asm/hyperv-tlfs.h). Shared by
// the guest, the paravisor and the hypervisor: each end imports these and none
// keeps its own copy. Values from ../shared/reference/kernel-facts.md §3.

/** Hypercall call codes (enum HV_CALL_CODE; the subset hvcoco serves or names). */
export const HvCallCode = {
  HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE: 0x0002,
  HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST: 0x0003,
  HVCALL_NOTIFY_LONG_SPIN_WAIT: 0x0008,
  HVCALL_SEND_IPI: 0x000b,
  HVCALL_ENABLE_VP_VTL: 0x000f,
  HVCALL_SEND_IPI_EX: 0x0015,
  HVCALL_GET_PARTITION_ID: 0x0046,
  HVCALL_GET_VP_REGISTERS: 0x0050,
  HVCALL_SET_VP_REGISTERS: 0x0051,
  HVCALL_POST_MESSAGE: 0x005c,
  HVCALL_SIGNAL_EVENT: 0x005d,
  HVCALL_START_VP: 0x0099,
  HVCALL_GET_VP_INDEX_FROM_APIC_ID: 0x009a,
  HVCALL_SIGNAL_EVENT_DIRECT: 0x00c0,
  HVCALL_POST_MESSAGE_DIRECT: 0x00c1,
  HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY: 0x00db,
  HVCALL_MMIO_READ: 0x0106,
  HVCALL_MMIO_WRITE: 0x0107,
} as const;

/** Hypercall status codes (HV_STATUS_*; low 16 bits of the result). */
export const HvStatus = {
  HV_STATUS_SUCCESS: 0x0,
  HV_STATUS_INVALID_HYPERCALL_CODE: 0x2,
  HV_STATUS_INVALID_HYPERCALL_INPUT: 0x3,
  HV_STATUS_INVALID_ALIGNMENT: 0x4,
  HV_STATUS_INVALID_PARAMETER: 0x5,
  HV_STATUS_ACCESS_DENIED: 0x6,
  HV_STATUS_INVALID_PARTITION_STATE: 0x7,
  HV_STATUS_OPERATION_DENIED: 0x8,
  HV_STATUS_UNKNOWN_PROPERTY: 0x9,
  HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE: 0xa,
  HV_STATUS_INSUFFICIENT_MEMORY: 0xb,
  HV_STATUS_INVALID_PARTITION_ID: 0xd,
  HV_STATUS_INVALID_VP_INDEX: 0xe,
  HV_STATUS_NOT_FOUND: 0x10,
  HV_STATUS_INVALID_PORT_ID: 0x11,
  HV_STATUS_INVALID_CONNECTION_ID: 0x12,
  HV_STATUS_INSUFFICIENT_BUFFERS: 0x13,
  HV_STATUS_NOT_ACKNOWLEDGED: 0x14,
  HV_STATUS_INVALID_VP_STATE: 0x15,
  HV_STATUS_NO_RESOURCES: 0x1d,
  HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED: 0x20,
  HV_STATUS_INVALID_LP_INDEX: 0x41,
  HV_STATUS_INVALID_REGISTER_VALUE: 0x50,
  HV_STATUS_OPERATION_FAILED: 0x71,
  HV_STATUS_TIME_OUT: 0x78,
  HV_STATUS_CALL_PENDING: 0x79,
  HV_STATUS_VTL_ALREADY_ENABLED: 0x86,
} as const;

export function statusName(status: number): string {
  for (const [k, v] of Object.entries(HvStatus)) if (v === status) return k;
  return `HV_STATUS_0x${status.toString(16)}`;
}

let callNames: Map<number, string> | undefined;

export function callName(code: number): string {
  if (!callNames) {
    callNames = new Map();
    // The first name of a code wins, as a search in declaration order would find it.
    for (const [k, v] of Object.entries(HvCallCode)) if (!callNames.has(v)) callNames.set(v, k);
  }
  return callNames.get(code) ?? `HVCALL_0x${code.toString(16).padStart(4, "0")}`;
}

/** Synthetic MSRs (HV_X64_MSR_*). */
export const HvMsr = {
  HV_X64_MSR_GUEST_OS_ID: 0x40000000,
  HV_X64_MSR_HYPERCALL: 0x40000001,
  HV_X64_MSR_VP_INDEX: 0x40000002,
  HV_X64_MSR_RESET: 0x40000003,
  HV_X64_MSR_VP_RUNTIME: 0x40000010,
  HV_X64_MSR_TIME_REF_COUNT: 0x40000020,
  HV_X64_MSR_REFERENCE_TSC: 0x40000021,
  HV_X64_MSR_TSC_FREQUENCY: 0x40000022,
  HV_X64_MSR_APIC_FREQUENCY: 0x40000023,
  HV_X64_MSR_EOI: 0x40000070,
  HV_X64_MSR_ICR: 0x40000071,
  HV_X64_MSR_TPR: 0x40000072,
  HV_X64_MSR_VP_ASSIST_PAGE: 0x40000073,
  HV_X64_MSR_SCONTROL: 0x40000080,
  HV_X64_MSR_SVERSION: 0x40000081,
  HV_X64_MSR_SIEFP: 0x40000082,
  HV_X64_MSR_SIMP: 0x40000083,
  HV_X64_MSR_EOM: 0x40000084,
  HV_X64_MSR_SIRBP: 0x40000085,
  HV_X64_MSR_SINT0: 0x40000090,
  HV_X64_MSR_SINT15: 0x4000009f,
  HV_X64_MSR_STIMER0_CONFIG: 0x400000b0,
  HV_X64_MSR_STIMER0_COUNT: 0x400000b1,
  HV_X64_MSR_CRASH_P0: 0x40000100,
  HV_X64_MSR_CRASH_CTL: 0x40000105,
} as const;

/** hv_is_synic_msr(): SCONTROL <= reg <= SINT15. */
export function isSynicMsr(msr: number): boolean {
  return msr >= HvMsr.HV_X64_MSR_SCONTROL && msr <= HvMsr.HV_X64_MSR_SINT15;
}

/** Architectural MSRs the model touches (arch/x86/include/asm/msr-index.h). */
export const X86Msr = {
  /** MSR_AMD64_SEV: SEV status (bit0 SEV, bit1 SEV-ES, bit2 SNP; bit3 vTOM = MSR_AMD64_SNP_VTOM). */
  MSR_AMD64_SEV: 0xc0010131,
  /** MSR_AMD64_SEV_ES_GHCB: the GHCB's GPA (or a GHCB MSR-protocol request). */
  MSR_AMD64_SEV_ES_GHCB: 0xc0010130,
} as const;

/** MSR_AMD64_SEV bits. */
export const SevStatus = {
  MSR_AMD64_SEV_ENABLED: 1 << 0,
  MSR_AMD64_SEV_ES_ENABLED: 1 << 1,
  MSR_AMD64_SEV_SNP_ENABLED: 1 << 2,
  MSR_AMD64_SNP_VTOM: 1 << 3,
  /** SEV_FEATURES ReflectVC: a VMPL>0 guest's #VC exits to VMPL0 (the paravisor) instead. */
  MSR_AMD64_SNP_REFLECT_VC: 1 << 4,
  /** SEV_FEATURES Restricted Injection: the hypervisor may inject only #HV. */
  MSR_AMD64_SNP_RESTRICTED_INJ: 1 << 5,
  /** SEV_FEATURES Alternate Injection: events are injected by a more privileged VMPL. */
  MSR_AMD64_SNP_ALT_INJ: 1 << 6,
} as const;

/** Hypervisor CPUID leaves (HYPERV_CPUID_*). */
export const HvCpuidLeaf = {
  HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS: 0x40000000,
  HYPERV_CPUID_INTERFACE: 0x40000001,
  HYPERV_CPUID_VERSION: 0x40000002,
  HYPERV_CPUID_FEATURES: 0x40000003,
  HYPERV_CPUID_ENLIGHTMENT_INFO: 0x40000004,
  HYPERV_CPUID_IMPLEMENT_LIMITS: 0x40000005,
  HYPERV_CPUID_CPU_MANAGEMENT_FEATURES: 0x40000007,
  HYPERV_CPUID_NESTED_FEATURES: 0x4000000a,
  HYPERV_CPUID_ISOLATION_CONFIG: 0x4000000c,
  HYPERV_CPUID_VIRT_STACK_INTERFACE: 0x40000081,
  HYPERV_CPUID_VIRT_STACK_PROPERTIES: 0x40000082,
} as const;

/** Architectural CPUID leaves whose CoCo flags the paravisor filters (C11). */
export const X86CpuidLeaf = {
  /** Leaf 1: ECX bit 31 = hypervisor present (X86_FEATURE_HYPERVISOR). */
  CPUID_FEATURES: 0x00000001,
  /** Intel TDX: leaf 0x21 subleaf 0 returns "IntelTDX    " in EBX, EDX, ECX. */
  TDX_CPUID_LEAF_ID: 0x00000021,
  /** AMD: leaf 0x8000001F: EAX bit1 SEV, bit3 SEV-ES, bit4 SEV-SNP; EBX[5:0] C-bit position. */
  AMD_MEM_ENCRYPT: 0x8000001f,
} as const;

export const CpuidBit = {
  /** Leaf 1 ECX: running under a hypervisor. */
  X86_FEATURE_HYPERVISOR: 1 << 31,
  /** FEATURES.EAX: HV_MSR_SYNIC_AVAILABLE. */
  HV_MSR_SYNIC_AVAILABLE: 1 << 2,
  /** FEATURES.EAX: HV_MSR_HYPERCALL_AVAILABLE (required at detection). */
  HV_MSR_HYPERCALL_AVAILABLE: 1 << 5,
  /** FEATURES.EAX: HV_MSR_VP_INDEX_AVAILABLE (required at detection). */
  HV_MSR_VP_INDEX_AVAILABLE: 1 << 6,
  /** FEATURES.EBX: HV_POST_MESSAGES. */
  HV_POST_MESSAGES: 1 << 4,
  /** FEATURES.EBX: HV_SIGNAL_EVENTS. */
  HV_SIGNAL_EVENTS: 1 << 5,
  /** FEATURES.EBX: HV_ISOLATION: gate for reading leaf 0x4000000C. */
  HV_ISOLATION: 1 << 22,
  /** ENLIGHTMENT_INFO.EAX: HV_DEPRECATING_AEOI_RECOMMENDED. */
  HV_DEPRECATING_AEOI_RECOMMENDED: 1 << 9,
  /** ENLIGHTMENT_INFO.EAX: HV_X64_USE_MMIO_HYPERCALLS (vPCI config space by hypercall). */
  HV_X64_USE_MMIO_HYPERCALLS: 1 << 21,
  /** ISOLATION_CONFIG.EAX bit 0: HV_PARAVISOR_PRESENT. */
  HV_PARAVISOR_PRESENT: 1 << 0,
  /** ISOLATION_CONFIG.EBX bit 5: HV_SHARED_GPA_BOUNDARY_ACTIVE. */
  HV_SHARED_GPA_BOUNDARY_ACTIVE: 1 << 5,
  /** VIRT_STACK_PROPERTIES.EAX bit 2: extended IO-APIC RTE. */
  HYPERV_VS_PROPERTIES_EAX_EXTENDED_IOAPIC_RTE: 1 << 2,
  /** VIRT_STACK_PROPERTIES.EAX bit 3: Confidential VMBus available (6.19). */
  HYPERV_VS_PROPERTIES_EAX_CONFIDENTIAL_VMBUS_AVAILABLE: 1 << 3,
  /** AMD leaf 0x8000001F EAX. */
  AMD_SEV: 1 << 1,
  AMD_SEV_ES: 1 << 3,
  AMD_SEV_SNP: 1 << 4,
} as const;

/** ISOLATION_CONFIG.EBX[3:0] (HV_ISOLATION_TYPE_*). */
export const HvIsolationType = {
  HV_ISOLATION_TYPE_NONE: 0,
  HV_ISOLATION_TYPE_VBS: 1,
  HV_ISOLATION_TYPE_SNP: 2,
  HV_ISOLATION_TYPE_TDX: 3,
} as const;

/** ISOLATION_CONFIG.EBX[11:6]: HV_SHARED_GPA_BOUNDARY_BITS. */
export const HV_SHARED_GPA_BOUNDARY_BITS_SHIFT = 6;
export const HV_SHARED_GPA_BOUNDARY_BITS_MASK = 0x3f;

/** "Microsoft Hv" as EBX, ECX, EDX of leaf 0x40000000. */
export const HV_SIGNATURE = "Microsoft Hv";
/** "Hv#1" in HYPERV_CPUID_INTERFACE.EAX. */
export const HYPERV_CPUID_SIGNATURE_EAX = 0x31237648;
/** "VS#1" in HYPERV_CPUID_VIRT_STACK_INTERFACE.EAX. */
export const HYPERV_VS_INTERFACE_EAX_SIGNATURE = 0x31235356;
/** "IntelTDX    " as EBX, EDX, ECX of CPUID leaf 0x21. */
export const TDX_IDENT = "IntelTDX    ";

/** enum hv_mem_host_visibility. */
export const HvMemHostVisibility = {
  VMBUS_PAGE_NOT_VISIBLE: 0,
  VMBUS_PAGE_VISIBLE_READ_ONLY: 1,
  VMBUS_PAGE_VISIBLE_READ_WRITE: 3,
} as const;

/** HV_MAX_MODIFY_GPA_REP_COUNT = PAGE_SIZE / sizeof(u64) - 2. */
export const HV_MAX_MODIFY_GPA_REP_COUNT = 510;
/** HV_PARTITION_ID_SELF. */
export const HV_PARTITION_ID_SELF = 0xffffffffffffffffn;
/** HV_LINUX_VENDOR_ID: top 16 bits of the guest OS id Linux writes. */
export const HV_LINUX_VENDOR_ID = 0x8100;
/** HV_HYPERCALL_MMIO_MAX_DATA_LENGTH. */
export const HV_HYPERCALL_MMIO_MAX_DATA_LENGTH = 64;

/** hv_generate_guest_id(): (HV_LINUX_VENDOR_ID << 48) | (kernel version << 16). */
export function hvGenerateGuestId(kernelVersion: number): bigint {
  return (BigInt(HV_LINUX_VENDOR_ID) << 48n) | (BigInt(kernelVersion >>> 0) << 16n);
}

/** Fixed addresses of paravisor-emulated MMIO (include/asm-generic/mshyperv.h). */
export const HV_IOAPIC_BASE_ADDRESS = 0xfec00000;
export const VTPM_BASE_ADDRESS = 0xfed40000;
