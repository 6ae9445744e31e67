// One VM: the platform, the hypervisor, the paravisor (in paravisor mode) and the
// guest, each holding only its own view, wired together through the exits
// between them. Boot runs the paravisor first (C9), then the guest.
import { Auditor } from "../audit/auditor.ts";
import { guestExceptionHandler } from "../guest/arch/exceptions.ts";
import { bootGuest, GuestPanic } from "../guest/boot.ts";
import type { GuestHardware, HypervisorExit } from "../guest/hardware.ts";
import { GuestKernel } from "../guest/kernel.ts";
import type { HypercallPath } from "../hypervisor/hypervisor.ts";
import { Hypervisor } from "../hypervisor/hypervisor.ts";
import { Paravisor } from "../paravisor/paravisor.ts";
import { LocalApic } from "../platform/apic.ts";
import { archCpuid } from "../platform/arch-cpuid.ts";
import { GuestCrash } from "../platform/exceptions.ts";
import { Platform } from "../platform/platform.ts";
import { Vcpu } from "../platform/vcpu.ts";
import { Prng } from "../util/prng.ts";
import { hardened, type VmConfig } from "./config.ts";
import { Hooks } from "./hooks.ts";
import { Scheduler } from "./scheduler.ts";

export interface BootOutcome {
  ok: boolean;
  /** Why the guest died, when it did. */
  crash?: string;
  /** "panic": the guest stopped itself with a reason (fail-safe); "crash": an exception it could not handle. */
  kind?: "panic" | "crash";
}

export class Vm {
  readonly config: VmConfig;
  readonly audit = new Auditor();
  readonly hooks = new Hooks();
  readonly prng: Prng;
  readonly platform: Platform;
  readonly hypervisor: Hypervisor;
  readonly paravisor: Paravisor | undefined;
  readonly guest: GuestKernel;
  readonly scheduler = new Scheduler();
  /** The guest's local APICs, one per VP. */
  readonly apics: LocalApic[];
  bootOutcome: BootOutcome | undefined;

  constructor(config: VmConfig) {
    this.config = config;
    this.prng = Prng.fromSeed(config.seed);
    const key = this.prng.fork().u32();
    this.platform = new Platform(config, this.audit, key);
    this.hypervisor = new Hypervisor(this.platform);
    const p = this.platform;
    const hv = this.hypervisor;

    if (config.mode === "paravisor") {
      const pvExit = this.#exit("paravisor", config.isolation === "snp" ? "ghcb" : "tdvmcall");
      const pv = new Paravisor(p, pvExit);
      this.paravisor = pv;
      p.setHandler("paravisor", (e) => pv.handleException(e));
    }
    const pv = this.paravisor;
    const exitPort = {
      cpuid: (vp: number, leaf: number) => hv.cpuid(vp, leaf, "guest"),
      rdmsr: (vp: number, msr: number) => hv.rdmsr(vp, msr, "guest"),
      wrmsr: (vp: number, msr: number, v: bigint) => hv.wrmsr(vp, msr, v, "guest"),
    };
    this.apics = Array.from({ length: config.vcpus }, (_, vp) => new LocalApic(vp, this.audit));
    // Interrupts the hypervisor injects arrive as tasks: the guest handles them when it next runs.
    hv.injectInterrupt = (vp, vector, sint) =>
      this.scheduler.post("hypervisor", `interrupt 0x${vector.toString(16)} to VP${vp}`, () => {
        if (!pv) {
          this.apics[vp]?.deliver(vector, "hypervisor");
          return;
        }
        // With a paravisor, SynIC interrupts reach the guest through it.
        const v = pv.proxyInterrupt(vp, vector, sint);
        if (v !== undefined) this.apics[vp]?.deliver(v, "paravisor");
      });
    const cpus = Array.from({ length: config.vcpus }, (_, vp) => new Vcpu(p, "guest", vp, exitPort));
    const hw: GuestHardware = {
      mem: p.cpuMemory("guest"),
      cpus,
      usablePages: p.guestPages,
      validate: (pfn, count, valid) => p.validate("guest", pfn, count, valid),
      setPte: (pfn, count, bits) => p.setPte(pfn, count, bits),
      hypercallPage: (vp, control, inGpa, outGpa) =>
        pv
          ? pv.hypercall(vp, control, inGpa, outGpa)
          : hv.hypercall(vp, control, inGpa, outGpa, "guest", "vmcall"),
      hypercallPageFast: (vp, control, rdx, r8) =>
        pv
          ? pv.hypercallFast(vp, control, rdx, r8)
          : hv.hypercallFast(vp, control, rdx, r8, "guest", "vmcall"),
      apics: this.apics,
      waitFor: (cond, what) => {
        const ok = this.scheduler.waitFor(cond);
        if (!ok) this.guest.log(`timed out waiting for ${what}`);
        return ok;
      },
      ghcb: config.isolation === "snp" ? this.#exit("guest", "ghcb") : undefined,
      tdvmcall: config.isolation === "tdx" ? this.#exit("guest", "tdvmcall") : undefined,
    };
    this.guest = new GuestKernel(hw, this.hooks, this.audit);
    p.setHandler("guest", guestExceptionHandler(this.guest));
  }

  /** An explicit exit to the hypervisor for `from`, arriving by `path`. */
  #exit(from: "guest" | "paravisor", path: HypercallPath): HypervisorExit {
    const hv = this.hypervisor;
    const c = this.config;
    return {
      // Architectural leaves come from the SNP CPUID page / TDX module, not the hypervisor.
      cpuid: (vp, leaf) => archCpuid(c, leaf) ?? hv.cpuid(vp, leaf, from),
      rdmsr: (vp, msr) => hv.rdmsr(vp, msr, from),
      wrmsr: (vp, msr, v) => hv.wrmsr(vp, msr, v, from),
      hypercall: (vp, control, i, o) => hv.hypercall(vp, control, i, o, from, path),
      hypercallFast: (vp, control, rdx, r8) => hv.hypercallFast(vp, control, rdx, r8, from, path),
      pageStateChange: (vp, pfn, count, to) => hv.pageStateChange(vp, pfn, count, to, from, path),
    };
  }

  /** Boot: paravisor first, then the guest. A dead guest is an outcome, not an exception. */
  boot(): BootOutcome {
    try {
      this.paravisor?.boot();
      bootGuest(this.guest, { notPresent: hardened(this.config, "not-present") });
      this.bootOutcome = { ok: true };
    } catch (err) {
      if (err instanceof GuestCrash || err instanceof GuestPanic) {
        this.audit.violation("HVCOCO_VIOLATION_GUEST_CRASH", err.message);
        this.bootOutcome = {
          ok: false,
          crash: err.message,
          kind: err instanceof GuestPanic ? "panic" : "crash",
        };
      } else throw err;
    }
    return this.bootOutcome;
  }
}

export function createVm(config: VmConfig): Vm {
  return new Vm(config);
}
