// `hvcoco run --disk FILE` and the `disk` key of a configuration file: the guest's
// workload lands in the image; a bad image is one line and exit 2, and nothing is
// written to it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { STANDARD_CONFIGS } from "../../src/vm/config.ts";
import { diskPattern } from "../../src/vm/disk-workload.ts";

const dir = fs.mkdtempSync(join(tmpdir(), "hvcoco-run-disk-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function hvcoco(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    encoding: "utf8",
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("hvcoco run --disk FILE: every configuration's disk workload goes to the image and verifies", () => {
  const img = join(dir, "good.img");
  fs.writeFileSync(img, new Uint8Array(4 * 1024 * 1024));
  const r = hvcoco("run", "--json", "--disk", img);
  assert.equal(r.code, 0, r.err);
  const rows = (JSON.parse(r.out) as { rows: { name: string; disk: string; diskMbPerSecond: number }[] })
    .rows;
  assert.equal(rows.length, STANDARD_CONFIGS.length);
  for (const row of rows) {
    assert.equal(row.disk, "ok", row.name);
    assert.ok(row.diskMbPerSecond > 0);
  }
  const want = new Uint8Array(1024 * 1024);
  diskPattern(want, 0, 512);
  assert.ok(
    Buffer.from(want).equals(fs.readFileSync(img).subarray(0, want.length)),
    "the pattern is in the image",
  );
});

test("a configuration file's disk key names the image; bad images get one line, exit 2, and stay untouched", () => {
  const img = join(dir, "cfg.img");
  fs.writeFileSync(img, new Uint8Array(2 * 1024 * 1024));
  const cfg = join(dir, "c.json");
  fs.writeFileSync(cfg, JSON.stringify({ isolation: "tdx", mode: "paravisor", disk: img }));
  const ok = hvcoco("run", "--json", "--config", cfg);
  assert.equal(ok.code, 0, ok.err);
  assert.equal((JSON.parse(ok.out) as { rows: { disk: string }[] }).rows[0]!.disk, "ok");
  const odd = join(dir, "odd.img");
  const before = new Uint8Array(1000).fill(7);
  fs.writeFileSync(odd, before);
  for (const [args, msg] of [
    [["run", "--disk", join(dir, "missing.img")], /^hvcoco: disk image .*missing\.img: no such file\n$/],
    [
      ["run", "--disk", odd],
      /^hvcoco: disk image .*odd\.img: size 1000 bytes is not a multiple of the 512-byte block\n$/,
    ],
    [["run", "--disk", dir], /^hvcoco: disk image .*: (is a directory|not a regular file)\n$/],
  ] as const) {
    const r = hvcoco(...args);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, msg);
    assert.equal(r.out, "");
  }
  assert.deepEqual(new Uint8Array(fs.readFileSync(odd)), before, "nothing was written to the refused image");
  fs.writeFileSync(cfg, JSON.stringify({ isolation: "snp", disk: 42 }));
  const bad = hvcoco("run", "--config", cfg);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /disk must be the path of a raw disk image/);
});
