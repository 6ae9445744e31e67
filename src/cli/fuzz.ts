// `hvcoco fuzz`: a coverage-guided campaign over host actions, split across
// worker threads (and, with --shard i/n, across machines), each finding saved with
// a replay line; `hvcoco fuzz merge DIR...` combines shard results.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { type CampaignResult, type Finding, mergeResults, type Shard } from "../adversary/fuzz/campaign.ts";
import { parseConfig } from "../vm/config.ts";
import { EXIT_FINDING, EXIT_OK, UsageError } from "./errors.ts";
import { writeFileAtomic } from "./output.ts";

/** Small guests, one vCPU: each case runs on a pooled VM of its configuration, restored from its snapshot. */
export const FUZZ_CONFIGS: readonly Record<string, unknown>[] = [
  { isolation: "snp", mode: "paravisor", memory: "64M", vcpus: 1 },
  { isolation: "tdx", mode: "paravisor", memory: "64M", vcpus: 1 },
  { isolation: "snp", mode: "enlightened", restrictedInjection: true, memory: "64M", vcpus: 1 },
  { isolation: "tdx", mode: "enlightened", memory: "64M", vcpus: 1 },
];

export interface FuzzOptions {
  seconds: number;
  seed: number;
  workers: number;
  shard: Shard;
  out: string;
  json?: boolean;
  configs: readonly Record<string, unknown>[];
  maxIterations?: number;
}

export function parseShard(v: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--shard must look like i/n (got "${v}")`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new UsageError(`--shard ${v}: need 0 <= i < n`);
  return { index, count };
}

function progressLine(t0: number, it: number, cov: number, corpus: number, findings: number): string {
  const s = (Date.now() - t0) / 1000;
  return `fuzz: ${s.toFixed(1)}s  ${it} cases (${Math.round(it / Math.max(s, 0.001))}/s)  coverage ${cov}  corpus ${corpus}  findings ${findings}`;
}

function saveResult(dir: string, r: ReturnType<typeof mergeResults>): void {
  mkdirSync(join(dir, "findings"), { recursive: true });
  for (const f of r.findings) {
    const name = createHash("sha256").update(f.signature).digest("hex").slice(0, 16);
    writeFileAtomic(join(dir, "findings", `${name}.json`), `${JSON.stringify(f, null, 2)}\n`);
  }
  writeFileAtomic(join(dir, "summary.json"), `${JSON.stringify(r, null, 2)}\n`);
}

function report(
  r: ReturnType<typeof mergeResults>,
  seconds: number,
  o: { json?: boolean | undefined },
  out: (s: string) => void,
  dir: string,
): number {
  if (o.json) out(`${JSON.stringify({ ...r, corpus: r.corpus.length, seconds }, null, 2)}\n`);
  else {
    out(
      `${r.iterations} cases in ${seconds.toFixed(1)} s (${Math.round(r.iterations / Math.max(seconds, 0.001))}/s), coverage ${r.coverage.length}, corpus ${r.corpus.length}, findings ${r.findings.length}\n`,
    );
    for (const f of r.findings) out(`finding: ${f.signature}\n  replay: ${f.replay}\n`);
    out(`results in ${dir}/summary.json\n`);
  }
  return r.findings.length > 0 ? EXIT_FINDING : EXIT_OK;
}

export async function fuzzCommand(o: FuzzOptions, out: (s: string) => void): Promise<number> {
  if (!Number.isFinite(o.seconds) || o.seconds <= 0)
    throw new UsageError("--seconds must be a positive number");
  if (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > 64)
    throw new UsageError("--workers must be 1..64");
  for (const c of o.configs) {
    const r = parseConfig(c);
    if (!r.ok) throw new UsageError(`fuzz configuration: ${r.error.message}`);
  }
  try {
    mkdirSync(o.out, { recursive: true });
  } catch (e) {
    throw new UsageError(`cannot create ${o.out}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const t0 = Date.now();
  const deadline = t0 + o.seconds * 1000;
  const tty = process.stderr.isTTY && !o.json;
  const live = new Map<number, { it: number; cov: number; corpus: number; findings: number }>();
  const results = await Promise.all(
    Array.from({ length: o.workers }, (_, w) => {
      const shard: Shard = { index: o.shard.index * o.workers + w, count: o.shard.count * o.workers };
      return new Promise<CampaignResult>((resolve, reject) => {
        const worker = new Worker(new URL("./fuzz-worker.mjs", import.meta.url), {
          workerData: {
            seed: o.seed,
            shard,
            configs: o.configs,
            deadline,
            maxIterations: o.maxIterations ?? Number.MAX_SAFE_INTEGER,
          },
        });
        worker.on(
          "message",
          (m: {
            type: string;
            result?: CampaignResult;
            iterations?: number;
            coverage?: number;
            corpus?: number;
            findings?: number;
          }) => {
            if (m.type === "done" && m.result) resolve(m.result);
            else if (m.type === "progress") {
              live.set(w, {
                it: m.iterations ?? 0,
                cov: m.coverage ?? 0,
                corpus: m.corpus ?? 0,
                findings: m.findings ?? 0,
              });
              if (tty) {
                const sum = [...live.values()].reduce((a, b) => ({
                  it: a.it + b.it,
                  cov: Math.max(a.cov, b.cov),
                  corpus: a.corpus + b.corpus,
                  findings: a.findings + b.findings,
                }));
                process.stderr.write(
                  `\r${progressLine(t0, sum.it, sum.cov, sum.corpus, sum.findings)}\x1b[K`,
                );
              }
            }
          },
        );
        worker.on("error", reject);
        worker.on("exit", (code) => {
          if (code !== 0) reject(new Error(`fuzz worker ${w} exited with ${code}`));
        });
      });
    }),
  );
  if (tty) process.stderr.write("\r\x1b[K");
  const merged = mergeResults(results);
  saveResult(o.out, merged);
  return report(merged, (Date.now() - t0) / 1000, o, out, o.out);
}

