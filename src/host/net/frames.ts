// Ethernet II, ARP (RFC 826), IPv4 (RFC 791), ICMP echo (RFC 792) and UDP
// (RFC 768) as offsets and builders. The builders allocate (they are for
// workloads and tests); the responder writes replies in place with the same offsets.
import { inetChecksum, pseudoHeaderSum } from "./checksum.ts";

export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
/** The smallest Ethernet frame without its FCS; shorter frames are padded with zeros. */
export const ETH_ZLEN = 60;
export const EtherType = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd } as const;
export const IpProto = { ICMP: 1, UDP: 17 } as const;
export const IcmpType = { ECHO_REPLY: 0, ECHO_REQUEST: 8 } as const;
export const ArpOp = { REQUEST: 1, REPLY: 2 } as const;
export const ARP_LEN = 28;
export const IPV4_HLEN = 20;
export const UDP_HLEN = 8;
export const ICMP_ECHO_HLEN = 8;
export const BROADCAST_MAC: Uint8Array = new Uint8Array(6).fill(0xff);

/** "00:15:5d:01:02:03" to 6 bytes; undefined if malformed. */
export function parseMac(s: string): Uint8Array | undefined {
  const p = s.split(":");
  if (p.length !== 6 || p.some((x) => !/^[0-9a-f]{2}$/i.test(x))) return undefined;
  return new Uint8Array(p.map((x) => Number.parseInt(x, 16)));
}

export function formatMac(m: Uint8Array, at = 0): string {
  return Array.from(m.subarray(at, at + 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** "10.0.0.1" to a u32; undefined if malformed. */
export function parseIpv4(s: string): number | undefined {
  const p = s.split(".");
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return undefined;
  return p.reduce((a, x) => a * 256 + Number(x), 0);
}

export function formatIpv4(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join(".");
}

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

/** Write an Ethernet header at b[0]. */
export function writeEth(b: Uint8Array, dst: Uint8Array, src: Uint8Array, type: number): void {
  b.set(dst.subarray(0, 6), 0);
  b.set(src.subarray(0, 6), 6);
  putU16(b, 12, type);
}

/**
 * Write a 20-byte IPv4 header at b[at] (no options, DF clear) with its checksum.
 * `payloadLen` bytes follow it.
 */
export function writeIpv4(
  b: Uint8Array,
  at: number,
  o: { src: number; dst: number; proto: number; payloadLen: number; id: number; ttl?: number; tos?: number },
): void {
  b[at] = 0x45;
  b[at + 1] = o.tos ?? 0;
  putU16(b, at + 2, IPV4_HLEN + o.payloadLen);
  putU16(b, at + 4, o.id & 0xffff);
  putU16(b, at + 6, 0);
  b[at + 8] = o.ttl ?? 64;
  b[at + 9] = o.proto;
  putU16(b, at + 10, 0);
  putU32(b, at + 12, o.src);
  putU32(b, at + 16, o.dst);
  putU16(b, at + 10, inetChecksum(b, at, IPV4_HLEN));
}

/** Set the UDP checksum of a datagram of `len` bytes at b[at] (0 is sent as 0xffff). */
export function setUdpChecksum(b: Uint8Array, at: number, len: number, src: number, dst: number): void {
  putU16(b, at + 6, 0);
  const c = inetChecksum(b, at, len, pseudoHeaderSum(src, dst, IpProto.UDP, len));
  putU16(b, at + 6, c === 0 ? 0xffff : c);
}

export interface Endpoints {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  srcIp: number;
  dstIp: number;
}

/** An ARP request "who has targetIp, tell srcIp" (broadcast), padded to 60 bytes. */
export function buildArpRequest(srcMac: Uint8Array, srcIp: number, targetIp: number): Uint8Array {
  const b = new Uint8Array(ETH_ZLEN);
  writeEth(b, BROADCAST_MAC, srcMac, EtherType.ARP);
  writeArp(b, ETH_HLEN, ArpOp.REQUEST, srcMac, srcIp, new Uint8Array(6), targetIp);
  return b;
}

/** Write an ARP body (Ethernet/IPv4) at b[at]. */
export function writeArp(
  b: Uint8Array,
  at: number,
  op: number,
  sha: Uint8Array,
  spa: number,
  tha: Uint8Array,
  tpa: number,
): void {
  putU16(b, at, 1);
  putU16(b, at + 2, EtherType.IPV4);
  b[at + 4] = 6;
  b[at + 5] = 4;
  putU16(b, at + 6, op);
  b.set(sha.subarray(0, 6), at + 8);
  putU32(b, at + 14, spa);
  b.set(tha.subarray(0, 6), at + 18);
  putU32(b, at + 24, tpa);
}

/** An ICMP echo request (or reply) frame with correct IPv4 and ICMP checksums. */
export function buildIcmpEcho(
  e: Endpoints,
  o: { id: number; seq: number; payload: Uint8Array; reply?: boolean; ipId?: number },
): Uint8Array {
  const icmpLen = ICMP_ECHO_HLEN + o.payload.length;
  const b = new Uint8Array(Math.max(ETH_ZLEN, ETH_HLEN + IPV4_HLEN + icmpLen));
  writeEth(b, e.dstMac, e.srcMac, EtherType.IPV4);
  writeIpv4(b, ETH_HLEN, {
    src: e.srcIp,
    dst: e.dstIp,
    proto: IpProto.ICMP,
    payloadLen: icmpLen,
    id: o.ipId ?? 1,
  });
  const i = ETH_HLEN + IPV4_HLEN;
  b[i] = o.reply ? IcmpType.ECHO_REPLY : IcmpType.ECHO_REQUEST;
  b[i + 1] = 0;
  putU16(b, i + 4, o.id);
  putU16(b, i + 6, o.seq);
  b.set(o.payload, i + 8);
  putU16(b, i + 2, inetChecksum(b, i, icmpLen));
  return b;
}

/** A UDP datagram frame with correct IPv4 and UDP checksums. */
export function buildUdp(
  e: Endpoints,
  o: { srcPort: number; dstPort: number; payload: Uint8Array; ipId?: number },
): Uint8Array {
  const udpLen = UDP_HLEN + o.payload.length;
  const b = new Uint8Array(Math.max(ETH_ZLEN, ETH_HLEN + IPV4_HLEN + udpLen));
  writeEth(b, e.dstMac, e.srcMac, EtherType.IPV4);
  writeIpv4(b, ETH_HLEN, {
    src: e.srcIp,
    dst: e.dstIp,
    proto: IpProto.UDP,
    payloadLen: udpLen,
    id: o.ipId ?? 1,
  });
  const u = ETH_HLEN + IPV4_HLEN;
  putU16(b, u, o.srcPort);
  putU16(b, u + 2, o.dstPort);
  putU16(b, u + 4, udpLen);
  b.set(o.payload, u + 8);
  setUdpChecksum(b, u, udpLen, e.srcIp, e.dstIp);
  return b;
}
