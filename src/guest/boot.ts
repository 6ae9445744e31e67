// One guest image, one boot path (C8): probe the architectural CoCo flags (SNP's
// early memory validation and TDX's early init key off them), detect Hyper-V and
// its isolation configuration from the synthetic CPUID leaves, choose the
// cc_platform attributes and the encryption callbacks (hv_vtom_init in paravisor
// mode), then hyperv_init(): guest OS id, per-CPU hypercall pages, hypercall page.

import { Label } from "../audit/labels.ts";
import { CpuidBit, HvMsr, hvGenerateGuestId, TDX_IDENT, X86CpuidLeaf, X86Msr } from "../hyperv/hvgdk.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import { detectHyperV, type MsHypervInfo } from "./arch/ms_hyperv.ts";
import { SNP_ATTRS, TDX_ATTRS, VTOM_ATTRS } from "./cc_platform.ts";
import { guestDevicesInit } from "./devices.ts";
import { GUEST_DRIVERS } from "./drivers/index.ts";
import type { GuestKernel } from "./kernel.ts";
import { hvVtomCallbacks, noEncCallbacks, snpCallbacks, tdxCallbacks } from "./mm/enc_callbacks.ts";
import { hvIsPrivateMmio } from "./mm/ioremap.ts";
import { setMemoryDecrypted } from "./mm/set_memory.ts";
import { swiotlbInit } from "./mm/swiotlb.ts";
import { GuestPanic } from "./panic.ts";
import type { VmbusOptions } from "./vmbus/connection.ts";
import { vmbusBusInit } from "./vmbus/vmbus_drv.ts";

/** Linux 6.19 as hv_generate_guest_id() encodes LINUX_VERSION_CODE. */
export const LINUX_VERSION_CODE = (6 << 16) | (19 << 8);

export { GuestPanic };

export interface BootOptions {
  /** Hyper-V's not-present marking during transitions (the C36 hardening). */
  notPresent: boolean;
  /** hv_vtom_init() installs hv_is_private_mmio (the C12 hardening); true when absent. */
  privateMmio?: boolean;
  /** The VMBus client's hardenings (C18-C20); all on when absent. */
  vmbus?: VmbusOptions;
  /** Never free pages whose conversion failed (their state is unknown); true when absent. */
  leakFailedConversions?: boolean;
  /** The DMA API bounces through swiotlb in a CoCo VM (C21); false = swiotlb=noforce. True when absent. */
  swiotlbBounce?: boolean;
}

