// The paravisor (OpenHCL-like, at VMPL0 on SNP / L1 on TDX): it boots first and
// makes all guest memory private and validated (C9), owns #VC/#VE (C10), filters
// CPUID (C11), and serves the guest's hypercall page with a trusted dispatcher
// that does the privileged half of visibility changes before asking the
// hypervisor (C13). It emulates the IO-APIC and the vTPM behind private MMIO
// (C12, emulation.ts), mediates interrupt injection (C14, interrupts.ts), and
// accepts from its untrusted path (through the hypervisor) only HvPostMessage and
// HvSignalEvent (C15). It keeps the guest's SynIC MSRs in its own SynIC and
// intercepts the guest's HvPostMessage / HvSignalEvent (C32); with Confidential
// VMBus it serves the guest's VMBus itself, relaying the host's channels (C24-C33,
// vmbus/).
import type { Auditor } from "../audit/auditor.ts";
import { Label } from "../audit/labels.ts";
import type { HypervisorExit } from "../guest/hardware.ts";
import { GuestPanic } from "../guest/panic.ts";
import {
  HV_MAX_MODIFY_GPA_REP_COUNT,
  HvCallCode,
  HvMemHostVisibility,
  HvMsr,
  HvStatus,
  isSynicMsr,
} from "../hyperv/hvgdk.ts";
import {
  decodeControl,
  encodeResult,
  HV_GPA_RANGE_FOR_VISIBILITY,
  HV_INPUT_POST_MESSAGE,
  resultStatus,
} from "../hyperv/hypercall-abi.ts";
import { isolationConfigLeaf } from "../hyperv/isolation-config.ts";
import type { PostMessageSink, SignalEventSink } from "../hypervisor/hypervisor.ts";
import { archCpuid } from "../platform/arch-cpuid.ts";
import type { CpuMemory } from "../platform/cpu-memory.ts";
import type { CocoException, Resolution } from "../platform/exceptions.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import type { Platform } from "../platform/platform.ts";
import { hardened } from "../vm/config.ts";
import { type CpuidFilterOptions, filterCpuid } from "./cpuid_filter.ts";
import { DeviceEmulation } from "./emulation.ts";
import { forwardingPages, outputBytes } from "./forwarding.ts";
import { InterruptMediator } from "./interrupts.ts";
import type { BouncePool } from "./vmbus/device.ts";
import type { ParavisorVmbus } from "./vmbus/server.ts";
import { createParavisorVmbus, type ParavisorVmbusWiring } from "./vmbus/setup.ts";
import type { ParavisorStorage } from "./vmbus/storage.ts";
import { ParavisorSynic } from "./vmbus/synic.ts";

export interface ParavisorOptions {
  /** The vTPM's random source: a stream of the VM's seeded generator. */
  random?: (dst: Uint8Array) => void;
  /** The machine's scheduler and port registration, for Confidential VMBus (config vmbus "confidential"). */
  vmbus?: ParavisorVmbusWiring;
}

/** The only calls the untrusted dispatcher serves (OpenHCL's UNTRUSTED_DISPATCHER). */
export const UNTRUSTED_HYPERCALLS: readonly number[] = [
  HvCallCode.HVCALL_POST_MESSAGE,
  HvCallCode.HVCALL_SIGNAL_EVENT,
];

