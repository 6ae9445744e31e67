import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { inetChecksum, pseudoHeaderSum } from "../../../src/host/net/checksum.ts";
import {
  buildArpRequest,
  buildIcmpEcho,
  buildUdp,
  ETH_HLEN,
  formatIpv4,
  formatMac,
  getU16,
  getU32,
  IPV4_HLEN,
  parseIpv4,
  parseMac,
} from "../../../src/host/net/frames.ts";
import { type FrameDirection, NetResponder } from "../../../src/host/net/responder.ts";
import { hex, toHex } from "../../vmbus/hex.ts";

const HOST_MAC = parseMac("00:15:5d:00:00:01")!;
const GUEST_MAC = parseMac("00:15:5d:00:00:02")!;
const HOST_IP = parseIpv4("10.0.0.1")!;
const GUEST_IP = parseIpv4("10.0.0.2")!;
const TO_HOST = { srcMac: GUEST_MAC, dstMac: HOST_MAC, srcIp: GUEST_IP, dstIp: HOST_IP };

function flip(f: Uint8Array, at: number, x: number): void {
  f[at] = (f[at] ?? 0) ^ x;
}

function responder() {
  return new NetResponder({ mac: HOST_MAC, ip: HOST_IP });
}

function ask(r: NetResponder, frame: Uint8Array): { verdict: string; replies: Uint8Array[] } {
  const replies: Uint8Array[] = [];
  const verdict = r.receive(frame, (f) => replies.push(f.slice()));
  return { verdict, replies };
}

/** Every checksum of an IPv4 frame verifies (an independent re-sum). */
function checksumsOk(f: Uint8Array): boolean {
  const i = ETH_HLEN;
  const ihl = (f[i]! & 0xf) * 4;
  if (inetChecksum(f, i, ihl) !== 0) return false;
  const total = getU16(f, i + 2);
  const p = i + ihl;
  const len = total - ihl;
  if (f[i + 9] === 1) return inetChecksum(f, p, len) === 0;
  if (f[i + 9] === 17)
    return inetChecksum(f, p, len, pseudoHeaderSum(getU32(f, i + 12), getU32(f, i + 16), 17, len)) === 0;
  return true;
}

test("the Internet checksum of a known header (RFC 1071 example: 0xb861)", () => {
  assert.equal(inetChecksum(hex("450000730000400040110000c0a80001c0a800c7"), 0, 20), 0xb861);
  assert.equal(inetChecksum(hex("01"), 0, 1), 0xfeff);
  assert.equal(formatMac(HOST_MAC), "00:15:5d:00:00:01");
  assert.equal(formatIpv4(GUEST_IP), "10.0.0.2");
  assert.equal(parseMac("00:15:5d:00:00"), undefined);
  assert.equal(parseIpv4("10.0.0.256"), undefined);
});

test("golden: ARP request for the host's IP gets a reply (padded to 60 bytes)", () => {
  const r = responder();
  const { verdict, replies } = ask(r, buildArpRequest(GUEST_MAC, GUEST_IP, HOST_IP));
  assert.equal(verdict, "arp-reply");
  assert.equal(
    toHex(replies[0]!),
    "00155d00000200155d0000010806000108000604000200155d0000010a00000100155d0000020a000002000000000000000000000000000000000000",
  );
  assert.equal(ask(r, buildArpRequest(GUEST_MAC, GUEST_IP, parseIpv4("10.0.0.9")!)).verdict, "not-for-us");
});

test("golden: ICMP echo request gets an echo reply with correct IPv4 and ICMP checksums", () => {
  const r = responder();
  const req = buildIcmpEcho(TO_HOST, { id: 0x1234, seq: 1, payload: new TextEncoder().encode("hvcoco!!") });
  assert.equal(
    toHex(req),
    "00155d00000100155d00000208004500002400010000400166d60a0000020a00000108009554123400016876636f636f212100000000000000000000",
  );
  const { verdict, replies } = ask(r, req);
  assert.equal(verdict, "icmp-echo-reply");
  assert.equal(
    toHex(replies[0]!),
    "00155d00000200155d00000108004500002400010000400166d60a0000010a00000200009d54123400016876636f636f212100000000000000000000",
  );
  assert.ok(checksumsOk(replies[0]!));
});

test("golden: a UDP datagram to port 7 is echoed back, ports swapped, checksum correct", () => {
  const r = responder();
  const req = buildUdp(TO_HOST, { srcPort: 40000, dstPort: 7, payload: new TextEncoder().encode("echo me") });
  assert.ok(checksumsOk(req));
  const { verdict, replies } = ask(r, req);
  assert.equal(verdict, "udp-echo");
  assert.equal(
    toHex(replies[0]!),
    "00155d00000200155d00000108004500002300010000401166c70a0000010a00000200079c40000ffc456563686f206d650000000000000000000000",
  );
  assert.equal(
    ask(r, buildUdp(TO_HOST, { srcPort: 1, dstPort: 9, payload: new Uint8Array(4) })).verdict,
    "unsupported",
  );
  // A large datagram (jumbo) is echoed whole.
  const big = buildUdp(TO_HOST, { srcPort: 5, dstPort: 7, payload: new Uint8Array(8000).fill(0x5a) });
  const b = ask(r, big);
  assert.equal(b.verdict, "udp-echo");
  assert.equal(b.replies[0]!.length, big.length);
  assert.ok(checksumsOk(b.replies[0]!));
});

