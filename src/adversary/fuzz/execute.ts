// Run one fuzz case on fresh VM state (a pooled VM booted from the case's
// configuration, seed and boot-time lies, restored from its snapshot; or a VM
// booted for it) through the attack runner (so a case is judged exactly like an
// attack), and
// collect the coverage it reached: the validation branches the guest took (its
// rejection codes), the auditor's violation codes, the exceptions raised, and the
// crossings by kind in AFL-style hit-count buckets.
import { CROSSING_KINDS } from "../../audit/crossings.ts";
import { encodeResult } from "../../hyperv/hypercall-abi.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import { parseConfig, type VmConfig } from "../../vm/config.ts";
import type { Vm } from "../../vm/vm.ts";
import type { Attack, AttackContext } from "../api.ts";
import { type BootedTarget, bootTarget, runAttack, runAttackOnBooted, type Verdict } from "../runner.ts";
import { BOOT_ACTIONS, caseToJson, type FuzzCase } from "./case.ts";

export interface CaseResult {
  verdict: Verdict;
  coverage: Set<string>;
  /** The case needed a boot (no pool, or its pool had no VM booted under its lies). */
  booted: boolean;
  /**
   * What the case cost, deterministically: the crossings of the boundary it made
   * (after boot). The campaign gives costly parents less energy.
   */
  cost: number;
}

/** The coverage ids of crossings, by kind and bucket (made once). */
const CROSS_IDS = new Map(
  CROSSING_KINDS.map((k) => [k, [0, 1, 2, 3, 4, 5, 6, 7].map((b) => `cross:${k}:${b}`)]),
);

function bucket(n: number): number {
  return n === 0 ? 0 : n < 2 ? 1 : n < 4 ? 2 : n < 8 ? 3 : n < 16 ? 4 : n < 32 ? 5 : n < 128 ? 6 : 7;
}

/** The hypervisor's state for a case's boot-time lies: how often each hypercall was made. */
export interface LieState {
  readonly calls: Map<number, number>;
}

/**
 * Install a case's CPUID and hypercall lies. Returns their state (what the lies
 * remember), or undefined when the case tells none. The state is plain data so a
 * snapshot of a VM booted under the lies holds it (see runCase).
 */
export function installBootLies(ctx: AttackContext, c: FuzzCase): LieState | undefined {
  const lies = c.actions.filter((a) => BOOT_ACTIONS.has(a.kind));
  if (lies.length === 0) return undefined;
  const state: LieState = { calls: new Map() };
  ctx.hypervisor.interpose({
    cpuid: (_vp, leaf, honest) => {
      let r = honest;
      for (const a of lies)
        if (a.kind === "cpuid" && a.leaf === leaf) r = { ...r, [a.reg]: (r[a.reg] ^ a.xor) >>> 0 };
      return r;
    },
    hypercall: (i) => {
      const n = (state.calls.get(i.code) ?? 0) + 1;
      state.calls.set(i.code, n);
      for (const a of lies)
        if (a.kind === "hypercall" && a.code === i.code && n > a.nth) return encodeResult(a.status);
      return undefined;
    },
  });
  return state;
}

/** The case's boot-time lies as a key: cases with the same lies boot to the same state. */
export function bootKey(c: FuzzCase): string {
  return JSON.stringify(c.actions.filter((a) => BOOT_ACTIONS.has(a.kind)));
}

/** Where a pool keeps the VM a case runs on: its configuration and boot-time lies. */
export function poolKey(c: FuzzCase): string {
  let k = poolKeys.get(c);
  if (k === undefined) {
    let cfg = configKeys.get(c.config);
    if (cfg === undefined) {
      cfg = JSON.stringify(c.config);
      configKeys.set(c.config, cfg);
    }
    k = `${cfg} ${bootKey(c)}`;
    poolKeys.set(c, k);
  }
  return k;
}

/** Cases are not changed once made (mutate makes new ones): their keys are kept. */
const poolKeys = new WeakMap<FuzzCase, string>();
const configKeys = new WeakMap<object, string>();

/** A fuzz case as an attack: its boot-time lies in setup, its host actions after boot. */
export function caseAttack(c: FuzzCase): Attack {
  return { ...caseActions(c), setup: (ctx) => void installBootLies(ctx, c) };
}

/** The case's post-boot host actions alone (its lies are in place already on a pooled VM). */
export function caseActions(c: FuzzCase): Attack {
  return {
    name: "fuzz-case",
    description: `a fuzz case of ${c.actions.length} host actions`,
    klass: "fuzz",
    defeatedBy: [],
    appliesTo: () => true,
    after(ctx) {
      let mapped: number[] | undefined;
      for (const a of c.actions) {
        switch (a.kind) {
          case "message":
            ctx.hypervisor.postMessage(
              a.vp % Math.max(1, ctx.config.vcpus),
              2,
              1,
              a.payload.subarray(0, 240),
            );
            break;
          case "interrupt":
            // Only configurations that claim a defence against illegal injection get
            // these: an enlightened guest without injection enlightenments takes them
            // by design (coco.rst; C14) and would report the same known exposure forever.
            if (ctx.config.mode === "paravisor" || ctx.config.restrictedInjection)
              ctx.hypervisor.injectRaw(a.vp % Math.max(1, ctx.config.vcpus), a.vector);
            break;
          case "event":
            ctx.hypervisor.signalEvent(a.vp % Math.max(1, ctx.config.vcpus), 2, a.flag);
            break;
          case "poke": {
            mapped ??= ctx.host.mappedPages();
            if (mapped.length === 0) break;
            const pfn = mapped[a.page % mapped.length]!;
            ctx.host.memory.write(pfn * PAGE_SIZE + a.offset, a.bytes.subarray(0, PAGE_SIZE - a.offset));
            break;
          }
          default:
            break;
        }
        ctx.letGuestRun();
      }
    },
  };
}

