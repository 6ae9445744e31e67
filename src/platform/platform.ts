// The confidential-computing hardware of one VM: its guest physical memory, the
// memory encryption engine, the privilege levels (SNP VMPLs / TDX L1-L2), the
// privileged page operations (PVALIDATE/RMPADJUST, TDG.MEM.PAGE.ACCEPT), and the
// delivery of #VC/#VE/#PF to their owner. It hands each actor only its own view:
// CpuMemory to the guest and paravisor, UntrustedView to the hypervisor and host.
import type { Auditor } from "../audit/auditor.ts";
import { SevStatus } from "../hyperv/hvgdk.ts";
import { appendOnly } from "../util/snapshot-hints.ts";
import { hardened, type VmConfig } from "../vm/config.ts";
import { PlatformSecurityProcessor } from "./attestation.ts";
import { type CpuLevel, CpuMemory } from "./cpu-memory.ts";
import {
  type CocoException,
  type ExceptionCause,
  type ExceptionHandler,
  GuestCrash,
  type Resolution,
  type Vector,
  vcErrorCode,
  veExitReason,
} from "./exceptions.ts";
import { GuestMemory } from "./memory.ts";
import { MemoryEncryption } from "./memory-encryption.ts";
import { PAGE_SIZE, PageFlag, PageState } from "./page.ts";
import { UntrustedView } from "./untrusted-view.ts";

/** Where each party runs (C5, C7). */
export interface Placement {
  /** "VMPL0" | "VMPL2" (SNP), "L1" | "L2" (TDX), "-" (no isolation). */
  guest: string;
  paravisor: string | null;
}

/** Bytes at the top of guest memory that hold the paravisor (VTL2 memory) in paravisor mode. */
export const PARAVISOR_MEMORY_BYTES = 2 * 1024 * 1024;

/** Shared-GPA boundary bit: vTOM for SNP with a paravisor, the shared bit for TDX (GPAW 48). */
export const SNP_VTOM_BITS = 46;
export const TDX_SHARED_BITS = 47;

export type PrivilegedResult =
  | { ok: true }
  | { ok: false; code: "FAIL_PERMISSION" | "FAIL_INPUT" | "FAIL_SIZEMISMATCH" };

export class Platform {
  readonly config: VmConfig;
  readonly memory: GuestMemory;
  readonly audit: Auditor;
  readonly placement: Placement;
  /** vTOM / TDX shared bit as an address (0 when SNP uses the C-bit). */
  readonly sharedBoundary: number;
  readonly sharedBoundaryBits: number;
  /** The context that holds VMPL0 / L1 privileges. */
  readonly privileged: CpuLevel;
  /** The paravisor's pages (empty range when there is no paravisor). */
  readonly paravisorPfn: number;
  readonly paravisorPages: number;
  /** Paravisor mode: SynIC message/event pages the paravisor supplies (2 per vCPU, below its memory). */
  readonly synicOverlayPfn: number;
  /** The guest's usable pages: everything below the overlay and the paravisor's memory. */
  readonly guestPages: number;
  readonly #enc: MemoryEncryption;
  readonly #handlers: Partial<Record<CpuLevel, ExceptionHandler>> = {};
  readonly exceptions: Record<CpuLevel, number> = { guest: 0, paravisor: 0 };
  readonly exceptionLog: CocoException[] = appendOnly([]);

  constructor(config: VmConfig, audit: Auditor, key: number) {
    this.config = config;
    this.audit = audit;
    this.#enc = new MemoryEncryption(key);
    const iso = config.isolation;
    const pv = config.mode === "paravisor";
    // Before anything runs, a CoCo VM's memory is private and not validated; a normal
    // VM's is plain memory the host maps.
    const initial =
      iso === "none"
        ? PageState.SHARED | PageFlag.HOST_VISIBLE | PageFlag.PRESENT | PageFlag.VALIDATED
        : PageState.PRIVATE | PageFlag.PRESENT | PageFlag.ENC_MAPPED;
    this.memory = new GuestMemory(config.memoryBytes, initial);
    this.placement =
      iso === "none"
        ? { guest: "-", paravisor: null }
        : iso === "snp"
          ? pv
            ? { guest: "VMPL2", paravisor: "VMPL0" }
            : { guest: "VMPL0", paravisor: null }
          : pv
            ? { guest: "L2", paravisor: "L1" }
            : { guest: "L1", paravisor: null };
    this.sharedBoundaryBits = iso === "tdx" ? TDX_SHARED_BITS : iso === "snp" && pv ? SNP_VTOM_BITS : 0;
    this.sharedBoundary = this.sharedBoundaryBits ? 2 ** this.sharedBoundaryBits : 0;
    this.privileged = pv ? "paravisor" : "guest";
    this.paravisorPages = pv ? PARAVISOR_MEMORY_BYTES / PAGE_SIZE : 0;
    this.paravisorPfn = this.memory.pages - this.paravisorPages;
    this.synicOverlayPfn = pv ? this.paravisorPfn - 2 * config.vcpus : this.paravisorPfn;
    this.guestPages = this.synicOverlayPfn;
  }