export class Paravisor {
  readonly #p: Platform;
  readonly #exit: HypervisorExit;
  readonly #audit: Auditor;
  readonly mem: CpuMemory;
  readonly bootSteps: string[] = [];
  readonly cpuidOptions: CpuidFilterOptions;
  /** Hypercalls the guest made through the hypercall page, and how many the paravisor forwarded. */
  served = 0;
  forwarded = 0;
  /** Refusals of guest requests (the paravisor protects itself and the guest's memory). */
  readonly refusals: string[] = [];
  /** The paravisor's own shared pages for forwarding a hypercall's input and output (forwarding.ts). */
  #sharedPage = -1;
  #sharedOutput = -1;
  booted = false;
  /** The IO-APIC and vTPM behind private MMIO, and the exits the paravisor passes on (C10, C12). */
  readonly devices: DeviceEmulation;
  /** What the hypervisor may inject into the guest (C14). */
  readonly interrupts: InterruptMediator;
  /** The untrusted path (C15): calls arriving through the hypervisor, by outcome and code. */
  readonly untrusted = { accepted: 0, refused: 0, byCode: new Map<number, number>() };
  /** Where an accepted untrusted HvPostMessage / HvSignalEvent goes (the paravisor's VMBus server). */
  untrustedPostMessage: PostMessageSink | undefined;
  untrustedSignalEvent: SignalEventSink | undefined;
  /** The guest's SynIC MSRs as the paravisor keeps them, and its own message/event delivery (C31, C32). */
  readonly synic: ParavisorSynic;
  /** Its VMBus server (Confidential VMBus only), its storage, and its device's bounce pages. */
  readonly vmbus: ParavisorVmbus | undefined;
  readonly storage: ParavisorStorage | undefined;
  readonly bounce: BouncePool | undefined;

  /** The paravisor's copy of a SINT MSR. */
  sint(vp: number, sint: number): bigint {
    return this.synic.sint(vp, sint);
  }

  /**
   * An interrupt the hypervisor raised for a SINT: the paravisor passes it to the
   * guest when its copy of that SINT has the proxy bit and is not masked, or, with
   * its own SynIC enabled (Confidential VMBus), signals it through that SynIC; the
   * vector is the one the guest programmed there (C14: interrupts.ts; C31).
   * Returns the vector to deliver, or undefined to drop it.
   */
  proxyInterrupt(vp: number, vector: number, sint: number): number | undefined {
    return this.synic.proxyInterrupt(vp, vector, sint);
  }

  /** GPA of the page the paravisor forwards hypercall input through (shared with the hypervisor). */
  get forwardingPage(): number {
    return this.#sharedPage;
  }

  constructor(p: Platform, exit: HypervisorExit, opts: ParavisorOptions = {}) {
    this.#p = p;
    this.#exit = exit;
    this.#audit = p.audit;
    this.mem = p.cpuMemory("paravisor");
    this.interrupts = new InterruptMediator(p, this);
    this.devices = new DeviceEmulation(p.audit, opts.random ?? ((d) => d.fill(0)), (vector, dest) =>
      this.interrupts.fromDevice(dest, vector),
    );
    // What the paravisor knows of its own VM, not what the hypervisor says (see cpuid_filter.ts).
    this.cpuidOptions = {
      confidentialVmbus: p.config.vmbus === "confidential",
      isolationConfig: isolationConfigLeaf(p.config.isolation, true, p.sharedBoundaryBits),
    };
    this.synic = new ParavisorSynic({
      mem: this.mem,
      audit: p.audit,
      guestPages: p.guestPages,
      interrupt: (vp, vector) => {
        const raise = () => this.interrupts.fromDevice(vp, vector);
        if (opts.vmbus)
          opts.vmbus.schedule(`paravisor: SynIC interrupt 0x${vector.toString(16)} to VP${vp}`, raise);
        else raise();
      },
      forward: (vp, msr, value) => {
        exit.wrmsr(vp, msr, value);
      },
    });
    const parts =
      p.config.vmbus === "confidential" && opts.vmbus
        ? createParavisorVmbus(p, this.mem, this.synic, exit, () => this.#sharedPage, opts.vmbus)
        : undefined;
    this.vmbus = parts?.vmbus;
    this.storage = parts?.storage;
    this.bounce = parts?.storage?.dma.bounce;
    if (this.vmbus) {
      const v = this.vmbus;
      this.untrustedPostMessage = (vp, conn, type, payload) => v.post(vp, conn, type, payload, false);
      this.untrustedSignalEvent = (vp, conn) => v.signal(vp, conn);
    }
  }

  #step(s: string): void {
    this.bootSteps.push(s);
    this.#audit.boundary.cross("boot-step", "paravisor", "paravisor", s);
  }

