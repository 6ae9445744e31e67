// Hyper-V, as far as hvcoco needs it: the CPUID leaves and synthetic MSRs it
// supplies, and the hypercall dispatcher. Untrusted: it reaches guest memory only
// through its UntrustedView, so a hypercall whose input sits in a private page
// reads ciphertext. Every call into it is a crossing the auditor sees.
import type { Auditor } from "../audit/auditor.ts";
import type { Actor } from "../audit/crossings.ts";
import { Label } from "../audit/labels.ts";
import { callName, HvCallCode, HvMsr, HvStatus } from "../hyperv/hvgdk.ts";
import {
  decodeControl,
  encodeResult,
  HV_GHCB_HYPERCALL,
  HV_GPA_RANGE_FOR_VISIBILITY,
  HV_INPUT_POST_MESSAGE,
} from "../hyperv/hypercall-abi.ts";
import { HV_MESSAGE_PAYLOAD_BYTE_COUNT } from "../hyperv/synic-abi.ts";
import { ioapicMmio } from "../paravisor/devices.ts";
import { IoApic } from "../paravisor/ioapic.ts";
import { GHCB_OFFSETS, GHCB_USAGE, HV_DOORBELL_PAGE } from "../platform/ghcb.ts";
import { MmioMap } from "../platform/mmio.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import type { Platform } from "../platform/platform.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";
import { scratch } from "../util/snapshot-hints.ts";
import { hardened } from "../vm/config.ts";
import { type CpuidRegs, hypervisorCpuid } from "./cpuid.ts";
import {
  HV_INPUT_POST_MESSAGE_DIRECT,
  HV_INPUT_SIGNAL_EVENT_DIRECT,
  postMessageDirect,
  signalEventDirect,
} from "./direct.ts";
import type { HypervisorInterposer } from "./interposer.ts";
import { emulateNpf, mmioHypercall, type NpfExit, type NpfOutcome } from "./mmio-access.ts";
import { type MsrResult, VpMsrs } from "./msr.ts";
import { HostPorts } from "./ports.ts";
import { Synic } from "./synic.ts";
import { modifySparseGpaPageHostVisibility } from "./visibility.ts";

/** How a hypercall reached the hypervisor (for the table's "hypercalls by route"). */
export type HypercallPath = "vmcall" | "ghcb" | "tdvmcall" | "paravisor";
/** How a device exit reached the hypervisor: as a hypercall-like exit, or a plain intercept (no isolation, SNP's HLT). */
export type ExitPath = HypercallPath | "intercept";

/** A channel-message handler the VMBus server installs (a later issue): HvPostMessage input. */
export type PostMessageSink = (
  vp: number,
  connectionId: number,
  messageType: number,
  payload: Uint8Array,
) => number;
export type SignalEventSink = (vp: number, connectionId: number, flag: number) => number;

export interface HypercallRecord {
  code: number;
  from: Actor;
  path: HypercallPath;
  status: number;
}

