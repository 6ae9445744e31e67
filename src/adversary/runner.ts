// Run one attack against one configuration on a fresh VM and let the auditor give
// the verdict: secret bytes leaked (must be 0), guest crash (must be none), broken
// invariants, integrity of the guest's data, and the guest's logged reasons for
// what it rejected. Any finding comes with a replay line that reproduces it.
import { GuestPanic } from "../guest/panic.ts";
import { GuestCrash } from "../platform/exceptions.ts";
import { PAGE_SIZE, PageFlag } from "../platform/page.ts";
import { configInput, type VmConfig } from "../vm/config.ts";
import { Vm } from "../vm/vm.ts";
import { plantSecret, secretIntact, strayReadIntoPage } from "../vm/workload.ts";
import type { Attack, AttackContext } from "./api.ts";
import { type ReplaySpec, replayLine } from "./replay.ts";

export interface Verdict {
  attack: string;
  config: string;
  seed: number;
  unharden: readonly string[];
  /** Secret guest bytes the host or hypervisor read in plaintext. */
  secretBytesLeaked: number;
  /** The guest died of an exception it could not handle. */
  crashed: boolean;
  /** The guest refused to go on, deliberately, with a reason (fail-safe; not a finding). */
  refused: boolean;
  reason?: string;
  /** The guest's own data was changed by the host. */
  integrityLost: boolean;
  violations: { code: string; message: string }[];
  /** The guest's logged reasons for rejecting host input. */
  rejections: { code: string; message: string }[];
  notes: string[];
  finding: boolean;
  /** Why this is a finding (empty when repelled). */
  findings: string[];
  replay: string;
}

export function attackContext(vm: Vm, notes: string[]): AttackContext {
  const hv = vm.hypervisor;
  const host = vm.platform.untrustedView("host");
  return {
    config: vm.config,
    host: {
      memory: host,
      mappedPages: () => {
        const out: number[] = [];
        for (const r of host.mappedRuns())
          for (let i = 0; i < r.count && out.length < 1 << 20; i++) out.push(r.pfn + i);
        return out;
      },
    },
    hypervisor: {
      memory: hv.view,
      interpose: (i) => {
        hv.interposer = { ...(hv.interposer ?? {}), ...i };
      },
      injectInterrupt: (vp, vector) => hv.injectInterrupt(vp, vector, -1),
      postMessage: (vp, sint, type, payload) => hv.synic.postMessage(vp, sint, type, payload),
      signalEvent: (vp, sint, flag) => hv.synic.signalEvent(vp, sint, flag),
      stallAt: (point) => {
        vm.hooks.on(point, (_p, d) => {
          if (typeof d["pfn"] === "number") strayReadIntoPage(vm, d["pfn"]);
        });
      },
      honestCpuid: (leaf) => {
        const saved = hv.interposer;
        hv.interposer = undefined;
        try {
          return hv.cpuid(0, leaf, "host");
        } finally {
          hv.interposer = saved;
        }
      },
    },
    at: (point, fn) => {
      vm.hooks.on(point, (_p, d) => fn(d));
    },
    rng: vm.prng.fork(),
    note: (l) => notes.push(l),
  };
}

export function runAttack(attack: Attack, config: VmConfig, spec?: Omit<ReplaySpec, "config">): Verdict {
  const vm = new Vm(config);
  const notes: string[] = [];
  const ctx = attackContext(vm, notes);
  let crashed = false;
  let refused = false;
  let reason: string | undefined;
  let integrityLost = false;
  const guard = (fn: () => void): boolean => {
    try {
      fn();
      return true;
    } catch (e) {
      if (e instanceof GuestCrash) {
        crashed = true;
        reason = e.message;
      } else if (e instanceof GuestPanic) {
        refused = true;
        reason = e.message;
      } else throw e;
      return false;
    }
  };
  attack.setup?.(ctx);
  const boot = vm.boot();
  if (!boot.ok) {
    if (boot.kind === "panic") refused = true;
    else crashed = true;
    reason = boot.crash;
  } else {
    let secret: ReturnType<typeof plantSecret> | undefined;
    guard(() => {
      secret = plantSecret(vm);
      vm.scheduler.runUntilIdle();
    });
    if (!crashed && !refused) guard(() => attack.after?.(ctx));
    if (!crashed && !refused) guard(() => vm.scheduler.runUntilIdle());
    // Whatever the attack did, a curious host then reads every page its SLAT maps.
    const buf = new Uint8Array(PAGE_SIZE);
    for (const r of vm.platform.untrustedView("host").mappedRuns())
      for (let i = 0; i < r.count; i++) {
        const pfn = r.pfn + i;
        if (vm.platform.memory.flags(pfn) & PageFlag.HOST_VISIBLE)
          ctx.host.memory.read(pfn * PAGE_SIZE, PAGE_SIZE, buf);
      }
    if (secret && !crashed) {
      let intact = true;
      guard(() => {
        intact = secretIntact(vm, secret!);
      });
      integrityLost = !intact;
    }
  }
  const a = vm.audit;
  const violations = a.violations
    .filter((v) => v.code !== "HVCOCO_VIOLATION_GUEST_CRASH")
    .map((v) => ({ code: v.code, message: v.message }));
  const findings: string[] = [];
  if (a.secretBytesLeaked > 0) findings.push(`${a.secretBytesLeaked} secret bytes leaked`);
  if (crashed) findings.push(`guest crashed: ${reason}`);
  if (refused && attack.honest) findings.push(`guest refused to run with an honest host: ${reason}`);
  if (integrityLost) findings.push("guest data changed by the host");
  for (const v of violations) findings.push(`${v.code}: ${v.message}`);
  const replay = replayLine({ ...(spec ?? { attack: attack.name }), config: configInput(config) });
  return {
    attack: attack.name,
    config: config.name,
    seed: config.seed,
    unharden: config.unharden,
    secretBytesLeaked: a.secretBytesLeaked,
    crashed,
    refused,
    ...(reason !== undefined ? { reason } : {}),
    integrityLost,
    violations,
    rejections: a.rejections.map((r) => ({ code: r.code, message: r.message })),
    notes,
    finding: findings.length > 0,
    findings,
    replay,
  };
}
