// Fuzz throughput on one core, fresh VM state per case (each case runs on a pooled
// VM restored from its snapshot; boots under new lies are part of the campaign):
// cases per second of a campaign over the default fuzz configurations, overall and
// per one-second window (median and best), against the same run's baselines: the
// rate of booting one fresh VM of each configuration (fresh state without
// snapshots) and of a 64 KiB memcpy. The machine's speed drifts over minutes; the
// ratios, taken in the same run, compare across runs.
//   node --import tsx bench/fuzz.ts [--seconds N] [--json]
import { runCampaign } from "../src/adversary/fuzz/campaign.ts";
import { FUZZ_CONFIGS } from "../src/cli/fuzz.ts";
import { parseConfig } from "../src/vm/config.ts";
import { Vm } from "../src/vm/vm.ts";
import { benchFlags } from "./args.ts";

const { json, seconds } = benchFlags("fuzz.ts", { seconds: 10 });

const configs = FUZZ_CONFIGS.map((c) => {
  const r = parseConfig(c);
  if (!r.ok) throw new Error(r.error.message);
  return r.config;
});

/** Fresh boots per second, round-robin over the configurations. */
function bootRate(ms: number): number {
  let boots = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) new Vm(configs[boots++ % configs.length]!).boot();
  return boots / ((performance.now() - t0) / 1000);
}

/** 64 KiB memcpys per second. */
function memcpyRate(ms: number): number {
  const a = new Uint8Array(65536).fill(7);
  const b = new Uint8Array(65536);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) for (let i = 0; i < 64; i++, n++) b.set(a);
  return n / ((performance.now() - t0) / 1000);
}

const boots0 = bootRate((seconds * 1000) / 8);
const memcpy0 = memcpyRate(250);

const windows: number[] = [];
let windowStart = performance.now();
let windowCases = 0;
const t0 = performance.now();
const deadline = t0 + seconds * 1000;
const r = runCampaign({
  seed: 1,
  shard: { index: 0, count: 1 },
  configs: FUZZ_CONFIGS,
  stop: (n) => {
    const now = performance.now();
    if (now - windowStart >= 1000) {
      windows.push(((n - windowCases) * 1000) / (now - windowStart));
      windowStart = now;
      windowCases = n;
    }
    return now >= deadline;
  },
});
const casesPerSecond = r.iterations / ((performance.now() - t0) / 1000);
// The baselines again after the campaign (the machine may have drifted meanwhile).
const boots = (boots0 + bootRate((seconds * 1000) / 8)) / 2;
const memcpy = (memcpy0 + memcpyRate(250)) / 2;
const sorted = [...windows].sort((a, b) => a - b);
const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : casesPerSecond;
const best = sorted.length ? sorted[sorted.length - 1]! : casesPerSecond;

const out = {
  seconds,
  cases: r.iterations,
  casesPerSecond: Math.round(casesPerSecond),
  medianWindow: Math.round(median),
  bestWindow: Math.round(best),
  goal: 10000,
  baseline: {
    bootsPerSecond: Math.round(boots),
    memcpy64kPerSecond: Math.round(memcpy),
  },
  ratioToBoots: Number((casesPerSecond / boots).toFixed(1)),
  casesPerMillionMemcpy: Number(((casesPerSecond / memcpy) * 1e6).toFixed(0)),
  vmsBooted: r.boots,
  coverage: r.coverage.length,
  findings: r.findings.length,
};
if (json) console.log(JSON.stringify(out, null, 2));
else {
  console.log(
    `fuzz, one core, fresh VM state per case: ${out.casesPerSecond} cases/s (1 s windows: median ${out.medianWindow}, best ${out.bestWindow}; goal ${out.goal})`,
  );
  console.log(
    `  baselines in this run: ${out.baseline.bootsPerSecond} fresh boots/s (cases run at ${out.ratioToBoots}x that), ${out.baseline.memcpy64kPerSecond} 64 KiB memcpys/s (${out.casesPerMillionMemcpy} cases per million)`,
  );
  console.log(
    `  ${out.cases} cases, ${out.vmsBooted} VMs booted, coverage ${out.coverage}, findings ${out.findings}`,
  );
}
