// Found by `hvcoco fuzz` (seed 1): the hypervisor fails the host-visibility
// hypercall while the guest decrypts a new channel's ring; the guest then freed the
// ring's pages, whose state was unknown, reused them, and died on its next access.
// Linux fixed the same class in 2024 ("hv: Don't free decrypted memory"): leak them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { caseFromJson } from "../../src/adversary/fuzz/case.ts";
import { runCase } from "../../src/adversary/fuzz/execute.ts";

for (const file of ["fuzz-failed-gpadl-decrypt.json", "fuzz-failed-gpadl-decrypt-tdx.json"]) {
  const saved = JSON.parse(readFileSync(new URL(file, import.meta.url), "utf8")) as { case: unknown };
  test(`regression ${file}: a failed ring decryption leaks the pages instead of reusing them`, () => {
    const c = caseFromJson(saved.case);
    const r = runCase(c);
    assert.equal(r.verdict.finding, false, r.verdict.findings.join("; "));
    assert.ok(
      r.coverage.has("cross:hypercall:5") || [...r.coverage].some((x) => x.startsWith("cross:hypercall")),
    );
    // Negative control: without the leak, the same case kills the guest.
    const off = runCase({ ...c, config: { ...c.config, unharden: ["leak-failed-conversions"] } });
    assert.equal(off.verdict.crashed, true);
    assert.match(off.verdict.reason ?? "", /enc-mismatch/);
  });
}
