// Run every benchmark in bench/ (each is also runnable on its own).
//   npm run bench            (or: node --import tsx bench/run.ts [--json])
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const benches = ["boot.ts", "ring.ts", "io.ts", "net.ts", "fuzz.ts"].filter((b) =>
  existsSync(new URL(`./${b}`, import.meta.url)),
);
// Only --json goes to every bench (each has its own other flags).
const extra = process.argv.slice(2);
for (const a of extra)
  if (a !== "--json") {
    console.error(
      `bench/run.ts: unknown flag ${JSON.stringify(a)} (only --json; run a bench alone for its own flags)`,
    );
    process.exit(2);
  }
let failed = false;
for (const b of benches) {
  console.log(`\n# bench/${b}`);
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", new URL(`./${b}`, import.meta.url).pathname, ...extra],
    {
      stdio: "inherit",
    },
  );
  if (r.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
