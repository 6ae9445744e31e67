// One configuration, end to end, as `hvcoco run` shows it: boot, put a secret in
// the guest's private memory, let the host read every page its SLAT maps (and the
// secret's page), and report what crossed and what leaked.
import { Label } from "../audit/labels.ts";
import { hostScan } from "../host/scan.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../platform/page.ts";
import type { VmConfig } from "./config.ts";
import { probeIllegalInterrupts } from "./interrupts.ts";
import { exerciseUtilities } from "./utilities.ts";
import { Vm } from "./vm.ts";

export interface RunRow {
  name: string;
  isolation: string;
  mode: string;
  booted: boolean;
  crash?: string;
  guestLevel: string;
  paravisorLevel: string;
  /** Who handles #VC (SNP) / #VE (TDX): "guest", "paravisor", or "-" without isolation. */
  vcVeTo: string;
  exceptionsGuest: number;
  exceptionsParavisor: number;
  bootSteps: string[];
  ccAttrs: string[];
  pagesShared: number;
  hypercallsDirect: number;
  hypercallsViaParavisor: number;
  hypercallsForwarded: number;
  hostPagesRead: number;
  secretBytesLeaked: number;
  ciphertextBytesRead: number;
  refusedHostWrites: number;
  crossings: number;
  /** How the hypervisor's interrupts reach the guest here (C14). */
  interruptPath: string;
  /**
   * Of the interrupt probe (a malicious hypervisor injects the #VC vector, 0x80 and a
   * vector never set up, after boot), how many reached the guest breaking an x86 rule.
   */
  illegalInterrupts: number;
  /** The guest's check of its paravisor's measurement (C25): "yes", "no", or "-" without a paravisor. */
  attestation: "yes" | "no" | "-";
  /** MMIO accesses that reached the hypervisor (C12: none for the IO-APIC / vTPM with a paravisor). */
  mmioToHost: number;
  /** The VMBus protocol version negotiated ("6.0"), or "-" without a connection. */
  vmbusVersion: string;
  /** The utility services that worked end to end: "hb", "ts", "sd". */
  utilities: string[];
  /** Offers the guest refused as not allowed in an isolated VM (C20). */
  offersRefused: number;
}

export interface RunOptions {
  /** Called with the new VM before it boots: observers (the report, the trace) subscribe here. */
  beforeBoot?: (vm: Vm) => void;
  /** Run the interrupt probe after boot (default true). */
  interruptProbe?: boolean;
}

export function runConfiguration(config: VmConfig, opts: RunOptions = {}): { vm: Vm; row: RunRow } {
  const vm = new Vm(config);
  opts.beforeBoot?.(vm);
  const boot = vm.boot();
  const p = vm.platform;
  const k = vm.guest;
  let hostPagesRead = 0;
  let illegalInterrupts = 0;
  let utilities: string[] = [];
  if (boot.ok) {
    // The host's heartbeat, time sync and shutdown ICs at work (the guest answers each).
    utilities = exerciseUtilities(vm);
    // The guest's secret: a page of key material in private memory.
    const pfn = k.alloc.alloc(1)!;
    const secret = vm.prng.fork().fill(new Uint8Array(PAGE_SIZE));
    k.hw.mem.write(pfn * PAGE_SIZE, secret, Label.SECRET);
    // The host reads what its SLAT maps, and the secret's page for good measure, and tries to write it.
    const host = p.untrustedView("host");
    hostPagesRead = hostScan(host, [pfn]).pagesRead;
    host.write(pfn * PAGE_SIZE, new Uint8Array(16).fill(0x41));
    // A malicious hypervisor's interrupt probe (C14).
    if (opts.interruptProbe !== false) illegalInterrupts = probeIllegalInterrupts(vm.hypervisor, vm.apics);
  }
  const owner = p.isolated ? p.ownerOf(p.vectorFor("cpuid")) : "-";
  const row: RunRow = {
    name: config.name,
    isolation: config.isolation,
    mode: config.isolation === "none" ? "-" : config.mode,
    booted: boot.ok,
    ...(boot.crash !== undefined ? { crash: boot.crash } : {}),
    guestLevel: p.placement.guest,
    paravisorLevel: p.placement.paravisor ?? "-",
    vcVeTo: owner,
    exceptionsGuest: p.exceptions.guest,
    exceptionsParavisor: p.exceptions.paravisor,
    bootSteps: [...(vm.paravisor?.bootSteps.map((s) => `paravisor: ${s}`) ?? []), ...k.bootSteps],
    ccAttrs: k.cc.list(),
    pagesShared: p.memory.countPages(PageFlag.STATE_MASK, PageState.SHARED),
    hypercallsDirect: vm.hypervisor.byCaller.guest,
    hypercallsViaParavisor: vm.paravisor?.served ?? 0,
    hypercallsForwarded: vm.hypervisor.byCaller.paravisor,
    hostPagesRead,
    secretBytesLeaked: vm.audit.secretBytesLeaked,
    ciphertextBytesRead: vm.audit.ciphertextBytesRead,
    refusedHostWrites: vm.audit.refusedWrites,
    crossings: vm.audit.boundary.seq,
    interruptPath: vm.interrupts.path,
    illegalInterrupts,
    attestation: k.attestation.state === "verified" ? "yes" : k.attestation.state === "failed" ? "no" : "-",
    mmioToHost: vm.hypervisor.exits.mmio,
    vmbusVersion:
      k.vmbus?.state === "connected" ? `${k.vmbus.version >>> 16}.${k.vmbus.version & 0xffff}` : "-",
    utilities,
    offersRefused: k.vmbus?.refusedOffers.length ?? 0,
  };
  return { vm, row };
}