  get isolated(): boolean {
    return this.config.isolation !== "none";
  }

  /** The exception vector a cause raises on this hardware. */
  vectorFor(cause: ExceptionCause): Vector {
    if (cause === "not-present") return "PF";
    return this.config.isolation === "tdx" ? "VE" : "VC";
  }

  /**
   * Who receives a vector here (C10): #PF the guest; #VC/#VE the paravisor when
   * present. On SNP that takes the VMSA's ReflectVC feature (a VMPL2 guest's #VC
   * exits to VMPL0); on TDX an L2 guest's exits go to L1 by TD partitioning.
   */
  ownerOf(vector: Vector): CpuLevel {
    if (vector === "PF") return "guest";
    if (this.config.mode !== "paravisor") return "guest";
    if (this.config.isolation === "snp" && !hardened(this.config, "reflect-vc")) return "guest";
    return "paravisor";
  }

  /**
   * MSR_AMD64_SEV as a context on this SNP machine reads it (its VMSA's
   * SEV_FEATURES): SEV, SEV-ES and SNP; a paravisor-mode guest also has vTOM,
   * ReflectVC and Alternate Injection; an enlightened guest launched with
   * Restricted Injection has that bit.
   */
  sevStatus(level: CpuLevel): bigint {
    if (this.config.isolation !== "snp") return 0n;
    let v =
      SevStatus.MSR_AMD64_SEV_ENABLED |
      SevStatus.MSR_AMD64_SEV_ES_ENABLED |
      SevStatus.MSR_AMD64_SEV_SNP_ENABLED;
    if (this.config.mode === "paravisor" && level === "guest") {
      v |= SevStatus.MSR_AMD64_SNP_VTOM | SevStatus.MSR_AMD64_SNP_ALT_INJ;
      if (hardened(this.config, "reflect-vc")) v |= SevStatus.MSR_AMD64_SNP_REFLECT_VC;
    }
    if (this.config.restrictedInjection && level === "guest") v |= SevStatus.MSR_AMD64_SNP_RESTRICTED_INJ;
    return BigInt(v);
  }

  /** The SEV-SNP Restricted Injection feature is on for the guest: the hypervisor may inject only #HV. */
  get restrictedInjection(): boolean {
    return (
      this.config.isolation === "snp" &&
      this.config.mode === "enlightened" &&
      !!this.config.restrictedInjection
    );
  }

  #psp: PlatformSecurityProcessor | undefined;

  /**
   * The platform security processor (C25): it measures what the host loads at
   * launch and signs reports. Its report-signing key derives from the VM's seed, so
   * a replayed run has the same key. Created on first use.
   */
  get psp(): PlatformSecurityProcessor {
    this.#psp ??= new PlatformSecurityProcessor({ seed: this.config.seed });
    return this.#psp;
  }

  setHandler(level: CpuLevel, h: ExceptionHandler): void {
    this.#handlers[level] = h;
  }

  /** Raise an exception and deliver it to its owner; an unresolved one kills the guest. */
  raise(e: Omit<CocoException, "vector" | "errorCode">): Resolution & { handled: true } {
    const vector = this.vectorFor(e.cause);
    const errorCode =
      vector === "VC"
        ? vcErrorCode(e.cause)
        : vector === "VE"
          ? veExitReason(e.cause)
          : e.cause === "not-present"
            ? 0
            : 1;
    const ex: CocoException = { ...e, vector, errorCode };
    const owner = this.ownerOf(vector);
    this.exceptions[owner]++;
    if (this.exceptionLog.length < 4096) this.exceptionLog.push(ex);
    this.audit.boundary.cross("exception", "platform", owner, `#${vector} ${e.cause}`, () => ({
      vp: e.vp,
      gpa: e.gpa ?? -1,
      errorCode,
      zeropad: e.zeropad ?? false,
    }));
    const h = this.#handlers[owner];
    const r: Resolution = h ? h(ex) : { handled: false, reason: `no ${owner} handler for #${vector}` };
    if (!r.handled)
      throw new GuestCrash(`unrecoverable #${vector} (${e.cause}) in ${owner}: ${r.reason}`, ex);
    return r;
  }

