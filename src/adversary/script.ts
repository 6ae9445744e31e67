// Loading a user's attack script: a TypeScript (or JavaScript) module whose
// default export (or export named `attack`) is an Attack. Every way it can be bad
// — missing file, syntax error, wrong export, an exception while it runs — becomes
// one ScriptError line for the CLI.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Attack, AttackContext } from "./api.ts";

export class ScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScriptError";
  }
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.split("\n").find((l) => l.trim() !== "") ?? m).trim();
}

/** Run a script's code: an exception inside it is the script's fault, not the model's. */
function blame<T>(file: string, where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ScriptError) throw e;
    if (e instanceof Error && (e.name === "GuestCrash" || e.name === "GuestPanic")) throw e;
    throw new ScriptError(`attack script ${file} threw in ${where}: ${firstLine(e)}`);
  }
}

/** Each of an interposer's hooks, blamed on the script when it throws. */
function blameAll<I extends object>(file: string, what: string, i: I): I {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(i))
    out[k] =
      typeof f === "function"
        ? (...args: unknown[]) =>
            blame(file, `its ${what} ${k}()`, () => (f as (...a: unknown[]) => unknown)(...args))
        : f;
  return out as I;
}

/** The context a script sees: the same handles, with the callbacks it registers guarded too. */
const scriptContexts = new WeakMap<AttackContext, AttackContext>();
function scriptContext(file: string, ctx: AttackContext): AttackContext {
  const known = scriptContexts.get(ctx);
  if (known) return known;
  const c: AttackContext = {
    ...ctx,
    at: (point, fn) => ctx.at(point, (d) => blame(file, `its action at ${point}`, () => fn(d))),
    host: {
      ...ctx.host,
      vmbus: {
        ...ctx.host.vmbus,
        interpose: (i) => ctx.host.vmbus.interpose(blameAll(file, "VMBus interposer", i)),
      },
    },
    hypervisor: {
      ...ctx.hypervisor,
      interpose: (i) => ctx.hypervisor.interpose(blameAll(file, "hypervisor interposer", i)),
    },
  };
  scriptContexts.set(ctx, c);
  return c;
}

/** Wrap a script's hooks so that an exception inside them is the script's fault, not the model's. */
function guarded(file: string, a: Attack): Attack {
  const wrap =
    (hook: "setup" | "after", fn: ((ctx: AttackContext) => void) | undefined) =>
    (ctx: AttackContext): void => {
      if (fn) blame(file, `${hook}()`, () => fn(scriptContext(file, ctx)));
    };
  return { ...a, setup: wrap("setup", a.setup), after: wrap("after", a.after) };
}

export async function loadAttackScript(file: string): Promise<Attack> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ScriptError(`attack script ${file} does not exist`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw new ScriptError(`attack script ${file} does not load: ${firstLine(e)}`);
  }
  const a = (mod["default"] ?? mod["attack"]) as Partial<Attack> | undefined;
  if (!a || typeof a !== "object")
    throw new ScriptError(`attack script ${file} must export an attack as default (or as "attack")`);
  if (typeof a.name !== "string" || !/^[a-z0-9][a-z0-9-]*$/.test(a.name))
    throw new ScriptError(`attack script ${file}: the attack needs a kebab-case "name"`);
  if (a.setup !== undefined && typeof a.setup !== "function")
    throw new ScriptError(`attack script ${file}: "setup" must be a function`);
  if (a.after !== undefined && typeof a.after !== "function")
    throw new ScriptError(`attack script ${file}: "after" must be a function`);
  if (!a.setup && !a.after)
    throw new ScriptError(`attack script ${file}: the attack has neither setup() nor after()`);
  const vpci = a.host?.vpci;
  if (
    a.host !== undefined &&
    (typeof a.host !== "object" ||
      a.host === null ||
      (vpci !== undefined && typeof vpci !== "boolean" && (typeof vpci !== "object" || vpci === null)))
  )
    throw new ScriptError(
      `attack script ${file}: "host" must be { vpci?: true | { functions, maxVersion } }`,
    );
  const full: Attack = {
    name: a.name,
    description: typeof a.description === "string" ? a.description : "a user's attack script",
    klass: typeof a.klass === "string" ? a.klass : "user script",
    defeatedBy: Array.isArray(a.defeatedBy) ? a.defeatedBy : [],
    ...(a.appliesTo ? { appliesTo: a.appliesTo } : {}),
    ...(a.host ? { host: a.host } : {}),
    ...(a.setup ? { setup: a.setup } : {}),
    ...(a.after ? { after: a.after } : {}),
  };
  return guarded(file, full);
}
