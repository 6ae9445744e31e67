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

test("hvcoco attack: the library is repelled (exit 0); switched-off hardening gives findings, exit 1 and replay lines that reproduce them", () => {
  const ok = hvcoco("attack", "--isolation", "snp", "--mode", "paravisor", "--json");
  assert.equal(ok.code, 0, ok.err);
  const j = JSON.parse(ok.out) as { findings: number; verdicts: unknown[] };
  assert.equal(j.findings, 0);
  assert.ok(j.verdicts.length >= 8);
  const bad = hvcoco("attack", "--name", "stall-mid-transition", "--unharden", "not-present");
  assert.equal(bad.code, 1);
  const replay = bad.out.split("\n").find((l) => l.startsWith("replay: "))!;
  const args = replay.replace("replay: hvcoco ", "").split(" ");
  const again = hvcoco(...args, "--json");
  assert.equal(again.code, 1);
  assert.equal((JSON.parse(again.out) as { findings: number }).findings, 1);
});

test("hvcoco attack --script runs a user's attack module", () => {
  const r = hvcoco("attack", "--script", "examples/attacks/peek-shared.ts", "--json");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { verdicts: { attack: string; notes: string[] }[] };
  assert.equal(j.verdicts[0]?.attack, "peek-shared");
  assert.ok(j.verdicts.some((v) => v.notes.length > 0));
});

test("a bad attack script gets one clear line and exit code 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-attack-"));
  const cases: [string, string, RegExp][] = [
    ["syntax.ts", "export default { name: 'x', setup( {", /does not load/],
    ["noexport.ts", "export const y = 1;", /must export an attack/],
    ["badname.ts", "export default { name: 'Bad Name', setup() {} };", /kebab-case/],
    [
      "throws.ts",
      "export default { name: 'boom', setup() { throw new Error('kaboom'); } };",
      /threw in setup\(\): kaboom/,
    ],
    [
      "hook.ts",
      "export default { name: 'hook', setup(c) { c.host.vmbus.interpose({ toGuest() { throw new Error('bang'); } }); } };",
      /threw in its VMBus interposer toGuest\(\): bang/,
    ],
    [
      "point.ts",
      "export default { name: 'point', setup(c) { c.at('set_memory:begin', () => { throw new Error('pow'); }); } };",
      /threw in its action at set_memory:begin: pow/,
    ],
  ];
  for (const [file, src, re] of cases) {
    const p = join(dir, file);
    writeFileSync(p, src);
    const r = hvcoco("attack", "--script", p, "--isolation", "snp", "--mode", "paravisor");
    assert.equal(r.code, 2, `${file}: ${r.err}`);
    assert.equal(r.err.trim().split("\n").length, 1, r.err);
    assert.match(r.err, re);
  }
  const missing = hvcoco("attack", "--script", join(dir, "nope.ts"));
  assert.equal(missing.code, 2);
  assert.match(missing.err, /does not exist/);
  for (const args of [
    ["attack", "--name", "no-such-attack"],
    ["attack", "--unharden", "nope"],
    ["attack", "--replay", "!!"],
  ]) {
    const r = hvcoco(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.err.trim().split("\n").length, 1);
  }
});
