// `hvcoco attack`: run library attacks, or a user's script, against configurations,
// and print the auditor's verdicts. Exit 1 on any finding, with a replay line each.
import Table from "cli-table3";
import pc from "picocolors";
import type { Attack } from "../adversary/api.ts";
import { ATTACK_CONFIGS } from "../adversary/configs.ts";
import { caseFromJson } from "../adversary/fuzz/case.ts";
import { caseAttack } from "../adversary/fuzz/execute.ts";
import { ATTACKS, applies, findAttack } from "../adversary/library/index.ts";
import { decodeReplay, type ReplaySpec } from "../adversary/replay.ts";
import { runAttack, type Verdict } from "../adversary/runner.ts";
import { loadAttackScript, ScriptError } from "../adversary/script.ts";
import { HARDENINGS, parseConfig, type VmConfig } from "../vm/config.ts";
import { EXIT_FINDING, EXIT_OK, UsageError } from "./errors.ts";

export interface AttackOptions {
  list?: boolean;
  name?: string[];
  script?: string;
  unharden?: string[];
  seed?: number;
  memory?: string;
  replay?: string;
  json?: boolean;
  isolation?: string;
  mode?: string;
}

function configsFor(o: AttackOptions, extra: Record<string, unknown> = {}): VmConfig[] {
  const base = o.isolation
    ? [{ isolation: o.isolation, ...(o.mode ? { mode: o.mode } : {}) }]
    : ATTACK_CONFIGS;
  return base.map((c) => {
    const r = parseConfig({
      memory: o.memory ?? "128M",
      ...c,
      seed: o.seed ?? 1,
      unharden: o.unharden ?? [],
      ...extra,
    });
    if (!r.ok) throw new UsageError(r.error.message);
    return r.config;
  });
}

/** What a repelled verdict says: the attack's notes, and what the guest gave up waiting for. */
function whyRepelled(v: Verdict): string {
  const n = new Map<string, number>();
  for (const t of v.timeouts ?? []) n.set(t, (n.get(t) ?? 0) + 1);
  const what = [...n].map(([t, k]) => (k > 1 ? `${t} (x${k})` : t));
  const waited = what.length ? [`timed out waiting for ${what.join(", ")}`] : [];
  return [...v.notes, ...waited].join("; ");
}

export function verdictTable(vs: readonly Verdict[]): string {
  const t = new Table({
    head: ["attack", "configuration", "outcome", "leaked", "guest's rejections", "why"],
    style: { head: [], border: [] },
  });
  for (const v of vs)
    t.push([
      v.attack,
      v.config + (v.unharden.length ? ` (-${v.unharden.join(",-")})` : ""),
      v.finding ? pc.red("FINDING") : v.refused ? "refused" : pc.green("repelled"),
      v.secretBytesLeaked,
      v.rejections.length,
      (v.finding ? v.findings.join("; ") : (v.reason ?? whyRepelled(v))).slice(0, 90),
    ]);
  return t.toString();
}

export async function attackCommand(o: AttackOptions, out: (s: string) => void): Promise<number> {
  for (const h of o.unharden ?? [])
    if (!(HARDENINGS as readonly string[]).includes(h))
      throw new UsageError(`unknown hardening "${h}" (known: ${HARDENINGS.join(", ")})`);
  if (o.list) {
    if (o.json)
      out(
        `${JSON.stringify(
          ATTACKS.map(({ name, description, klass, defeatedBy }) => ({
            name,
            description,
            klass,
            defeatedBy,
          })),
          null,
          2,
        )}\n`,
      );
    else for (const a of ATTACKS) out(`${a.name.padEnd(36)} ${a.klass}: ${a.description}\n`);
    return EXIT_OK;
  }
  let attacks: Attack[];
  let configs: VmConfig[];
  try {
    if (o.replay) {
      const d = decodeReplay(o.replay);
      if (!d.ok) throw new UsageError(d.message);
      const r = parseConfig(d.spec.config);
      if (!r.ok) throw new UsageError(`replay: ${r.error.message}`);
      configs = [r.config];
      if (d.spec.script) attacks = [await loadAttackScript(d.spec.script)];
      else if (d.spec.case !== undefined) {
        try {
          attacks = [caseAttack(caseFromJson(d.spec.case))];
        } catch (e) {
          throw new UsageError(`replay: bad fuzz case: ${(e as Error).message}`);
        }
      } else {
        const a = findAttack(d.spec.attack!);
        if (!a) throw new UsageError(`replay names an unknown attack "${d.spec.attack}"`);
        attacks = [a];
      }
    } else {
      configs = configsFor(o);
      if (o.script) attacks = [await loadAttackScript(o.script)];
      else if (o.name && o.name.length > 0)
        attacks = o.name.map((n) => {
          const a = findAttack(n);
          if (!a) throw new UsageError(`unknown attack "${n}" (see hvcoco attack --list)`);
          return a;
        });
      else attacks = [...ATTACKS];
    }
  } catch (e) {
    if (e instanceof ScriptError) throw new UsageError(e.message);
    throw e;
  }
  // What a verdict's replay line must name: the same attack, script or fuzz case.
  const decoded = o.replay ? decodeReplay(o.replay) : undefined;
  const replayOf = (a: Attack): Omit<ReplaySpec, "config"> => {
    if (decoded?.ok) {
      const { config: _c, ...rest } = decoded.spec;
      return rest;
    }
    return o.script ? { script: o.script } : { attack: a.name };
  };
  const verdicts: Verdict[] = [];
  for (const a of attacks)
    for (const c of configs) {
      if (!applies(a, c)) continue;
      try {
        verdicts.push(runAttack(a, c, replayOf(a)));
      } catch (e) {
        if (e instanceof ScriptError) throw new UsageError(e.message);
        throw e;
      }
    }
  if (verdicts.length === 0) throw new UsageError("no attack applies to the chosen configurations");
  const findings = verdicts.filter((v) => v.finding);
  if (o.json) out(`${JSON.stringify({ verdicts, findings: findings.length }, null, 2)}\n`);
  else {
    out(`${verdictTable(verdicts)}\n`);
    out(`${verdicts.length - findings.length} repelled, ${findings.length} findings\n`);
    for (const f of findings) out(`replay: ${f.replay}\n`);
  }
  return findings.length > 0 ? EXIT_FINDING : EXIT_OK;
}