export class Hypervisor {
  readonly platform: Platform;
  readonly view: UntrustedView;
  readonly vps: VpMsrs[];
  readonly #audit: Auditor;
  readonly byPath: Record<HypercallPath, number> = { vmcall: 0, ghcb: 0, tdvmcall: 0, paravisor: 0 };
  /** Hypercalls by caller: what the guest sent straight here, what the paravisor forwarded. */
  readonly byCaller: Record<"guest" | "paravisor" | "other", number> = { guest: 0, paravisor: 0, other: 0 };
  readonly byCode = new Map<number, number>();
  /** Last refusals, newest last (validation reasons, for tests and the report). */
  readonly refusals: string[] = [];
  postMessage: PostMessageSink | undefined;
  signalEvent: SignalEventSink | undefined;
  /** Where the hypervisor injects interrupts (the VM routes them to the guest, or through the paravisor). */
  injectInterrupt: (vp: number, vector: number, sint: number) => void = () => {};
  readonly synic: Synic;
  /** Device exits it served: MMIO, port I/O, HLT (C10, C12). */
  readonly exits: Record<"mmio" | "io" | "hlt", number> = { mmio: 0, io: 0, hlt: 0 };
  /** The same exits by who took them: the guest's own handler, or the paravisor forwarding. */
  readonly exitsByCaller: Record<"guest" | "paravisor" | "other", number> = {
    guest: 0,
    paravisor: 0,
    other: 0,
  };
  /** The devices the host emulates behind MMIO (none in paravisor mode: the paravisor has them). */
  readonly hostMmio = new MmioMap();
  /** The host's I/O ports (the COM1 console). */
  readonly ports = new HostPorts();
  /** What the VM does while a VP halts (runs other work until an interrupt). */
  onHalt: (vp: number) => void = () => {};
  /**
   * Raw interrupt injection (set by the VM's routing): the hypervisor makes a vector
   * arrive by whatever means the hardware leaves it, ignoring the x86 rules (C14).
   */
  injectRaw: (vp: number, vector: number) => void = () => {};
  /** Raise #HV at a VP (Restricted Injection), set by the VM's routing. */
  raiseHv: (vp: number) => void = () => {};
  /** GPA of each VP's #HV doorbell page, once the guest registered one. */
  readonly hvDoorbell: (number | undefined)[] = [];
  /**
   * Deliver a hypercall to the paravisor through the hypervisor (its untrusted path,
   * C15); set by the VM in paravisor mode.
   */
  paravisorIntercept: ((vp: number, control: bigint, input: Uint8Array) => bigint) | undefined;
  /** Raw injections attempted (attacks and tests). */
  rawInjections = 0;
  /**
   * Connection ids whose HvPostMessage / HvSignalEvent the paravisor intercepts (its
   * VMBus ports, registered at boot; direct.ts). The VM's sinks send those to it.
   */
  readonly paravisorPorts = new Set<number>();
  /** Where a message for the paravisor's own (VTL2) SynIC goes; set by the VM with a paravisor VMBus. */
  paravisorSynic: ((vp: number, sint: number, type: number, payload: Uint8Array) => void) | undefined;
  /** The IO-APIC the host emulates when there is no paravisor. */
  readonly hostIoApic: IoApic | undefined;
  /** A malicious hypervisor's changes to its own answers (installed by an attack). */
  interposer: HypervisorInterposer | undefined;
  readonly #scratch = scratch(new Uint8Array(PAGE_SIZE));

  constructor(platform: Platform) {
    this.platform = platform;
    this.#audit = platform.audit;
    this.view = platform.untrustedView("hypervisor");
    this.vps = Array.from({ length: platform.config.vcpus }, (_, i) => new VpMsrs(i));
    this.synic = new Synic(this.view, this.vps, this.#audit, (vp, vector, sint) =>
      this.injectInterrupt(vp, vector, sint),
    );
    // Without a paravisor the host emulates the VM's one IO-APIC (Hyper-V always provides one).
    if (platform.config.mode !== "paravisor") {
      this.hostIoApic = new IoApic((vector, dest) => this.injectInterrupt(dest, vector, -1));
      this.hostMmio.add(ioapicMmio(this.hostIoApic, "IO-APIC (host)"));
    }
  }

  cpuid(vp: number, leaf: number, from: Actor): CpuidRegs {
    const honest = hypervisorCpuid(this.platform, leaf);
    const r = this.interposer?.cpuid ? this.interposer.cpuid(vp, leaf, honest) : honest;
    this.#audit.boundary.cross("cpuid", from, "hypervisor", `0x${leaf.toString(16)}`, () => ({ vp, ...r }));
    return r;
  }

