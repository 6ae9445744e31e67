// Fuzz throughput on one core, fresh VM state per case (restored from a post-boot
// snapshot, or booted when a case's lies shape boot): cases per second of a
// campaign over the default fuzz configurations, against the same run's baseline of
// booting one fresh VM of each configuration (the floor of a case's cost).
//   node --import tsx bench/fuzz.ts [--seconds N] [--json]
import { runCampaign } from "../src/adversary/fuzz/campaign.ts";
import { FUZZ_CONFIGS } from "../src/cli/fuzz.ts";
import { parseConfig } from "../src/vm/config.ts";
import { Vm } from "../src/vm/vm.ts";

const json = process.argv.includes("--json");
const sArg = process.argv.indexOf("--seconds");
const seconds = sArg > 0 ? Number(process.argv[sArg + 1]) : 10;

const configs = FUZZ_CONFIGS.map((c) => {
  const r = parseConfig(c);
  if (!r.ok) throw new Error(r.error.message);
  return r.config;
});
// Baseline: fresh boots, round-robin over the same configurations.
let boots = 0;
const b0 = performance.now();
while (performance.now() - b0 < (seconds * 1000) / 4) new Vm(configs[boots++ % configs.length]!).boot();
const bootsPerSecond = boots / ((performance.now() - b0) / 1000);

const t0 = performance.now();
const deadline = t0 + seconds * 1000;
const r = runCampaign({
  seed: 1,
  shard: { index: 0, count: 1 },
  configs: FUZZ_CONFIGS,
  stop: () => performance.now() >= deadline,
});
const casesPerSecond = r.iterations / ((performance.now() - t0) / 1000);
const out = {
  seconds,
  cases: r.iterations,
  casesPerSecond: Math.round(casesPerSecond),
  goal: 10000,
  baseline: {
    what: "fresh VM boots per second (same configurations)",
    perSecond: Math.round(bootsPerSecond),
  },
  ratioToBaseline: Number((casesPerSecond / bootsPerSecond).toFixed(2)),
  coverage: r.coverage.length,
  findings: r.findings.length,
};
if (json) console.log(JSON.stringify(out, null, 2));
else {
  console.log(`fuzz, one core, fresh VM state per case: ${out.casesPerSecond} cases/s (goal ${out.goal})`);
  console.log(
    `  baseline: ${out.baseline.perSecond} fresh boots/s; cases run at ${out.ratioToBaseline}x the boot rate`,
  );
  console.log(`  ${out.cases} cases, coverage ${out.coverage}, findings ${out.findings}`);
}
