// A bench's command line: --json, and the positive numbers it takes (with their
// defaults). Anything else (an unknown flag, a number that is not one) is one line
// on stderr and exit code 2, before the bench has measured or written anything.
import { parseArgs } from "node:util";

export function benchFlags<N extends string>(
  name: string,
  numbers: Record<N, number>,
  booleans: readonly string[] = [],
): { json: boolean; flags: Set<string> } & Record<N, number> {
  const options: Record<string, { type: "string" | "boolean" }> = { json: { type: "boolean" } };
  for (const n of Object.keys(numbers)) options[n] = { type: "string" };
  for (const b of booleans) options[b] = { type: "boolean" };
  try {
    const { values } = parseArgs({ options, strict: true, allowPositionals: false });
    const out = { json: values["json"] === true, flags: new Set<string>() } as {
      json: boolean;
      flags: Set<string>;
    } & Record<string, number>;
    for (const b of booleans) if (values[b] === true) out.flags.add(b);
    for (const [n, dflt] of Object.entries(numbers) as [string, number][]) {
      const v = values[n];
      if (v === undefined) {
        out[n] = dflt;
        continue;
      }
      const x = Number(v);
      if (typeof v !== "string" || !Number.isFinite(x) || x <= 0)
        throw new Error(`--${n} must be a positive number, not ${JSON.stringify(v)}`);
      out[n] = x;
    }
    return out as never;
  } catch (e) {
    console.error(`bench/${name}: ${(e as Error).message.split("\n")[0]}`);
    process.exit(2);
  }
}
