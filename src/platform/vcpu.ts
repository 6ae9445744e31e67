// A virtual processor executing the instructions that leave a context: CPUID,
// RDMSR/WRMSR and VMMCALL. What each does depends on the hardware and on who owns
// the exceptions (C10): in a normal VM it exits straight to the hypervisor; on SNP
// it raises #VC; on TDX the module answers architectural CPUID leaves and the rest
// raise #VE (or, for an L2 guest, exit to the L1 paravisor).
import type { CpuidRegs } from "../hypervisor/cpuid.ts";
import { archCpuid } from "./arch-cpuid.ts";
import type { CpuLevel } from "./cpu-memory.ts";
import type { Instr } from "./exceptions.ts";
import type { Platform } from "./platform.ts";

/** Where a non-isolated VM's exits go (the hypervisor; wired by the VM). */
export interface ExitPort {
  cpuid(vp: number, leaf: number): CpuidRegs;
  rdmsr(vp: number, msr: number): { ok: true; value: bigint } | { ok: false; fault: "GP" };
  wrmsr(vp: number, msr: number, value: bigint): { ok: true; value: bigint } | { ok: false; fault: "GP" };
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

  #intercept(cause: "cpuid" | "msr-read" | "msr-write" | "vmmcall", instr: Instr): Instr {
    this.#p.raise({ cause, vp: this.vp, instr });
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
}
