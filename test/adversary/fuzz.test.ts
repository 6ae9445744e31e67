import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  CASES_PER_LIE_BOOT,
  energy,
  mergeResults,
  pickByEnergy,
  runCampaign,
  shardSeed,
} from "../../src/adversary/fuzz/campaign.ts";
import { caseFromJson, caseToJson } from "../../src/adversary/fuzz/case.ts";
import { bootKey } from "../../src/adversary/fuzz/execute.ts";
import { mutate, seedCorpus } from "../../src/adversary/fuzz/mutate.ts";
import { encodeReplay } from "../../src/adversary/replay.ts";
import { Prng } from "../../src/util/prng.ts";

const CONFIGS = [
  { isolation: "snp", mode: "paravisor", memory: "64M", vcpus: 1 },
  { isolation: "tdx", mode: "enlightened", memory: "64M", vcpus: 1 },
];

test("a bounded fuzz campaign finds nothing, grows coverage past the seed corpus, and replays identically", () => {
  const run = () =>
    runCampaign({ seed: 3, shard: { index: 0, count: 1 }, configs: CONFIGS, stop: (n) => n >= 120 });
  const a = run();
  assert.equal(a.iterations, 120);
  assert.deepEqual(a.findings, [], JSON.stringify(a.findings.map((f) => f.signature)));
  assert.ok(
    a.coverage.some((c) => c.startsWith("reject:")),
    "the guest's validation branches are reached",
  );
  const b = run();
  assert.deepEqual(b.coverage, a.coverage);
  assert.deepEqual(b.corpus, a.corpus);
});

test("shards are distinct, deterministic streams, and merge unions their results", () => {
  assert.notEqual(shardSeed(1, { index: 0, count: 2 }), shardSeed(1, { index: 1, count: 2 }));
  assert.equal(shardSeed(1, { index: 1, count: 2 }), shardSeed(1, { index: 1, count: 2 }));
  const s0 = runCampaign({ seed: 1, shard: { index: 0, count: 2 }, configs: CONFIGS, stop: (n) => n >= 40 });
  const s1 = runCampaign({ seed: 1, shard: { index: 1, count: 2 }, configs: CONFIGS, stop: (n) => n >= 40 });
  assert.notDeepEqual(s0.corpus, s1.corpus);
  const m = mergeResults([s0, s1]);
  assert.equal(m.iterations, 80);
  assert.ok(m.coverage.length >= Math.max(s0.coverage.length, s1.coverage.length));
  for (const c of s0.coverage) assert.ok(m.coverage.includes(c));
});

test("fuzz cases survive JSON, and mutation keeps them well-formed", () => {
  const rng = Prng.fromSeed(9);
  let c = seedCorpus(rng, CONFIGS[0]!)[0]!;
  for (let i = 0; i < 500; i++) {
    c = mutate(rng, c, c);
    assert.ok(c.actions.length <= 24);
    const back = caseFromJson(JSON.parse(JSON.stringify(caseToJson(c))));
    assert.deepEqual(caseToJson(back), caseToJson(c));
  }
  assert.throws(() => caseFromJson({ config: {}, actions: [{ kind: "nope" }] }), /unknown kind/);
  assert.throws(
    () => caseFromJson({ config: {}, actions: [{ kind: "message", vp: 0, payload: "zz" }] }),
    /hex/,
  );
});

