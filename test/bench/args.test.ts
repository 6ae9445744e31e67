// A bench's bad flags: one line on stderr, exit code 2, nothing measured or printed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const bench = (file: string, ...args: string[]) =>
  spawnSync(
    process.execPath,
    ["--import", "tsx", new URL(`../../bench/${file}`, import.meta.url).pathname, ...args],
    {
      encoding: "utf8",
    },
  );

for (const [file, args, why] of [
  ["fuzz.ts", ["--seconds", "abc"], /--seconds must be a positive number, not "abc"/],
  ["fuzz.ts", ["--seconds=0"], /--seconds must be a positive number/],
  ["fuzz.ts", ["--nope"], /Unknown option '--nope'/],
  ["boot.ts", ["--iterations=-1"], /--iterations must be a positive number/],
  ["ring.ts", ["--seconds", "3"], /Unknown option '--seconds'/],
  ["run.ts", ["--seconds", "3"], /only --json/],
] as const) {
  test(`bench/${file} ${args.join(" ")}: one line, exit 2, nothing measured`, () => {
    const r = bench(file, ...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.equal(r.stdout, "");
  });
}