test("the responder drops what it must not answer, with a reason", () => {
  const r = responder();
  const ping = () => buildIcmpEcho(TO_HOST, { id: 1, seq: 1, payload: new Uint8Array(32) });
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(10), "runt"],
    [
      (() => {
        const f = ping();
        f[0] = 0x02;
        return f;
      })(),
      "not-for-us",
    ],
    [
      (() => {
        const f = ping();
        flip(f, ETH_HLEN + 11, 1);
        return f;
      })(),
      "bad-ip-checksum",
    ],
    [
      (() => {
        const f = ping();
        f[ETH_HLEN] = 0x44;
        return f;
      })(),
      "bad-ip-header",
    ],
    [
      (() => {
        const f = ping();
        f[ETH_HLEN + 3] = 0xff;
        return f;
      })(),
      "bad-ip-header",
    ],
    [
      buildIcmpEcho(TO_HOST, { id: 1, seq: 1, payload: new Uint8Array(0) }).map((x, i) =>
        i === ETH_HLEN + IPV4_HLEN + 5 ? x ^ 1 : x,
      ),
      "bad-icmp-checksum",
    ],
    [buildIcmpEcho(TO_HOST, { id: 1, seq: 1, payload: new Uint8Array(4), reply: true }), "unsupported"],
    [
      buildIcmpEcho({ ...TO_HOST, dstIp: GUEST_IP }, { id: 1, seq: 1, payload: new Uint8Array(4) }),
      "not-for-us",
    ],
    [
      (() => {
        const f = buildUdp(TO_HOST, { srcPort: 1, dstPort: 7, payload: new Uint8Array(4) });
        flip(f, f.length - 20, 0xff);
        return f;
      })(),
      "bad-udp-checksum",
    ],
    [hex("00155d000001 00155d000002 86dd 6000000000000000"), "unsupported"],
  ];
  for (const [f, why] of cases) assert.equal(ask(r, f).verdict, why, why);
  // A fragment (MF set), with a fixed-up header checksum.
  const frag = ping();
  frag[ETH_HLEN + 6] = 0x20;
  frag[ETH_HLEN + 10] = 0;
  frag[ETH_HLEN + 11] = 0;
  const c = inetChecksum(frag, ETH_HLEN, 20);
  frag[ETH_HLEN + 10] = c >> 8;
  frag[ETH_HLEN + 11] = c & 0xff;
  assert.equal(ask(r, frag).verdict, "ip-fragment");
  // UDP checksum 0 means "none": accepted.
  const nosum = buildUdp(TO_HOST, { srcPort: 1, dstPort: 7, payload: new Uint8Array(4) });
  nosum[ETH_HLEN + IPV4_HLEN + 6] = 0;
  nosum[ETH_HLEN + IPV4_HLEN + 7] = 0;
  assert.equal(ask(r, nosum).verdict, "udp-echo");
  assert.equal(r.stats.dropped["not-for-us"], 2);
});

test("taps see every frame both ways; unsubscribing stops them", () => {
  const r = responder();
  const seen: [FrameDirection, string][] = [];
  const off = r.onFrame((d, f) => seen.push([d, toHex(f.subarray(12, 14))]));
  ask(r, buildArpRequest(GUEST_MAC, GUEST_IP, HOST_IP));
  ask(r, buildIcmpEcho(TO_HOST, { id: 1, seq: 2, payload: new Uint8Array(56) }));
  ask(r, new Uint8Array(5));
  off();
  ask(r, buildArpRequest(GUEST_MAC, GUEST_IP, HOST_IP));
  assert.deepEqual(seen, [
    ["to-host", "0806"],
    ["to-guest", "0806"],
    ["to-host", "0800"],
    ["to-guest", "0800"],
    ["to-host", ""],
  ]);
  assert.equal(r.stats.framesIn, 4);
  assert.equal(r.stats.framesOut, 3);
  assert.deepEqual(r.stats.answered, { "arp-reply": 2, "icmp-echo-reply": 1, "udp-echo": 0 });
});

test("never throws on arbitrary frames, and every reply it sends verifies", () => {
  const r = responder();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.nat(2), (body, toUs, kind) => {
      let f: Uint8Array;
      if (kind === 0) f = body;
      else {
        const base =
          kind === 1
            ? buildIcmpEcho(TO_HOST, { id: 7, seq: 7, payload: body })
            : buildUdp(TO_HOST, { srcPort: 9, dstPort: 7, payload: body });
        f = base.slice();
        if (!toUs && body.length > 0) flip(f, ETH_HLEN + (body[0]! % 40), body[body.length - 1]! | 1);
      }
      r.receive(f, (reply) => {
        assert.ok(reply.length >= 60);
        if (getU16(reply, 12) === 0x0800) assert.ok(checksumsOk(reply));
      });
    }),
  );
});
