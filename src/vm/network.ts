// The network workload of `hvcoco run` (and of the network tests): the guest pings
// the host — an ARP request, then ICMP echoes with payloads of several sizes, some
// small enough for a send section and some (on a jumbo-frame link) large enough to
// go as page buffers through swiotlb — sends a UDP datagram to the echo port and an
// RNDIS keepalive, and checks every reply. Around it, the counters that say what
// the traffic cost: bytes bounced, copies, hypercalls, interrupts and bytes the
// host could read, per MiB of frames moved, and packets per second of the run.

import type { NetvscDevice } from "../guest/drivers/netvsc/device.ts";
import { rndisFilterKeepalive } from "../guest/drivers/netvsc/rndis_filter.ts";
import { netvscOf } from "../guest/drivers/netvsc.ts";
import { GuestNetStack } from "../guest/net/stack.ts";
import { NET_DEFAULTS } from "../host/vsp/netvsp.ts";
import type { Vm } from "./vm.ts";

export interface NetWorkloadOptions {
  /** ICMP echoes to send (default 8). */
  pings?: number;
  /** Their payload sizes, used in turn (default 56, 1024, 1472, 8000). */
  payloads?: readonly number[];
  /** UDP datagrams to the echo port (default 1). */
  udp?: number;
}

export interface NetCost {
  /** Bytes copied into (and out of) swiotlb bounce buffers. */
  bytesBounced: number;
  /** Copies: netvsc's own (send sections, receive copy-out) and swiotlb's. */
  copies: number;
  hypercalls: number;
  interrupts: number;
  /** Bytes of guest memory the host read in plaintext. */
  hostReadable: number;
}

export interface NetResult {
  arp: boolean;
  echoes: number;
  echoesOk: number;
  udp: number;
  udpOk: number;
  keepalive: boolean;
  /** Frames moved both ways, and their bytes. */
  frames: number;
  bytes: number;
  /** Frames sent through a send section / as page buffers. */
  sendBuffer: number;
  pageBuffer: number;
  seconds: number;
  packetsPerSecond: number;
  /** The cost of the workload, and per MiB of frames moved. */
  cost: NetCost;
  perMiB: NetCost;
}

/** The guest's netvsc device, if it bound one. */
export function guestNic(vm: Vm): NetvscDevice | undefined {
  for (const d of vm.guest.vmbus?.devices ?? []) {
    const n = netvscOf(d);
    if (n?.state === "ready") return n;
  }
  return undefined;
}

function snapshot(vm: Vm, nd: NetvscDevice): NetCost {
  const s = vm.guest.swiotlb?.stats;
  const c = vm.audit.boundary.counts;
  const a = vm.audit;
  return {
    bytesBounced: (s?.bytesToDevice ?? 0) + (s?.bytesFromDevice ?? 0),
    copies: nd.stats.copies + (s?.copies ?? 0),
    hypercalls: c.hypercall,
    interrupts: c.interrupt,
    hostReadable: a.secretBytesLeaked + a.exposedBytesRead + a.publicBytesRead,
  };
}

function diff(a: NetCost, b: NetCost): NetCost {
  return {
    bytesBounced: b.bytesBounced - a.bytesBounced,
    copies: b.copies - a.copies,
    hypercalls: b.hypercalls - a.hypercalls,
    interrupts: b.interrupts - a.interrupts,
    hostReadable: b.hostReadable - a.hostReadable,
  };
}

function perMiB(c: NetCost, bytes: number): NetCost {
  const m = bytes / (1024 * 1024);
  const f = (x: number) => (m > 0 ? Math.round(x / m) : 0);
  return {
    bytesBounced: f(c.bytesBounced),
    copies: f(c.copies),
    hypercalls: f(c.hypercalls),
    interrupts: f(c.interrupts),
    hostReadable: f(c.hostReadable),
  };
}

/** Ping the host and echo UDP through it; undefined when the guest has no NIC. */
export function exerciseNetwork(vm: Vm, o: NetWorkloadOptions = {}): NetResult | undefined {
  const nd = guestNic(vm);
  if (!nd) return undefined;
  const stack = new GuestNetStack(nd, NET_DEFAULTS.guestIp);
  const host = NET_DEFAULTS.hostIp;
  const sizes = (o.payloads ?? [56, 1024, 1472, 8000]).map((n) => Math.max(0, Math.min(n, nd.mtu - 28)));
  const rng = vm.prng.fork();
  const payloads = sizes.map((n) => rng.fill(new Uint8Array(n)));
  const before = snapshot(vm, nd);
  const st0 = { ...nd.stats };
  const t0 = performance.now();
  const arp = stack.resolve(host) !== undefined;
  const echoes = o.pings ?? 8;
  let echoesOk = 0;
  for (let i = 0; i < echoes; i++) if (stack.ping(host, i + 1, payloads[i % payloads.length]!)) echoesOk++;
  const udp = o.udp ?? 1;
  let udpOk = 0;
  const text = new TextEncoder().encode("hvcoco: UDP echo through netvsc");
  for (let i = 0; i < udp; i++) if (stack.udpEcho(host, NET_DEFAULTS.udpEchoPort, text)) udpOk++;
  const keepalive = rndisFilterKeepalive(nd);
  vm.scheduler.runUntilIdle();
  const seconds = (performance.now() - t0) / 1000;
  const cost = diff(before, snapshot(vm, nd));
  const s = nd.stats;
  const frames = s.txFrames - st0.txFrames + (s.rxFrames - st0.rxFrames);
  const bytes = s.txBytes - st0.txBytes + (s.rxBytes - st0.rxBytes);
  return {
    arp,
    echoes,
    echoesOk,
    udp,
    udpOk,
    keepalive,
    frames,
    bytes,
    sendBuffer: s.txSendBuffer - st0.txSendBuffer,
    pageBuffer: s.txPageBuffer - st0.txPageBuffer,
    seconds,
    packetsPerSecond: seconds > 0 ? Math.round(frames / seconds) : 0,
    cost,
    perMiB: perMiB(cost, bytes),
  };
}
