// The guest kernel's state: what it detected, the attributes and callbacks it
// chose, its per-CPU pages, and its log. The mechanisms that act on it live in
// their own modules (arch/, mm/, hv_init, hypercall, boot), as in Linux.
import type { Auditor } from "../audit/auditor.ts";
import type { Hooks } from "../vm/hooks.ts";
import type { MsHypervInfo } from "./arch/ms_hyperv.ts";
import { CcPlatform } from "./cc_platform.ts";
import type { GuestAttestationState, GuestTpmState } from "./devices.ts";
import type { GuestHardware } from "./hardware.ts";
import type { SynicPages } from "./hv.ts";
import type { EncCallbacks } from "./mm/enc_callbacks.ts";
import type { IoMapping } from "./mm/ioremap.ts";
import { PageAllocator } from "./mm/page_alloc.ts";
import type { SwiotlbPool } from "./mm/swiotlb.ts";
import type { VmbusConnection } from "./vmbus/connection.ts";

export interface PerCpu {
  /** Per-CPU hypercall input page (hyperv_pcpu_input_arg), a GPA. */
  inputPage: number;
  /** Per-CPU hypercall output page (hyperv_pcpu_output_arg), a GPA. */
  outputPage: number;
  /** SNP with a paravisor: the per-CPU GHCB page (decrypted), laid out as union hv_ghcb. */
  ghcbPage?: number;
  /** TDX with a paravisor: the decrypted page HvPostMessage input goes in (hv_synic_alloc). */
  postMsgPage?: number;
}

export class GuestKernel {
  readonly hw: GuestHardware;
  readonly hooks: Hooks;
  /** The auditor's rejection log, where the guest records each input it refused (with a reason). */
  readonly #audit: Auditor;
  readonly cc = new CcPlatform();
  readonly alloc: PageAllocator;
  readonly dmesg: string[] = [];
  readonly bootSteps: string[] = [];
  info: MsHypervInfo | undefined;
  /** Set by boot: how encrypt/decrypt transitions are carried out (C13). */
  enc: EncCallbacks | undefined;
  readonly percpu: PerCpu[] = [];
  /** Ranges the guest decrypted on purpose, by GPA, with what each is for. */
  readonly sharedRanges = new Map<number, { gpa: number; pages: number; purpose: string }>();
  /**
   * Pages whose encryption state is unknown because a conversion failed (the host
   * can make one fail half-way): never handed out again, as Linux leaks them rather
   * than return possibly-shared memory to the page allocator. First pfn → count.
   */
  readonly leaked = new Map<number, number>();
  /** Per-CPU hypervisor SynIC pages (GPAs), once enabled. */
  readonly synic: SynicPages[] = [];
  /** Per-CPU paravisor SynIC pages (para_synic_message_page / _event_page, private), with Confidential VMBus. */
  readonly paraSynic: SynicPages[] = [];
  /** Early-boot memory validation ran (SNP enlightened, keyed off the SNP CPUID flag). */
  earlyValidation = false;
  /** VMBus talks to the paravisor's Confidential VMBus (decided at vmbus_bus_init). */
  confidentialVmbus = false;
  /** A hypercall page is installed (not for TDX without a paravisor). */
  hypercallPage = false;
  swiotlb: SwiotlbPool | undefined;
  /** swiotlb=noforce: the DMA API never bounces, even in a CoCo VM (the C21 negative control). */
  swiotlbNoForce = false;
  /** The VMBus connection, once vmbus_bus_init ran. */
  vmbus: VmbusConnection | undefined;
  /** Fixups the exception table applied (load_unaligned_zeropad). */
  zeropadFixups = 0;
  /** x86_platform.hyper.is_private_mmio (hv_is_private_mmio with a paravisor, C12). */
  isPrivateMmio: ((addr: number) => boolean) | undefined;
  /** Every ioremap() mapping, in order. */
  readonly iomaps: IoMapping[] = [];
  /** sev_status (MSR_AMD64_SEV), read in SNP early boot. */
  sevStatus = 0n;
  /** Per-CPU #HV doorbell pages (SNP Restricted Injection), GPAs. */
  readonly hvDoorbell: number[] = [];
  /** The vTPM as the guest's driver found it (paravisor mode). */
  tpm: GuestTpmState | undefined;
  /** The guest's check of its paravisor (C25). */
  attestation: GuestAttestationState = { state: "none" };

  constructor(hw: GuestHardware, hooks: Hooks, audit: Auditor) {
    this.hw = hw;
    this.hooks = hooks;
    this.#audit = audit;
    this.alloc = new PageAllocator(hw.usablePages, undefined, (pfn, count) => this.#isLeaked(pfn, count));
  }

  /** The hardening behind `leaked` (switched off only for its negative control). */
  leakFailedConversions = true;

  #isLeaked(pfn: number, count: number): boolean {
    if (!this.leakFailedConversions) return false;
    for (const [p, n] of this.leaked) if (pfn < p + n && p < pfn + count) return true;
    return false;
  }

  log(line: string): void {
    this.dmesg.push(line);
  }

  step(name: string): void {
    this.bootSteps.push(name);
    this.#audit.boundary.cross("boot-step", "guest", "guest", name);
  }

  /** Record a rejected host input with its reason (the guest's log of why). */
  reject(code: string, message: string): void {
    this.log(`rejected: ${message}`);
    this.#audit.rejection(code, message);
  }

  get paravisor(): boolean {
    return this.info?.paravisorPresent ?? false;
  }

  get isolation(): MsHypervInfo["isolationType"] {
    return this.info?.isolationType ?? "none";
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#audit];
  }
}
