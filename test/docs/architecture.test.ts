import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// docs/architecture.md names every module under src/ by its path relative to src/
// (`guest/vmbus/reader.ts`), one table row each, under the heading of its directory
// (`### \`guest/vmbus/\``); a file outside src/ is named from the repository root.

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SRC = `${ROOT}src/`;
const DOC_PATH = "docs/architecture.md";
const MODULE = /\.(?:[cm]?[jt]sx?)$/;
/** A token that names a file: a path ending in a module extension. */
const FILE_TOKEN = /^[\w@.-]+(?:\/[\w@.-]+)*\.(?:[cm]?[jt]sx?)$/;

function sourceModules(): string[] {
  return (readdirSync(SRC, { recursive: true, encoding: "utf8" }) as string[])
    .map((f) => f.split("\\").join("/"))
    .filter((f) => MODULE.test(f) && statSync(SRC + f).isFile())
    .sort();
}

interface Row {
  file: string;
  line: number;
  heading: string | undefined;
}

interface Parsed {
  rows: Row[];
  /** Every file the document names: backticked tokens, and words of fenced blocks. */
  named: { token: string; line: number }[];
}

function parseDoc(doc: string): Parsed {
  const rows: Row[] = [];
  const named: Parsed["named"] = [];
  let heading: string | undefined;
  let fenced = false;
  doc.split("\n").forEach((text, i) => {
    const line = i + 1;
    if (text.startsWith("```")) {
      fenced = !fenced;
      return;
    }
    if (fenced) {
      for (const w of text.split(/[\s(),;:]+/)) if (FILE_TOKEN.test(w)) named.push({ token: w, line });
      return;
    }
    const h = /^#{2,6}\s/.test(text);
    if (h) heading = /^#{2,6}\s+`([\w./-]+\/)`\s*$/.exec(text)?.[1];
    for (const m of text.matchAll(/`([^`\s]+)`/g))
      if (FILE_TOKEN.test(m[1]!)) named.push({ token: m[1]!, line });
    const row = /^\|\s*`([^`]+)`\s*\|/.exec(text);
    if (row && FILE_TOKEN.test(row[1]!)) rows.push({ file: row[1]!, line, heading });
  });
  return { rows, named };
}

const doc = readFileSync(`${ROOT}${DOC_PATH}`, "utf8");
const parsed = parseDoc(doc);

test("every module under src/ has exactly one row in docs/architecture.md, under its directory's heading", () => {
  const modules = sourceModules();
  assert.ok(modules.length > 100, `only ${modules.length} modules found under src/`);
  const rowsOf = new Map<string, Row[]>();
  for (const r of parsed.rows) rowsOf.set(r.file, [...(rowsOf.get(r.file) ?? []), r]);
  const problems = [
    ...modules.filter((m) => !rowsOf.has(m)).map((m) => `no row for ${m}`),
    ...[...rowsOf]
      .filter(([, rs]) => rs.length > 1)
      .map(([f, rs]) => `${f} has ${rs.length} rows (lines ${rs.map((r) => r.line).join(", ")})`),
    ...parsed.rows
      .filter((r) => r.heading === undefined || !r.file.startsWith(r.heading))
      .map(
        (r) =>
          `${r.file} (line ${r.line}) sits under ${r.heading ? `\`${r.heading}\`` : "no directory heading"}`,
      ),
  ];
  assert.deepEqual(problems, [], `${DOC_PATH}: module rows (paths relative to src/)`);
});

test("every file docs/architecture.md names exists", () => {
  assert.ok(parsed.named.length >= parsed.rows.length);
  const gone = parsed.named
    .filter(({ token }) => !existsSync(SRC + token) && !existsSync(ROOT + token))
    .map(({ token, line }) => `${token} (line ${line})`);
  assert.deepEqual(
    gone,
    [],
    `${DOC_PATH} names files that exist neither under src/ nor from the repository root`,
  );
  const rowsNotInSrc = parsed.rows.filter((r) => !existsSync(SRC + r.file)).map((r) => r.file);
  assert.deepEqual(rowsNotInSrc, [], `${DOC_PATH}: module rows must name files under src/`);
});

test("the path of one disk write goes through every layer", () => {
  const start = doc.indexOf("## The path of one disk write");
  assert.ok(start >= 0, "no section 'The path of one disk write'");
  const end = doc.indexOf("\n## ", start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  for (const f of [
    "guest/drivers/storvsc/sd.ts",
    "guest/drivers/storvsc/device.ts",
    "guest/drivers/storvsc/dma.ts",
    "guest/mm/swiotlb.ts",
    "guest/vmbus/writer.ts",
    "vmbus/ring.ts",
    "guest/hypercall.ts",
    "hypervisor/hypervisor.ts",
    "host/vmbus/server.ts",
    "host/vmbus/channel.ts",
    "host/vsp/storvsp.ts",
    "platform/untrusted-view.ts",
    "host/scsi/target.ts",
    "hypervisor/synic.ts",
    "vm/interrupts.ts",
    "guest/vmbus/vmbus_drv.ts",
    "guest/vmbus/reader.ts",
  ])
    assert.ok(section.includes(`\`${f}\``), `the disk-write path does not name ${f}`);
});
