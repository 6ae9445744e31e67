import assert from "node:assert/strict";
import { test } from "node:test";
import { ATTACKS, applies } from "../../src/adversary/library/index.ts";
import { decodeReplay } from "../../src/adversary/replay.ts";
import { runAttack } from "../../src/adversary/runner.ts";
import { HARDENINGS, parseConfig, STANDARD_CONFIGS } from "../../src/vm/config.ts";

function cfg(c: Record<string, unknown>) {
  const r = parseConfig({ memory: "128M", ...c });
  if (!r.ok) throw new Error(r.error.message);
  return r.config;
}

test("every attack in the library is repelled on every configuration it applies to", () => {
  let runs = 0;
  for (const a of ATTACKS)
    for (const c of STANDARD_CONFIGS) {
      const config = cfg(c);
      if (!applies(a, config)) continue;
      const v = runAttack(a, config);
      runs++;
      assert.equal(v.finding, false, `${a.name} on ${config.name}: ${v.findings.join("; ")}`);
      assert.equal(v.secretBytesLeaked, 0);
    }
  assert.ok(runs >= 30, `${runs} runs`);
});

test("every hardening the attacks name is caught by them when switched off", () => {
  const named = new Set(ATTACKS.flatMap((a) => a.defeatedBy));
  assert.ok(named.size >= 2);
  for (const h of named) {
    assert.ok((HARDENINGS as readonly string[]).includes(h));
    let caught = 0;
    for (const a of ATTACKS.filter((x) => x.defeatedBy.includes(h)))
      for (const c of STANDARD_CONFIGS) {
        const config = cfg({ ...c, unharden: [h] });
        if (!applies(a, config)) continue;
        if (runAttack(a, config).finding) caught++;
      }
    assert.ok(caught > 0, `no attack reports the missing ${h} hardening`);
  }
});

test("a finding's replay line reproduces the same verdict", () => {
  const a = ATTACKS.find((x) => x.name === "stall-mid-transition")!;
  const v = runAttack(a, cfg({ isolation: "tdx", mode: "paravisor", unharden: ["not-present"], seed: 99 }));
  assert.equal(v.finding, true);
  const token = v.replay.split(" ").at(-1)!;
  const d = decodeReplay(token);
  assert.equal(d.ok, true);
  if (!d.ok) return;
  assert.equal(d.spec.attack, "stall-mid-transition");
  const again = runAttack(a, cfg(d.spec.config));
  assert.deepEqual({ ...again, replay: "" }, { ...v, replay: "" });
  assert.equal(decodeReplay("not base64!").ok, false);
  assert.equal(decodeReplay(Buffer.from("[]").toString("base64url")).ok, false);
});

test("lies about the isolation configuration make an enlightened guest refuse to run, and cannot reach a paravisor-mode guest", () => {
  for (const name of ["cpuid-hide-isolation", "cpuid-flip-paravisor", "cpuid-wrong-isolation-type"]) {
    const a = ATTACKS.find((x) => x.name === name)!;
    const enl = runAttack(a, cfg({ isolation: "snp", mode: "enlightened" }));
    assert.equal(enl.refused, true, name);
    assert.match(enl.reason ?? "", /Hyper-V reports|paravisor/);
    const pv = runAttack(a, cfg({ isolation: "tdx", mode: "paravisor" }));
    assert.equal(pv.refused, false, name);
    assert.equal(pv.crashed, false, name);
  }
});
