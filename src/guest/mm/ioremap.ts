// ioremap() with the private-MMIO callback (arch/x86/mm/ioremap.c __ioremap_caller(),
// __ioremap_check_other(); arch/x86/hyperv/ivm.c hv_is_private_mmio(); C12).
//
// In a CoCo guest MMIO is mapped decrypted (shared: the host emulates it) unless
// x86_platform.hyper.is_private_mmio says the address belongs to a device the
// paravisor emulates: then the mapping is encrypted, the access stays private and
// the paravisor serves it. Hyper-V's callback (installed by hv_vtom_init(), i.e. only
// with a paravisor) claims exactly two pages: the IO-APIC and the vTPM.
//
// The mapping's accessors are readl/writel and friends; memcpy_toio/fromio move 4
// bytes per access (each one an exit, as the #VC/#VE handlers emulate one access
// per exception).
import { Label } from "../../audit/labels.ts";
import { HV_IOAPIC_BASE_ADDRESS, VTPM_BASE_ADDRESS } from "../../hyperv/hvgdk.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import type { GuestKernel } from "../kernel.ts";

/** hv_is_private_mmio(): the IO-APIC page and the vTPM page. */
export function hvIsPrivateMmio(addr: number): boolean {
  if (addr >= HV_IOAPIC_BASE_ADDRESS && addr < HV_IOAPIC_BASE_ADDRESS + PAGE_SIZE) return true;
  if (addr >= VTPM_BASE_ADDRESS && addr < VTPM_BASE_ADDRESS + PAGE_SIZE) return true;
  return false;
}

export interface IoMapping {
  readonly phys: number;
  readonly size: number;
  /** The PTE's encryption bit: private MMIO (the paravisor serves it) or shared (the host). */
  readonly encrypted: boolean;
  readb(off: number): number;
  readl(off: number): number;
  writeb(off: number, v: number, label?: number): void;
  writel(off: number, v: number, label?: number): void;
  /** memcpy_fromio(): `len` bytes from `off`. */
  read(off: number, len: number): Uint8Array;
  /** memcpy_toio(): the bytes, each with the auditor's label. */
  write(off: number, src: Uint8Array, label?: number): void;
}

/**
 * ioremap(phys, size) on CPU `vp`: the encryption bit comes from the callback,
 * then from cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT) (decrypted), else plain.
 */
export function ioremap(k: GuestKernel, phys: number, size: number, vp = 0): IoMapping {
  let encrypted: boolean;
  if (k.isPrivateMmio?.(phys))
    encrypted = true; // IORES_MAP_ENCRYPTED
  else if (k.cc.has("CC_ATTR_GUEST_MEM_ENCRYPT"))
    encrypted = false; // pgprot_decrypted
  else encrypted = true; // no memory encryption: the bit means nothing
  const cpu = (): NonNullable<(typeof k.hw.cpus)[number]> => k.hw.cpus[vp]!;
  const check = (off: number, len: number): number => {
    if (!Number.isInteger(off) || off < 0 || off + len > size)
      throw new Error(`ioremap access [0x${off.toString(16)}, +${len}) outside the ${size}-byte mapping`);
    return phys + off;
  };
  const le = (b: Uint8Array): number => {
    let v = 0;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8) | b[i]!;
    return v >>> 0;
  };
  const bytes = (v: number, n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (v >>> (8 * i)) & 0xff;
    return b;
  };
  const m: IoMapping = {
    phys,
    size,
    encrypted,
    readb: (off) => le(cpu().mmioRead(check(off, 1), 1, encrypted)),
    readl: (off) => le(cpu().mmioRead(check(off, 4), 4, encrypted)),
    writeb: (off, v, label = Label.SECRET) =>
      cpu().mmioWrite(check(off, 1), bytes(v, 1), encrypted, new Uint8Array(1).fill(label)),
    writel: (off, v, label = Label.SECRET) =>
      cpu().mmioWrite(check(off, 4), bytes(v, 4), encrypted, new Uint8Array(4).fill(label)),
    read(off, len) {
      check(off, len);
      const out = new Uint8Array(len);
      for (let at = 0; at < len; ) {
        const n = len - at >= 4 ? 4 : 1;
        out.set(cpu().mmioRead(phys + off + at, n, encrypted), at);
        at += n;
      }
      return out;
    },
    write(off, src, label = Label.SECRET) {
      check(off, src.length);
      for (let at = 0; at < src.length; ) {
        const n = src.length - at >= 4 ? 4 : 1;
        cpu().mmioWrite(phys + off + at, src.subarray(at, at + n), encrypted, new Uint8Array(n).fill(label));
        at += n;
      }
    },
  };
  k.iomaps.push(m);
  return m;
}
