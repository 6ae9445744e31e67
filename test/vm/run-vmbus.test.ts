// `hvcoco run` per configuration: the VMBus version negotiated, the utilities that
// worked end to end, and the offers a CoCo guest refused (C20).
import assert from "node:assert/strict";
import { test } from "node:test";
import { runTable } from "../../src/cli/run.ts";
import { parseConfig, STANDARD_CONFIGS } from "../../src/vm/config.ts";
import { runConfiguration } from "../../src/vm/run.ts";

test("hvcoco run shows the VMBus version, the utilities working and the offers refused, per configuration", () => {
  const rows = STANDARD_CONFIGS.map((c) => {
    const r = parseConfig({ ...c, memory: "128M" });
    if (!r.ok) throw new Error(r.error.message);
    return runConfiguration(r.config, { interruptProbe: false }).row;
  });
  for (const r of rows) {
    assert.equal(r.vmbusVersion, "6.0", r.name);
    assert.deepEqual(r.utilities, ["hb", "ts", "sd"], r.name);
    assert.equal(r.offersRefused, r.isolation === "none" ? 0 : 8, r.name);
    assert.equal(r.secretBytesLeaked > 0, r.isolation === "none", r.name);
  }
  // One column per configuration: the rows of the VMBus section read across them.
  const table = runTable(rows);
  const row = (label: string) =>
    table
      .split("\n")
      .find((l) => l.includes(` ${label} `))
      ?.split("│")
      .slice(2)
      .map((x) => x.trim())
      .filter((x) => x !== "");
  assert.deepEqual(
    row("version"),
    rows.map(() => "6.0"),
  );
  assert.deepEqual(
    row("utilities working"),
    rows.map(() => "hb,ts,sd"),
  );
  assert.deepEqual(
    row("offers refused (C20)"),
    rows.map((r) => (r.isolation === "none" ? "0" : "8")),
  );
});