export function bootGuest(k: GuestKernel, opts: BootOptions): void {
  const cpu0 = k.hw.cpus[0]!;
  k.leakFailedConversions = opts.leakFailedConversions ?? true;
  k.swiotlbNoForce = opts.swiotlbBounce === false;

  // sme_enable() / sev early boot: keyed off the SNP CPUID flag, which a paravisor hides (C11).
  k.step("probe architectural CoCo CPUID flags");
  const amd = cpu0.cpuid(X86CpuidLeaf.AMD_MEM_ENCRYPT);
  const snpFlag = (amd.eax & CpuidBit.AMD_SEV_SNP) !== 0;
  const tdx = cpu0.cpuid(X86CpuidLeaf.TDX_CPUID_LEAF_ID);
  const tdxFlag =
    tdx.ebx !== 0 &&
    String.fromCharCode(tdx.ebx & 0xff, (tdx.ebx >>> 8) & 0xff, (tdx.ebx >>> 16) & 0xff, tdx.ebx >>> 24) ===
      TDX_IDENT.slice(0, 4);
  if (snpFlag) {
    // sme_enable(): with the SEV CPUID bits, read the SEV status MSR (not intercepted).
    k.sevStatus = cpu0.rdmsr(X86Msr.MSR_AMD64_SEV);
    // Early-boot memory validation (PVALIDATE every page the guest owns).
    k.step("SNP early boot: PVALIDATE guest memory");
    const r = k.hw.validate(0, k.hw.usablePages, true);
    if (!r.ok) throw new GuestPanic(`SNP early boot: PVALIDATE failed (${r.code}): sev_es_terminate`);
    k.earlyValidation = true;
  }
  if (tdxFlag) {
    k.step("TDX early init: accept guest memory");
    const r = k.hw.validate(0, k.hw.usablePages, true);
    if (!r.ok) throw new GuestPanic(`TDX early init: TDG.MEM.PAGE.ACCEPT failed (${r.code})`);
    k.earlyValidation = true;
  }

  k.step("detect Hyper-V (CPUID 0x40000000-0x40000082)");
  const d = detectHyperV((leaf) => cpu0.cpuid(leaf));
  if (!d.ok) throw new GuestPanic(`not on Hyper-V: ${d.reason}`);
  const info = d.info;
  k.info = info;
  k.log(
    `Hyper-V: isolation type ${info.isolationType}, paravisor ${info.paravisorPresent ? "present" : "absent"}, shared GPA boundary 0x${info.sharedGpaBoundary.toString(16)}`,
  );
  checkIsolationClaims(info, snpFlag, tdxFlag, k.hw.usablePages * PAGE_SIZE);

  if (info.isolationType === "snp" || info.isolationType === "tdx") {
    if (info.paravisorPresent) {
      // hv_vtom_init(): attributes from the Hyper-V configuration, not the CPUID flags.
      k.step("hv_vtom_init: cc attributes and Hyper-V callbacks");
      k.cc.set(
        info.isolationType === "snp" ? "CC_VENDOR_AMD" : "CC_VENDOR_INTEL",
        info.isolationType === "snp" ? VTOM_ATTRS : TDX_ATTRS,
      );
      k.cc.mask = info.sharedGpaBoundary;
      k.enc = hvVtomCallbacks(opts.notPresent);
      // x86_platform.hyper.is_private_mmio = hv_is_private_mmio (C12).
      k.isPrivateMmio = opts.privateMmio === false ? undefined : hvIsPrivateMmio;
    } else if (info.isolationType === "snp") {
      if (!snpFlag) throw new GuestPanic("SNP isolation without the SNP CPUID flag and without a paravisor");
      k.step("SEV-SNP: native cc attributes and callbacks");
      k.cc.set("CC_VENDOR_AMD", SNP_ATTRS);
      k.cc.mask = 2 ** 51;
      k.enc = snpCallbacks;
    } else {
      if (!tdxFlag) throw new GuestPanic("TDX isolation without the TDX CPUID leaf and without a paravisor");
      k.step("TDX: native cc attributes and callbacks");
      k.cc.set("CC_VENDOR_INTEL", TDX_ATTRS);
      k.cc.mask = info.sharedGpaBoundary;
      k.enc = tdxCallbacks;
    }
  } else {
    k.enc = noEncCallbacks;
  }
  hypervInit(k);
  k.step("swiotlb: allocate and decrypt the bounce pool");
  k.swiotlb = swiotlbInit(k, k.hw.usablePages * PAGE_SIZE);
  guestDevicesInit(k);
  vmbusBusInit(
    k,
    opts.vmbus ?? { copyBeforeValidate: true, zeroPadding: true, isolationFilter: true },
    GUEST_DRIVERS,
  );
}

/**
 * The hypervisor's description of the VM is untrusted; the SNP/TDX CPUID flags come
 * from the hardware (the SNP CPUID page, the TDX module). Where the two disagree, or
 * the shared-GPA boundary would alias guest memory, the guest refuses to go on
 * rather than run with the wrong protections. (A paravisor hides the flags and
 * supplies the isolation leaf itself, so a paravisor-mode guest sees its truth.)
 */
function checkIsolationClaims(
  info: MsHypervInfo,
  snpFlag: boolean,
  tdxFlag: boolean,
  memoryBytes: number,
): void {
  if ((snpFlag || tdxFlag) && info.paravisorPresent)
    throw new GuestPanic(
      "Hyper-V reports a paravisor, but the SNP/TDX CPUID flag is visible (a paravisor hides it)",
    );
  if (snpFlag && info.isolationType !== "snp")
    throw new GuestPanic(`the hardware is SEV-SNP but Hyper-V reports isolation type ${info.isolationType}`);
  if (tdxFlag && info.isolationType !== "tdx")
    throw new GuestPanic(`the hardware is TDX but Hyper-V reports isolation type ${info.isolationType}`);
  if (info.sharedGpaBoundaryActive && info.sharedGpaBoundary < memoryBytes)
    throw new GuestPanic(
      `shared GPA boundary 0x${info.sharedGpaBoundary.toString(16)} lies inside guest memory`,
    );
}

