// `hvcoco report`: one self-contained HTML page of the runs (memory map, boundary
// crossings, exposure and cost), and the writer `hvcoco run --report` shares.
import { type Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_CAP_PER_KIND, ReportBuilder } from "../report/collect.ts";
import type { ReportData } from "../report/data.ts";
import { renderReportHtml } from "../report/html.ts";
import type { VmConfig } from "../vm/config.ts";
import type { RunRow } from "../vm/run.ts";
import { EXIT_FINDING, EXIT_OK } from "./errors.ts";
import { checkOutPath, writeFileAtomic } from "./output.ts";

/** What the commands need from main.ts (kept there: option parsers and the config-file loader). */
export interface CommandContext {
  out: (s: string) => void;
  setExit: (code: number) => void;
  seedArg: (v: string) => number;
  /** The configurations of --config FILE (validated, --seed applied), or `defaults` with --seed. */
  configs: (
    o: { config?: string; seed?: number },
    defaults: readonly Record<string, unknown>[],
  ) => VmConfig[];
}

/** A finding, as `hvcoco run` counts one: a CoCo VM that leaked a secret or did not boot. */
export function isFinding(rows: readonly RunRow[]): boolean {
  return rows.some((r) => r.isolation !== "none" && (r.secretBytesLeaked > 0 || !r.booted));
}

export function capArg(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1_000_000)
    throw new InvalidArgumentError("must be an integer from 1 to 1000000");
  return Number(v);
}

/** Progress on a terminal (stderr), nothing when piped or with --json. */
export function progress(quiet: boolean): { step: (s: string) => void; done: () => void } {
  const on = process.stderr.isTTY === true && !quiet;
  return {
    step: (s) => {
      if (on) process.stderr.write(`\r${s}\x1b[K`);
    },
    done: () => {
      if (on) process.stderr.write("\r\x1b[K");
    },
  };
}

/** Render and write the report; the old file (if any) stays until the new one is complete. */
export async function writeReport(file: string, data: ReportData, flag = "--out"): Promise<number> {
  checkOutPath(file, flag);
  const html = await renderReportHtml(data);
  return writeFileAtomic(file, html, flag);
}

/** Collect the report while `hvcoco run` runs (run --report FILE). */
export function runReportBuilder(file: string | undefined): ReportBuilder | undefined {
  if (file === undefined) return undefined;
  checkOutPath(file, "--report");
  return new ReportBuilder();
}

export function registerReport(
  program: Command,
  ctx: CommandContext,
  defaults: readonly Record<string, unknown>[],
) {
  program
    .command("report")
    .description("write one self-contained HTML page: memory maps, boundary crossings, exposure and cost")
    .requiredOption("--out <file>", "the HTML file to write (replaced only once complete)")
    .addOption(new Option("--seed <n>", "seed of every random choice").argParser(ctx.seedArg))
    .option("--config <file>", "a JSON configuration (or a list of them) instead of the standard five")
    .addOption(
      new Option("--cap <n>", "crossings of each kind kept for the timeline, per configuration")
        .argParser(capArg)
        .default(DEFAULT_CAP_PER_KIND),
    )
    .option("--json", "print a summary of what was written as JSON")
    .action(async (o: { out: string; seed?: number; config?: string; cap: number; json?: boolean }) => {
      checkOutPath(o.out);
      const configs = ctx.configs(o, defaults);
      const p = progress(o.json === true);
      const b = new ReportBuilder({ capPerKind: o.cap });
      const rows = configs.map((c) => {
        p.step(`running ${c.name}...`);
        return b.add(c);
      });
      p.step("drawing the report...");
      const data = b.data();
      const bytes = await writeReport(o.out, data);
      p.done();
      if (o.json)
        ctx.out(
          `${JSON.stringify(
            {
              out: o.out,
              bytes,
              seed: data.seed,
              configs: data.configs.map((c) => ({
                name: c.name,
                crossings: c.crossings.total,
                kept: c.crossings.stored.length,
                segments: c.memory.final.segments.length,
              })),
            },
            null,
            2,
          )}\n`,
        );
      else ctx.out(`wrote ${o.out} (${bytes} bytes, ${configs.length} configurations)\n`);
      ctx.setExit(isFinding(rows) ? EXIT_FINDING : EXIT_OK);
    });
}
