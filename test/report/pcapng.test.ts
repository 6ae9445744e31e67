import assert from "node:assert/strict";
import { test } from "node:test";
import type { Crossing } from "../../src/audit/crossings.ts";
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_USER0,
  PcapngWriter,
  pcapngBytes,
  readPcapng,
} from "../../src/report/pcapng.ts";
import {
  decodeCrossingRecord,
  encodeCrossingRecord,
  JsonlTraceWriter,
  KIND_CODES,
  PcapngTraceWriter,
  TRACE_RECORD_HEADER,
} from "../../src/report/trace-record.ts";

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

test("pcapng: section header, interface and packet blocks are byte-exact", () => {
  const f = pcapngBytes((w) => {
    const i = w.addInterface({ linktype: LINKTYPE_USER0 });
    w.packet(i, 0x1_0000_0002n, Uint8Array.of(0xaa, 0xbb, 0xcc));
  });
  const dv = new DataView(f.buffer);
  // SHB: type, length 28 (no options), byte-order magic, version 1.0, section length -1.
  assert.equal(
    hex(f.subarray(0, 28)),
    "0a0d0d0a" + "1c000000" + "4d3c2b1a" + "0100" + "0000" + "ffffffffffffffff" + "1c000000",
  );
  // IDB: type 1, link type 147, snaplen 0, if_tsresol = 6, end of options.
  assert.equal(
    hex(f.subarray(28, 28 + 32)),
    "01000000" +
      "20000000" +
      "9300" +
      "0000" +
      "00000000" +
      "0900" +
      "0100" +
      "06000000" +
      "00000000" +
      "20000000",
  );
  // EPB: interface 0, timestamp high/low, captured 3, original 3, data padded to 4.
  const epb = f.subarray(60);
  assert.equal(dv.getUint32(60, true), 6);
  assert.equal(dv.getUint32(64, true), 32 + 4);
  assert.equal(hex(epb.subarray(8, 28)), "00000000" + "01000000" + "02000000" + "03000000" + "03000000");
  assert.equal(hex(epb.subarray(28, 32)), "aabbcc00");
  assert.equal(dv.getUint32(f.length - 4, true), 36);
  assert.equal(f.length, 28 + 32 + 36);
});

test("pcapng: options and Ethernet frames round-trip through the reader", () => {
  const frame = new Uint8Array(60).map((_, i) => i);
  const f = pcapngBytes(
    (w) => {
      const e = w.addInterface({
        linktype: LINKTYPE_ETHERNET,
        name: "netvsc0",
        description: "guest NIC",
        snaplen: 40,
      });
      const u = w.addInterface({ linktype: LINKTYPE_USER0, name: "crossings", tsresolDigits: 9 });
      w.packet(e, 1_000_000, frame, { comment: "ARP who-has" });
      w.packet(u, 7, Uint8Array.of(1, 2, 3, 4, 5));
    },
    { application: "hvcoco test" },
  );
  const r = readPcapng(f);
  assert.equal(r.application, "hvcoco test");
  assert.deepEqual(
    r.interfaces.map((i) => [i.linktype, i.name, i.description, i.snaplen, i.tsresolDigits]),
    [
      [1, "netvsc0", "guest NIC", 40, 6],
      [147, "crossings", undefined, 0, 9],
    ],
  );
  assert.equal(r.packets.length, 2);
  const [p0, p1] = r.packets;
  assert.equal(p0!.iface, 0);
  assert.equal(p0!.timestamp, 1_000_000n);
  assert.deepEqual([...p0!.data], [...frame.subarray(0, 40)], "snaplen cuts the capture");
  assert.equal(p0!.originalLength, 60);
  assert.equal(p0!.comment, "ARP who-has");
  assert.deepEqual([...p1!.data], [1, 2, 3, 4, 5]);
  assert.throws(() => new PcapngWriter(() => {}).packet(0, 0, new Uint8Array(1)), /no interface/);
  assert.throws(() => readPcapng(f.subarray(0, f.length - 2)), /pcapng/);
});

test("trace record: header layout, round trip, unknown kinds, and raw bytes as the payload", () => {
  const c: Crossing = {
    seq: 42,
    kind: "hypercall",
    from: "guest",
    to: "paravisor",
    what: "HvCallPostMessage",
    detail: { vp: 1, bytes: "0102ff" },
  };
  const rec = encodeCrossingRecord(c);
  const dv = new DataView(rec.buffer);
  assert.equal(dv.getUint8(0), 1, "version");
  assert.equal(dv.getUint8(1), KIND_CODES["hypercall"]);
  assert.equal(dv.getUint8(2), 1, "guest");
  assert.equal(dv.getUint8(3), 2, "paravisor");
  assert.equal(dv.getBigUint64(4, true), 42n);
  assert.equal(dv.getUint16(12, true), "hypercall".length);
  assert.equal(dv.getUint16(14, true), "HvCallPostMessage".length);
  assert.equal(dv.getUint32(16, true), JSON.stringify({ vp: 1 }).length, "bytes leave the JSON");
  assert.equal(dv.getUint32(20, true), 3);
  assert.deepEqual([...rec.subarray(rec.length - 3)], [1, 2, 0xff], "the payload is the raw bytes");
  assert.deepEqual(decodeCrossingRecord(rec), c);

  // A kind added later: code 0, its name in the record.
  const later = {
    seq: 1,
    kind: "vmbus-packet",
    from: "host",
    to: "guest",
    what: "ring 3",
  } as unknown as Crossing;
  const r2 = encodeCrossingRecord(later);
  assert.equal(r2[1], 0);
  assert.equal(r2.length, TRACE_RECORD_HEADER + "vmbus-packet".length + "ring 3".length);
  assert.deepEqual(decodeCrossingRecord(r2), later);
  // Codes never collide.
  const codes = Object.values(KIND_CODES);
  assert.equal(new Set(codes).size, codes.length);
});

test("trace writers: pcapng timestamps follow the sequence; JSON lines name the configuration", () => {
  const crossings: Crossing[] = [
    { seq: 1, kind: "boot-step", from: "guest", to: "guest", what: "start" },
    { seq: 2, kind: "cpuid", from: "guest", to: "hypervisor", what: "0x40000000", detail: { vp: 0 } },
  ];
  const f = pcapngBytes((w) => {
    const t = new PcapngTraceWriter(w);
    t.begin({ name: "snp-paravisor", seed: 3 });
    for (const c of crossings) t.crossing(c);
    t.begin({ name: "tdx-paravisor", seed: 3 });
    t.crossing(crossings[0]!);
    assert.equal(t.records, 3);
  });
  const r = readPcapng(f);
  assert.deepEqual(
    r.interfaces.map((i) => [i.linktype, i.name]),
    [
      [147, "snp-paravisor"],
      [147, "tdx-paravisor"],
    ],
  );
  assert.deepEqual(
    r.packets.map((p) => [p.iface, p.timestamp]),
    [
      [0, 1n],
      [0, 2n],
      [1, 1n],
    ],
  );
  assert.equal(r.packets[1]!.comment, "2 cpuid guest->hypervisor 0x40000000");
  assert.deepEqual(decodeCrossingRecord(r.packets[1]!.data), crossings[1]);

  const lines: string[] = [];
  const j = new JsonlTraceWriter((s) => lines.push(s));
  j.begin({ name: "normal" });
  j.crossing(crossings[1]!);
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.endsWith("\n"));
  assert.deepEqual(JSON.parse(lines[0]!), { config: "normal", ...crossings[1] });
});
