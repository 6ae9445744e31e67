// The report as one self-contained HTML page. The browser code (web/: Preact and
// uPlot) is bundled here, at report time, in memory, by esbuild, and inlined with
// its CSS and the report's data: the page loads nothing, and a Content Security
// Policy says so to the browser. Nothing built is committed; a fresh clone needs
// no build step. esbuild is imported only when a report is rendered, so importing
// this module stays light and pulls no browser code into the core.
import { fileURLToPath } from "node:url";
import type { ReportData } from "./data.ts";

/** The folder of the page's sources. */
export const WEB_DIR = fileURLToPath(new URL("../../web/", import.meta.url));

export interface UiBundle {
  js: string;
  css: string;
  /** How long esbuild took (ms); not part of the page. */
  ms: number;
}

let cached: Promise<UiBundle> | undefined;

/** Bundle web/main.tsx (minified IIFE) and its CSS; once per process. */
export function bundleUi(): Promise<UiBundle> {
  cached ??= (async () => {
    const t0 = performance.now();
    const esbuild = await import("esbuild");
    const r = await esbuild.build({
      absWorkingDir: WEB_DIR,
      entryPoints: ["main.tsx"],
      tsconfig: "tsconfig.json",
      bundle: true,
      write: false,
      outdir: "out",
      format: "iife",
      platform: "browser",
      target: ["chrome111", "firefox115", "safari16"],
      jsx: "automatic",
      jsxImportSource: "preact",
      minify: true,
      legalComments: "eof",
      charset: "utf8",
      logLevel: "silent",
    });
    const js = r.outputFiles.find((f) => f.path.endsWith(".js"))?.text;
    const css = r.outputFiles.find((f) => f.path.endsWith(".css"))?.text ?? "";
    if (js === undefined) throw new Error("esbuild produced no script for the report page");
    return { js, css, ms: performance.now() - t0 };
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}

/** What the page allows: inline script and style, data: images; no fetch, no other source. */
export const REPORT_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;",
  );
}

/** JSON that can sit inside a <script> element (no "</script", no "<!--"). */
export function scriptSafeJson(data: unknown): string {
  return JSON.stringify(data)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * Inline script text: a "</script" inside the bundle (in a string, a regular
 * expression or a comment) would end the element; "<\/" means the same in each.
 */
function scriptSafeJs(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1");
}

function styleSafeCss(css: string): string {
  return css.replace(/<\/(style)/gi, "<\\/$1");
}

/** The whole page. Same data, same esbuild: the same bytes. */
export async function renderReportHtml(data: ReportData): Promise<string> {
  const ui = await bundleUi();
  const title = escapeHtml(data.title);
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="hvcoco">',
    `<title>${title}</title>`,
    `<style>${styleSafeCss(ui.css)}</style>`,
    "</head>",
    "<body>",
    `<div id="app"><noscript>This report draws itself with JavaScript; the data is in the element hvcoco-data below.</noscript></div>`,
    `<script type="application/json" id="hvcoco-data">${scriptSafeJson(data)}</script>`,
    `<script>${scriptSafeJs(ui.js)}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
