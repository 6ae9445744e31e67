// The hvcoco command line. Every command has --help and --json; exit codes are
// 0 ok, 1 a finding, 2 bad input (one line on stderr, no stack trace).
import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { configInput, parseConfig, STANDARD_CONFIGS, type VmConfig } from "../vm/config.ts";
import { type RunRow, runConfiguration } from "../vm/run.ts";
import type { Vm } from "../vm/vm.ts";
import { type AttackOptions, attackCommand } from "./attack.ts";
import { withDisk } from "./disk.ts";
import { EXIT_BAD_INPUT, EXIT_FINDING, EXIT_OK, UsageError } from "./errors.ts";
import { FUZZ_CONFIGS, fuzzCommand, fuzzMerge, parseShard } from "./fuzz.ts";
import { layoutJson, layoutSections, layoutText } from "./layout.ts";
import { NetCapture } from "./pcap.ts";
import { type CommandContext, registerReport, runReportBuilder, writeReport } from "./report.ts";
import { runTable } from "./run.ts";
import { registerTrace } from "./trace.ts";

function seedArg(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 0xffffffff)
    throw new InvalidArgumentError("must be an integer from 0 to 4294967295");
  return Number(v);
}

function loadConfigFile(file: string, seed: number | undefined): VmConfig[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(
      `cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  const list = Array.isArray(json) ? json : [json];
  if (list.length === 0) throw new UsageError(`config file ${file} holds no configuration`);
  return list.map((c, i) => {
    const withSeed = seed !== undefined && typeof c === "object" && c !== null ? { ...c, seed } : c;
    const r = parseConfig(withSeed);
    if (!r.ok)
      throw new UsageError(`config file ${file}${list.length > 1 ? ` entry ${i}` : ""}: ${r.error.message}`);
    return r.config;
  });
}

/** The options of `hvcoco run`. */
interface RunCommandOptions {
  json?: boolean;
  seed?: number;
  config?: string;
  report?: string;
  pcap?: string;
  disk?: string;
}

export function buildProgram(out: (s: string) => void, setExit: (code: number) => void): Command {
  const program = new Command("hvcoco")
    .description("An executable, byte-accurate model of Linux Confidential Computing VMs on Hyper-V")
    .showHelpAfterError(false)
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => out(s), writeErr: (s) => process.stderr.write(s) });

  program
    .command("run")
    .description("boot every configuration side by side and show what the host could see")
    .option("--json", "print the rows as JSON")
    .addOption(new Option("--seed <n>", "seed of every random choice").argParser(seedArg))
    .option("--config <file>", "a JSON configuration (or a list of them) instead of the standard five")
    .option("--report <file>", "also write the HTML report of these runs to FILE")
    .option("--pcap <file>", "also write every Ethernet frame of the runs to FILE (pcapng)")
    .option("--disk <file>", "a raw disk image behind every configuration's SCSI disk (default: in memory)")
    .action(async (o: RunCommandOptions) => {
      const report = runReportBuilder(o.report);
      const configs: VmConfig[] = withDisk(
        o.config
          ? loadConfigFile(o.config, o.seed)
          : STANDARD_CONFIGS.map((c) => {
              const r = parseConfig({ ...c, seed: o.seed ?? 1 });
              if (!r.ok) throw new Error(r.error.message);
              return r.config;
            }),
        o.disk,
      );
      const rows: RunRow[] = [];
      const pcap = o.pcap !== undefined ? NetCapture.open(o.pcap) : undefined;
      const capture = pcap ? (vm: Vm) => pcap.attach(vm) : undefined;
      const observe = capture ? { beforeBoot: capture } : {};
      try {
        for (const c of configs) {
          if (process.stderr.isTTY && !o.json) process.stderr.write(`\rbooting ${c.name}...\x1b[K`);
          rows.push(report ? report.add(c, capture) : runConfiguration(c, observe).row);
        }
      } catch (e) {
        pcap?.abort();
        throw e;
      }
      pcap?.commit();
      if (process.stderr.isTTY && !o.json) process.stderr.write("\r\x1b[K");
      if (o.json) out(`${JSON.stringify({ seed: configs[0]?.seed ?? 1, rows }, null, 2)}\n`);
      else out(`${runTable(rows)}\n`);
      if (report && o.report !== undefined) await writeReport(o.report, report.data(), "--report");
      const finding = rows.some((r) => r.isolation !== "none" && (r.secretBytesLeaked > 0 || !r.booted));
      setExit(finding ? EXIT_FINDING : EXIT_OK);
    });

  program
    .command("layout")
    .description("print every struct (name, field, offset, size) and constant hvcoco models")
    .option("--json", "print as JSON")
    .option("--section <name>", `only one section (${layoutSections().join(", ")})`)
    .action((o: { json?: boolean; section?: string }) => {
      if (o.section && !layoutSections().includes(o.section))
        throw new UsageError(`unknown layout section "${o.section}" (known: ${layoutSections().join(", ")})`);
      out(o.json ? `${JSON.stringify(layoutJson(o.section), null, 2)}\n` : `${layoutText(o.section)}\n`);
      setExit(EXIT_OK);
    });

  const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(",").filter((x) => x !== "")];
  program
    .command("attack")
    .description(
      "run library attacks (or your own script) against configurations; the auditor gives the verdict",
    )
    .option("--list", "list the attack library")
    .option("--name <attack>", "run only this attack (repeatable, or comma-separated)", collect)
    .option("--script <file>", "run your own attack module (see docs/attacks.md)")
    .option("--isolation <iso>", "only this isolation (none | snp | tdx)")
    .option("--mode <mode>", "with --isolation: enlightened | paravisor")
    .option(
      "--unharden <hardening>",
      "switch a hardening off (repeatable): the matching attacks must be reported",
      collect,
    )
    .option("--memory <size>", "guest memory for each run", "128M")
    .addOption(new Option("--seed <n>", "seed of every random choice").argParser(seedArg))
    .option("--replay <token>", "reproduce one verdict exactly from its replay token")
    .option("--json", "print the verdicts as JSON")
    .action(async (o: AttackOptions) => {
      setExit(await attackCommand(o, out));
    });

  const fuzz = program
    .command("fuzz")
    .enablePositionalOptions()
    .description(
      "a coverage-guided fuzz campaign over host actions, every finding saved with its replay line",
    )
    .option("--seconds <n>", "how long to run", "10")
    .addOption(new Option("--seed <n>", "seed of the campaign").argParser(seedArg))
    .option("--workers <k>", "worker threads (the machine's cores)", "1")
    .option("--shard <i/n>", "this machine's share of a campaign split across n machines", "0/1")
    .option("--out <dir>", "where summary.json and findings/ go", "fuzz-out")
    .option("--config <file>", "configurations to fuzz (JSON object or list) instead of the default four")
    .option("--max-cases <n>", "stop after this many cases per worker (for deterministic runs)")
    .option("--json", "print the summary as JSON")
    .action(
      async (o: {
        seconds: string;
        seed?: number;
        workers: string;
        shard: string;
        out: string;
        config?: string;
        maxCases?: string;
        json?: boolean;
      }) => {
        const seconds = Number(o.seconds);
        const workers = Number(o.workers);
        const max = o.maxCases === undefined ? undefined : Number(o.maxCases);
        if (max !== undefined && (!Number.isInteger(max) || max < 1))
          throw new UsageError("--max-cases must be a positive integer");
        const configs = o.config
          ? loadConfigFile(o.config, undefined).map((c) => configInput(c))
          : FUZZ_CONFIGS;
        setExit(
          await fuzzCommand(
            {
              seconds,
              seed: o.seed ?? 1,
              workers,
              shard: parseShard(o.shard),
              out: o.out,
              json: o.json ?? false,
              configs,
              ...(max !== undefined ? { maxIterations: max } : {}),
            },
            out,
          ),
        );
      },
    );
  fuzz
    .command("merge <dirs...>")
    .description("combine the results of shard runs (their summary.json)")
    .option("--out <dir>", "where the merged summary goes", "fuzz-merged")
    .option("--json", "print the merged summary as JSON")
    .action((dirs: string[], o: { out: string; json?: boolean }) => {
      setExit(fuzzMerge(dirs, o.out, o, out));
    });

  const ctx: CommandContext = {
    out,
    setExit,
    seedArg,
    configs: (o, defaults) =>
      o.config
        ? loadConfigFile(o.config, o.seed)
        : defaults.map((c) => {
            const r = parseConfig({ ...c, seed: o.seed ?? 1 });
            if (!r.ok) throw new Error(r.error.message);
            return r.config;
          }),
  };
  registerReport(program, ctx, STANDARD_CONFIGS);
  registerTrace(program, ctx);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram(
    (s) => process.stdout.write(s),
    (c) => {
      code = c;
    },
  );
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0)
        return EXIT_OK;
      // commander already printed its one-line message.
      return EXIT_BAD_INPUT;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`hvcoco: ${e.message}\n`);
      return EXIT_BAD_INPUT;
    }
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("hvcoco.mjs")) {
  // A closed pipe (hvcoco layout | head) is the reader's choice, not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
}