/** How far a VM's logs went when it was snapshot, and the coverage they held then. */
interface CoverageBase {
  readonly rejections: number;
  readonly violations: number;
  readonly exceptions: number;
  readonly dmesg: number;
  /** Crossings made up to the snapshot. */
  readonly crossings: number;
  readonly ids: ReadonlySet<string>;
}

const NO_BASE: CoverageBase = {
  rejections: 0,
  violations: 0,
  exceptions: 0,
  dmesg: 0,
  crossings: 0,
  ids: new Set(),
};

/**
 * Coverage of a finished run, from what the auditor and the platform recorded. With
 * `base` (the VM was restored from a snapshot whose logs held `base`), only the
 * entries logged since are read: the logs are append-only, so the set is the same.
 */
export function coverageOf(vm: Vm, v: Verdict, base: CoverageBase = NO_BASE): Set<string> {
  const cov = new Set<string>(base.ids);
  logCoverage(vm, base, cov);
  const counts = vm.audit.boundary.counts;
  for (const k of CROSSING_KINDS) {
    const n = counts[k];
    if (n > 0) cov.add(CROSS_IDS.get(k)![bucket(n)]!);
  }
  if (v.refused) cov.add(`refused:${(v.reason ?? "").split(" ").slice(0, 5).join(" ")}`);
  if (v.crashed) cov.add(`crashed:${(v.reason ?? "").split(" ").slice(0, 5).join(" ")}`);
  return cov;
}

/** The coverage the VM's logs hold from `from` on. */
function logCoverage(vm: Vm, from: CoverageBase, cov: Set<string>): void {
  const { rejections, violations } = vm.audit;
  const exc = vm.platform.exceptionLog;
  const dmesg = vm.guest.dmesg;
  for (let i = from.rejections; i < rejections.length; i++) cov.add(`reject:${rejections[i]!.code}`);
  for (let i = from.violations; i < violations.length; i++) cov.add(`violation:${violations[i]!.code}`);
  for (let i = from.exceptions; i < exc.length; i++) cov.add(`exc:${exc[i]!.vector}:${exc[i]!.cause}`);
  for (let i = from.dmesg; i < dmesg.length; i++)
    if (dmesg[i]!.startsWith("timed out")) cov.add(`timeout:${dmesg[i]!.slice(22, 60)}`);
}

/** The coverage base of a booted target, as its snapshot left it. */
function coverageBase(vm: Vm): CoverageBase {
  const ids = new Set<string>();
  logCoverage(vm, NO_BASE, ids);
  return {
    rejections: vm.audit.rejections.length,
    violations: vm.audit.violations.length,
    exceptions: vm.platform.exceptionLog.length,
    dmesg: vm.guest.dmesg.length,
    crossings: vm.audit.boundary.seq,
    ids,
  };
}

/**
 * Booted VMs by configuration and boot-time lies, each restored to its post-boot
 * state per case. Bounded: the least recently used goes when it is full.
 */
export class TargetPool {
  readonly #targets = new Map<string, BootedTarget>();
  readonly capacity: number;
  constructor(capacity = 48) {
    this.capacity = capacity;
  }

  /** The booted target for `key`, booting it with `boot` on a miss. */
  get(key: string, boot: () => BootedTarget): BootedTarget {
    let t = this.#targets.get(key);
    if (t) this.#targets.delete(key);
    else {
      t = boot();
      if (this.#targets.size >= this.capacity) this.#targets.delete(this.#targets.keys().next().value!);
    }
    this.#targets.set(key, t);
    return t;
  }

  has(key: string): boolean {
    return this.#targets.has(key);
  }

  get size(): number {
    return this.#targets.size;
  }
}

/** True when a case shapes boot itself (CPUID and hypercall lies): it needs a VM booted under them. */
export function shapesBoot(c: FuzzCase): boolean {
  return c.actions.some((a) => BOOT_ACTIONS.has(a.kind));
}

/**
 * Run a case. With a pool, the case runs on the pool's VM of its configuration and
 * boot-time lies, booted once under them and restored from its post-boot snapshot
 * (the same verdict and coverage as a freshly booted VM: test/vm/snapshot.test.ts);
 * without one it boots fresh.
 */
export function runCase(c: FuzzCase, pool?: TargetPool): CaseResult {
  let vm: Vm | undefined;
  const observe = (v: Vm): void => {
    vm = v;
  };
  // The case as its replay line holds it, made only if the line is asked for.
  const spec = {
    get case() {
      return caseToJson(c);
    },
  };
  let verdict: Verdict;
  let booted = true;
  let base: CoverageBase | undefined;
  if (pool) {
    const key = poolKey(c);
    booted = !pool.has(key);
    const t = pool.get(key, () => {
      const b = bootTarget(configOf(c), undefined, (ctx) => installBootLies(ctx, c));
      bases.set(b, coverageBase(b.vm));
      return b;
    });
    base = bases.get(t);
    verdict = runAttackOnBooted(t, caseActions(c), spec, observe);
  } else verdict = runAttack(caseAttack(c), configOf(c), spec, observe);
  const cost = vm!.audit.boundary.seq - (base?.crossings ?? 0);
  return { verdict, coverage: coverageOf(vm!, verdict, base), booted, cost };
}

/** Each pooled target's coverage base (its logs as snapshot). */
const bases = new WeakMap<BootedTarget, CoverageBase>();

function configOf(c: FuzzCase): VmConfig {
  const r = parseConfig(c.config);
  if (!r.ok) throw new Error(`fuzz case config: ${r.error.message}`);
  return r.config;
}
