// One VM: the platform, the hypervisor, the paravisor (in paravisor mode) and the
// guest, each holding only its own view, wired together through the exits
// between them. Boot runs the paravisor first (C9), then the guest.
import { Auditor } from "../audit/auditor.ts";
import { guestExceptionHandler } from "../guest/arch/exceptions.ts";
import { bootGuest, GuestPanic } from "../guest/boot.ts";
import { guestIdle } from "../guest/devices.ts";
import type { GuestHardware, HypervisorExit } from "../guest/hardware.ts";
import { GuestKernel } from "../guest/kernel.ts";
import type { VmbusOptions } from "../guest/vmbus/connection.ts";
import { type HostOptions, HostPartition } from "../host/host.ts";
import type { HypercallPath } from "../hypervisor/hypervisor.ts";
import { Hypervisor } from "../hypervisor/hypervisor.ts";
import type { NpfExit } from "../hypervisor/mmio-access.ts";
import type { ParavisorImage } from "../paravisor/measurement.ts";
import { Paravisor } from "../paravisor/paravisor.ts";
import type { ParavisorVmbusOptions } from "../paravisor/vmbus/server.ts";
import { LocalApic } from "../platform/apic.ts";
import { archCpuid } from "../platform/arch-cpuid.ts";
import { GuestCrash } from "../platform/exceptions.ts";
import { Platform } from "../platform/platform.ts";
import { Vcpu } from "../platform/vcpu.ts";
import { Prng } from "../util/prng.ts";
import { hardened, type VmConfig } from "./config.ts";
import { attachRelay, hostOptionsFor, paravisorVmbusWiring, postToVtl2, routeVmbus } from "./cvmbus.ts";
import { Hooks } from "./hooks.ts";
import { InterruptRouter } from "./interrupts.ts";
import { launchParavisor, paravisorImageFor } from "./launch.ts";
import { Scheduler } from "./scheduler.ts";
import { restoreSnapshot, takeSnapshot, type VmSnapshot } from "./snapshot.ts";

export interface BootOutcome {
  ok: boolean;
  /** Why the guest died, when it did. */
  crash?: string;
  /** "panic": the guest stopped itself with a reason (fail-safe); "crash": an exception it could not handle. */
  kind?: "panic" | "crash";
}

export interface VmOptions {
  /** The host's devices and VMBus server (versions it accepts, VSPs); the full default set when absent. */
  host?: HostOptions;
  /** The paravisor's Confidential VMBus (its devices, refusing, relaying); config vmbus "confidential". */
  paravisorVmbus?: ParavisorVmbusOptions;
  /** The guest's VMBus client options over those the configuration gives (tests: an older guest). */
  guestVmbus?: Partial<VmbusOptions>;
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
  /** The root partition: its VMBus server and VSPs. */
  readonly host: HostPartition;
  readonly scheduler = new Scheduler();
  /** The guest's local APICs, one per VP. */
  readonly apics: LocalApic[];
  /** Where the hypervisor's interrupts go on this hardware (C14). */
  readonly interrupts: InterruptRouter;
  /** The paravisor image the host will load at boot (paravisor mode); a test may change it before boot (C25). */
  paravisorImage: ParavisorImage | undefined;
  bootOutcome: BootOutcome | undefined;

  readonly #guestVmbus: Partial<VmbusOptions>;
  /** The streams boot's closures draw from (the vTPM's, RDRAND's): reachable here so a snapshot holds them. */
  readonly #streams: Prng[] = [];