  #vp(vp: number): VpMsrs | undefined {
    return this.vps[vp];
  }

  rdmsr(vp: number, msr: number, from: Actor): MsrResult {
    const honest: MsrResult = this.#vp(vp)?.read(msr) ?? { ok: false, fault: "GP" };
    const r = this.interposer?.rdmsr ? this.interposer.rdmsr(vp, msr, honest) : honest;
    this.#audit.boundary.cross("msr-read", from, "hypervisor", `0x${msr.toString(16)}`, () => ({
      vp,
      ok: r.ok,
    }));
    return r;
  }

  wrmsr(vp: number, msr: number, value: bigint, from: Actor): MsrResult {
    const r = this.#vp(vp)?.write(msr, value) ?? { ok: false, fault: "GP" };
    if (r.ok && msr === HvMsr.HV_X64_MSR_EOM) this.synic.eom(vp);
    this.#audit.boundary.cross("msr-write", from, "hypervisor", `0x${msr.toString(16)}`, () => ({
      vp,
      value: `0x${value.toString(16)}`,
      ok: r.ok,
    }));
    return r;
  }

  #record(code: number, from: Actor, path: HypercallPath, status: number, reps: number): bigint {
    this.byPath[path]++;
    this.byCaller[from === "guest" || from === "paravisor" ? from : "other"]++;
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
    this.#audit.boundary.cross("hypercall", from, "hypervisor", callName(code), () => ({
      path,
      status,
      reps,
    }));
    return encodeResult(status, reps);
  }

  #refuse(reason: string): void {
    this.refusals.push(reason);
    if (this.refusals.length > 64) this.refusals.shift();
  }

  /**
   * A memory-input hypercall: RCX = control, RDX = input GPA, R8 = output GPA.
   * The input is read through the hypervisor's own view of guest memory.
   */
  hypercall(
    vp: number,
    control: bigint,
    inputGpa: number,
    outputGpa: number,
    from: Actor,
    path: HypercallPath,
  ): bigint {
    const c = decodeControl(control);
    // VMMCALL's #VC puts RCX/RDX/R8 in the GHCB as they are: a fast call's input is the RDX value.
    if (c.fast && path === "ghcb")
      return this.hypercallFast(vp, control, BigInt(inputGpa), BigInt(outputGpa), from, path);
    const lie = this.interposer?.hypercall?.({ vp, code: c.code, from, inputGpa, outputGpa });
    if (lie !== undefined)
      return this.#record(c.code, from, path, Number(lie & 0xffffn), Number((lie >> 32n) & 0xfffn));
    if (!this.#vp(vp)) return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_VP_INDEX, 0);
    if (c.reservedSet) return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
    if (c.fast) return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
    if (inputGpa % 8 !== 0 || outputGpa % 8 !== 0)
      return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_ALIGNMENT, 0);
    switch (c.code) {
      case HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY: {
        const input = this.view.read(inputGpa, HV_GPA_RANGE_FOR_VISIBILITY.size, this.#scratch);
        const out = modifySparseGpaPageHostVisibility(
          this.platform,
          input,
          c.repCount,
          c.repStart,
          hardened(this.platform.config, "hypervisor-validation"),
          from,
        );
        if (out.reject) this.#refuse(out.reject);
        return this.#record(c.code, from, path, out.status, out.repsCompleted);
      }
      case HvCallCode.HVCALL_POST_MESSAGE: {
        const input = this.view.read(inputGpa, HV_INPUT_POST_MESSAGE.size, this.#scratch);
        const dv = new DataView(input.buffer, input.byteOffset, HV_INPUT_POST_MESSAGE.size);
        const size = dv.getUint32(HV_INPUT_POST_MESSAGE.off.payload_size, true);
        if (size > 240) return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_PARAMETER, 0);
        const conn = dv.getUint32(HV_INPUT_POST_MESSAGE.off.connectionid, true) & 0xffffff;
        const type = dv.getUint32(HV_INPUT_POST_MESSAGE.off.message_type, true);
        const payload = input.slice(
          HV_INPUT_POST_MESSAGE.off.payload,
          HV_INPUT_POST_MESSAGE.off.payload + size,
        );
        const status = this.postMessage
          ? this.postMessage(vp, conn, type, payload)
          : HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
        return this.#record(c.code, from, path, status, 0);
      }
      case HvCallCode.HVCALL_SIGNAL_EVENT: {
        // The GHCB path carries the 8-byte hv_input_signal_event in memory.
        const rdx = this.view.readU64(inputGpa);
        return this.#signal(vp, c.code, rdx, from, path);
      }
      case HvCallCode.HVCALL_POST_MESSAGE_DIRECT:
      case HvCallCode.HVCALL_SIGNAL_EVENT_DIRECT: {
        // Only a higher VTL (the paravisor) may reach into the guest's SynIC.
        if (from !== "paravisor")
          return this.#record(c.code, from, path, HvStatus.HV_STATUS_ACCESS_DENIED, 0);
        const post = c.code === HvCallCode.HVCALL_POST_MESSAGE_DIRECT;
        const size = post ? HV_INPUT_POST_MESSAGE_DIRECT.size : HV_INPUT_SIGNAL_EVENT_DIRECT.size;
        const input = this.view.read(inputGpa, size);
        const n = this.vps.length;
        const status = post
          ? postMessageDirect(this.synic, n, input)
          : signalEventDirect(this.synic, n, input);
        return this.#record(c.code, from, path, status, 0);
      }
      case HvCallCode.HVCALL_MMIO_READ:
      case HvCallCode.HVCALL_MMIO_WRITE: {
        // vPCI config space by hypercall (C23): the access is described, not trapped.
        const out = mmioHypercall(this.view, this.hostMmio, c.code, inputGpa, outputGpa, (g) =>
          this.#canonical(g),
        );
        if (out.reject) this.#refuse(out.reject);
        else this.exits.mmio++;
        return this.#record(c.code, from, path, out.status, 0);
      }
      default:
        return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_HYPERCALL_CODE, 0);
    }
  }

  /**
   * An NPF / EPT-violation automatic exit on a GPA it traps without #VC/#VE (vPCI
   * config space): emulate the instruction from what it can read (C23).
   */
  npf(vp: number, e: NpfExit, from: Actor): NpfOutcome {
    this.exits.mmio++;
    this.#exitFrom(from);
    const r = emulateNpf(this.view, this.hostMmio, e, (g) => this.#canonical(g));
    if (!r.emulated) this.#refuse(`VP${vp}: MMIO at 0x${e.gpa.toString(16)} not emulated: ${r.reason}`);
    const what = `NPF 0x${this.#canonical(e.gpa).toString(16)}`;
    this.#audit.boundary.cross("mmio", from, "hypervisor", what, () => ({
      vp,
      gpa: e.gpa,
      emulated: r.emulated,
      ...(r.emulated ? {} : { reason: r.reason }),
    }));
    return r;
  }

  #signal(vp: number, code: number, rdx: bigint, from: Actor, path: HypercallPath): bigint {
    const conn = Number(rdx & 0xffffffn);
    const flag = Number((rdx >> 32n) & 0xffffn);
    if (rdx >> 48n !== 0n || ((rdx >> 24n) & 0xffn) !== 0n)
      return this.#record(code, from, path, HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
    const status = this.signalEvent
      ? this.signalEvent(vp, conn, flag)
      : HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
    return this.#record(code, from, path, status, 0);
  }

  /**
   * A page-state change the guest asks for outside the hypercall ABI: the GHCB
   * Page State Change request (SNP) or TDG.VP.VMCALL<MapGPA> (TDX). Validated like
   * the visibility hypercall (C4).
   */
  pageStateChange(
    vp: number,
    pfn: number,
    count: number,
    to: "shared" | "private",
    from: Actor,
    path: HypercallPath,
    hostVisible = true,
  ): boolean {
    const p = this.platform;
    const lie = this.interposer?.pageStateChange?.(vp, pfn, count, to, from);
    this.#audit.boundary.cross(
      "visibility",
      from,
      "hypervisor",
      path === "ghcb" ? "GHCB page state change" : "MapGPA",
      () => ({
        vp,
        pfn,
        count,
        to,
        hostVisible,
      }),
    );
    if (lie !== undefined) return lie;
    if (hardened(p.config, "hypervisor-validation")) {
      if (!p.memory.contains(pfn, count) || count === 0) {
        this.#refuse(`page state change of ${count} pages at 0x${pfn.toString(16)} outside the partition`);
        return false;
      }
      // The paravisor's (VTL2) memory is not the guest's to convert.
      if (from === "guest" && pfn < p.paravisorPfn + p.paravisorPages && pfn + count > p.paravisorPfn) {
        this.#refuse(`page state change touches the paravisor's memory at 0x${pfn.toString(16)}`);
        return false;
      }
    }
    p.convert(pfn, count, to, hostVisible);
    return true;
  }

  /** A fast hypercall: input in RDX (and R8). */
  hypercallFast(
    vp: number,
    control: bigint,
    rdx: bigint,
    r8: bigint,
    from: Actor,
    path: HypercallPath,
  ): bigint {
    const c = decodeControl(control);
    const lie = this.interposer?.hypercall?.({ vp, code: c.code, from });
    if (lie !== undefined)
      return this.#record(c.code, from, path, Number(lie & 0xffffn), Number((lie >> 32n) & 0xfffn));
    void r8;
    if (!this.#vp(vp)) return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_VP_INDEX, 0);
    if (c.reservedSet || !c.fast)
      return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
    switch (c.code) {
      case HvCallCode.HVCALL_SIGNAL_EVENT:
        return this.#signal(vp, c.code, rdx, from, path);
      default:
        return this.#record(c.code, from, path, HvStatus.HV_STATUS_INVALID_HYPERCALL_CODE, 0);
    }
  }

  // --- device exits (C10, C12) ---

  #exitFrom(from: Actor): void {
    this.exitsByCaller[from === "guest" || from === "paravisor" ? from : "other"]++;
  }

  #canonical(gpa: number): number {
    const b = this.platform.sharedBoundary;
    return b && gpa >= b ? gpa - b : gpa;
  }

  /**
   * MMIO passed on by the guest's #VC/#VE handler (GHCB SVM_VMGEXIT_MMIO_READ/WRITE,
   * TDVMCALL<#VE.RequestMMIO>), by the paravisor, or a plain exit without isolation.
   * Whatever is stored reaches the host in the clear (the auditor weighs it); a read
   * gets what the host's device (or nothing: all ones) answers.
   */
  mmio(
    vp: number,
    gpa: number,
    write: boolean,
    data: Uint8Array,
    labels: Uint8Array | undefined,
    from: Actor,
    path: ExitPath,
  ): void {
    this.exits.mmio++;
    this.#exitFrom(from);
    if (write) this.#audit.deviceWriteToHost(labels ?? new Uint8Array(data.length).fill(Label.SECRET));
    const at = this.#canonical(gpa);
    const claimed = this.hostMmio.access(at, write, data);
    this.#audit.boundary.cross(
      "mmio",
      from,
      "hypervisor",
      `${write ? "write" : "read"} 0x${at.toString(16)}`,
      () => ({
        vp,
        gpa,
        len: data.length,
        path,
        device: this.hostMmio.find(at, data.length)?.name ?? "none",
        claimed,
      }),
    );
  }

  /** Port I/O passed on (GHCB SVM_EXIT_IOIO, TDVMCALL<Instruction.IO>, or a plain exit). */
  io(
    vp: number,
    port: number,
    size: 1 | 2 | 4,
    write: boolean,
    value: number,
    label: number | undefined,
    from: Actor,
    path: ExitPath,
  ): number {
    this.exits.io++;
    this.#exitFrom(from);
    if (write) this.#audit.deviceWriteToHost(new Uint8Array(size).fill(label ?? Label.SECRET));
    let r = 0;
    if (write) this.ports.out(port, size, value);
    else r = this.ports.in(port, size);
    this.#audit.boundary.cross(
      "port-io",
      from,
      "hypervisor",
      `${write ? "out" : "in"} 0x${port.toString(16)}`,
      () => ({
        vp,
        port,
        size,
        path,
      }),
    );
    return r;
  }

  /** A VP halts (SNP: automatic exit; TDX: TDVMCALL<HLT>; or the paravisor idling it). */
  hlt(vp: number, from: Actor, path: ExitPath): void {
    this.exits.hlt++;
    this.#exitFrom(from);
    this.#audit.boundary.cross("halt", from, "hypervisor", "HLT", () => ({ vp, path }));
    this.onHalt(vp);
  }

  /**
   * VMGEXIT on a GHCB laid out as Hyper-V's hypercall page (arch/x86/hyperv/ivm.c
   * hv_ghcb_hypercall()): ghcb_usage must say GHCB_USAGE_HYPERV_CALL; the control
   * word is hypercallinput, the input is hypercalldata, and the result goes back
   * into the same eight bytes as hypercalloutput (status, reps completed).
   */
  ghcbHypercall(vp: number, ghcbGpa: number, from: Actor): void {
    const o = HV_GHCB_HYPERCALL.off;
    const head = this.view.read(ghcbGpa + o.outputgpa, 24);
    const dv = new DataView(head.buffer, head.byteOffset, 24);
    const usage = dv.getUint32(GHCB_OFFSETS.GHCB_USAGE - o.outputgpa, true);
    let r: bigint;
    if (usage !== GHCB_USAGE.GHCB_USAGE_HYPERV_CALL) {
      this.#refuse(`GHCB usage 0x${usage.toString(16)} is not a Hyper-V hypercall`);
      r = encodeResult(HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT);
    } else {
      const outputGpa = Number(dv.getBigUint64(0, true));
      const control = dv.getBigUint64(o.hypercallinput - o.outputgpa, true);
      r = this.hypercall(
        vp,
        control,
        ghcbGpa + o.hypercalldata,
        Number.isSafeInteger(outputGpa) ? outputGpa : 1,
        from,
        "ghcb",
      );
    }
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, r, true);
    this.view.write(ghcbGpa + o.hypercallinput, out);
  }

  /** SVM_VMGEXIT_HV_DOORBELL_PAGE / SET: the VP's #HV doorbell page (Restricted Injection). */
  setHvDoorbellPage(vp: number, gpa: number, from: Actor): boolean {
    const ok =
      this.#vp(vp) !== undefined &&
      gpa % PAGE_SIZE === 0 &&
      this.platform.memory.contains(this.#canonical(gpa) / PAGE_SIZE);
    this.#audit.boundary.cross("hypercall", from, "hypervisor", "GHCB HV doorbell page (set)", () => ({
      vp,
      gpa,
      ok,
    }));
    if (ok) this.hvDoorbell[vp] = this.#canonical(gpa);
    else this.#refuse(`#HV doorbell page 0x${gpa.toString(16)} refused`);
    return ok;
  }

  /**
   * Under Restricted Injection the hypervisor can only post a vector in the VP's
   * doorbell page (through its own view: the page is shared) and raise #HV.
   * False when the guest has no doorbell page.
   */
  ringDoorbell(vp: number, vector: number): boolean {
    const gpa = this.hvDoorbell[vp];
    if (gpa === undefined) return false;
    this.view.write(gpa + HV_DOORBELL_PAGE.off.vector, Uint8Array.of(vector & 0xff));
    this.raiseHv(vp);
    return true;
  }

  /**
   * The injection API that ignores the x86 rules (for tests and attacks, C14): the
   * vector arrives at the VP now, by whatever path the hardware leaves open (the
   * VM's routing decides: event injection, the #HV doorbell, posted interrupts, or
   * the paravisor).
   */
  inject(vp: number, vector: number): void {
    this.rawInjections++;
    this.injectRaw(vp, vector & 0xff);
  }

  /**
   * A message for the paravisor's own (VTL2) SynIC: the host's VMBus server answering
   * the paravisor's relay, which connected with msg_vtl 2. False when nobody listens.
   */
  postToParavisor(vp: number, sint: number, type: number, payload: Uint8Array): boolean {
    this.#audit.boundary.cross("synic-message", "hypervisor", "paravisor", `VTL2 SINT${sint}`, () => ({
      vp,
      type,
      size: payload.length,
    }));
    if (!this.paravisorSynic || payload.length > HV_MESSAGE_PAYLOAD_BYTE_COUNT) return false;
    this.paravisorSynic(vp, sint, type, payload.slice());
    return true;
  }

  /**
   * Hand a hypercall to the paravisor through the hypervisor: its untrusted path
   * (the host posting into the paravisor, or a GHCB/TDVMCALL hypercall the
   * paravisor intercepts). Returns the paravisor's result, or HV_STATUS_INVALID_PARTITION_STATE
   * without one.
   */
  toParavisor(vp: number, control: bigint, input: Uint8Array): bigint {
    const c = decodeControl(control);
    this.#audit.boundary.cross("hypercall", "hypervisor", "paravisor", callName(c.code), () => ({
      vp,
      untrusted: true,
    }));
    if (!this.paravisorIntercept) return encodeResult(HvStatus.HV_STATUS_INVALID_PARTITION_STATE);
    return this.paravisorIntercept(vp, control, input);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#audit, this.#scratch];
  }
}
