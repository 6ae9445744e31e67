import assert from "node:assert/strict";
import { test } from "node:test";
import { traceJsonLines } from "../../src/audit/trace.ts";
import { runConfiguration } from "../../src/vm/run.ts";
import { Vm } from "../../src/vm/vm.ts";
import { config } from "../helpers.ts";

test("every crossing passes the boundary and the JSON-lines trace replays identically from the seed", () => {
  const run = (seed: number) => {
    const lines: string[] = [];
    const vm = new Vm(config({ isolation: "tdx", mode: "paravisor", seed }));
    traceJsonLines(vm.audit.boundary, (l) => lines.push(l));
    vm.boot();
    return { lines, vm };
  };
  const a = run(42);
  const b = run(42);
  assert.ok(a.lines.length > 20);
  assert.deepEqual(a.lines, b.lines);
  const kinds = new Set(a.lines.map((l) => (JSON.parse(l) as { kind: string }).kind));
  for (const k of ["cpuid", "exception", "hypercall", "boot-step", "msr-write"]) assert.ok(kinds.has(k), k);
  assert.equal(a.vm.audit.boundary.seq, a.lines.length, "every crossing reached the subscriber");
});

test("the run's secret and the memory key come from the seed: same seed, same ciphertext; other seed, other ciphertext", () => {
  const read = (seed: number) => {
    const { vm } = runConfiguration(config({ isolation: "snp", mode: "enlightened", seed }));
    return vm.platform.untrustedView("host").read(64 * 1024 * 1024, 64);
  };
  assert.deepEqual(read(5), read(5));
  assert.notDeepEqual(read(5), read(6));
});
