// Run one fuzz case on a fresh VM, booted from the case's configuration and seed,
// through the attack runner (so a case is judged exactly like an attack), and
// collect the coverage it reached: the validation branches the guest took (its
// rejection codes), the auditor's violation codes, the exceptions raised, and the
// crossings by kind in AFL-style hit-count buckets.
import { encodeResult } from "../../hyperv/hypercall-abi.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import { parseConfig } from "../../vm/config.ts";
import type { Vm } from "../../vm/vm.ts";
import type { Attack } from "../api.ts";
import { type BootedTarget, bootTarget, runAttack, runAttackOnBooted, type Verdict } from "../runner.ts";
import { BOOT_ACTIONS, caseToJson, type FuzzCase } from "./case.ts";

export interface CaseResult {
  verdict: Verdict;
  coverage: Set<string>;
}

function bucket(n: number): number {
  return n === 0 ? 0 : n < 2 ? 1 : n < 4 ? 2 : n < 8 ? 3 : n < 16 ? 4 : n < 32 ? 5 : n < 128 ? 6 : 7;
}

export function caseAttack(c: FuzzCase): Attack {
  return {
    name: "fuzz-case",
    description: `a fuzz case of ${c.actions.length} host actions`,
    klass: "fuzz",
    defeatedBy: [],
    appliesTo: () => true,
    setup(ctx) {
      const lies = c.actions.filter((a) => BOOT_ACTIONS.has(a.kind));
      if (lies.length === 0) return;
      const calls = new Map<number, number>();
      ctx.hypervisor.interpose({
        cpuid: (_vp, leaf, honest) => {
          let r = honest;
          for (const a of lies)
            if (a.kind === "cpuid" && a.leaf === leaf) r = { ...r, [a.reg]: (r[a.reg] ^ a.xor) >>> 0 };
          return r;
        },
        hypercall: (i) => {
          const n = (calls.get(i.code) ?? 0) + 1;
          calls.set(i.code, n);
          for (const a of lies)
            if (a.kind === "hypercall" && a.code === i.code && n > a.nth) return encodeResult(a.status);
          return undefined;
        },
      });
    },
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

/** Coverage of a finished run, from what the auditor and the platform recorded. */
export function coverageOf(vm: Vm, v: Verdict): Set<string> {
  const cov = new Set<string>();
  for (const r of vm.audit.rejections) cov.add(`reject:${r.code}`);
  for (const x of vm.audit.violations) cov.add(`violation:${x.code}`);
  for (const e of vm.platform.exceptionLog) cov.add(`exc:${e.vector}:${e.cause}`);
  for (const [k, n] of Object.entries(vm.audit.boundary.counts))
    if (n > 0) cov.add(`cross:${k}:${bucket(n)}`);
  for (const l of vm.guest.dmesg) if (l.startsWith("timed out")) cov.add(`timeout:${l.slice(22, 60)}`);
  if (v.refused) cov.add(`refused:${(v.reason ?? "").split(" ").slice(0, 5).join(" ")}`);
  if (v.crashed) cov.add(`crashed:${(v.reason ?? "").split(" ").slice(0, 5).join(" ")}`);
  return cov;
}

/** Booted VMs by configuration (the case's config as JSON), each restored to its post-boot state per case. */
export type TargetPool = Map<string, BootedTarget>;

/** True when a case shapes boot itself (CPUID and hypercall lies): it needs a VM booted under them. */
export function shapesBoot(c: FuzzCase): boolean {
  return c.actions.some((a) => BOOT_ACTIONS.has(a.kind));
}

/**
 * Run a case. With a pool, a case that does not shape boot runs on the pool's VM
 * of its configuration, restored from its post-boot snapshot (the same verdict and
 * coverage as a freshly booted VM: test/vm/snapshot.test.ts); the rest boot fresh.
 */
export function runCase(c: FuzzCase, pool?: TargetPool): CaseResult {
  const r = parseConfig(c.config);
  if (!r.ok) throw new Error(`fuzz case config: ${r.error.message}`);
  let vm: Vm | undefined;
  const observe = (v: Vm): void => {
    vm = v;
  };
  const attack = caseAttack(c);
  const spec = { case: caseToJson(c) };
  let verdict: Verdict | undefined;
  if (pool && !shapesBoot(c)) {
    const key = JSON.stringify(c.config);
    let t = pool.get(key);
    if (!t) {
      t = bootTarget(r.config);
      pool.set(key, t);
    }
    if (t.boot.ok) verdict = runAttackOnBooted(t, attack, spec, observe);
  }
  verdict ??= runAttack(attack, r.config, spec, observe);
  return { verdict, coverage: coverageOf(vm!, verdict) };
}