/** `hvcoco fuzz merge DIR...`: combine the summaries of shard runs. */
export function fuzzMerge(
  dirs: readonly string[],
  outDir: string,
  o: { json?: boolean },
  out: (s: string) => void,
): number {
  if (dirs.length === 0) throw new UsageError("fuzz merge needs at least one result folder");
  const results: CampaignResult[] = [];
  for (const d of dirs) {
    const f = join(d, "summary.json");
    let j: unknown;
    try {
      if (!statSync(f).isFile()) throw new Error("not a file");
      j = JSON.parse(readFileSync(f, "utf8"));
    } catch (e) {
      throw new UsageError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const s = j as Partial<ReturnType<typeof mergeResults>>;
    if (
      !Array.isArray(s.coverage) ||
      !Array.isArray(s.findings) ||
      !Array.isArray(s.shards) ||
      typeof s.iterations !== "number"
    )
      throw new UsageError(`${f} is not an hvcoco fuzz summary`);
    // A summary may hold several shards already (its workers); keep them as one result.
    results.push({
      seed: s.seed ?? 0,
      shard: s.shards[0] ?? { index: 0, count: 1 },
      iterations: s.iterations,
      boots: typeof s.boots === "number" ? s.boots : 0,
      coverage: s.coverage as string[],
      corpus: (s.corpus as unknown[]) ?? [],
      findings: s.findings as Finding[],
    });
  }
  const merged = mergeResults(results);
  merged.shards = results.flatMap((_, i) => {
    const s = JSON.parse(readFileSync(join(dirs[i]!, "summary.json"), "utf8")) as { shards: Shard[] };
    return s.shards;
  });
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new UsageError(`cannot create ${outDir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  saveResult(outDir, merged);
  return report(merged, 0, o, out, outDir);
}