  /** Boot before the guest: own VTL2 memory, validate all guest memory (private), set up forwarding. */
  boot(): void {
    const p = this.#p;
    this.#step("take VTL2 memory (RMPADJUST: no VMPL2 access / not mapped in L2)");
    const own = p.setParavisorOwned("paravisor", p.paravisorPfn, p.paravisorPages, true);
    if (!own.ok) throw new Error(`paravisor could not own its memory: ${own.code}`);
    this.#step(
      p.config.isolation === "snp"
        ? "PVALIDATE all guest memory (private)"
        : "accept all guest memory (private)",
    );
    const v = p.validate("paravisor", 0, p.memory.pages, true);
    if (!v.ok) throw new Error(`paravisor could not validate memory: ${v.code}`);
    // Its shared pages for the hypercalls it forwards: input (the last page of VTL2
    // memory) and output (the page below).
    const fwd = forwardingPages(p.paravisorPfn, p.paravisorPages);
    this.#sharedPage = fwd.input;
    this.#sharedOutput = fwd.output;
    this.#step("share the forwarding pages (hypercall input and output) with the hypervisor");
    if (!this.#exit.pageStateChange(0, fwd.output / PAGE_SIZE, 2, "shared"))
      throw new Error("hypervisor refused the paravisor's forwarding pages");
    // The hypervisor SynIC's message and event pages the guest will map (supplied, decrypted).
    this.#step("supply the SynIC message and event pages");
    const n = 2 * p.config.vcpus;
    if (!this.#exit.pageStateChange(0, p.synicOverlayPfn, n, "shared"))
      throw new Error("hypervisor refused the SynIC pages");
    for (let vp = 0; vp < p.config.vcpus; vp++) {
      const msg = BigInt(p.synicOverlayPfn + 2 * vp) << 12n;
      this.#exit.wrmsr(vp, HvMsr.HV_X64_MSR_SIMP, msg);
      this.#exit.wrmsr(vp, HvMsr.HV_X64_MSR_SIEFP, msg + 4096n);
    }
    if (this.vmbus) {
      const b = this.bounce;
      if (b) {
        this.#step(
          `share ${b.pages} bounce pages for the assigned device${b.hostVisible ? "" : ", outside the host's SLAT"}`,
        );
        if (!this.#exit.pageStateChange(0, b.pfn, b.pages, "shared", b.hostVisible))
          throw new Error("hypervisor refused the paravisor's bounce pages");
      }
      this.#step("connect the VMBus relay to the host's server; offer Confidential VMBus");
      this.vmbus.boot();
    }
    this.#step("hand the boot CPU to the guest");
    this.booted = true;
  }

  // --- exceptions (C10) ---

  handleException(e: CocoException): Resolution {
    const i = e.instr;
    if (i) {
      switch (i.kind) {
        case "cpuid": {
          const raw = archCpuid(this.#p.config, i.leaf) ?? this.#exit.cpuid(e.vp, i.leaf);
          i.result = hardened(this.#p.config, "cpuid-filter")
            ? filterCpuid(i.leaf, raw, this.cpuidOptions)
            : raw;
          return { handled: true, how: "emulated" };
        }
        case "rdmsr": {
          // The guest's SynIC MSRs are the paravisor's (hv_para_get_synic_register, C32).
          if (isSynicMsr(i.msr)) {
            i.result = this.synic.rdmsr(e.vp, i.msr);
            return { handled: true, how: "emulated" };
          }
          const r = this.#exit.rdmsr(e.vp, i.msr);
          if (r.ok) i.result = r.value;
          else i.gp = true;
          return { handled: true, how: "emulated" };
        }
        case "wrmsr": {
          // The paravisor's SynIC (its SINT copies: the proxy bit says pass this SINT's
          // interrupts on; SIMP/SIEFP/SCONTROL/EOM with Confidential VMBus, C32).
          if (isSynicMsr(i.msr)) {
            this.synic.wrmsr(e.vp, i.msr, i.value);
            return { handled: true, how: "emulated" };
          }
          const r = this.#exit.wrmsr(e.vp, i.msr, i.value);
          if (!r.ok) i.gp = true;
          return { handled: true, how: "emulated" };
        }
        case "vmmcall":
          i.result = encodeResult(HvStatus.HV_STATUS_INVALID_HYPERCALL_CODE);
          return { handled: true, how: "emulated" };
        case "mmio":
        case "io":
        case "hlt":
          return this.devices.handle(e, i, this.#exit);
      }
    }
    // A page the hypervisor said it made visible, yet the guest's shared access
    // faults: the hypervisor lied. Stop the VM deliberately rather than run on.
    if (e.gpa !== undefined && e.cause === "enc-mismatch" && this.#visible(Math.floor(e.gpa / PAGE_SIZE)))
      throw new GuestPanic(
        `paravisor: the hypervisor reported page 0x${Math.floor(e.gpa / PAGE_SIZE).toString(16)} host-visible but did not map it; terminating`,
      );
    // A guest memory fault: the paravisor cannot apply the guest's exception-table
    // fixups (load_unaligned_zeropad), so the guest cannot recover (C35).
    return {
      handled: false,
      reason: `paravisor cannot fix up a guest ${e.cause} fault at 0x${(e.gpa ?? 0).toString(16)}${e.zeropad ? " (load_unaligned_zeropad)" : ""}`,
    };
  }

  // --- the trusted hypercall dispatcher (the guest's hypercall page) ---

  #refuse(reason: string, status: number): bigint {
    this.refusals.push(reason);
    this.#audit.boundary.cross("hypercall", "paravisor", "guest", "refused", () => ({ reason }));
    return encodeResult(status, 0);
  }

  #guestOwns(pfn: number): boolean {
    return Number.isSafeInteger(pfn) && pfn >= 0 && pfn < this.#p.guestPages;
  }

  hypercall(vp: number, control: bigint, inputGpa: number, outputGpa: number): bigint {
    this.served++;
    const c = decodeControl(control);
    this.#audit.boundary.cross("hypercall", "guest", "paravisor", `0x${c.code.toString(16)}`, () => ({
      vp,
      reps: c.repCount,
    }));
    if (c.code === HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY)
      return this.#visibility(vp, control, inputGpa);
    if (c.code === HvCallCode.HVCALL_POST_MESSAGE) return this.#postMessage(vp, inputGpa);
    // Anything else: copy the input into the forwarding page and pass the call on;
    // its output comes back through the output forwarding page (the hypervisor
    // writes only shared memory), and the paravisor copies it to the guest's page.
    if (!this.#guestOwns(Math.floor(inputGpa / PAGE_SIZE)))
      return this.#refuse("hypercall input outside guest memory", HvStatus.HV_STATUS_ACCESS_DENIED);
    const withOutput = outputGpa !== 0;
    if (withOutput && !this.#guestOwns(Math.floor(outputGpa / PAGE_SIZE)))
      return this.#refuse("hypercall output outside guest memory", HvStatus.HV_STATUS_ACCESS_DENIED);
    const input = this.mem.read(inputGpa, PAGE_SIZE - (inputGpa % PAGE_SIZE));
    this.mem.write(this.#sharedPage, input, Label.PUBLIC);
    this.forwarded++;
    if (!withOutput) return this.#exit.hypercall(vp, control, this.#sharedPage, 0);
    const n = outputBytes(c.code, outputGpa);
    this.mem.fill(this.#sharedOutput, n, 0, Label.PUBLIC);
    const r = this.#exit.hypercall(vp, control, this.#sharedPage, this.#sharedOutput);
    if (resultStatus(r) === HvStatus.HV_STATUS_SUCCESS)
      this.mem.write(outputGpa, this.mem.read(this.#sharedOutput, n), Label.HOST);
    return r;
  }

  /** A fast call through the hypercall page: registers only, forwarded as they are. */
  hypercallFast(vp: number, control: bigint, rdx: bigint, r8: bigint): bigint {
    this.served++;
    const c = decodeControl(control);
    this.#audit.boundary.cross("hypercall", "guest", "paravisor", `0x${c.code.toString(16)} fast`, () => ({
      vp,
    }));
    // HvSignalEvent through the hypercall page is the paravisor's (C32): to one of its channels, or nowhere.
    if (c.code === HvCallCode.HVCALL_SIGNAL_EVENT)
      return encodeResult(
        this.vmbus?.signal(vp, Number(rdx & 0xffffffn)) ?? HvStatus.HV_STATUS_INVALID_CONNECTION_ID,
      );
    this.forwarded++;
    return this.#exit.hypercallFast(vp, control, rdx, r8);
  }

  /**
   * HvPostMessage through the hypercall page: the paravisor's own (C32). The guest's
   * message goes to the paravisor's VMBus server on the trusted path; without one
   * (no Confidential VMBus) there is nobody at that connection id. A guest that wants
   * the host must take the GHCB / TDVMCALL path instead.
   */
  #postMessage(vp: number, inputGpa: number): bigint {
    if (!this.#guestOwns(Math.floor(inputGpa / PAGE_SIZE)))
      return this.#refuse("hypercall input outside guest memory", HvStatus.HV_STATUS_ACCESS_DENIED);
    const o = HV_INPUT_POST_MESSAGE.off;
    const input = this.mem.read(inputGpa, HV_INPUT_POST_MESSAGE.size);
    const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
    const size = dv.getUint32(o.payload_size, true);
    if (size > 240) return encodeResult(HvStatus.HV_STATUS_INVALID_PARAMETER);
    const conn = dv.getUint32(o.connectionid, true) & 0xffffff;
    const type = dv.getUint32(o.message_type, true);
    const payload = input.slice(o.payload, o.payload + size);
    return encodeResult(
      this.vmbus?.post(vp, conn, type, payload, true) ?? HvStatus.HV_STATUS_INVALID_CONNECTION_ID,
    );
  }

  /**
   * The privileged half of a Hyper-V encryption transition: validate the guest's
   * request, rescind validation before a page goes shared (only VMPL0/L1 may),
   * forward to the hypervisor, and validate (accept) pages that come back private.
   */
  #visibility(vp: number, control: bigint, inputGpa: number, given?: Uint8Array): bigint {
    const c = decodeControl(control);
    const off = HV_GPA_RANGE_FOR_VISIBILITY.off;
    if (c.repCount === 0 || c.repCount > HV_MAX_MODIFY_GPA_REP_COUNT || c.repStart >= c.repCount)
      return this.#refuse(
        `visibility rep count ${c.repCount} / start ${c.repStart}`,
        HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT,
      );
    const block = given ?? this.mem.read(inputGpa, HV_GPA_RANGE_FOR_VISIBILITY.size);
    const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
    const vis = dv.getUint32(off.host_visibility, true) & 3;
    const pfns: number[] = [];
    for (let i = c.repStart; i < c.repCount; i++) {
      const pfn = Number(dv.getBigUint64(off.gpa_page_list + i * 8, true));
      if (!this.#guestOwns(pfn))
        return this.#refuse(
          `visibility change of page 0x${pfn.toString(16)} the guest does not own`,
          HvStatus.HV_STATUS_ACCESS_DENIED,
        );
      pfns.push(pfn);
    }
    const toShared = vis !== HvMemHostVisibility.VMBUS_PAGE_NOT_VISIBLE;
    if (toShared) for (const pfn of pfns) this.#p.validate("paravisor", pfn, 1, false);
    this.mem.write(this.#sharedPage, block, Label.PUBLIC);
    this.forwarded++;
    const r = this.#exit.hypercall(vp, control, this.#sharedPage, 0);
    if (resultStatus(r) === HvStatus.HV_STATUS_SUCCESS) {
      if (!toShared) for (const pfn of pfns) this.#p.validate("paravisor", pfn, 1, true);
      for (const pfn of pfns) this.#setVisible(pfn, toShared);
    }
    return r;
  }

  // --- the untrusted dispatcher (calls that arrive through the hypervisor, C15) ---

  /**
   * A hypercall that reached the paravisor through the hypervisor: the host posting
   * into the paravisor, or a guest GHCB/TDVMCALL call the paravisor intercepts. Its
   * input came through shared memory and its sender is untrusted, so, like
   * OpenHCL's UNTRUSTED_DISPATCHER, only HvPostMessage and HvSignalEvent are served;
   * every other call is refused with HV_STATUS_INVALID_HYPERCALL_CODE (the
   * dispatcher does not have it). With the "untrusted-hypercall-filter" hardening
   * off, the trusted dispatcher serves it instead (a negative control).
   */
  untrustedHypercall(vp: number, control: bigint, input: Uint8Array): bigint {
    const c = decodeControl(control);
    const allowed = UNTRUSTED_HYPERCALLS.includes(c.code);
    this.#audit.boundary.cross(
      "hypercall",
      "hypervisor",
      "paravisor",
      `untrusted 0x${c.code.toString(16)}`,
      () => ({
        vp,
        accepted: allowed,
      }),
    );
    if (!allowed && hardened(this.#p.config, "untrusted-hypercall-filter")) {
      this.untrusted.refused++;
      return this.#refuse(
        `untrusted hypercall 0x${c.code.toString(16)} refused (only HvPostMessage and HvSignalEvent)`,
        HvStatus.HV_STATUS_INVALID_HYPERCALL_CODE,
      );
    }
    this.untrusted.accepted++;
    this.untrusted.byCode.set(c.code, (this.untrusted.byCode.get(c.code) ?? 0) + 1);
    const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
    switch (c.code) {
      case HvCallCode.HVCALL_POST_MESSAGE: {
        const o = HV_INPUT_POST_MESSAGE.off;
        if (input.length < o.payload) return encodeResult(HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT);
        const size = dv.getUint32(o.payload_size, true);
        if (size > 240 || o.payload + size > input.length)
          return encodeResult(HvStatus.HV_STATUS_INVALID_PARAMETER);
        const conn = dv.getUint32(o.connectionid, true) & 0xffffff;
        const type = dv.getUint32(o.message_type, true);
        const payload = input.slice(o.payload, o.payload + size);
        const status = this.untrustedPostMessage
          ? this.untrustedPostMessage(vp, conn, type, payload)
          : HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
        return encodeResult(status);
      }
      case HvCallCode.HVCALL_SIGNAL_EVENT: {
        if (input.length < 8) return encodeResult(HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT);
        const v = dv.getBigUint64(0, true);
        if (v >> 48n !== 0n || ((v >> 24n) & 0xffn) !== 0n)
          return encodeResult(HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT);
        const status = this.untrustedSignalEvent
          ? this.untrustedSignalEvent(vp, Number(v & 0xffffffn), Number((v >> 32n) & 0xffffn))
          : HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
        return encodeResult(status);
      }
      case HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY: {
        // Reachable only with the filter off: the trusted dispatcher's code, on host-chosen input.
        const block = new Uint8Array(HV_GPA_RANGE_FOR_VISIBILITY.size);
        block.set(input.subarray(0, block.length));
        return this.#visibility(vp, control, -1, block);
      }
      default:
        return encodeResult(HvStatus.HV_STATUS_INVALID_HYPERCALL_CODE);
    }
  }

  /** Pages the hypervisor reported host-visible at the guest's request (a bitmap over guest pages). */
  #visibleMap: Uint8Array | undefined;

  #setVisible(pfn: number, on: boolean): void {
    if (!this.#visibleMap) this.#visibleMap = new Uint8Array(Math.ceil(this.#p.guestPages / 8));
    if (on) this.#visibleMap[pfn >>> 3]! |= 1 << (pfn & 7);
    else this.#visibleMap[pfn >>> 3]! &= ~(1 << (pfn & 7));
  }

  #visible(pfn: number): boolean {
    return this.#visibleMap !== undefined && ((this.#visibleMap[pfn >>> 3] ?? 0) & (1 << (pfn & 7))) !== 0;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#p, this.#exit, this.#audit, this.#sharedPage, this.#sharedOutput, this.#visibleMap];
  }
  load(s: unknown[]): void {
    this.#sharedPage = s[3] as never;
    this.#sharedOutput = s[4] as never;
    this.#visibleMap = s[5] as never;
  }
}
