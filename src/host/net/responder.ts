// The host's network responder: what netvsp hands each Ethernet frame the guest
// sends. It answers ARP requests for its IP, ICMP echo requests to its IP and UDP
// datagrams to its echo ports (7 by default), checking every header and checksum
// of what it answers; everything else is dropped with a reason. Frames in both
// directions go to the taps (onFrame), where a pcapng writer can subscribe.
//
// No allocation per frame: a reply is built in a buffer the responder owns and
// handed to `send` as a view that is valid only during the call (the VSP copies it
// into the receive buffer; a tap that keeps bytes must copy them).
import { inetChecksum, pseudoHeaderSum } from "./checksum.ts";
import {
  ARP_LEN,
  ArpOp,
  ETH_HLEN,
  ETH_ZLEN,
  EtherType,
  getU16,
  getU32,
  IcmpType,
  IPV4_HLEN,
  IpProto,
  putU16,
  setUdpChecksum,
  UDP_HLEN,
  writeArp,
  writeEth,
  writeIpv4,
} from "./frames.ts";

export type FrameDirection = "to-host" | "to-guest";
/** A frame tap. `frame` is only valid during the call: copy it to keep it. */
export type FrameTap = (direction: FrameDirection, frame: Uint8Array) => void;

export interface NetResponderConfig {
  /** The host's MAC and IPv4 address (u32). */
  mac: Uint8Array;
  ip: number;
  /** UDP ports that echo (default [7], the echo service). */
  udpEchoPorts?: readonly number[];
  /** TTL of replies (default 64). */
  ttl?: number;
}

export type Answered = "arp-reply" | "icmp-echo-reply" | "udp-echo";
export type Dropped =
  | "runt"
  | "not-for-us"
  | "unsupported"
  | "bad-arp"
  | "bad-ip-header"
  | "bad-ip-checksum"
  | "ip-fragment"
  | "bad-icmp"
  | "bad-icmp-checksum"
  | "bad-udp"
  | "bad-udp-checksum";
export type Verdict = Answered | Dropped;

export interface NetResponderStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  answered: Record<Answered, number>;
  dropped: Partial<Record<Dropped, number>>;
}

function isBroadcast(b: Uint8Array): boolean {
  return b[0] === 0xff && b[1] === 0xff && b[2] === 0xff && b[3] === 0xff && b[4] === 0xff && b[5] === 0xff;
}

function sameMac(a: Uint8Array, at: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[at + i] !== mac[i]) return false;
  return true;
}

