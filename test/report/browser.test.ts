// The report in a real browser: Debian's Chromium, headless, driven by
// playwright-core (which never downloads a browser). Chromium is required: .ci/run
// installs it; without it this test fails and says how to get it.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { buildReportData } from "../../src/report/collect.ts";
import { renderReportHtml } from "../../src/report/html.ts";
import { STANDARD_CONFIGS } from "../../src/vm/config.ts";
import { config } from "../helpers.ts";

const CHROMIUM = process.env["HVCOCO_CHROMIUM"] ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
// Code passed to page.evaluate runs in the page; the root tsconfig has no DOM
// library, so the few page objects it touches are typed here.
interface PageWindow {
  __csp: string[];
  document: { addEventListener(type: string, f: (e: { blockedURI: string }) => void): void };
}
interface PageCanvas {
  width: number;
  height: number;
  getContext(kind: "2d"): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
}

/** Where the screenshot goes (printed as a diagnostic). */
const SCREENSHOT = join(tmpdir(), "hvcoco-report-screenshot.png");

test("the report in headless Chromium: maps, hover, timeline filters, charts, and no network", {
  timeout: 120_000,
}, async (t) => {
  if (!existsSync(CHROMIUM))
    assert.fail(
      `Chromium not found at ${CHROMIUM}: install it with "apt-get update && apt-get install -y chromium" ` +
        "(.ci/run does), or point HVCOCO_CHROMIUM at a Chromium binary",
    );
  const dir = mkdtempSync(join(tmpdir(), "hvcoco-browser-"));
  const configs = STANDARD_CONFIGS.map((c) => config({ ...c, memory: "1G", seed: 7 }));
  const { data } = buildReportData(configs);
  const file = join(dir, "report.html");
  writeFileSync(file, await renderReportHtml(data));
  const url = pathToFileURL(file).href;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    // A request the page's CSP blocks never reaches the network layer: count those too.
    await page.addInitScript(() => {
      const w = globalThis as unknown as PageWindow;
      w.__csp = [];
      w.document.addEventListener("securitypolicyviolation", (e) => w.__csp.push(e.blockedURI));
    });
    await page.goto(url);
    await page.waitForSelector("[data-testid=memory-map]");

    // (a) a memory map per configuration, drawn as runs.
    const maps = page.locator("[data-testid=memory-map]");
    assert.deepEqual(
      await maps.evaluateAll((els) => els.map((e) => e.getAttribute("data-config"))),
      data.configs.map((c) => c.name),
    );
    const segs = await page.locator("rect.seg").count();
    const n = data.configs.length;
    assert.ok(segs >= n && segs < 20 * n, `${segs} runs drawn for ${n} guests of 262144 pages`);
    const pvMap = page.locator('[data-testid=memory-map][data-config="snp-paravisor"]');
    for (const cat of ["private", "shared", "paravisor"])
      assert.ok(
        (await pvMap.locator(`rect.seg[data-cat=${cat}]`).count()) > 0,
        `snp-paravisor has ${cat} pages`,
      );

    // Hover: a shared range says why it is shared, even a one-page one.
    await pvMap.locator('rect.seg[data-purpose="swiotlb bounce buffers"]').hover();
    const tip = page.locator("[data-testid=map-tooltip]");
    await tip.waitFor({ state: "visible" });
    assert.match((await tip.textContent()) ?? "", /purpose: swiotlb bounce buffers/);
    assert.match((await tip.textContent()) ?? "", /shared \(decrypted\), host-visible/);
    await pvMap.locator('rect.seg[data-purpose="GHCB, CPU 1"]').hover();
    assert.match((await tip.textContent()) ?? "", /purpose: GHCB, CPU 1/);
    assert.match((await tip.textContent()) ?? "", /1 page \(4 KiB\)/);
    await page.mouse.move(0, 0);
    await tip.waitFor({ state: "detached" });

    // The middle of the swiotlb decryption: pages in transition.
    assert.equal(await pvMap.locator("rect.seg[data-cat=transition]").count(), 0);
    const moment = pvMap.locator("[data-testid=map-moment]");
    const label = await moment
      .locator("option")
      .evaluateAll((os) =>
        os.map((o) => (o as unknown as { label: string }).label).find((l) => l.includes("swiotlb")),
      );
    assert.ok(label, "a moment during the swiotlb decryption");
    await moment.selectOption({ label });
    assert.ok((await pvMap.locator("rect.seg[data-cat=transition]").count()) > 0, "pages in transition");
    await moment.selectOption({ label: "after the run" });

    // (b) the timeline, filtered by kind and by actor. The page draws up to 1000
    // rows at a time; `matching` is how many pass the filters.
    const rows = page.locator("[data-testid=timeline-row]");
    const matching = async () =>
      Number(await page.locator("[data-testid=timeline-count]").getAttribute("data-matching"));
    const pv = data.configs.find((c) => c.name === "snp-paravisor")!;
    assert.equal(await page.locator('.tab[aria-selected="true"]').textContent(), "snp-paravisor");
    const all = await matching();
    assert.equal(all, pv.crossings.stored.length);
    assert.equal(await rows.count(), Math.min(all, 1000));
    assert.match(
      (await page.locator("[data-testid=cap-note]").textContent()) ?? "",
      /at most 500 of each kind/,
    );
    await page.locator('input[data-kind="host-read"]').uncheck();
    const noReads = await matching();
    assert.ok(noReads < all && noReads > 0, `${noReads} of ${all} rows without host reads`);
    assert.equal(await page.locator('[data-testid=timeline-row][data-kind="host-read"]').count(), 0);
    const actorFilter = page.locator("[data-testid=actor-filter]");
    await actorFilter.getByRole("button", { name: "none" }).click();
    assert.equal(await matching(), 0, "no actor checked, no rows");
    assert.equal(await rows.count(), 0);
    await page.locator('input[data-actor="paravisor"]').check();
    const pvRows = await matching();
    assert.ok(pvRows > 0 && pvRows < noReads, `${pvRows} rows involve the paravisor`);
    const ends = await rows.evaluateAll((rs) =>
      rs.map((r) => [r.getAttribute("data-from"), r.getAttribute("data-to")]),
    );
    assert.ok(ends.every(([f, to]) => f === "paravisor" || to === "paravisor"));
    await page.locator('.tab[data-config="normal"]').click();
    const normalRows = await matching();
    assert.notEqual(normalRows, pvRows, "another configuration, other rows");
    await actorFilter.getByRole("button", { name: "all" }).click();
    await page.locator('input[data-kind="host-read"]').check();
    await page.locator('.tab[data-config="snp-paravisor"]').click();
    assert.equal(await matching(), all);

    // (c) the charts render.
    for (const id of ["pages-shared", "secret-leaked", "host-reads", "hypercalls", "exceptions"])
      assert.ok(
        (await page.locator(`[data-testid=chart-${id}] rect.bar`).count()) > 0,
        `chart ${id} has bars`,
      );
    assert.equal(
      await page.locator("[data-testid=chart-pages-shared] rect.bar").count(),
      data.configs.length,
    );
    assert.equal(
      await page.locator("[data-testid=chart-crossings-by-kind] rect.cell").count(),
      data.configs.length * data.kinds.length,
    );
    const painted = await page.locator("[data-testid=activity-chart] canvas").evaluate((c) => {
      const canvas = c as unknown as PageCanvas;
      const px = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) n++;
      return { w: canvas.width, h: canvas.height, n };
    });
    assert.ok(
      painted.w > 300 && painted.h > 100 && painted.n > 1000,
      `uPlot drew: ${JSON.stringify(painted)}`,
    );

    // Nothing but the page itself was requested, and nothing was blocked trying.
    const csp = await page.evaluate(() => (globalThis as unknown as PageWindow).__csp);
    assert.deepEqual(requests, [url], `requests: ${requests.join(", ")}`);
    assert.deepEqual(csp, [], `blocked by the page's CSP: ${csp.join(", ")}`);
    assert.deepEqual(problems, []);

    await pvMap.locator('rect.seg[data-purpose="swiotlb bounce buffers"]').hover();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.diagnostic(`screenshot: ${SCREENSHOT}`);
  } finally {
    await browser.close();
  }
});
