// `hvcoco run --pcap FILE`: every Ethernet frame of the run as pcapng. Our reader
// checks the file's structure; tshark (installed by .ci/run) dissects it and shows
// the guest's ARP request and reply and each ICMP echo request with its reply.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LINKTYPE_ETHERNET, readPcapng } from "../../src/report/pcapng.ts";

const hasTshark = spawnSync("tshark", ["--version"], { encoding: "utf8" }).status === 0;

function hvcoco(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    encoding: "utf8",
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tshark(...args: string[]): string {
  const r = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function runWithPcap(dir: string): string {
  const cfg = join(dir, "c.json");
  writeFileSync(
    cfg,
    JSON.stringify([{ isolation: "snp", mode: "paravisor", memory: "128M" }, { isolation: "tdx" }]),
  );
  const file = join(dir, "net.pcapng");
  const r = hvcoco("run", "--config", cfg, "--pcap", file, "--json");
  assert.equal(r.code, 0, r.err);
  return file;
}

test("hvcoco run --pcap writes every frame, both directions, one Ethernet interface per configuration", () => {
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-pcap-"));
  const f = readPcapng(readFileSync(runWithPcap(dir)));
  assert.equal(f.application, "hvcoco");
  assert.deepEqual(
    f.interfaces.map((i) => [i.linktype, i.name]),
    [
      [LINKTYPE_ETHERNET, "snp-paravisor"],
      [LINKTYPE_ETHERNET, "tdx-enlightened"],
    ],
  );
  for (const iface of [0, 1]) {
    const ps = f.packets.filter((p) => p.iface === iface);
    assert.equal(ps.length, 20, "ARP, 8 echoes and a UDP datagram, each answered");
    assert.equal(ps.filter((p) => p.comment === "guest -> host").length, 10);
    assert.equal(ps.filter((p) => p.comment === "host -> guest").length, 10);
  }
  assert.equal(hvcoco("run", "--pcap", join(dir, "no", "such", "dir.pcapng")).code, 2, "bad path: exit 2");
  assert.equal(existsSync(join(dir, "no")), false);
});

test("tshark reads the run's pcapng and shows the ICMP echo requests and their replies", {
  skip: hasTshark ? false : "tshark is not installed (apt-get install -y tshark)",
  timeout: 120_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-pcap-"));
  const file = runWithPcap(dir);
  const rows = tshark(
    "-r",
    file,
    "-Y",
    "icmp || arp",
    "-T",
    "fields",
    "-E",
    "separator=|",
    "-e",
    "frame.number",
    "-e",
    "frame.interface_name",
    "-e",
    "_ws.col.Protocol",
    "-e",
    "icmp.type",
    "-e",
    "icmp.seq",
    "-e",
    "icmp.resp_to",
    "-e",
    "arp.opcode",
  )
    .trim()
    .split("\n")
    .map((l) => l.split("|"));
  for (const iface of ["snp-paravisor", "tdx-enlightened"]) {
    const mine = rows.filter((r) => r[1] === iface);
    const arp = mine.filter((r) => r[2] === "ARP").map((r) => r[6]);
    assert.deepEqual(arp, ["1", "2"], `${iface}: who-has, then is-at`);
    const requests = mine.filter((r) => r[3] === "8");
    const replies = mine.filter((r) => r[3] === "0");
    assert.deepEqual(
      requests.map((r) => r[4]),
      ["1", "2", "3", "4", "5", "6", "7", "8"],
    );
    assert.equal(replies.length, 8);
    for (const rep of replies) {
      const req = requests.find((r) => r[0] === rep[5]);
      assert.ok(req, `${iface}: tshark matched reply ${rep[0]} to its request`);
      assert.equal(req[4], rep[4]);
    }
  }
  // The jumbo echoes (8042-byte frames) are decoded whole, and the summary line reads as a ping.
  const text = tshark("-r", file, "-Y", "icmp.type == 0");
  assert.match(text, /Echo \(ping\) reply/);
  assert.match(text, /ICMP 8042 Echo/);
});