export class NetResponder {
  readonly mac: Uint8Array;
  readonly ip: number;
  readonly #ports: ReadonlySet<number>;
  readonly #ttl: number;
  readonly #taps: FrameTap[] = [];
  #out = new Uint8Array(2048);
  /** The requester's MAC, copied out of its frame (no per-frame views). */
  readonly #peer = new Uint8Array(6);
  #ipId = 0;
  readonly stats: NetResponderStats = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    answered: { "arp-reply": 0, "icmp-echo-reply": 0, "udp-echo": 0 },
    dropped: {},
  };

  constructor(c: NetResponderConfig) {
    if (c.mac.length !== 6) throw new Error("responder MAC must be 6 bytes");
    this.mac = c.mac.slice();
    this.ip = c.ip >>> 0;
    this.#ports = new Set(c.udpEchoPorts ?? [7]);
    this.#ttl = c.ttl ?? 64;
  }

  /** Subscribe a tap to every frame in and out; returns the unsubscribe function. */
  onFrame(tap: FrameTap): () => void {
    this.#taps.push(tap);
    return () => {
      const i = this.#taps.indexOf(tap);
      if (i >= 0) this.#taps.splice(i, 1);
    };
  }

  #tap(dir: FrameDirection, frame: Uint8Array): void {
    for (const t of this.#taps) t(dir, frame);
  }

  #drop(why: Dropped): Verdict {
    this.stats.dropped[why] = (this.stats.dropped[why] ?? 0) + 1;
    return why;
  }

  #emit(len: number, send: (reply: Uint8Array) => void, what: Answered): Verdict {
    const n = Math.max(len, ETH_ZLEN);
    this.#out.fill(0, len, n);
    const reply = this.#out.subarray(0, n);
    this.stats.framesOut++;
    this.stats.bytesOut += n;
    this.stats.answered[what]++;
    this.#tap("to-guest", reply);
    send(reply);
    return what;
  }

  /** Take one frame from the guest; a reply, if any, goes to `send`. Never throws on any bytes. */
  receive(frame: Uint8Array, send: (reply: Uint8Array) => void): Verdict {
    this.stats.framesIn++;
    this.stats.bytesIn += frame.length;
    this.#tap("to-host", frame);
    if (frame.length < ETH_HLEN) return this.#drop("runt");
    const toUs = sameMac(frame, 0, this.mac);
    if (!toUs && !isBroadcast(frame)) return this.#drop("not-for-us");
    if (this.#out.length < frame.length + ETH_ZLEN) this.#out = new Uint8Array(frame.length + ETH_ZLEN);
    const type = getU16(frame, 12);
    if (type === EtherType.ARP) return this.#arp(frame, send);
    if (type === EtherType.IPV4 && toUs) return this.#ipv4(frame, send);
    return this.#drop("unsupported");
  }

  #arp(f: Uint8Array, send: (reply: Uint8Array) => void): Verdict {
    const a = ETH_HLEN;
    if (f.length < a + ARP_LEN) return this.#drop("runt");
    if (getU16(f, a) !== 1 || getU16(f, a + 2) !== EtherType.IPV4 || f[a + 4] !== 6 || f[a + 5] !== 4)
      return this.#drop("bad-arp");
    if (getU16(f, a + 6) !== ArpOp.REQUEST) return this.#drop("unsupported");
    if (getU32(f, a + 24) !== this.ip) return this.#drop("not-for-us");
    const o = this.#out;
    const sha = this.#peerFrom(f, a + 8);
    writeEth(o, sha, this.mac, EtherType.ARP);
    writeArp(o, ETH_HLEN, ArpOp.REPLY, this.mac, this.ip, sha, getU32(f, a + 14));
    return this.#emit(ETH_HLEN + ARP_LEN, send, "arp-reply");
  }

  #ipv4(f: Uint8Array, send: (reply: Uint8Array) => void): Verdict {
    const i = ETH_HLEN;
    if (f.length < i + IPV4_HLEN) return this.#drop("runt");
    const vihl = f[i]!;
    const ihl = (vihl & 0x0f) * 4;
    const total = getU16(f, i + 2);
    if (vihl >>> 4 !== 4 || ihl < IPV4_HLEN || total < ihl || i + total > f.length)
      return this.#drop("bad-ip-header");
    if (inetChecksum(f, i, ihl) !== 0) return this.#drop("bad-ip-checksum");
    if ((getU16(f, i + 6) & 0x3fff) !== 0) return this.#drop("ip-fragment");
    if (getU32(f, i + 16) !== this.ip) return this.#drop("not-for-us");
    const src = getU32(f, i + 12);
    const p = i + ihl;
    const plen = total - ihl;
    const proto = f[i + 9];
    if (proto === IpProto.ICMP) return this.#icmp(f, p, plen, src, send);
    if (proto === IpProto.UDP) return this.#udp(f, p, plen, src, send);
    return this.#drop("unsupported");
  }

  #peerFrom(f: Uint8Array, at: number): Uint8Array {
    for (let k = 0; k < 6; k++) this.#peer[k] = f[at + k]!;
    return this.#peer;
  }

  #ipHeader(f: Uint8Array, dst: number, proto: number, payloadLen: number): number {
    const o = this.#out;
    writeEth(o, this.#peerFrom(f, 6), this.mac, EtherType.IPV4);
    this.#ipId = (this.#ipId + 1) & 0xffff;
    writeIpv4(o, ETH_HLEN, { src: this.ip, dst, proto, payloadLen, id: this.#ipId, ttl: this.#ttl });
    return ETH_HLEN + IPV4_HLEN;
  }

  #icmp(f: Uint8Array, p: number, len: number, src: number, send: (reply: Uint8Array) => void): Verdict {
    if (len < 8) return this.#drop("bad-icmp");
    if (inetChecksum(f, p, len) !== 0) return this.#drop("bad-icmp-checksum");
    if (f[p] !== IcmpType.ECHO_REQUEST || f[p + 1] !== 0) return this.#drop("unsupported");
    const o = this.#out;
    const at = this.#ipHeader(f, src, IpProto.ICMP, len);
    o.set(f.subarray(p, p + len), at);
    o[at] = IcmpType.ECHO_REPLY;
    putU16(o, at + 2, 0);
    putU16(o, at + 2, inetChecksum(o, at, len));
    return this.#emit(at + len, send, "icmp-echo-reply");
  }

  #udp(f: Uint8Array, p: number, len: number, src: number, send: (reply: Uint8Array) => void): Verdict {
    if (len < UDP_HLEN) return this.#drop("bad-udp");
    const ulen = getU16(f, p + 4);
    if (ulen < UDP_HLEN || ulen > len) return this.#drop("bad-udp");
    const sum = getU16(f, p + 6);
    if (sum !== 0 && inetChecksum(f, p, ulen, pseudoHeaderSum(src, this.ip, IpProto.UDP, ulen)) !== 0)
      return this.#drop("bad-udp-checksum");
    const dport = getU16(f, p + 2);
    if (!this.#ports.has(dport)) return this.#drop("unsupported");
    const o = this.#out;
    const at = this.#ipHeader(f, src, IpProto.UDP, ulen);
    o.set(f.subarray(p, p + ulen), at);
    putU16(o, at, dport);
    putU16(o, at + 2, getU16(f, p));
    setUdpChecksum(o, at, ulen, this.ip, src);
    return this.#emit(at + ulen, send, "udp-echo");
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#ports, this.#ttl, this.#taps, this.#out, this.#peer, this.#ipId];
  }
  load(s: unknown[]): void {
    this.#out = s[3] as never;
    this.#ipId = s[5] as never;
  }
}
