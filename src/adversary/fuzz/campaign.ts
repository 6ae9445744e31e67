// A coverage-guided fuzz campaign over host actions. Deterministic: a shard's
// sequence of cases is a function of (seed, shard) alone, so a campaign splits
// across cores and machines and any case can be run again; only where a
// time-bounded run stops depends on the clock. Each case runs on fresh VM state:
// the VM of its configuration and boot-time lies, restored from the snapshot taken
// once it booted. Parents are drawn by a power schedule over their cost, each for
// a havoc stage of children; boots under new lies are budgeted.
import { Prng } from "../../util/prng.ts";
import { BOOT_ACTIONS, caseToJson, type FuzzCase } from "./case.ts";
import { poolKey, runCase, shapesBoot, TargetPool } from "./execute.ts";
import { mutate, seedCorpus } from "./mutate.ts";

export interface Shard {
  index: number;
  count: number;
}

export interface CampaignOptions {
  seed: number;
  shard: Shard;
  /** Configurations to fuzz (as parseConfig accepts them). */
  configs: readonly Record<string, unknown>[];
  /** True when the campaign must stop (a deadline; injected so the core keeps no clock). */
  stop: (iterations: number) => boolean;
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  iterations: number;
  coverage: number;
  corpus: number;
  findings: number;
}

export interface Finding {
  /** A short signature: what went wrong, without the variable parts (for de-duplication). */
  signature: string;
  findings: string[];
  config: string;
  replay: string;
  case: unknown;
}

export interface CampaignResult {
  seed: number;
  shard: Shard;
  iterations: number;
  /** VMs booted (one per configuration, one per set of boot-time lies tried, and again after an eviction). */
  boots: number;
  coverage: string[];
  corpus: unknown[];
  findings: Finding[];
}

/** Children of one parent run in a row (a havoc stage). */
export const HAVOC_ROUNDS = 8;

/**
 * Cases per boot under new lies: a case that brings new CPUID or hypercall lies
 * needs a VM booted under them (10-25 ms, the time of about a hundred cases on a
 * pooled VM), so new lies are tried at most once per this many cases (about 5% of
 * a campaign's time), as AFL gives slow inputs less energy. Deterministic: it
 * counts cases, not time.
 */
export const CASES_PER_LIE_BOOT = 2000;

/**
 * A parent's energy from its cost against the corpus mean, as AFL's power schedule
 * scores an input by its speed: a case several times dearer than the mean is picked
 * a quarter as often, one several times cheaper three times as often. Every entry
 * keeps some energy, so costly paths are still explored.
 */
export function energy(cost: number, mean: number): number {
  const r = cost / Math.max(1, mean);
  if (r > 4) return 0.25;
  if (r > 2) return 0.5;
  if (r > 1.33) return 0.75;
  if (r < 0.25) return 3;
  if (r < 0.5) return 2;
  if (r < 0.75) return 1.5;
  return 1;
}

/** An index into the corpus, drawn in proportion to each entry's energy. */
export function pickByEnergy(rng: Prng, costs: readonly number[]): number {
  let mean = 0;
  for (const c of costs) mean += c / costs.length;
  let total = 0;
  for (const c of costs) total += energy(c, mean);
  let x = (rng.u32() / 2 ** 32) * total;
  for (let i = 0; i < costs.length; i++) {
    x -= energy(costs[i]!, mean);
    if (x < 0) return i;
  }
  return costs.length - 1;
}

