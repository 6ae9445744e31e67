// A minimal network stack in the guest, above netvsc: an ARP cache, ping (ICMP
// echo) and a UDP echo client, as `ping` and a UDP socket would use the kernel's.
// Every frame the host delivers is parsed and checked whole (inet.ts) before its
// contents are compared with what was sent; a reply counts only when it is
// exactly the echo of the request.
import type { NetvscDevice } from "../drivers/netvsc/device.ts";
import { netvscSendFrame } from "../drivers/netvsc/send.ts";
import { Errno } from "../vmbus/connection.ts";
import { newParsedFrame, parseFrame, type Route, writeArpRequest, writeIcmpEcho, writeUdp } from "./inet.ts";

/** The ICMP identifier of the guest's pings. */
export const PING_ID = 0x4856;
/** The guest's UDP source port. */
export const UDP_SRC_PORT = 40000;

export interface GuestNetStats {
  framesIn: number;
  arpReplies: number;
  echoReplies: number;
  udpReplies: number;
  /** Frames the parser refused (bad lengths or checksums). */
  badFrames: number;
  /** Replies whose payload differed from the request's. */
  mismatches: number;
  sendErrors: number;
}

interface Pending {
  kind: "arp" | "icmp" | "udp";
  ip: number;
  seq: number;
  port: number;
  payload: Uint8Array;
  done: boolean;
  ok: boolean;
}

export class GuestNetStack {
  readonly dev: NetvscDevice;
  readonly ip: number;
  readonly arp = new Map<number, Uint8Array>();
  readonly stats: GuestNetStats = {
    framesIn: 0,
    arpReplies: 0,
    echoReplies: 0,
    udpReplies: 0,
    badFrames: 0,
    mismatches: 0,
    sendErrors: 0,
  };
  readonly #tx: Uint8Array;
  readonly #parsed = newParsedFrame();
  readonly #pending: Pending = {
    kind: "arp",
    ip: 0,
    seq: 0,
    port: 0,
    payload: new Uint8Array(0),
    done: true,
    ok: false,
  };
  readonly #route: Route;
  #ipId = 0;

  constructor(dev: NetvscDevice, ip: number) {
    this.dev = dev;
    this.ip = ip >>> 0;
    this.#tx = new Uint8Array(dev.mtu + 14);
    this.#route = { srcMac: dev.mac, dstMac: new Uint8Array(6), srcIp: this.ip, dstIp: 0 };
    dev.rxHandler = (f) => this.#rx(f);
  }

  #rx(f: Uint8Array): void {
    this.stats.framesIn++;
    const o = parseFrame(f, f.length, this.dev.mac, this.#parsed);
    if (o.kind === "bad") {
      this.stats.badFrames++;
      return;
    }
    const p = this.#pending;
    if (o.kind === "arp-reply") {
      if (o.dstIp !== this.ip) return;
      this.stats.arpReplies++;
      this.arp.set(o.srcIp, f.slice(o.shaAt, o.shaAt + 6));
      if (!p.done && p.kind === "arp" && p.ip === o.srcIp) this.#finish(true);
      return;
    }
    if (o.kind === "icmp-echo-reply") {
      if (o.dstIp !== this.ip || o.id !== PING_ID) return;
      this.stats.echoReplies++;
      if (!p.done && p.kind === "icmp" && p.ip === o.srcIp && p.seq === o.seq)
        this.#finish(this.#same(f, o.payloadAt, o.payloadLen));
      return;
    }
    if (o.kind === "udp") {
      if (o.dstIp !== this.ip || o.dstPort !== UDP_SRC_PORT) return;
      this.stats.udpReplies++;
      if (!p.done && p.kind === "udp" && p.ip === o.srcIp && p.port === o.srcPort)
        this.#finish(this.#same(f, o.payloadAt, o.payloadLen));
    }
  }

  #same(f: Uint8Array, at: number, len: number): boolean {
    const want = this.#pending.payload;
    if (len !== want.length) return false;
    for (let i = 0; i < len; i++) if (f[at + i] !== want[i]) return false;
    return true;
  }

  #finish(ok: boolean): void {
    if (!ok) this.stats.mismatches++;
    this.#pending.ok = ok;
    this.#pending.done = true;
  }

  /** Send the frame in #tx, retrying once after completions when the device is busy. */
  #send(len: number): boolean {
    let ret = netvscSendFrame(this.dev, this.#tx, len);
    if (ret === -Errno.EAGAIN) {
      this.dev.k.hw.waitFor(() => this.dev.inFlight === 0, "netvsc send completions");
      ret = netvscSendFrame(this.dev, this.#tx, len);
    }
    if (ret !== 0) this.stats.sendErrors++;
    return ret === 0;
  }

  #await(kind: Pending["kind"], ip: number, seq: number, port: number, payload: Uint8Array): Pending {
    const p = this.#pending;
    p.kind = kind;
    p.ip = ip;
    p.seq = seq;
    p.port = port;
    p.payload = payload;
    p.done = false;
    p.ok = false;
    return p;
  }

  #wait(what: string): boolean {
    const p = this.#pending;
    this.dev.k.hw.waitFor(() => p.done, what);
    const ok = p.done && p.ok;
    p.done = true;
    return ok;
  }

  /** The MAC of `ip`: from the cache, or by an ARP request and its reply. */
  resolve(ip: number): Uint8Array | undefined {
    const known = this.arp.get(ip);
    if (known) return known;
    this.#await("arp", ip, 0, 0, new Uint8Array(0));
    if (!this.#send(writeArpRequest(this.#tx, this.dev.mac, this.ip, ip))) return undefined;
    return this.#wait("ARP reply") ? this.arp.get(ip) : undefined;
  }

  #routeTo(ip: number): Route | undefined {
    const mac = this.resolve(ip);
    if (!mac) return undefined;
    this.#route.dstMac = mac;
    this.#route.dstIp = ip;
    this.#route.srcMac = this.dev.mac;
    return this.#route;
  }

  /** One ICMP echo: true when the reply came back with the same payload. */
  ping(ip: number, seq: number, payload: Uint8Array): boolean {
    const r = this.#routeTo(ip);
    if (!r) return false;
    this.#await("icmp", ip, seq & 0xffff, 0, payload);
    const len = writeIcmpEcho(this.#tx, r, PING_ID, seq & 0xffff, payload, ++this.#ipId);
    if (!this.#send(len)) return false;
    return this.#wait("ICMP echo reply");
  }

  /** One UDP datagram to an echo port: true when it came back unchanged. */
  udpEcho(ip: number, port: number, payload: Uint8Array): boolean {
    const r = this.#routeTo(ip);
    if (!r) return false;
    this.#await("udp", ip, 0, port, payload);
    const len = writeUdp(this.#tx, r, UDP_SRC_PORT, port, payload, ++this.#ipId);
    if (!this.#send(len)) return false;
    return this.#wait("UDP echo");
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#tx, this.#parsed, this.#pending, this.#route, this.#ipId];
  }
  load(s: unknown[]): void {
    this.#ipId = s[4] as never;
  }
}
