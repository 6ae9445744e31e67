// Test collector: Node 20's --test does not expand globs, so gather test/**/*.test.ts here.
// Run as `node --import tsx scripts/test.mjs [filter]`; child processes inherit --import tsx.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";

const filter = process.argv[2] ?? "";
const files = readdirSync("test", { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(".test.ts") && f.includes(filter))
  .map((f) => join("test", f))
  .sort();
if (files.length === 0) {
  console.error(`no test files match "${filter}"`);
  process.exit(2);
}
const stream = run({ files, concurrency: 2 });
stream.on("test:fail", () => {
  process.exitCode = 1;
});
stream.compose(spec).pipe(process.stdout);
