import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

// docs/claims.md lists the 36 claims; every test it names must exist, word for word.
test("docs/claims.md lists all 36 claims and every test it names exists", () => {
  const doc = readFileSync("docs/claims.md", "utf8");
  for (let i = 1; i <= 36; i++) assert.match(doc, new RegExp(`^\\| C${i} `, "m"), `C${i} missing`);
  const refs = [...doc.matchAll(/`(test\/[^`]+?\.test\.ts) › ([^`]+)`/g)];
  assert.ok(refs.length >= 20);
  const sources = new Map<string, string>();
  for (const [, file, name] of refs) {
    if (!sources.has(file!)) sources.set(file!, readFileSync(file!, "utf8"));
    const src = sources.get(file!)!;
    assert.ok(src.includes(`test(${JSON.stringify(name)}`), `${file}: no test named "${name}"`);
  }
});
