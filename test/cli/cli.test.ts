import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

function hvcoco(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    encoding: "utf8",
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("hvcoco run --json: the standard configurations, no CoCo leak, exit 0", () => {
  const r = hvcoco("run", "--json", "--seed", "7");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as {
    seed: number;
    rows: { name: string; booted: boolean; secretBytesLeaked: number; isolation: string }[];
  };
  assert.deepEqual(
    j.rows.map((x) => x.name),
    [
      "normal",
      "snp-enlightened",
      "snp-paravisor",
      "tdx-enlightened",
      "tdx-paravisor",
      "snp-paravisor-cvmbus",
      "snp-paravisor-cvmbus-ring-only",
      "snp-paravisor-probe",
      "tdx-paravisor-cvmbus",
    ],
  );
  for (const row of j.rows) {
    assert.equal(row.booted, true);
    if (row.isolation !== "none") assert.equal(row.secretBytesLeaked, 0);
    else assert.ok(row.secretBytesLeaked > 0, "a normal VM's host reads the secret");
  }
});

test("hvcoco run prints the configurations side by side, one column each, and fits a wide terminal", () => {
  const r = hvcoco("run");
  assert.equal(r.code, 0, r.err);
  for (const s of [
    "boot and placement",
    "guest runs at",
    "VMPL2",
    "L2",
    "secret bytes leaked",
    "per MiB: bytes bounced",
    "cvmbus",
  ])
    assert.ok(r.out.includes(s), s);
  // Measured without colour codes (picocolors colours CI logs even when piped).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ESC of ANSI colour codes
  const lines = r.out.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  assert.ok(Math.max(...lines.map((l) => l.length)) <= 170, "at most 170 columns");
  // Every configuration is a column: the placement row names each one's guest level.
  const row = lines.find((l) => l.includes("guest runs at"))!;
  assert.equal(row.split("│").length - 3, 9);
});

test("bad input: one line on stderr, exit 2, no stack trace", () => {
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-"));
  const bad = join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ isolation: "sev-es" }));
  const notJson = join(dir, "nj.json");
  writeFileSync(notJson, "{ nope");
  for (const args of [
    ["run", "--seed", "banana"],
    ["run", "--config", bad],
    ["run", "--config", notJson],
    ["run", "--config", join(dir, "missing.json")],
    ["frobnicate"],
    ["run", "--bogus"],
    ["layout", "--section", "nope"],
  ]) {
    const r = hvcoco(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.err.trim().split("\n").length, 1, `${args.join(" ")}: ${r.err}`);
    assert.ok(!/\bat .*\.ts:\d+/.test(r.err), "no stack trace");
  }
  const r = hvcoco("run", "--config", bad);
  assert.match(r.err, /refused/);
});

test("hvcoco run --config runs a user's configuration; a CoCo boot failure is a finding (exit 1)", () => {
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-"));
  const f = join(dir, "c.json");
  writeFileSync(
    f,
    JSON.stringify([
      { isolation: "snp", mode: "paravisor", memory: "256M" },
      { isolation: "snp", mode: "paravisor", unharden: ["cpuid-filter"], name: "nofilter" },
    ]),
  );
  const r = hvcoco("run", "--config", f, "--json");
  assert.equal(r.code, 1);
  const j = JSON.parse(r.out) as { rows: { name: string; booted: boolean }[] };
  assert.deepEqual(
    j.rows.map((x) => [x.name, x.booted]),
    [
      ["snp-paravisor", true],
      ["nofilter", false],
    ],
  );
});

test("hvcoco layout --json lists the hypervisor structs and constants with offsets", () => {
  const r = hvcoco("layout", "--json");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as {
    section: string;
    structs: { name: string; size: number; fields: { name: string; offset: number }[] }[];
    constants: { name: string; value: number }[];
  }[];
  const hv = j.find((s) => s.section === "hypervisor")!;
  const vis = hv.structs.find((s) => s.name === "hv_gpa_range_for_visibility")!;
  assert.equal(vis.size, 4096);
  assert.deepEqual(
    vis.fields.map((f) => [f.name, f.offset]),
    [
      ["partition_id", 0],
      ["host_visibility", 8],
      ["reserved1", 12],
      ["gpa_page_list", 16],
    ],
  );
  assert.equal(
    hv.constants.find((c) => c.name === "HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY")?.value,
    0xdb,
  );
  assert.equal(hv.constants.find((c) => c.name === "HV_X64_MSR_SIMP")?.value, 0x40000083);
  const t = hvcoco("layout");
  assert.equal(t.code, 0);
  assert.ok(t.out.includes("struct hv_input_post_message (256 bytes"));
});
