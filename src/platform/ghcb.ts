// The GHCB (Guest-Hypervisor Communication Block) fields the model touches, and the
// #HV doorbell page of SEV-SNP Restricted Injection.
//
// struct ghcb (arch/x86/include/asm/svm.h): the save area (valid_bitmap at 0x3F0),
// shared_buffer at 0x800, then reserved_0xff0[10], u16 protocol_version at 0xFFA,
// u32 ghcb_usage at 0xFFC. Hyper-V's hypercall page (union hv_ghcb,
// arch/x86/hyperv/ivm.c) overlays the same 4 KiB; its reserved2 at 0xFF8 covers
// protocol_version and ghcb_usage, which hv_ghcb_hypercall() sets before VMGEXIT.
//
// struct sev_hv_doorbell_page (Linux RFC "x86/sev: Initialize #HV doorbell and
// handle interrupt requests", T. Lan, 2022; COCONUT-SVSM kernel/src/sev/hv_doorbell.rs;
// GHCB spec 2.x "#HV Doorbell Page"): u8 vector, u8 flags (bit 0 NMI pending, bit 1
// MC pending, bit 7 no_further_signal), u8 no_eoi_required, then reserved.
import { type ConstantEntry, constantsOf, defineStruct } from "../layout/struct.ts";

/** struct ghcb offsets used by the model. */
export const GHCB_OFFSETS = {
  /** ghcb.save.valid_bitmap (2 x u64): cleared after each Hyper-V hypercall. */
  VALID_BITMAP: 0x3f0,
  VALID_BITMAP_SIZE: 16,
  PROTOCOL_VERSION: 0xffa,
  GHCB_USAGE: 0xffc,
} as const;

/** GHCB_PROTOCOL_MAX (arch/x86/include/asm/sev-common.h). */
export const GHCB_PROTOCOL_MAX = 2;
/** ghcb_usage values (arch/x86/include/asm/svm.h): 0 the standard layout, 1 Hyper-V's hypercall page. */
export const GHCB_USAGE = {
  GHCB_DEFAULT_USAGE: 0,
  GHCB_USAGE_HYPERV_CALL: 1,
  /** What hv_ghcb_hypercall() leaves behind after the exit. */
  INVALID: 0xffffffff,
} as const;

export const HV_DOORBELL_PAGE = defineStruct(
  "sev_hv_doorbell_page",
  "Linux RFC x86/sev #HV doorbell (2022); coconut-svsm kernel/src/sev/hv_doorbell.rs",
  [
    { name: "vector", size: 1, note: "pending interrupt vector, 0 = none (the guest xchg()s it to 0)" },
    { name: "flags", size: 1, note: "bit 0 NMI pending, bit 1 MC pending, bit 7 no_further_signal" },
    { name: "no_eoi_required", size: 1, note: "bit 0: the hypervisor needs no explicit EOI" },
    { name: "reserved2", size: 61 },
  ] as const,
  { size: 4096 },
);

export const HV_DOORBELL_FLAG = { NMI: 0x01, MC: 0x02, NO_FURTHER_SIGNAL: 0x80 } as const;

export const GHCB_CONSTANTS: readonly ConstantEntry[] = [
  ...constantsOf("GHCB", "arch/x86/include/asm/svm.h; arch/x86/include/asm/sev-common.h", {
    ...GHCB_OFFSETS,
    GHCB_PROTOCOL_MAX,
    ...GHCB_USAGE,
  }),
  ...constantsOf("HV_DOORBELL_FLAG", "Linux RFC x86/sev #HV doorbell", HV_DOORBELL_FLAG),
];
