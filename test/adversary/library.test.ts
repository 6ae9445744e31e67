import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { ATTACK_CONFIGS } from "../../src/adversary/configs.ts";
import { ATTACKS, applies } from "../../src/adversary/library/index.ts";
import { decodeReplay } from "../../src/adversary/replay.ts";
import { runAttack } from "../../src/adversary/runner.ts";
import { HARDENINGS, parseConfig } from "../../src/vm/config.ts";

function cfg(c: Record<string, unknown>) {
  const r = parseConfig({ memory: "64M", ...c });
  if (!r.ok) throw new Error(r.error.message);
  return r.config;
}

test("every attack in the library is repelled on every configuration it applies to", () => {
  let runs = 0;
  for (const a of ATTACKS)
    for (const c of ATTACK_CONFIGS) {
      const config = cfg(c);
      if (!applies(a, config)) continue;
      const v = runAttack(a, config);
      runs++;
      assert.equal(v.finding, false, `${a.name} on ${config.name}: ${v.findings.join("; ")}`);
      assert.equal(v.secretBytesLeaked, 0);
    }
  assert.ok(runs >= 30, `${runs} runs`);
});

/**
 * Hardenings no host-side attack can exercise, with the test that covers each
 * instead: exactly the rows of docs/attacks.md's negative-control table that say
 * "not by a host" (the table says why).
 */
const NOT_BY_THE_HOST: Readonly<Record<string, string>> = {
  "hypervisor-validation": "test/hypervisor/visibility.test.ts",
};

test("every hardening a host can exercise is named by attacks, each of which reports it when it is off", () => {
  const docs = readFileSync("docs/attacks.md", "utf8");
  const rows = new Map<string, string>();
  for (const m of docs.matchAll(/^\| `([a-z-]+)` \| [^|]+ \| (.+) \|$/gm)) rows.set(m[1]!, m[2]!);
  const documented = [...rows].filter(([, by]) => by.startsWith("not by a host")).map(([h]) => h);
  assert.deepEqual(documented.sort(), Object.keys(NOT_BY_THE_HOST).sort(), "the table's not-by-a-host rows");
  for (const h of HARDENINGS) {
    assert.ok(rows.has(h), `docs/attacks.md's negative-control table lacks ${h}`);
    const by = ATTACKS.filter((a) => a.defeatedBy.includes(h));
    const elsewhere = NOT_BY_THE_HOST[h];
    if (elsewhere) {
      assert.equal(by.length, 0, `${h} is listed as not exercisable by the host`);
      assert.ok(existsSync(elsewhere), elsewhere);
      assert.ok(rows.get(h)!.includes(elsewhere), `the table names ${elsewhere} for ${h}`);
      continue;
    }
    for (const a of by)
      assert.ok(rows.get(h)!.includes(`\`${a.name}\``), `the table names ${a.name} for ${h}`);
    assert.ok(by.length > 0, `no attack catches the missing ${h} hardening`);
    for (const a of by) {
      let caught = 0;
      for (const c of ATTACK_CONFIGS) {
        const config = cfg({ ...c, unharden: [h] });
        if (applies(a, config) && runAttack(a, config).finding) caught++;
      }
      assert.ok(caught > 0, `${a.name} does not report the missing ${h} hardening`);
    }
  }
});

test("the library covers every host-input class the model has, with at least 30 attacks", () => {
  assert.ok(ATTACKS.length >= 30, `${ATTACKS.length} attacks`);
  assert.equal(new Set(ATTACKS.map((a) => a.name)).size, ATTACKS.length, "names are unique");
  const docs = readFileSync("docs/attacks.md", "utf8");
  for (const a of ATTACKS)
    assert.ok(docs.includes(`\`${a.name}\``), `docs/attacks.md does not list ${a.name}`);
  const classes = new Set(ATTACKS.map((a) => a.klass));
  for (const k of [
    "ring indices out of range, unaligned or rewound",
    "len8/offset8 lies",
    "changes after validation (TOCTOU)",
    "bogus transaction ids and completions",
    "malformed, truncated and oversized channel messages",
    "duplicate and unknown relids",
    "offers for non-hardened devices",
    "confidential flags on offers",
    "GPADL abuse",
    "CPUID and MSR lies about isolation",
    "visibility hypercalls that fail or report success without effect",
    "illegal interrupts and interrupt storms",
    "host reads and writes of private pages",
    "SynIC slot abuse",
    "stalls (the guest times out instead of hanging)",
    "VSP responses",
    "storvsp replies with bad lengths or sense data",
    "RNDIS messages with bad offsets",
    "junk vPCI config replies",
    "padding and unused fields the guest writes",
  ])
    assert.ok(classes.has(k), `no attack of class "${k}"`);
  // Confidential flags on offers the paravisor relays: an attack for the Confidential VMBus configurations.
  const relayed = cfg({ isolation: "snp", mode: "paravisor", vmbus: "confidential" });
  assert.ok(ATTACKS.some((a) => a.klass === "confidential flags on offers" && applies(a, relayed)));
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
