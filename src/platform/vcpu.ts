// A virtual processor executing the instructions that leave a context: CPUID,
// RDMSR/WRMSR, VMMCALL, MMIO to an address no RAM backs, IN/OUT and HLT. What each
// does depends on the hardware and on who owns the exceptions (C10): in a normal VM
// it exits straight to the hypervisor; on SNP it raises #VC; on TDX the module
// answers architectural CPUID leaves and the rest raise #VE (or, for an L2 guest,
// exit to the L1 paravisor). HLT is an automatic exit on SEV-SNP (no #VC: Linux's
// vc_handle_exitcode() has no SVM_EXIT_HLT case), a #VE on TDX (handle_halt()).
import { X86Msr } from "../hyperv/hvgdk.ts";
import type { CpuidRegs } from "../hypervisor/cpuid.ts";
import type { NpfExit, NpfOutcome } from "../hypervisor/mmio-access.ts";
import { archCpuid } from "./arch-cpuid.ts";
import type { CpuLevel } from "./cpu-memory.ts";
import { type ExceptionCause, GuestCrash, type Instr } from "./exceptions.ts";
import type { Platform } from "./platform.ts";

/** Where a non-isolated VM's exits go (the hypervisor; wired by the VM). */
export interface ExitPort {
  cpuid(vp: number, leaf: number): CpuidRegs;
  rdmsr(vp: number, msr: number): { ok: true; value: bigint } | { ok: false; fault: "GP" };
  wrmsr(vp: number, msr: number, value: bigint): { ok: true; value: bigint } | { ok: false; fault: "GP" };
  /** MMIO the hypervisor emulates: a read fills `data` (all ones when nothing answers). */
  mmio(vp: number, gpa: number, write: boolean, data: Uint8Array, labels?: Uint8Array): void;
  /** Port I/O: returns the value an IN reads. */
  io(vp: number, port: number, size: 1 | 2 | 4, write: boolean, value: number, label?: number): number;
  /** The VP idles until an interrupt. */
  hlt(vp: number): void;
  /** An NPF / EPT-violation automatic exit the hypervisor must emulate itself (any VM). */
  npf(vp: number, e: NpfExit): NpfOutcome;
}

export class MsrFault extends Error {
  constructor(msr: number) {
    super(`#GP on MSR 0x${msr.toString(16)}`);
    this.name = "MsrFault";
  }
}

export class Vcpu {
  readonly vp: number;
  readonly level: CpuLevel;
  readonly #p: Platform;
  readonly #exit: ExitPort;

  constructor(p: Platform, level: CpuLevel, vp: number, exit: ExitPort) {
    this.#p = p;
    this.level = level;
    this.vp = vp;
    this.#exit = exit;
  }

