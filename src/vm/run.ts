// One configuration, end to end, as `hvcoco run` shows it: boot, put a secret in
// the guest's private memory, let the host read every page its SLAT maps (and the
// secret's page), and report what crossed and what leaked.
import { Label } from "../audit/labels.ts";
import { openFileDisk } from "../host/backends/file-disk.ts";
import { hostScan } from "../host/scan.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../platform/page.ts";
import type { VmConfig } from "./config.ts";
import { cvmbusFacts, cvmbusSnapshot } from "./cvmbus-run.ts";
import { type DiskWorkloadResult, runDiskWorkload } from "./disk-workload.ts";
import { probeIllegalInterrupts } from "./interrupts.ts";
import { exerciseNetwork } from "./network.ts";
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
  /** Network (C22): ICMP echoes answered / sent, and whether ARP, UDP echo and an RNDIS keepalive worked. */
  netEchoes: string;
  netUdpKeepalive: boolean;
  /** Frames moved both ways, and frames per second of the simulation (measured in this run). */
  netPackets: number;
  netPacketsPerSecond: number;
  /** Per MiB of frames moved: bytes bounced through swiotlb, copies, hypercalls, interrupts, bytes the host could read. */
  netBytesBouncedPerMiB: number;
  netCopiesPerMiB: number;
  netHypercallsPerMiB: number;
  netInterruptsPerMiB: number;
  netHostReadablePerMiB: number;
  /**
   * Storage (C21): 1 MiB in 64 KiB writes, SYNCHRONIZE CACHE, read back and
   * compared ("ok", or why not); MB/s of the simulated I/O (measured in this run);
   * per MiB moved: bytes bounced through swiotlb, copies, hypercalls, interrupts,
   * bytes the host could read in plaintext.
   */
  disk: string;
  diskMbPerSecond: number;
  diskBytesBouncedPerMiB: number;
  diskCopiesPerMiB: number;
  diskHypercallsPerMiB: number;
  diskInterruptsPerMiB: number;
  diskHostReadablePerMiB: number;
  /** Confidential VMBus (C24-C33): "confidential", "host", "host (fell back)" or "-". */
  vmbusConnection: string;
  /** The paravisor's channels and what their offers encrypt ("scsi: ring+ext"), or "-". */
  paravisorChannels: string;
  /**
   * Per MiB of the disk workload, payload bytes that sat in plaintext in memory the
   * host's SLAT maps — what the host could read, whether or not it did (-1: no workload).
   */
  diskHostCouldReadPerMiB: number;
}

export interface RunOptions {
  /** Called with the new VM before it boots: observers (the report, the trace) subscribe here. */
  beforeBoot?: (vm: Vm) => void;
  /** Run the interrupt probe after boot (default true). */
  interruptProbe?: boolean;
}

/** Open the configuration's disk image; a bad one is an Error whose message is the one line to print. */
function openDisk(config: VmConfig) {
  if (config.disk === undefined) return undefined;
  const r = openFileDisk(config.disk);
  if (!r.ok) throw new Error(r.error.message);
  return r.disk;
}

export function runConfiguration(config: VmConfig, opts: RunOptions = {}): { vm: Vm; row: RunRow } {
  const disk = openDisk(config);
  try {
    return runWith(config, opts, disk);
  } finally {
    disk?.close();
  }
}

function runWith(
  config: VmConfig,
  opts: RunOptions,
  disk: ReturnType<typeof openDisk>,
): { vm: Vm; row: RunRow } {
  const vm = new Vm(config, disk ? { host: { disk } } : {});
  opts.beforeBoot?.(vm);
  const boot = vm.boot();
  const p = vm.platform;
  const k = vm.guest;
  let hostPagesRead = 0;
  let illegalInterrupts = 0;
  let utilities: string[] = [];
  let net: ReturnType<typeof exerciseNetwork>;
  let diskRun: DiskWorkloadResult | undefined;
  let cvm0 = cvmbusSnapshot(vm);
  if (boot.ok) {
    // The host's heartbeat, time sync and shutdown ICs at work (the guest answers each).
    utilities = exerciseUtilities(vm);
    // Ping and UDP echo through netvsc and the host's responder (C22).
    net = exerciseNetwork(vm);
    // Disk writes, a flush and reads through storvsc and the host's storvsp (C21).
    cvm0 = cvmbusSnapshot(vm);
    diskRun = runDiskWorkload(vm);
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
  const cvm = cvmbusFacts(vm, cvm0, diskRun);
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
    netEchoes: net ? `${net.echoesOk}/${net.echoes}` : "-",
    netUdpKeepalive: net?.arp === true && net.udpOk === net.udp && net.keepalive,
    netPackets: net?.frames ?? 0,
    netPacketsPerSecond: net?.packetsPerSecond ?? 0,
    netBytesBouncedPerMiB: net?.perMiB.bytesBounced ?? 0,
    netCopiesPerMiB: net?.perMiB.copies ?? 0,
    netHypercallsPerMiB: net?.perMiB.hypercalls ?? 0,
    netInterruptsPerMiB: net?.perMiB.interrupts ?? 0,
    netHostReadablePerMiB: net?.perMiB.hostReadable ?? 0,
    disk: diskRun ? (diskRun.ok ? "ok" : (diskRun.reason ?? "failed")) : "-",
    diskMbPerSecond: diskRun?.mbPerSec ?? 0,
    diskBytesBouncedPerMiB: diskRun?.perMiB.bounced ?? 0,
    diskCopiesPerMiB: diskRun?.perMiB.copies ?? 0,
    diskHypercallsPerMiB: diskRun?.perMiB.hypercalls ?? 0,
    diskInterruptsPerMiB: diskRun?.perMiB.interrupts ?? 0,
    diskHostReadablePerMiB: diskRun?.perMiB.hostReadable ?? 0,
    vmbusConnection: cvm.connection,
    paravisorChannels: cvm.channels,
    diskHostCouldReadPerMiB: cvm.diskHostCouldReadPerMiB,
  };
  return { vm, row };
}