test("hvcoco fuzz with workers writes a summary; merge combines shard folders; bad flags exit 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-fuzz-"));
  const cli = (...a: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...a], { encoding: "utf8" });
  const a = cli(
    "fuzz",
    "--seconds",
    "30",
    "--max-cases",
    "25",
    "--workers",
    "2",
    "--shard",
    "0/2",
    "--out",
    join(dir, "a"),
    "--json",
  );
  assert.equal(a.status, 0, a.stderr);
  const sa = JSON.parse(a.stdout) as { iterations: number; shards: unknown[]; findings: unknown[] };
  assert.equal(sa.iterations, 50);
  assert.equal(sa.shards.length, 2);
  const b = cli("fuzz", "--seconds", "30", "--max-cases", "25", "--shard", "1/2", "--out", join(dir, "b"));
  assert.equal(b.status, 0, b.stderr);
  const m = cli("fuzz", "merge", join(dir, "a"), join(dir, "b"), "--out", join(dir, "m"), "--json");
  assert.equal(m.status, 0, m.stderr);
  const sm = JSON.parse(m.stdout) as { iterations: number; shards: unknown[] };
  assert.equal(sm.iterations, 75);
  assert.equal(sm.shards.length, 3);
  assert.ok(readdirSync(join(dir, "m")).includes("summary.json"));
  JSON.parse(readFileSync(join(dir, "m", "summary.json"), "utf8"));
  for (const args of [
    ["fuzz", "--shard", "2/2"],
    ["fuzz", "--seconds", "-1"],
    ["fuzz", "--workers", "0"],
    ["fuzz", "merge", join(dir, "nope")],
  ]) {
    const r = cli(...args);
    assert.equal(r.status, 2, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("a saved fuzz finding replays through hvcoco attack --replay: a finding with the hardening off, repelled with it on", () => {
  const saved = JSON.parse(readFileSync("test/regress/fuzz-failed-gpadl-decrypt.json", "utf8")) as {
    replay: string;
    case: { config: Record<string, unknown> };
  };
  const cli = (...a: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...a], { encoding: "utf8" });
  const on = cli("attack", "--replay", saved.replay.split(" ").at(-1)!, "--json");
  assert.equal(on.status, 0, on.stderr);
  const c = caseFromJson(saved.case);
  const token = encodeReplay({
    case: caseToJson({ ...c, config: { ...c.config, unharden: ["leak-failed-conversions"] } }),
    config: { ...c.config, unharden: ["leak-failed-conversions"] },
  });
  const off = cli("attack", "--replay", token, "--json");
  assert.equal(off.status, 1, off.stderr);
  const v = JSON.parse(off.stdout) as { verdicts: { crashed: boolean; replay: string }[] };
  assert.equal(v.verdicts[0]?.crashed, true);
  // The finding's own replay line reproduces it.
  const again = cli("attack", "--replay", v.verdicts[0]!.replay.split(" ").at(-1)!, "--json");
  assert.equal(again.status, 1);
});

test("a child without new lies keeps its parent's boot-time lies exactly", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
      const rng = Prng.fromSeed(seed);
      let parent = seedCorpus(rng, CONFIGS[0]!)[rng.int(0, 8)]!;
      for (let i = 0; i < 6; i++) parent = mutate(rng, parent, parent, true);
      const other = mutate(rng, parent, undefined, true);
      for (let i = 0; i < 20; i++) {
        const child = mutate(rng, parent, other, false);
        assert.equal(bootKey(child), bootKey(parent));
      }
    }),
    { numRuns: 60 },
  );
});

test("the power schedule gives cheap parents more energy and every parent some; picks replay from the seed", () => {
  assert.equal(energy(100, 100), 1);
  assert.ok(energy(10, 100) > energy(60, 100) && energy(60, 100) > energy(100, 100));
  assert.ok(energy(1000, 100) < energy(150, 100) && energy(1000, 100) > 0);
  const costs = [10, 1000, 100, 100];
  const count = (seed: number) => {
    const rng = Prng.fromSeed(seed);
    const n = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) n[pickByEnergy(rng, costs)]!++;
    return n;
  };
  const n = count(5);
  assert.ok(n[0]! > 1.2 * n[2]!, `the cheap entry is picked most (${n})`);
  assert.ok(n[1]! > 0 && n[1]! < n[2]!, `the dear one less, but it is picked (${n})`);
  assert.deepEqual(count(5), n);
});

test("a campaign budgets its boots under new lies: at most one per CASES_PER_LIE_BOOT cases", () => {
  const iterations = 2 * CASES_PER_LIE_BOOT + 200;
  const r = runCampaign({
    seed: 11,
    shard: { index: 0, count: 1 },
    configs: [CONFIGS[1]!],
    stop: (n) => n >= iterations,
  });
  assert.equal(r.iterations, iterations);
  // One honest boot, and a boot under new lies when the budget allows (from case 0 on).
  assert.ok(r.boots >= 2, `some lies were tried (${r.boots} boots)`);
  assert.ok(r.boots <= 1 + 1 + Math.floor(iterations / CASES_PER_LIE_BOOT), `${r.boots} boots`);
});
