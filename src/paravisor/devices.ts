// The paravisor's emulated devices as MMIO devices (C12): the IO-APIC at
// HV_IOAPIC_BASE_ADDRESS and the vTPM's CRB at VTPM_BASE_ADDRESS, one page each
// (arch/x86/hyperv/ivm.c hv_is_private_mmio(); include/asm-generic/mshyperv.h).
import type { MmioDevice } from "../platform/mmio.ts";
import { HV_IOAPIC_BASE_ADDRESS, IOAPIC_MMIO_SIZE, type IoApic } from "./ioapic.ts";
import { VTPM_BASE_ADDRESS, VTPM_MMIO_SIZE } from "./tpm/constants.ts";
import type { TpmCrb } from "./tpm/crb.ts";

/** The IO-APIC's register window; an access wider than 4 bytes reaches the low register only. */
export function ioapicMmio(ioapic: IoApic, name = "IO-APIC"): MmioDevice {
  return {
    name,
    base: HV_IOAPIC_BASE_ADDRESS,
    size: IOAPIC_MMIO_SIZE,
    read(offset, dst) {
      const v = ioapic.mmioRead(offset, dst.length);
      dst.fill(0);
      for (let i = 0; i < Math.min(4, dst.length); i++) dst[i] = (v >>> (8 * i)) & 0xff;
    },
    write(offset, src) {
      let v = 0;
      for (let i = Math.min(4, src.length) - 1; i >= 0; i--) v = (v << 8) | src[i]!;
      ioapic.mmioWrite(offset, src.length, v >>> 0);
    },
  };
}

/** The vTPM's CRB register page and data buffer. */
export function crbMmio(crb: TpmCrb, name = "vTPM (CRB)"): MmioDevice {
  return {
    name,
    base: VTPM_BASE_ADDRESS,
    size: VTPM_MMIO_SIZE,
    read: (offset, dst) => crb.readBytes(offset, dst),
    write: (offset, src) => crb.writeBytes(offset, src),
  };
}
