// cc_platform_has(): the attributes the guest decides its behaviour by
// (include/linux/cc_platform.h; arch/x86/coco/core.c). In paravisor mode they come
// from the Hyper-V isolation configuration (hv_vtom_init), without the SNP/TDX
// CPUID flags, which the paravisor hides (C11).

export const CC_ATTRS = [
  "CC_ATTR_MEM_ENCRYPT",
  "CC_ATTR_HOST_MEM_ENCRYPT",
  "CC_ATTR_GUEST_MEM_ENCRYPT",
  "CC_ATTR_GUEST_STATE_ENCRYPT",
  "CC_ATTR_GUEST_UNROLL_STRING_IO",
  "CC_ATTR_GUEST_SEV_SNP",
] as const;
export type CcAttr = (typeof CC_ATTRS)[number];

export type CcVendor = "CC_VENDOR_NONE" | "CC_VENDOR_AMD" | "CC_VENDOR_INTEL";

export class CcPlatform {
  vendor: CcVendor = "CC_VENDOR_NONE";
  readonly #attrs = new Set<CcAttr>();
  /** cc_mask: the PTE bit that marks a mapping decrypted (vTOM / TDX shared bit) or encrypted (SNP C-bit). */
  mask = 0;

  has(a: CcAttr): boolean {
    return this.#attrs.has(a);
  }

  set(vendor: CcVendor, attrs: readonly CcAttr[]): void {
    this.vendor = vendor;
    this.#attrs.clear();
    for (const a of attrs) this.#attrs.add(a);
  }

  list(): CcAttr[] {
    return CC_ATTRS.filter((a) => this.#attrs.has(a));
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#attrs];
  }
}

/** amd_cc_platform_has() with SEV-SNP enlightened (sev_status has SEV, SEV-ES, SNP). */
export const SNP_ATTRS: readonly CcAttr[] = [
  "CC_ATTR_MEM_ENCRYPT",
  "CC_ATTR_GUEST_MEM_ENCRYPT",
  "CC_ATTR_GUEST_STATE_ENCRYPT",
  "CC_ATTR_GUEST_SEV_SNP",
];
/** amd_cc_platform_has() with sev_status = MSR_AMD64_SNP_VTOM (hv_vtom_init). */
export const VTOM_ATTRS: readonly CcAttr[] = ["CC_ATTR_MEM_ENCRYPT", "CC_ATTR_GUEST_MEM_ENCRYPT"];
/** intel_cc_platform_has(). */
export const TDX_ATTRS: readonly CcAttr[] = [
  "CC_ATTR_MEM_ENCRYPT",
  "CC_ATTR_GUEST_MEM_ENCRYPT",
  "CC_ATTR_GUEST_UNROLL_STRING_IO",
];
