// One configuration, end to end, as `hvcoco run` shows it: boot, put a secret in
// the guest's private memory, let the host read every page its SLAT maps (and the
// secret's page), and report what crossed and what leaked.
import { Label } from "../audit/labels.ts";
import { hostScan } from "../host/scan.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../platform/page.ts";
import type { VmConfig } from "./config.ts";
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
}

export interface RunOptions {
  /** Called with the new VM before it boots: observers (the report, the trace) subscribe here. */
  beforeBoot?: (vm: Vm) => void;
}

export function runConfiguration(config: VmConfig, opts: RunOptions = {}): { vm: Vm; row: RunRow } {
  const vm = new Vm(config);
  opts.beforeBoot?.(vm);
  const boot = vm.boot();
  const p = vm.platform;
  const k = vm.guest;
  let hostPagesRead = 0;
  if (boot.ok) {
    // The guest's secret: a page of key material in private memory.
    const pfn = k.alloc.alloc(1)!;
    const secret = vm.prng.fork().fill(new Uint8Array(PAGE_SIZE));
    k.hw.mem.write(pfn * PAGE_SIZE, secret, Label.SECRET);
    // The host reads what its SLAT maps, and the secret's page for good measure, and tries to write it.
    const host = p.untrustedView("host");
    hostPagesRead = hostScan(host, [pfn]).pagesRead;
    host.write(pfn * PAGE_SIZE, new Uint8Array(16).fill(0x41));
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
  };
  return { vm, row };
}