/** hyperv_init() and hv_common_cpu_init() (kernel-facts.md §5.6). */
export function hypervInit(k: GuestKernel): void {
  const info = k.info!;
  const isolated = info.isolationType === "snp" || info.isolationType === "tdx";
  k.step("hv_common_cpu_init: per-CPU hypercall input/output pages");
  for (let vp = 0; vp < k.hw.cpus.length; vp++) {
    const pfn = k.alloc.alloc(2);
    if (pfn === undefined) throw new GuestPanic("out of memory for hypercall pages");
    const gpa = pfn * PAGE_SIZE;
    // Decrypted only when there is no paravisor: with one, hypercalls go to it (C17).
    if (isolated && !info.paravisorPresent) {
      const ret = setMemoryDecrypted(k, gpa, 2, `hypercall input/output pages, CPU ${vp}`);
      if (ret !== 0) throw new GuestPanic(`hypercall pages: set_memory_decrypted failed (${ret})`);
    }
    k.hw.mem.fill(gpa, 2 * PAGE_SIZE, 0, Label.PUBLIC);
    k.percpu[vp] = { inputPage: gpa, outputPage: gpa + PAGE_SIZE };
  }

  k.step("write HV_X64_MSR_GUEST_OS_ID");
  const id = hvGenerateGuestId(LINUX_VERSION_CODE);
  k.hw.cpus[0]!.wrmsr(HvMsr.HV_X64_MSR_GUEST_OS_ID, id);
  if (info.paravisorPresent) {
    // hv_ivm_msr_write(): the hypervisor's copy too, through the GHCB / GHCI.
    (info.isolationType === "snp" ? k.hw.ghcb : k.hw.tdvmcall)?.wrmsr(0, HvMsr.HV_X64_MSR_GUEST_OS_ID, id);
  }

  if (info.isolationType === "tdx" && !info.paravisorPresent) {
    k.step("TDX without paravisor: no hypercall page (GHCI only)");
    return;
  }
  k.step("enable the hypercall page (HV_X64_MSR_HYPERCALL)");
  const pfn = k.alloc.alloc(1);
  if (pfn === undefined) throw new GuestPanic("out of memory for the hypercall page");
  const cur = k.hw.cpus[0]!.rdmsr(HvMsr.HV_X64_MSR_HYPERCALL);
  k.hw.cpus[0]!.wrmsr(HvMsr.HV_X64_MSR_HYPERCALL, (cur & 0xfffn) | 1n | (BigInt(pfn) << 12n));
  k.hypercallPage = true;
  hvIvmPages(k);
}

/**
 * The pages a paravisor-mode guest uses to reach the hypervisor directly: the
 * per-CPU GHCB (SNP; OpenHCL supplies it, the model allocates and decrypts it) and
 * the post_msg_page (TDX, hv_synic_alloc). Both decrypted: the hypervisor reads them.
 */
function hvIvmPages(k: GuestKernel): void {
  const info = k.info!;
  if (info.paravisorPresent && info.isolationType === "snp") {
    // hv_cpu_init(): the per-CPU GHCB used for direct calls to the hypervisor (decrypted).
    k.step("map the per-CPU GHCB pages (decrypted)");
    for (let vp = 0; vp < k.hw.cpus.length; vp++) {
      const pfn = k.alloc.alloc(1);
      if (pfn === undefined) throw new GuestPanic("out of memory for GHCB pages");
      if (setMemoryDecrypted(k, pfn * PAGE_SIZE, 1, `GHCB, CPU ${vp}`) !== 0)
        throw new GuestPanic("GHCB: set_memory_decrypted failed");
      k.hw.mem.fill(pfn * PAGE_SIZE, PAGE_SIZE, 0, Label.PUBLIC);
      k.percpu[vp]!.ghcbPage = pfn * PAGE_SIZE;
    }
  }
  if (info.paravisorPresent && info.isolationType === "tdx") {
    // hv_synic_alloc(): post_msg_page, decrypted unless VMBus is confidential.
    // (Messages to a Confidential VMBus go through the hypercall page instead; C17.)
    const decrypt = !info.confidentialVmbusAvailable;
    k.step(`allocate the per-CPU post_msg_page (${decrypt ? "decrypted" : "encrypted: Confidential VMBus"})`);
    for (let vp = 0; vp < k.hw.cpus.length; vp++) {
      const pfn = k.alloc.alloc(1);
      if (pfn === undefined) throw new GuestPanic("out of memory for post_msg_page");
      if (decrypt && setMemoryDecrypted(k, pfn * PAGE_SIZE, 1, `post_msg_page, CPU ${vp}`) !== 0)
        throw new GuestPanic("post_msg_page: set_memory_decrypted failed");
      k.hw.mem.fill(pfn * PAGE_SIZE, PAGE_SIZE, 0, Label.PUBLIC);
      k.percpu[vp]!.postMsgPage = pfn * PAGE_SIZE;
    }
  }
}