  #intercept(cause: ExceptionCause, instr: Instr, gpa?: number): Instr {
    this.#p.raise({ cause, vp: this.vp, instr, ...(gpa !== undefined ? { gpa } : {}) });
    return instr;
  }

  cpuid(leaf: number): CpuidRegs {
    const p = this.#p;
    if (!p.isolated) return archCpuid(p.config, leaf) ?? this.#exit.cpuid(this.vp, leaf);
    // TDX: the module answers architectural leaves itself (an L1 guest sees them
    // unfiltered); hypervisor leaves raise #VE. An L2 guest's CPUID all goes to L1.
    if (p.config.isolation === "tdx" && this.level === "guest" && p.config.mode === "enlightened") {
      const arch = archCpuid(p.config, leaf);
      if (arch) return arch;
    }
    if (this.level === "paravisor") return archCpuid(p.config, leaf) ?? this.#exit.cpuid(this.vp, leaf);
    const i = this.#intercept("cpuid", { kind: "cpuid", leaf });
    if (i.kind !== "cpuid" || !i.result) throw new Error(`CPUID 0x${leaf.toString(16)} was not emulated`);
    return i.result;
  }

  rdmsr(msr: number): bigint {
    const p = this.#p;
    // MSR_AMD64_SEV is not intercepted: the hardware answers it from the VMSA's SEV_FEATURES.
    if (p.config.isolation === "snp" && msr === X86Msr.MSR_AMD64_SEV) return p.sevStatus(this.level);
    if (!p.isolated || this.level === "paravisor") {
      const r = this.#exit.rdmsr(this.vp, msr);
      if (!r.ok) throw new MsrFault(msr);
      return r.value;
    }
    const i = this.#intercept("msr-read", { kind: "rdmsr", msr });
    if (i.kind !== "rdmsr" || i.gp || i.result === undefined) throw new MsrFault(msr);
    return i.result;
  }

  wrmsr(msr: number, value: bigint): void {
    const p = this.#p;
    if (!p.isolated || this.level === "paravisor") {
      const r = this.#exit.wrmsr(this.vp, msr, value);
      if (!r.ok) throw new MsrFault(msr);
      return;
    }
    const i = this.#intercept("msr-write", { kind: "wrmsr", msr, value });
    if (i.kind !== "wrmsr" || i.gp) throw new MsrFault(msr);
  }

  /** VMMCALL on SNP: intercepted, so it raises #VC and the handler talks to the hypervisor. */
  vmmcall(control: bigint, rdx: bigint, r8: bigint): bigint {
    const i = this.#intercept("vmmcall", { kind: "vmmcall", control, rdx, r8 });
    if (i.kind !== "vmmcall" || i.result === undefined) throw new Error("VMMCALL was not emulated");
    return i.result;
  }

  /**
   * A load from MMIO at `gpa` through a mapping whose encryption bit is `encrypted`
   * (ioremap decides it). With a shared-GPA boundary a decrypted access goes out on
   * the alias above it. Returns the `size` bytes read.
   */
  mmioRead(gpa: number, size: number, encrypted: boolean): Uint8Array {
    return this.#mmio(gpa, new Uint8Array(size), encrypted, false, undefined);
  }

  /** A store of `data` to MMIO at `gpa`; `labels` (the auditor's) default to one label per byte. */
  mmioWrite(gpa: number, data: Uint8Array, encrypted: boolean, labels?: Uint8Array): void {
    this.#mmio(gpa, data.slice(), encrypted, true, labels);
  }

  #mmio(gpa: number, data: Uint8Array, encrypted: boolean, write: boolean, labels?: Uint8Array): Uint8Array {
    const p = this.#p;
    if (data.length < 1 || data.length > 8) throw new Error(`MMIO access of ${data.length} bytes`);
    const bus = encrypted || p.sharedBoundary === 0 ? gpa : gpa + p.sharedBoundary;
    if (!p.isolated) {
      this.#exit.mmio(this.vp, bus, write, data, labels);
      return data;
    }
    if (!write) data.fill(0);
    const instr: Instr = {
      kind: "mmio",
      gpa: bus,
      encrypted,
      write,
      data,
      ...(labels !== undefined ? { labels } : {}),
    };
    const i = this.#intercept("mmio", instr, bus);
    if (i.kind !== "mmio" || !i.done) throw new Error(`MMIO at 0x${bus.toString(16)} was not emulated`);
    return i.data;
  }

  /**
   * Execute the MOV whose bytes the guest keeps at `ripGpa` (its own memory,
   * encrypted in a CoCo VM) against `gpa`, which the hypervisor traps without a
   * #VC/#VE — an NPF / EPT-violation automatic exit, as Hyper-V sets up vPCI config
   * space. EAX holds `rax` before; returns EAX after. The hypervisor emulates from
   * what it can read: the instruction at RIP, and the registers unless they are in
   * encrypted VP state (a CoCo VM). When it cannot, the VP cannot go on: GuestCrash.
   */
  trappedMov(ripGpa: number, gpa: number, rax: number, encrypted: boolean): number {
    const p = this.#p;
    const bus = encrypted || p.sharedBoundary === 0 ? gpa : gpa + p.sharedBoundary;
    const r = this.#exit.npf(this.vp, { gpa: bus, ripGpa, regs: p.isolated ? undefined : { rax } });
    if (!r.emulated)
      throw new GuestCrash(
        `VP${this.vp}: the hypervisor could not emulate the MMIO access at 0x${gpa.toString(16)}: ${r.reason}`,
      );
    return r.rax;
  }

  /** IN: read `size` bytes from an I/O port. */
  in(port: number, size: 1 | 2 | 4): number {
    return this.#io(port, size, false, 0, undefined);
  }

  /** OUT: write `value` to an I/O port; `label` is the auditor's label of the data. */
  out(port: number, size: 1 | 2 | 4, value: number, label?: number): void {
    this.#io(port, size, true, value, label);
  }

  #io(port: number, size: 1 | 2 | 4, write: boolean, value: number, label: number | undefined): number {
    const p = this.#p;
    const mask = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const v = (value & mask) >>> 0;
    if (!p.isolated) return this.#exit.io(this.vp, port & 0xffff, size, write, v, label);
    const instr: Instr = {
      kind: "io",
      port: port & 0xffff,
      size,
      write,
      value: v,
      ...(label !== undefined ? { label } : {}),
    };
    const i = this.#intercept("ioio", instr);
    if (i.kind !== "io" || !i.done) throw new Error(`port I/O at 0x${port.toString(16)} was not emulated`);
    return (i.value & mask) >>> 0;
  }

  /**
   * HLT: the VP idles until an interrupt. SNP enlightened: an automatic exit to the
   * hypervisor; TDX enlightened: #VE; with a paravisor: its intercept (C10).
   */
  hlt(): void {
    const p = this.#p;
    const owner = p.isolated ? p.ownerOf(p.vectorFor("hlt")) : "guest";
    if (!p.isolated || (p.config.isolation === "snp" && owner === "guest")) {
      this.#exit.hlt(this.vp);
      return;
    }
    const i = this.#intercept("hlt", { kind: "hlt" });
    if (i.kind !== "hlt" || !i.done) throw new Error("HLT was not emulated");
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#p, this.#exit];
  }
}