/** A shard's own seed: distinct, deterministic streams per (seed, shard). */
export function shardSeed(seed: number, shard: Shard): number {
  let h = (seed ^ Math.imul(shard.index + 1, 0x9e3779b1) ^ Math.imul(shard.count, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

function signature(findings: readonly string[]): string {
  return findings.map((f) => f.replace(/0x[0-9a-f]+|\d+/g, "#")).join(" | ");
}

export function runCampaign(o: CampaignOptions): CampaignResult {
  if (o.configs.length === 0) throw new Error("a campaign needs at least one configuration");
  const rng = Prng.fromSeed(shardSeed(o.seed, o.shard));
  const coverage = new Set<string>();
  const corpus: FuzzCase[] = [];
  /** Each corpus entry's cost (crossings), for its energy. */
  const costs: number[] = [];
  const findings = new Map<string, Finding>();
  let iterations = 0;
  // VMs booted per configuration and set of boot-time lies, restored to their
  // post-boot snapshot per case.
  const pool = new TargetPool();
  // Boots under new lies are budgeted: a boot costs as much as many cases.
  let lieBoots = 0;
  let boots = 0;

  const consider = (c: FuzzCase): void => {
    const r = runCase(c, pool);
    iterations++;
    if (r.booted) {
      boots++;
      if (shapesBoot(c)) lieBoots++;
    }
    let fresh = false;
    for (const id of r.coverage)
      if (!coverage.has(id)) {
        coverage.add(id);
        fresh = true;
      }
    if (fresh) {
      corpus.push(c);
      costs.push(r.cost);
    }
    if (r.verdict.finding) {
      const sig = `${r.verdict.config}: ${signature(r.verdict.findings)}`;
      if (!findings.has(sig))
        findings.set(sig, {
          signature: sig,
          findings: r.verdict.findings,
          config: r.verdict.config,
          replay: r.verdict.replay,
          case: caseToJson(c),
        });
    }
  };

  // The seed corpus: every shard runs it (cheap, and each needs a baseline).
  for (const config of o.configs) {
    const seedCfg = { ...config, seed: (config["seed"] as number | undefined) ?? o.seed };
    for (const c of seedCorpus(rng, seedCfg)) {
      if (o.stop(iterations)) break;
      consider(c);
    }
  }
  while (!o.stop(iterations) && corpus.length > 0) {
    // A havoc stage, as AFL runs one: several children of one parent in a row (they
    // mostly share its VM, which stays warm in the caches).
    const parent = corpus[pickByEnergy(rng, costs)]!;
    for (let round = 0; round < HAVOC_ROUNDS && !o.stop(iterations); round++) {
      const other = corpus[rng.int(0, corpus.length - 1)];
      const lies = lieBoots * CASES_PER_LIE_BOOT <= iterations;
      let child = mutate(rng, parent, other, lies);
      // Out of budget, a child whose lies have no booted VM (any more) drops them.
      if (!lies && !pool.has(poolKey(child)))
        child = { ...child, actions: child.actions.filter((a) => !BOOT_ACTIONS.has(a.kind)) };
      consider(child);
      if (o.onProgress && iterations % 16 === 0)
        o.onProgress({ iterations, coverage: coverage.size, corpus: corpus.length, findings: findings.size });
    }
  }
  return {
    seed: o.seed,
    shard: o.shard,
    iterations,
    boots,
    coverage: [...coverage].sort(),
    corpus: corpus.map(caseToJson),
    findings: [...findings.values()],
  };
}

/** Combine shard results: union of coverage, corpora and findings (by signature). */
export function mergeResults(
  results: readonly CampaignResult[],
): Omit<CampaignResult, "shard"> & { shards: Shard[] } {
  const coverage = new Set<string>();
  const findings = new Map<string, Finding>();
  const corpus: unknown[] = [];
  let iterations = 0;
  let boots = 0;
  for (const r of results) {
    iterations += r.iterations;
    boots += r.boots;
    for (const c of r.coverage) coverage.add(c);
    for (const f of r.findings) if (!findings.has(f.signature)) findings.set(f.signature, f);
    corpus.push(...r.corpus);
  }
  return {
    seed: results[0]?.seed ?? 0,
    shards: results.map((r) => r.shard),
    iterations,
    boots,
    coverage: [...coverage].sort(),
    corpus,
    findings: [...findings.values()],
  };
}
