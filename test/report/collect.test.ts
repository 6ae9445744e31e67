import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Boundary } from "../../src/audit/crossings.ts";
import { PageFlag, PageState } from "../../src/platform/page.ts";
import { buildReportData, CrossingRecorder } from "../../src/report/collect.ts";
import { renderReportHtml, scriptSafeJson } from "../../src/report/html.ts";
import { categoryOf } from "../../src/report/memory-map.ts";
import { STANDARD_CONFIGS } from "../../src/vm/config.ts";
import { config } from "../helpers.ts";

test("the recorder counts every crossing and keeps at most the cap of each kind", () => {
  const b = new Boundary();
  const rec = new CrossingRecorder(3);
  const off = rec.attach(b);
  for (let i = 0; i < 10; i++) b.cross("host-read", "host", "guest", "plaintext", () => ({ gpa: i * 4096 }));
  b.cross("hypercall", "guest", "paravisor", "0x5c");
  b.cross("hypercall", "paravisor", "hypervisor", "HvCallPostMessage", () => ({ path: "ghcb" }));
  off();
  b.cross("cpuid", "guest", "hypervisor", "not seen");
  const log = rec.log();
  assert.equal(log.total, 12);
  assert.deepEqual(log.byKind, { "host-read": 10, hypercall: 2 });
  assert.deepEqual(log.droppedByKind, { "host-read": 7 });
  assert.equal(log.stored.length, 5);
  assert.deepEqual(
    log.stored.map((c) => c.seq),
    [1, 2, 3, 11, 12],
  );
  assert.deepEqual(Object.fromEntries(rec.routes), {
    "guest → paravisor": 1,
    "paravisor → hypervisor (ghcb)": 1,
  });
  // The activity series end at the totals.
  const last = log.activity.at.length - 1;
  assert.equal(log.activity.at[last], 12);
  assert.equal(log.activity.byKind["host-read"]![last], 10);
  assert.equal(log.activity.byKind["hypercall"]![last], 2);
  assert.equal(log.activity.byKind["hypercall"]!.length, log.activity.at.length);
});

test("page categories: paravisor-owned wins, not-present pages of a CoCo VM are in transition", () => {
  const P = PageFlag.PRESENT;
  assert.equal(categoryOf(PageState.PRIVATE | P, true), "private");
  assert.equal(categoryOf(PageState.SHARED | P | PageFlag.HOST_VISIBLE, true), "shared");
  assert.equal(categoryOf(PageState.TRANSITION | P, true), "transition");
  assert.equal(categoryOf(PageState.SHARED, true), "transition");
  assert.equal(categoryOf(PageState.SHARED | P | PageFlag.PARAVISOR, true), "paravisor");
});

test("report data: a 1 GiB guest's map is a few runs that cover it exactly, shared ranges carry their purpose", () => {
  const configs = STANDARD_CONFIGS.map((c) => config({ ...c, memory: "1G", seed: 5 }));
  const { rows, data } = buildReportData(configs);
  assert.equal(rows.length, STANDARD_CONFIGS.length);
  assert.deepEqual(
    data.configs.map((c) => c.name),
    [
      "normal",
      "snp-enlightened",
      "snp-paravisor",
      "tdx-enlightened",
      "tdx-paravisor",
      "snp-paravisor-cvmbus",
      "snp-paravisor-cvmbus-ring-only",
      "snp-paravisor-probe",
      "tdx-paravisor-cvmbus",
    ],
  );
  for (const c of data.configs) {
    const segs = c.memory.final.segments;
    assert.equal(c.pages, 262144);
    assert.ok(segs.length < 64, `${c.name}: ${segs.length} runs, not one per page`);
    let next = 0;
    for (const s of segs) {
      assert.equal(s.pfn, next, `${c.name}: runs are contiguous`);
      next += s.pages;
    }
    assert.equal(next, c.pages, `${c.name}: runs cover guest memory`);
    const shared = segs.filter((s) => (s.flags & PageFlag.STATE_MASK) === PageState.SHARED);
    assert.equal(
      shared.reduce((n, s) => n + s.pages, 0),
      c.exposure.pagesShared,
      `${c.name}: the map's shared pages are the run's`,
    );
    // Every crossing is counted, whatever was kept.
    assert.equal(c.crossings.total, c.facts.crossings);
    assert.equal(
      Object.values(c.crossings.byKind).reduce((a, n) => a + n, 0),
      c.crossings.total,
    );
  }
  const pv = data.configs.find((c) => c.name === "snp-paravisor")!;
  const purposes = pv.memory.final.segments.filter((s) => s.cat === "shared").map((s) => s.purpose);
  assert.ok(purposes.includes("swiotlb bounce buffers"), purposes.join("; "));
  assert.ok(
    purposes.every((p) => p !== undefined),
    "every shared range says why",
  );
  assert.ok(pv.memory.final.segments.some((s) => s.cat === "paravisor"));
  // The middle of the swiotlb decryption shows its pages in transition.
  const during = pv.memory.during.find((d) => d.label.includes("swiotlb"));
  assert.ok(during, pv.memory.during.map((d) => d.label).join("; "));
  assert.ok(during.segments.some((s) => s.cat === "transition" && s.purpose === "swiotlb bounce buffers"));
  assert.ok(Object.keys(pv.hypercallsByRoute).includes("guest → paravisor"));
  const normal = data.configs[0]!;
  assert.ok(normal.exposure.secretBytesLeaked > 0);
  assert.ok((normal.crossings.droppedByKind["host-read"] ?? 0) > 0, "the host's full scan is capped");
});

test("the page is deterministic for a seed and embeds its data safely", async () => {
  const configs = [config({ isolation: "snp", mode: "paravisor", seed: 9, name: "a</script><b>" })];
  const a = await renderReportHtml(buildReportData(configs).data);
  const b = await renderReportHtml(buildReportData(configs).data);
  assert.equal(a, b, "same seed, same bytes");
  assert.equal(a.match(/<\/script/gi)?.length, 2, "only the two script elements close");
  assert.ok(!a.includes("<b>"), "the data cannot open an element");
  assert.match(a, /Content-Security-Policy" content="default-src 'none'/);
  assert.ok(!/\bsrc=|\bhref="http|@import|url\(http/i.test(a), "nothing is loaded from anywhere");
  assert.equal(JSON.parse(scriptSafeJson({ s: "</script>" }).replace(/\\u003c/g, "<")).s, "</script>");
});

test("the core never imports the report, the trace writer or the browser code", () => {
  const observers = /from "(\.\.\/)+(report|cli)\/|from "preact|from "uplot|from "esbuild/;
  const core = [
    "platform",
    "hypervisor",
    "paravisor",
    "guest",
    "host",
    "vmbus",
    "vm",
    "audit",
    "hyperv",
    "layout",
  ];
  for (const dir of core) {
    let files: string[];
    try {
      files = readdirSync(join("src", dir), { recursive: true }).map(String);
    } catch {
      continue;
    }
    for (const f of files.filter((x) => x.endsWith(".ts"))) {
      const text = readFileSync(join("src", dir, f), "utf8");
      assert.ok(!observers.test(text), `src/${dir}/${f} imports an observer`);
    }
  }
});