  constructor(config: VmConfig, opts: VmOptions = {}) {
    this.config = config;
    this.#guestVmbus = opts.guestVmbus ?? {};
    this.prng = Prng.fromSeed(config.seed);
    const key = this.prng.fork().u32();
    this.platform = new Platform(config, this.audit, key);
    this.hypervisor = new Hypervisor(this.platform);
    const p = this.platform;
    const hv = this.hypervisor;
    // The host's VMBus server takes what the guest posts and signals as host tasks.
    const host = new HostPartition(
      {
        memory: p.untrustedView("host"),
        synic: hv.synic,
        schedule: (what, fn) => this.scheduler.post("host", what, fn),
        postToVtl2: postToVtl2(hv),
        mmio: hv.hostMmio,
      },
      hostOptionsFor(config, opts.host),
    );
    this.host = host;
    // HvPostMessage / HvSignalEvent: to the paravisor's ports (Confidential VMBus), else the host.
    routeVmbus(hv, host);

    if (config.mode === "paravisor") {
      const pvExit = this.#exit("paravisor", config.isolation === "snp" ? "ghcb" : "tdvmcall");
      const tpmRng = this.prng.fork();
      this.#streams.push(tpmRng);
      const pv = new Paravisor(p, pvExit, {
        random: (d) => tpmRng.fill(d),
        vmbus: paravisorVmbusWiring(config, this.scheduler, hv, opts.paravisorVmbus),
      });
      attachRelay(hv, this.scheduler, pv);
      this.paravisor = pv;
      this.paravisorImage = paravisorImageFor(p);
      hv.paravisorIntercept = (vp, control, input) => pv.untrustedHypercall(vp, control, input);
      p.setHandler("paravisor", (e) => pv.handleException(e));
    }
    const pv = this.paravisor;
    const exitPort = {
      cpuid: (vp: number, leaf: number) => hv.cpuid(vp, leaf, "guest"),
      rdmsr: (vp: number, msr: number) => hv.rdmsr(vp, msr, "guest"),
      wrmsr: (vp: number, msr: number, v: bigint) => hv.wrmsr(vp, msr, v, "guest"),
      // Plain exits (no isolation; SNP's HLT is an automatic exit).
      mmio: (vp: number, gpa: number, write: boolean, data: Uint8Array, labels?: Uint8Array) =>
        hv.mmio(vp, gpa, write, data, labels, "guest", "intercept"),
      io: (vp: number, port: number, size: 1 | 2 | 4, write: boolean, value: number, label?: number) =>
        hv.io(vp, port, size, write, value, label, "guest", "intercept"),
      hlt: (vp: number) => hv.hlt(vp, "guest", "intercept"),
      npf: (vp: number, e: NpfExit) => hv.npf(vp, e, "guest"),
    };
    this.apics = Array.from({ length: config.vcpus }, (_, vp) => new LocalApic(vp, this.audit));
    pv?.interrupts.attach(this.apics);
    const router = new InterruptRouter(p, hv, pv, this.apics);
    this.interrupts = router;
    // Interrupts the hypervisor injects arrive as tasks: the guest handles them when it next runs.
    hv.injectInterrupt = (vp, vector, sint) =>
      this.scheduler.post("hypervisor", `interrupt 0x${vector.toString(16)} to VP${vp}`, () =>
        router.route(vp, vector, sint, false),
      );
    // A malicious hypervisor's injection happens at once, at whatever point it chooses.
    hv.injectRaw = (vp, vector) => router.route(vp, vector, -1, true);
    hv.raiseHv = (vp) => this.apics[vp]?.raiseHv("hypervisor");
    // A halted VP sleeps until an interrupt: the rest of the machine runs meanwhile.
    hv.onHalt = () => {
      this.scheduler.runUntilIdle();
    };
    const rdrand = this.prng.fork();
    this.#streams.push(rdrand);
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
      random: (d) => {
        rdrand.fill(d);
      },
      attestation: pv
        ? {
            platformKey: p.psp.publicKeySpki,
            guestRequest: (req) => {
              this.audit.boundary.cross("attestation", "guest", "platform", "MSG_REPORT_REQ", () => ({
                len: req.length,
              }));
              // The request comes from the guest's own level: VMPL2 under an SNP paravisor.
              return p.psp.handleReportRequest(req, p.placement.guest === "VMPL2" ? 2 : 0);
            },
          }
        : undefined,
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
      pageStateChange: (vp, pfn, count, to, hostVisible) =>
        hv.pageStateChange(vp, pfn, count, to, from, path, hostVisible),
      mmio: (vp, gpa, write, data, labels) => hv.mmio(vp, gpa, write, data, labels, from, path),
      io: (vp, port, size, write, value, label) => hv.io(vp, port, size, write, value, label, from, path),
      hlt: (vp) => hv.hlt(vp, from, path),
      ghcbHypercall: (vp, gpa) => hv.ghcbHypercall(vp, gpa, from),
      setHvDoorbellPage: (vp, gpa) => hv.setHvDoorbellPage(vp, gpa, from),
    };
  }

  /** Boot: paravisor first, then the guest. A dead guest is an outcome, not an exception. */
  boot(): BootOutcome {
    try {
      // The host loads the paravisor image; the platform measures it as it goes (C25).
      if (this.paravisorImage) launchParavisor(this.platform, this.paravisorImage);
      this.paravisor?.boot();
      bootGuest(this.guest, {
        notPresent: hardened(this.config, "not-present"),
        leakFailedConversions: hardened(this.config, "leak-failed-conversions"),
        swiotlbBounce: hardened(this.config, "swiotlb-bounce"),
        privateMmio: hardened(this.config, "private-mmio"),
        vmbus: {
          copyBeforeValidate: hardened(this.config, "copy-before-validate"),
          zeroPadding: hardened(this.config, "zero-padding"),
          isolationFilter: hardened(this.config, "isolation-filter"),
          netvscCopy: hardened(this.config, "netvsc-copy"),
          probeConfidential: this.config.vmbusProbe === true,
          trustedOnly: hardened(this.config, "trusted-connection"),
          ...this.#guestVmbus,
        },
      });
      guestIdle(this.guest);
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

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#guestVmbus, this.#streams];
  }

  /**
   * Everything reachable from this VM, as it is now (usually just after boot): the
   * state restore() puts back, in place.
   */
  snapshot(): VmSnapshot {
    return takeSnapshot(this);
  }

  /**
   * Back exactly to the state of `s` (taken of this VM), in place: every object
   * keeps its identity, so closures and views captured during boot stay valid;
   * objects created since become unreachable.
   */
  restore(s: VmSnapshot): void {
    if (s.root !== this) throw new Error("a VM snapshot restores only the VM it was taken of");
    restoreSnapshot(s);
  }
}

export function createVm(config: VmConfig, opts: VmOptions = {}): Vm {
  return new Vm(config, opts);
}
