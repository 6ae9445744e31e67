// tshark reads what the pcapng writer writes: the crossing trace on LINKTYPE_USER0
// (counted, and dissected field by field with docs/hvcoco.lua), and Ethernet
// frames on LINKTYPE_ETHERNET. Runs where tshark is installed (.ci/run installs it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Crossing } from "../../src/audit/crossings.ts";
import { LINKTYPE_ETHERNET, PcapngWriter, pcapngBytes } from "../../src/report/pcapng.ts";
import { PcapngTraceWriter } from "../../src/report/trace-record.ts";
import { runConfiguration } from "../../src/vm/run.ts";
import { config } from "../helpers.ts";

const hasTshark = spawnSync("tshark", ["--version"], { encoding: "utf8" }).status === 0;

function tshark(...args: string[]): string {
  const r = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test("tshark reads the crossing trace: one packet per crossing, and the Lua dissector's fields", {
  skip: hasTshark ? false : "tshark is not installed (apt-get install -y tshark)",
  timeout: 120_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-tshark-"));
  const crossings: Crossing[] = [];
  const file = join(dir, "trace.pcapng");
  const bytes = pcapngBytes(
    (w) => {
      const t = new PcapngTraceWriter(w);
      const c = config({ isolation: "snp", mode: "paravisor", memory: "256M", seed: 11 });
      t.begin({ name: c.name, seed: c.seed });
      runConfiguration(c, {
        beforeBoot: (vm) => {
          vm.audit.boundary.subscribe((x) => {
            crossings.push(x);
            t.crossing(x);
          });
        },
      });
      // A later kind, carrying raw bytes (as VMBus crossings do).
      const extra = {
        seq: crossings.length + 1,
        kind: "synic-message",
        from: "hypervisor",
        to: "guest",
        what: "SINT2",
        detail: { vp: 0, bytes: "0100000010000000" },
      } as Crossing;
      crossings.push(extra);
      t.crossing(extra);
    },
    { application: "hvcoco test" },
  );
  writeFileSync(file, bytes);
  const frames = tshark("-r", file, "-T", "fields", "-e", "frame.number").trim().split("\n");
  assert.equal(frames.length, crossings.length, "tshark counts every record");
  const rows = tshark(
    "-X",
    "lua_script:docs/hvcoco.lua",
    "-r",
    file,
    "-T",
    "fields",
    "-E",
    "separator=|",
    "-e",
    "hvcoco.seq",
    "-e",
    "hvcoco.kind",
    "-e",
    "hvcoco.what",
    "-e",
    "hvcoco.payload",
  )
    .trimEnd()
    .split("\n")
    .map((l) => l.split("|"));
  assert.equal(rows.length, crossings.length);
  rows.forEach((r, i) => {
    const c = crossings[i]!;
    assert.deepEqual(r.slice(0, 3), [String(c.seq), c.kind, c.what], `record ${i}`);
  });
  assert.equal(rows[rows.length - 1]![3], "0100000010000000", "the payload is the bytes that crossed");
});

test("tshark decodes Ethernet frames from the same writer (LINKTYPE_ETHERNET)", {
  skip: hasTshark ? false : "tshark is not installed",
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-tshark-"));
  const file = join(dir, "net.pcapng");
  // An ARP request: who has 10.0.0.1? tell 10.0.0.2.
  const arp = Uint8Array.from(
    Buffer.from(
      "ffffffffffff" +
        "00155d000102" +
        "0806" +
        "0001" +
        "0800" +
        "06" +
        "04" +
        "0001" +
        "00155d000102" +
        "0a000002" +
        "000000000000" +
        "0a000001",
      "hex",
    ),
  );
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter((c) => chunks.push(c));
  const eth = w.addInterface({ linktype: LINKTYPE_ETHERNET, name: "eth0" });
  w.packet(eth, 1_000_000, arp);
  w.packet(eth, 1_000_001, arp, { comment: "again" });
  writeFileSync(file, Buffer.concat(chunks));
  const out = tshark(
    "-r",
    file,
    "-T",
    "fields",
    "-e",
    "frame.protocols",
    "-e",
    "arp.dst.proto_ipv4",
    "-e",
    "frame.comment",
  );
  const lines = out.trim().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^eth:ethertype:arp\t10\.0\.0\.1/);
  assert.match(lines[1]!, /again/);
});
