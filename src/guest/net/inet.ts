// The guest's own Ethernet II / ARP (RFC 826) / IPv4 (RFC 791) / ICMP echo
// (RFC 792) / UDP (RFC 768) code: builders that write into a caller's buffer and a
// parser that checks every length and checksum of a received frame before any of
// it is believed. The guest keeps its own copy of this code: it never imports the
// host's (src/host/net), which is on the other side of the trust boundary.

export const ETH_HLEN = 14;
export const ETH_ZLEN = 60;
export const ARP_LEN = 28;
export const IPV4_HLEN = 20;
export const ICMP_HLEN = 8;
export const UDP_HLEN = 8;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const IPPROTO_ICMP = 1;
export const IPPROTO_UDP = 17;

export function getU16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

export function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

export function getU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** RFC 1071: the ones' complement of the ones' complement sum of b[off, off+len). */
export function csum(b: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  let i = off;
  const end = off + len;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

function pseudo(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

function eth(b: Uint8Array, dst: Uint8Array, src: Uint8Array, type: number): void {
  b.set(dst.subarray(0, 6), 0);
  b.set(src.subarray(0, 6), 6);
  putU16(b, 12, type);
}

function ipv4(b: Uint8Array, src: number, dst: number, proto: number, payloadLen: number, id: number): void {
  const i = ETH_HLEN;
  b[i] = 0x45;
  b[i + 1] = 0;
  putU16(b, i + 2, IPV4_HLEN + payloadLen);
  putU16(b, i + 4, id & 0xffff);
  putU16(b, i + 6, 0);
  b[i + 8] = 64;
  b[i + 9] = proto;
  putU16(b, i + 10, 0);
  putU32(b, i + 12, src);
  putU32(b, i + 16, dst);
  putU16(b, i + 10, csum(b, i, IPV4_HLEN));
}

/** Zero-pad a frame to ETH_ZLEN; returns its length on the wire. */
function padded(b: Uint8Array, len: number): number {
  if (len >= ETH_ZLEN) return len;
  b.fill(0, len, ETH_ZLEN);
  return ETH_ZLEN;
}

/** An ARP request "who has `target`? tell `ip`" (broadcast). Returns the frame's length. */
export function writeArpRequest(b: Uint8Array, mac: Uint8Array, ip: number, target: number): number {
  b.fill(0xff, 0, 6);
  b.set(mac.subarray(0, 6), 6);
  putU16(b, 12, ETHERTYPE_ARP);
  const a = ETH_HLEN;
  putU16(b, a, 1);
  putU16(b, a + 2, ETHERTYPE_IPV4);
  b[a + 4] = 6;
  b[a + 5] = 4;
  putU16(b, a + 6, 1);
  b.set(mac.subarray(0, 6), a + 8);
  putU32(b, a + 14, ip);
  b.fill(0, a + 18, a + 24);
  putU32(b, a + 24, target);
  return padded(b, a + ARP_LEN);
}

export interface Route {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  srcIp: number;
  dstIp: number;
}

/** An ICMP echo request carrying `payload`. Returns the frame's length. */
export function writeIcmpEcho(
  b: Uint8Array,
  r: Route,
  id: number,
  seq: number,
  payload: Uint8Array,
  ipId: number,
): number {
  const len = ICMP_HLEN + payload.length;
  eth(b, r.dstMac, r.srcMac, ETHERTYPE_IPV4);
  ipv4(b, r.srcIp, r.dstIp, IPPROTO_ICMP, len, ipId);
  const p = ETH_HLEN + IPV4_HLEN;
  b[p] = 8;
  b[p + 1] = 0;
  putU16(b, p + 2, 0);
  putU16(b, p + 4, id);
  putU16(b, p + 6, seq);
  b.set(payload, p + ICMP_HLEN);
  putU16(b, p + 2, csum(b, p, len));
  return padded(b, p + len);
}

/** A UDP datagram carrying `payload`, with its checksum. Returns the frame's length. */
export function writeUdp(
  b: Uint8Array,
  r: Route,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  ipId: number,
): number {
  const len = UDP_HLEN + payload.length;
  eth(b, r.dstMac, r.srcMac, ETHERTYPE_IPV4);
  ipv4(b, r.srcIp, r.dstIp, IPPROTO_UDP, len, ipId);
  const u = ETH_HLEN + IPV4_HLEN;
  putU16(b, u, srcPort);
  putU16(b, u + 2, dstPort);
  putU16(b, u + 4, len);
  putU16(b, u + 6, 0);
  b.set(payload, u + UDP_HLEN);
  const c = csum(b, u, len, pseudo(r.srcIp, r.dstIp, IPPROTO_UDP, len));
  putU16(b, u + 6, c === 0 ? 0xffff : c);
  return padded(b, u + len);
}

/** What a received frame is, once every header and checksum was checked. */
export interface ParsedFrame {
  kind: "arp-reply" | "icmp-echo-reply" | "udp" | "other" | "bad";
  /** Why a frame is "bad" (for the drop counters). */
  why: string;
  /** ARP: sender MAC offset (sha) and IP; IP: source and destination. */
  shaAt: number;
  srcIp: number;
  dstIp: number;
  id: number;
  seq: number;
  srcPort: number;
  dstPort: number;
  /** Where the ICMP / UDP payload starts in the frame, and its length. */
  payloadAt: number;
  payloadLen: number;
}

export function newParsedFrame(): ParsedFrame {
  return {
    kind: "other",
    why: "",
    shaAt: 0,
    srcIp: 0,
    dstIp: 0,
    id: 0,
    seq: 0,
    srcPort: 0,
    dstPort: 0,
    payloadAt: 0,
    payloadLen: 0,
  };
}

function bad(o: ParsedFrame, why: string): ParsedFrame {
  o.kind = "bad";
  o.why = why;
  return o;
}

/** Parse frame[0, len) addressed to `mac` (or broadcast) into `o`, checking it whole. */
export function parseFrame(f: Uint8Array, len: number, mac: Uint8Array, o: ParsedFrame): ParsedFrame {
  o.kind = "other";
  o.why = "";
  if (len < ETH_HLEN || len > f.length) return bad(o, "runt");
  let ours = true;
  let bcast = true;
  for (let i = 0; i < 6; i++) {
    if (f[i] !== mac[i]) ours = false;
    if (f[i] !== 0xff) bcast = false;
  }
  if (!ours && !bcast) return o;
  const type = getU16(f, 12);
  if (type === ETHERTYPE_ARP) {
    const a = ETH_HLEN;
    if (len < a + ARP_LEN) return bad(o, "short arp");
    if (getU16(f, a) !== 1 || getU16(f, a + 2) !== ETHERTYPE_IPV4 || f[a + 4] !== 6 || f[a + 5] !== 4)
      return bad(o, "arp format");
    if (getU16(f, a + 6) !== 2) return o;
    o.kind = "arp-reply";
    o.shaAt = a + 8;
    o.srcIp = getU32(f, a + 14);
    o.dstIp = getU32(f, a + 24);
    return o;
  }
  if (type !== ETHERTYPE_IPV4 || !ours) return o;
  const i = ETH_HLEN;
  if (len < i + IPV4_HLEN) return bad(o, "short ip");
  const ihl = (f[i]! & 0x0f) * 4;
  const total = getU16(f, i + 2);
  if (f[i]! >>> 4 !== 4 || ihl < IPV4_HLEN || total < ihl || i + total > len) return bad(o, "ip header");
  if (csum(f, i, ihl) !== 0) return bad(o, "ip checksum");
  if ((getU16(f, i + 6) & 0x3fff) !== 0) return bad(o, "ip fragment");
  o.srcIp = getU32(f, i + 12);
  o.dstIp = getU32(f, i + 16);
  const p = i + ihl;
  const plen = total - ihl;
  if (f[i + 9] === IPPROTO_ICMP) {
    if (plen < ICMP_HLEN) return bad(o, "short icmp");
    if (csum(f, p, plen) !== 0) return bad(o, "icmp checksum");
    if (f[p] !== 0 || f[p + 1] !== 0) return o;
    o.kind = "icmp-echo-reply";
    o.id = getU16(f, p + 4);
    o.seq = getU16(f, p + 6);
    o.payloadAt = p + ICMP_HLEN;
    o.payloadLen = plen - ICMP_HLEN;
    return o;
  }
  if (f[i + 9] === IPPROTO_UDP) {
    if (plen < UDP_HLEN) return bad(o, "short udp");
    const ulen = getU16(f, p + 4);
    if (ulen < UDP_HLEN || ulen > plen) return bad(o, "udp length");
    if (getU16(f, p + 6) !== 0 && csum(f, p, ulen, pseudo(o.srcIp, o.dstIp, IPPROTO_UDP, ulen)) !== 0)
      return bad(o, "udp checksum");
    o.kind = "udp";
    o.srcPort = getU16(f, p);
    o.dstPort = getU16(f, p + 2);
    o.payloadAt = p + UDP_HLEN;
    o.payloadLen = ulen - UDP_HLEN;
    return o;
  }
  return o;
}
