import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readPcapng } from "../../src/report/pcapng.ts";
import { decodeCrossingRecord } from "../../src/report/trace-record.ts";

function hvcoco(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "hvcoco-report-"));
}

test("hvcoco report --out writes one self-contained page; the same seed gives the same bytes", () => {
  const dir = tmp();
  const a = join(dir, "a.html");
  const b = join(dir, "b.html");
  const r = hvcoco("report", "--out", a, "--seed", "3", "--json");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as {
    bytes: number;
    seed: number;
    configs: { name: string; crossings: number }[];
  };
  assert.equal(j.seed, 3);
  assert.equal(j.configs.length, 9, "the five isolation/mode combinations and four with Confidential VMBus");
  const html = readFileSync(a, "utf8");
  assert.equal(Buffer.byteLength(html), j.bytes);
  assert.match(html, /^<!doctype html>/);
  assert.ok(html.includes('id="hvcoco-data"'));
  assert.equal(hvcoco("report", "--out", b, "--seed", "3").code, 0);
  assert.equal(readFileSync(b, "utf8"), html, "deterministic");
  assert.deepEqual(readdirSync(dir).sort(), ["a.html", "b.html"], "no temporary file left behind");
});

test("hvcoco run --report FILE prints the table and writes the report of the same runs", () => {
  const dir = tmp();
  const f = join(dir, "run.html");
  const r = hvcoco("run", "--json", "--seed", "4", "--report", f);
  assert.equal(r.code, 0, r.err);
  const rows = (JSON.parse(r.out) as { rows: { name: string; crossings: number }[] }).rows;
  const html = readFileSync(f, "utf8");
  const data = JSON.parse(
    html.match(/<script type="application\/json" id="hvcoco-data">([\s\S]*?)<\/script>/)![1]!,
  ) as { seed: number; configs: { name: string; crossings: { total: number } }[] };
  assert.equal(data.seed, 4);
  assert.deepEqual(
    data.configs.map((c) => [c.name, c.crossings.total]),
    rows.map((x) => [x.name, x.crossings]),
  );
});

test("hvcoco trace: JSON lines by default, pcapng by flag or file name; one record per crossing", () => {
  const dir = tmp();
  const runs = JSON.parse(hvcoco("run", "--json", "--seed", "2").out) as {
    rows: { name: string; crossings: number }[];
  };
  const crossings = runs.rows.find((x) => x.name === "snp-paravisor")!.crossings;

  const jl = join(dir, "t.jsonl");
  const r1 = hvcoco("trace", "--out", jl, "--seed", "2");
  assert.equal(r1.code, 0, r1.err);
  const lines = readFileSync(jl, "utf8").trimEnd().split("\n");
  assert.equal(lines.length, crossings);
  const first = JSON.parse(lines[0]!) as { config: string; seq: number; kind: string };
  assert.equal(first.config, "snp-paravisor");
  assert.equal(first.seq, 1);
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { seq: number }).seq),
    Array.from({ length: crossings }, (_, i) => i + 1),
  );

  const piped = hvcoco("trace", "--out", "-", "--seed", "2");
  assert.equal(piped.code, 0, piped.err);
  assert.equal(piped.out, `${lines.join("\n")}\n`, "--out - writes the same lines to standard output");

  const pc = join(dir, "t.pcapng");
  const r2 = hvcoco("trace", "--out", pc, "--seed", "2", "--json");
  assert.equal(r2.code, 0, r2.err);
  assert.equal((JSON.parse(r2.out) as { format: string; records: number }).records, crossings);
  const file = readPcapng(new Uint8Array(readFileSync(pc)));
  assert.deepEqual(
    file.interfaces.map((i) => [i.linktype, i.name]),
    [[147, "snp-paravisor"]],
  );
  assert.equal(file.packets.length, crossings);
  const again = file.packets.map((p) => decodeCrossingRecord(p.data));
  assert.deepEqual(
    again.slice(0, 50).map((c) => JSON.stringify({ config: "snp-paravisor", ...c })),
    lines.slice(0, 50),
    "the pcapng records hold what the JSON lines hold",
  );
  assert.deepEqual(
    file.packets.slice(0, 5).map((p) => p.timestamp),
    [1n, 2n, 3n, 4n, 5n],
  );

  // --format wins over the name; --config gives one interface per configuration.
  const cfg = join(dir, "c.json");
  writeFileSync(cfg, JSON.stringify([{ isolation: "tdx", mode: "paravisor" }, { isolation: "none" }]));
  const odd = join(dir, "trace.bin");
  const r3 = hvcoco("trace", "--out", odd, "--format", "pcapng", "--config", cfg);
  assert.equal(r3.code, 0, r3.err);
  assert.deepEqual(
    readPcapng(new Uint8Array(readFileSync(odd))).interfaces.map((i) => i.name),
    ["tdx-paravisor", "normal"],
  );
});

test("bad input to report and trace: one line, exit 2, no stack trace, nothing already written lost", () => {
  const dir = tmp();
  const keep = join(dir, "keep.html");
  writeFileSync(keep, "precious");
  const keepTrace = join(dir, "keep.jsonl");
  writeFileSync(keepTrace, "precious");
  const bad = join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ isolation: "sev" }));
  const notJson = join(dir, "nj.json");
  writeFileSync(notJson, "{ nope");
  const cases: string[][] = [
    ["report"],
    ["report", "--out", join(dir, "missing", "r.html")],
    ["report", "--out", dir],
    ["report", "--out", join(keep, "x.html")],
    ["report", "--out", keep, "--config", bad],
    ["report", "--out", keep, "--config", notJson],
    ["report", "--out", keep, "--config", join(dir, "nope.json")],
    ["report", "--out", keep, "--seed", "banana"],
    ["report", "--out", keep, "--cap", "0"],
    ["report", "--out", keep, "--bogus"],
    ["run", "--report", join(dir, "missing", "r.html")],
    ["run", "--report", keep, "--config", bad],
    ["trace"],
    ["trace", "--out", keepTrace, "--format", "xml"],
    ["trace", "--out", keepTrace, "--config", bad],
    ["trace", "--out", keepTrace, "--seed", "-1"],
    ["trace", "--out", join(dir, "missing", "t.jsonl")],
    ["trace", "--out", dir],
    ["trace", "--out", "-", "--format", "pcapng"],
  ];
  for (const args of cases) {
    const r = hvcoco(...args);
    const what = args.join(" ");
    assert.equal(r.code, 2, `${what}: exit ${r.code}, ${r.err}`);
    assert.equal(r.err.trim().split("\n").length, 1, `${what}: ${r.err}`);
    assert.ok(!/\bat .*\.ts:\d+/.test(r.err), `${what}: no stack trace`);
  }
  assert.equal(readFileSync(keep, "utf8"), "precious");
  assert.equal(readFileSync(keepTrace, "utf8"), "precious");
  assert.deepEqual(
    readdirSync(dir).sort(),
    ["bad.json", "keep.html", "keep.jsonl", "nj.json"],
    "no temporary files",
  );
  assert.match(hvcoco("report", "--out", join(dir, "missing", "r.html")).err, /does not exist/);
  assert.match(hvcoco("trace", "--out", keepTrace, "--config", bad).err, /refused/);
});

test("report and trace have --help", () => {
  for (const cmd of ["report", "trace"]) {
    const r = hvcoco(cmd, "--help");
    assert.equal(r.code, 0);
    assert.match(r.out, /--out <file>/);
    assert.match(r.out, /--json/);
  }
});