  /** A trusted CPU context's access to memory. */
  cpuMemory(level: CpuLevel, vp = 0): CpuMemory {
    return new CpuMemory(
      this.memory,
      level,
      this.isolated,
      this.sharedBoundary,
      {
        raise: (e) => {
          const r = this.raise({
            cause: e.cause,
            vp: e.vp,
            ...(e.gpa !== undefined ? { gpa: e.gpa } : {}),
            ...(e.zeropad ? { zeropad: true } : {}),
          });
          return r.how === "fixup" ? "fixup" : "retry";
        },
      },
      vp,
    );
  }

  /** The hypervisor's or host's view: ciphertext for private pages, refused writes. */
  untrustedView(actor: "hypervisor" | "host"): UntrustedView {
    // Views hold no state of their own (one per actor will do).
    let v = this.#views.get(actor);
    if (!v) {
      v = new UntrustedView(actor, this.memory, this.#enc, this.audit, this.sharedBoundary);
      this.#views.set(actor, v);
    }
    return v;
  }

  readonly #views = new Map<string, UntrustedView>();

  // --- privileged page operations (VMPL0 on SNP, L1 on TDX) ---

  #checkPrivileged(level: CpuLevel, pfn: number, count: number): PrivilegedResult | undefined {
    if (!this.isolated) return { ok: false, code: "FAIL_INPUT" };
    if (level !== this.privileged) return { ok: false, code: "FAIL_PERMISSION" };
    if (!this.memory.contains(pfn, count)) return { ok: false, code: "FAIL_INPUT" };
    return undefined;
  }

  /**
   * SNP PVALIDATE (validate or rescind) / TDX TDG.MEM.PAGE.ACCEPT (validate only):
   * only the VMPL0 / L1 context may; a VMPL2 or L2 guest must ask the paravisor (C5, C7).
   */
  validate(level: CpuLevel, pfn: number, count: number, valid: boolean): PrivilegedResult {
    const bad = this.#checkPrivileged(level, pfn, count);
    if (bad) return bad;
    if (valid) this.memory.updateFlags(pfn, count, 0xff, PageFlag.VALIDATED);
    else this.memory.updateFlags(pfn, count, ~PageFlag.VALIDATED & 0xff, 0);
    return { ok: true };
  }

  /** SNP RMPADJUST / TDX L2 mapping: take pages from (or give pages to) the lower-privileged guest. */
  setParavisorOwned(level: CpuLevel, pfn: number, count: number, owned: boolean): PrivilegedResult {
    const bad = this.#checkPrivileged(level, pfn, count);
    if (bad) return bad;
    if (owned) this.memory.updateFlags(pfn, count, 0xff, PageFlag.PARAVISOR);
    else this.memory.updateFlags(pfn, count, ~PageFlag.PARAVISOR & 0xff, 0);
    return { ok: true };
  }

  /**
   * The hypervisor's half of a conversion (RMPUPDATE / Secure-EPT changes plus its
   * SLAT): a page becomes shared and host-visible, or private and invisible. The
   * hardware never hands plaintext across: a page entering either state reads as
   * zeros to its new users, and a page going private must be validated again.
   * `hostVisible` false makes a shared page that the SLAT leaves unmapped: only a
   * device can reach it (the paravisor's bounce pages, C27).
   */
  convert(pfn: number, count: number, to: "shared" | "private", hostVisible = true): void {
    if (to === "shared") {
      this.memory.updateFlags(
        pfn,
        count,
        ~(PageFlag.STATE_MASK | PageFlag.VALIDATED | PageFlag.HOST_VISIBLE) & 0xff,
        PageState.SHARED | (hostVisible ? PageFlag.HOST_VISIBLE : 0),
      );
    } else {
      this.memory.updateFlags(
        pfn,
        count,
        ~(PageFlag.STATE_MASK | PageFlag.HOST_VISIBLE | PageFlag.VALIDATED) & 0xff,
        PageState.PRIVATE,
      );
    }
    for (let i = 0; i < count; i++) this.memory.discard(pfn + i);
  }

  /** The guest's own page-table edits (its PTEs live in its memory; no privilege needed). */
  setPte(pfn: number, count: number, bits: { present?: boolean; encrypted?: boolean }): void {
    let keep = 0xff;
    let set = 0;
    if (bits.present !== undefined) {
      keep &= ~PageFlag.PRESENT;
      if (bits.present) set |= PageFlag.PRESENT;
    }
    if (bits.encrypted !== undefined) {
      keep &= ~PageFlag.ENC_MAPPED;
      if (bits.encrypted) set |= PageFlag.ENC_MAPPED;
    }
    this.memory.updateFlags(pfn, count, keep & 0xff, set);
  }

  /** Mark pages in transition (state bits only; C34). */
  markTransition(pfn: number, count: number): void {
    this.memory.updateFlags(pfn, count, ~PageFlag.STATE_MASK & 0xff, PageState.TRANSITION);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#enc, this.#handlers, this.#psp];
  }
  load(s: unknown[]): void {
    this.#psp = s[2] as never;
  }
}
