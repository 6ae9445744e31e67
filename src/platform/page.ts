// Pages of guest physical memory and the per-page state the platform keeps.
// One byte of flags per 4 KiB page: the hardware's view (private, shared or in
// transition; validated/accepted; owned by the paravisor), the host's SLAT
// (visible or not) and the guest's page-table entry for the page (present; mapped
// encrypted). Constants keep the kernel's names where the kernel has one.

/** Bytes in a page (PAGE_SIZE; HV_HYP_PAGE_SIZE on x86). */
export const PAGE_SIZE = 4096;
/** log2(PAGE_SIZE) (PAGE_SHIFT, HV_HYP_PAGE_SHIFT). */
export const PAGE_SHIFT = 12;

/** What the hardware holds a page as. */
export const PageState = {
  /** Encrypted with the guest's key (SNP: RMP-assigned to the guest; TDX: in the Secure EPT). */
  PRIVATE: 0,
  /** Decrypted: readable and writable by the host where its SLAT maps it. */
  SHARED: 1,
  /** Between the two: some steps of a conversion are done, others not (C34). */
  TRANSITION: 2,
} as const;
export type PageState = (typeof PageState)[keyof typeof PageState];
export const PAGE_STATE_NAMES = ["private", "shared", "transition"] as const;

/** Bits of a page's flag byte. */
export const PageFlag = {
  /** Bits 1:0 hold the PageState. */
  STATE_MASK: 0x03,
  /** The guest's PTE for the page is present (cleared for the whole of a Hyper-V transition, C36). */
  PRESENT: 0x04,
  /** The guest's PTE maps the page encrypted (C-bit set on SNP; below vTOM / shared bit clear). */
  ENC_MAPPED: 0x08,
  /** SNP: PVALIDATEd in the RMP; TDX: accepted (TDG.MEM.PAGE.ACCEPT). */
  VALIDATED: 0x10,
  /** The paravisor's own page: no RMP permission for VMPL2 / not mapped into the L2 guest. */
  PARAVISOR: 0x20,
  /** Mapped in the host's SLAT: the host can reach it (plaintext only if also SHARED). */
  HOST_VISIBLE: 0x40,
} as const;

export function pageState(flags: number): PageState {
  return (flags & PageFlag.STATE_MASK) as PageState;
}

export function pfnOf(gpa: number): number {
  return Math.floor(gpa / PAGE_SIZE);
}
