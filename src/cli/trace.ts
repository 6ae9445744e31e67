// `hvcoco trace`: the boundary-crossing trace of a run, as JSON lines or pcapng.
import { type Command, Option } from "commander";
import { LINKTYPE_USER0, PcapngWriter } from "../report/pcapng.ts";
import { JsonlTraceWriter, PcapngTraceWriter, type TraceWriter } from "../report/trace-record.ts";
import { type RunRow, runConfiguration } from "../vm/run.ts";
import { EXIT_FINDING, EXIT_OK, UsageError } from "./errors.ts";
import { AtomicFile } from "./output.ts";
import { type CommandContext, isFinding, progress } from "./report.ts";

export const TRACE_FORMATS = ["jsonl", "pcapng"] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

/** The run `hvcoco trace` records without --config. */
export const TRACE_DEFAULT_CONFIGS: readonly Record<string, unknown>[] = [
  { isolation: "snp", mode: "paravisor" },
];

/** Where the trace goes: a file put in place when complete, or standard output (--out -). */
interface TraceOut {
  write(chunk: Uint8Array | string): void;
  commit(): void;
  abort(): void;
  readonly bytes: number;
}

function stdoutSink(out: (s: string) => void): TraceOut {
  let bytes = 0;
  return {
    write: (chunk) => {
      const s = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      bytes += Buffer.byteLength(s);
      out(s);
    },
    commit: () => {},
    abort: () => {},
    get bytes() {
      return bytes;
    },
  };
}

/** --format, or the file's extension (.pcapng), or JSON lines. */
export function traceFormat(file: string, format: TraceFormat | undefined): TraceFormat {
  return format ?? (/\.pcapng$/i.test(file) ? "pcapng" : "jsonl");
}

export function registerTrace(program: Command, ctx: CommandContext): void {
  program
    .command("trace")
    .description("write the boundary-crossing trace of a run (snp-paravisor, or each of --config) to a file")
    .requiredOption("--out <file>", "the file to write (replaced only once complete)")
    .addOption(
      new Option(
        "--format <format>",
        "jsonl, or pcapng (LINKTYPE_USER0 records); default: from the file name",
      ).choices(TRACE_FORMATS),
    )
    .addOption(new Option("--seed <n>", "seed of every random choice").argParser(ctx.seedArg))
    .option(
      "--config <file>",
      "a JSON configuration (or a list of them): one trace section per configuration",
    )
    .option("--json", "print a summary of what was written as JSON")
    .action((o: { out: string; format?: TraceFormat; seed?: number; config?: string; json?: boolean }) => {
      const format = traceFormat(o.out, o.format);
      const toStdout = o.out === "-";
      if (toStdout && format !== "jsonl")
        throw new UsageError("--out - (standard output) takes JSON lines only; name a file for pcapng");
      const file: TraceOut = toStdout ? stdoutSink(ctx.out) : AtomicFile.open(o.out);
      const p = progress(o.json === true || toStdout);
      const rows: RunRow[] = [];
      const perConfig: { name: string; records: number }[] = [];
      let writer: TraceWriter | undefined;
      try {
        const configs = ctx.configs(o, TRACE_DEFAULT_CONFIGS);
        writer =
          format === "pcapng"
            ? new PcapngTraceWriter(new PcapngWriter((b) => file.write(b), { application: "hvcoco" }))
            : new JsonlTraceWriter((s) => file.write(s));
        for (const c of configs) {
          p.step(`tracing ${c.name}...`);
          const w = writer;
          const before = w.records;
          w.begin({ name: c.name, seed: c.seed });
          let off = () => {};
          try {
            rows.push(
              runConfiguration(c, {
                beforeBoot: (vm) => (off = vm.audit.boundary.subscribe((x) => w.crossing(x))),
              }).row,
            );
          } finally {
            off();
          }
          perConfig.push({ name: c.name, records: w.records - before });
        }
        file.commit();
      } catch (e) {
        file.abort();
        throw e;
      } finally {
        p.done();
      }
      const records = writer?.records ?? 0;
      // With --out -, the trace is the output; otherwise say what was written.
      const summary = {
        out: o.out,
        format,
        ...(format === "pcapng" ? { linktype: LINKTYPE_USER0 } : {}),
        bytes: file.bytes,
        records,
        configs: perConfig,
      };
      if (!toStdout)
        ctx.out(
          o.json
            ? `${JSON.stringify(summary, null, 2)}\n`
            : `wrote ${o.out} (${format}, ${records} crossings, ${file.bytes} bytes)\n`,
        );
      ctx.setExit(isFinding(rows) ? EXIT_FINDING : EXIT_OK);
    });
}
