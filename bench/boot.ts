// Boot benchmark: time to build and boot each standard configuration, as a ratio to
// a baseline measured in the same run (one plain memcpy of 1 MiB, Uint8Array.set),
// and the peak RSS of booting a 64 GiB,
// 16-vCPU guest in a fresh process (goal: under 150 MB).
//   node --import tsx bench/boot.ts [--json] [--iterations N]
import { spawnSync } from "node:child_process";
import { parseConfig, STANDARD_CONFIGS, type VmConfig } from "../src/vm/config.ts";
import { Vm } from "../src/vm/vm.ts";
import { benchFlags } from "./args.ts";

function cfg(c: Record<string, unknown>): VmConfig {
  const r = parseConfig(c);
  if (!r.ok) throw new Error(r.error.message);
  return r.config;
}

function timeIt(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(3, n); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

/** Child mode: boot one big guest and print peak RSS (KiB) as JSON. */
const { json, iterations, flags } = benchFlags("boot.ts", { iterations: 20 }, ["child-rss"]);
if (flags.has("child-rss")) {
  const vm = new Vm(cfg({ isolation: "snp", mode: "paravisor", memory: "64G", vcpus: 16 }));
  const o = vm.boot();
  if (!o.ok) throw new Error(o.crash);
  const ru = process.resourceUsage();
  process.stdout.write(
    JSON.stringify({
      maxRssKiB: ru.maxRSS,
      touchedPages: vm.platform.memory.touchedPages,
      swiotlbPages: vm.guest.swiotlb?.pages,
    }),
  );
  process.exit(0);
}

const src = new Uint8Array(1 << 20).fill(1);
const dst = new Uint8Array(1 << 20);
const memcpyMs = timeIt(200, () => dst.set(src));
const rows: { config: string; msPerBoot: number; touchedPages: number; ratioToBaseline: number }[] = [];
for (const c of STANDARD_CONFIGS) {
  const config = cfg({ ...c, memory: "1G" });
  let touched = 0;
  const ms = timeIt(iterations, () => {
    const vm = new Vm(config);
    vm.boot();
    touched = vm.platform.memory.touchedPages;
  });
  rows.push({ config: config.name, msPerBoot: ms, touchedPages: touched, ratioToBaseline: ms / memcpyMs });
}

const child = spawnSync(
  process.execPath,
  ["--import", "tsx", new URL(import.meta.url).pathname, "--child-rss"],
  {
    encoding: "utf8",
  },
);
if (child.status !== 0) throw new Error(`RSS child failed: ${child.stderr}`);
const rss = JSON.parse(child.stdout) as { maxRssKiB: number; touchedPages: number; swiotlbPages: number };
const result = {
  iterations,
  baseline: { what: "memcpy of 1 MiB", ms: memcpyMs },
  boots: rows,
  bigGuest: { memory: "64G", vcpus: 16, peakRssMiB: Math.round(rss.maxRssKiB / 1024), goalMiB: 150, ...rss },
};
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(
    `boot (1 GiB guest), mean over ${iterations} iterations; baseline memcpy 1 MiB = ${memcpyMs.toFixed(3)} ms`,
  );
  for (const r of rows)
    console.log(
      `  ${r.config.padEnd(16)} ${r.msPerBoot.toFixed(2).padStart(8)} ms  = ${r.ratioToBaseline.toFixed(1)}x memcpy of 1 MiB (${r.touchedPages} pages touched)`,
    );
  console.log(
    `64 GiB, 16-vCPU SNP paravisor guest: peak RSS ${result.bigGuest.peakRssMiB} MiB (goal < 150 MiB)`,
  );
}
