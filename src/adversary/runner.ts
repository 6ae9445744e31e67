// Run one attack against one configuration on a fresh VM and let the auditor give
// the verdict: secret bytes leaked (must be 0), guest crash (must be none), broken
// invariants, integrity of the guest's data, and the guest's logged reasons for
// what it rejected, whether the guest hung or only timed out (checks.ts), and
// whether the channels the attack left alone still answer. Any finding comes with
// a replay line that reproduces it.

import { countLabel, Label } from "../audit/labels.ts";
import { GuestPanic } from "../guest/panic.ts";
import type { HostOptions } from "../host/host.ts";
import { GuestCrash } from "../platform/exceptions.ts";
import { pfnOf } from "../platform/page.ts";
import { configInput, type VmConfig } from "../vm/config.ts";
import type { HookFn } from "../vm/hooks.ts";
import { restoreSnapshot, takeSnapshot, type VmSnapshot } from "../vm/snapshot.ts";
import { type BootOutcome, Vm } from "../vm/vm.ts";
import { plantSecret, type Secret, secretIntact, storeSecret, strayReadIntoPage } from "../vm/workload.ts";
import type { Attack, AttackContext, HostSetup } from "./api.ts";
import {
  type ChannelProbe,
  checkIsolatedOffers,
  expectsParavisorStorage,
  PARAVISOR_STORAGE,
  probeChannels,
  settles,
  timeouts,
  watchReaders,
} from "./checks.ts";
import { checkConfidentialChannels, checkVpciBars, watchNetvsc } from "./checks-devices.ts";
import { vmbusHandles } from "./host-vmbus.ts";
import { synicHandles } from "./hv-handles.ts";
import { type ReplaySpec, replayLine } from "./replay.ts";
import { AttackSession, recordingView } from "./touch.ts";

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
  /** The machine never settled after the attack: the guest kept working without end (a hang). */
  hung: boolean;
  /** What the guest gave up waiting for: bounded waits that timed out (fail-safe, except for the baseline). */
  timeouts: string[];
  /** Channels the attack left alone that the auditor checked afterwards (the host's heartbeat, time sync). */
  channelsChecked: string[];
  /** Of those, the ones that no longer answered: integrity of unaffected channels lost. */
  channelsLost: string[];
}

export function attackContext(vm: Vm, notes: string[], session = new AttackSession()): AttackContext {
  const hv = vm.hypervisor;
  const touched = session.touched;
  const host = recordingView(vm.platform.untrustedView("host"), touched);
  const on = (point: string, fn: HookFn) => session.onDetach(vm.hooks.on(point, fn));
  const vmbus = vmbusHandles(vm.host, touched);
  session.onDetach(() => vmbus.interpose(null));
  const hvHonest = hv.interposer;
  session.onDetach(() => {
    hv.interposer = hvHonest;
  });
  return {
    config: vm.config,
    host: {
      memory: host,
      vmbus,
      emulateMmio: (d) => {
        if (hv.hostMmio.devices.some((o) => d.base < o.base + o.size && o.base < d.base + d.size))
          return false;
        hv.hostMmio.add(d);
        return true;
      },
      mappedPages: () => {
        const out: number[] = [];
        for (const r of host.mappedRuns())
          for (let i = 0; i < r.count && out.length < 1 << 20; i++) out.push(r.pfn + i);
        return out;
      },
    },
    hypervisor: {
      memory: recordingView(hv.view, touched),
      interpose: (i) => {
        hv.interposer = { ...(hv.interposer ?? {}), ...i };
      },
      injectInterrupt: (vp, vector) => hv.injectInterrupt(vp, vector, -1),
      injectRaw: (vp, vector) => hv.inject(vp, vector),
      synic: synicHandles(hv, (raw) => vmbus.touchMessage(raw)),
      callParavisor: (vp, control, input) => hv.toParavisor(vp, control, input.slice()),
      postMessage: (vp, sint, type, payload) => {
        vmbus.touchMessage(payload);
        return hv.synic.postMessage(vp, sint, type, payload);
      },
      signalEvent: (vp, sint, flag) => hv.synic.signalEvent(vp, sint, flag),
      stallAt: (point) => {
        on(point, (_p, d) => {
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
      on(point, (_p, d) => fn(d));
    },
    rng: vm.prng.fork(),
    letGuestRun: () => {
      vm.scheduler.runUntilIdle();
    },
    note: (l) => notes.push(l),
  };
}

/** The host's options for what an attack asks it to set up. */
function hostOptions(h: HostSetup): HostOptions {
  return h.vpci ? { vpci: h.vpci === true ? true : { ...h.vpci } } : {};
}

/** A VM with the auditor's watchers and an attack context, before or after boot. */
interface Target {
  readonly vm: Vm;
  readonly notes: string[];
  readonly session: AttackSession;
  readonly ctx: AttackContext;
}

function target(config: VmConfig, host: HostSetup | undefined, observe?: (vm: Vm) => void): Target {
  const vm = new Vm(config, host ? { host: hostOptions(host) } : {});
  observe?.(vm);
  const notes: string[] = [];
  const session = new AttackSession();
  const ctx = attackContext(vm, notes, session);
  watchReaders(vm);
  watchNetvsc(vm);
  return { vm, notes, session, ctx };
}

export function runAttack(
  attack: Attack,
  config: VmConfig,
  spec?: Omit<ReplaySpec, "config">,
  observe?: (vm: Vm) => void,
): Verdict {
  const t = target(config, attack.host, observe);
  attack.setup?.(t.ctx);
  return judge(t, attack, t.vm.boot(), spec);
}

/**
 * The auditor's workload, set up once the guest booted: a secret in a private page
 * (it must not leak) and, where the guest's disk is the paravisor's, stored on it
 * (it must come back intact). `failure` is what the guest died or refused with.
 */
interface Workload {
  secret?: Secret;
  stored?: Secret;
  failure?: unknown;
}

function plantWorkload(vm: Vm): Workload {
  const w: Workload = {};
  try {
    w.secret = plantSecret(vm);
    // Where its disk is the paravisor's, the guest stores the key page on it: it
    // must get it back at the end, whatever the host did.
    if (expectsParavisorStorage(vm)) {
      w.stored = w.secret;
      storeSecret(vm, w.secret);
    }
    vm.scheduler.runUntilIdle();
  } catch (e) {
    if (!(e instanceof GuestCrash || e instanceof GuestPanic)) throw e;
    w.failure = e;
  }
  return w;
}

/**
 * A VM booted once, with the auditor's workload in place, and a snapshot of it
 * (see runAttackOnBooted). `exposed` are the pages a host could read that held
 * secret bytes when the snapshot was taken: with the pages changed since, all a
 * curious host's read of its pages can find.
 */
export interface BootedTarget extends Target {
  readonly boot: BootOutcome;
  readonly workload: Workload;
  readonly snapshot: VmSnapshot;
  readonly host: HostSetup | undefined;
  readonly exposed: readonly number[];
}

/**
 * Boot a VM for attacks and snapshot it: the fuzzer's fresh state per case. The
 * host is honest unless `before` sets lies up (it runs before boot, like an
 * attack's setup); what it returns is state its lies keep, which the snapshot holds.
 */
export function bootTarget(
  config: VmConfig,
  host?: HostSetup,
  before?: (ctx: AttackContext) => object | undefined,
): BootedTarget {
  const t = target(config, host);
  const kept = before?.(t.ctx);
  const boot = t.vm.boot();
  const workload = boot.ok ? plantWorkload(t.vm) : {};
  const exposed: number[] = [];
  hostReadsEverything(t.vm, undefined, (pfn, secret) => {
    if (secret > 0) exposed.push(pfn);
  });
  // The snapshot holds the attack context too: what its handles remember from boot.
  return { ...t, boot, host, workload, exposed, snapshot: takeSnapshot({ ...t, kept, workload }) };
}

/**
 * Whatever the attack did, a curious host could then read every page its SLAT maps
 * in plaintext: the secret bytes there count as leaked. The auditor weighs that
 * read itself (the labels of each page whose host outcome is plaintext, the same
 * rule UntrustedView applies) rather than having the host make it: no host code
 * runs and no crossing is recorded, so the case's coverage is its own. `pages`
 * narrows it to the pages that can hold something new (on a VM restored from a
 * snapshot: those changed since it, and those that held secret bytes in it); `each`
 * sees the secret bytes per page instead of the auditor.
 */
function hostReadsEverything(
  vm: Vm,
  pages: Iterable<number> | undefined,
  each?: (pfn: number, secret: number) => void,
): void {
  if (pages)
    for (const pfn of pages) {
      const n = secretBytesRead(vm, pfn);
      if (each) each(pfn, n);
      else vm.audit.secretBytesLeaked += n;
    }
  else
    for (const r of vm.platform.untrustedView("host").mappedRuns())
      for (let i = 0; i < r.count; i++) {
        const n = secretBytesRead(vm, r.pfn + i);
        if (each) each(r.pfn + i, n);
        else vm.audit.secretBytesLeaked += n;
      }
}

/** The secret bytes a host read of page `pfn` gets in plaintext (0 unless the page is shared and visible). */
function secretBytesRead(vm: Vm, pfn: number): number {
  if (vm.platform.untrustedView("host").outcome(pfn, false) !== "plaintext") return 0;
  const labels = vm.platform.memory.peekLabels(pfn);
  return labels ? countLabel(labels, Label.SECRET) : 0;
}

/**
 * Run an attack on a booted target put back to its post-boot state: the same
 * verdict as runAttack on a fresh VM, for an attack whose setup does not act
 * before boot (its setup runs here, after the restore) and that asks the host for
 * what the target was booted with. `observe` sees the VM once restored.
 */
export function runAttackOnBooted(
  t: BootedTarget,
  attack: Attack,
  spec?: Omit<ReplaySpec, "config">,
  observe?: (vm: Vm) => void,
): Verdict {
  if (attack.host !== t.host && JSON.stringify(attack.host) !== JSON.stringify(t.host))
    throw new Error(`attack ${attack.name} needs a host set up differently from the booted target's`);
  const mem = t.snapshot.memories[0];
  restoreSnapshot(t.snapshot);
  observe?.(t.vm);
  attack.setup?.(t.ctx);
  return judge(t, attack, t.boot, spec, t.workload, {
    // The pages the case changed: logged by the memory from the snapshot's mark on.
    changed: () => {
      const c = mem?.mem.changedSince(mem.mark);
      return c ? new Set(c) : undefined;
    },
    exposed: t.exposed,
  });
}

/** On a VM restored from a snapshot: what changed since, and what was exposed in it. */
interface SinceSnapshot {
  /** Pages whose bytes or flags changed since the snapshot (undefined: unknown). */
  changed(): Set<number> | undefined;
  /** Pages a host could read that held secret bytes at the snapshot. */
  exposed: readonly number[];
}

/** What became of the guest during a run: it crashed or refused to go on, and why. */
class Outcome {
  crashed = false;
  refused = false;
  reason: string | undefined;

  /** Run `fn`; a guest crash or panic ends the run (recorded), anything else is a bug and propagates. */
  guard(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (e) {
      if (e instanceof GuestCrash) {
        this.crashed = true;
        this.reason = e.message;
      } else if (e instanceof GuestPanic) {
        this.refused = true;
        this.reason = e.message;
      } else throw e;
      return false;
    }
  }
}

function judge(
  t: Target,
  attack: Attack,
  boot: BootOutcome,
  spec?: Omit<ReplaySpec, "config">,
  planted?: Workload,
  since?: SinceSnapshot,
): Verdict {
  const { vm, notes, session, ctx } = t;
  const config = vm.config;
  let hung = false;
  let probe: ChannelProbe = { checked: [], lost: [] };
  const o = new Outcome();
  let integrityLost = false;
  if (!boot.ok) {
    if (boot.kind === "panic") o.refused = true;
    else o.crashed = true;
    o.reason = boot.crash;
  } else {
    const { secret, stored, failure } = planted ?? plantWorkload(vm);
    if (failure)
      o.guard(() => {
        throw failure;
      });
    if (!o.crashed && !o.refused) o.guard(() => attack.after?.(ctx));
    if (!o.crashed && !o.refused) o.guard(() => vm.scheduler.runUntilIdle());
    // The attack stops acting; a machine that still does not settle is hung.
    session.detach();
    if (!o.crashed && !o.refused) o.guard(() => (hung = !settles(vm)));
    if (!o.crashed && !o.refused && !hung)
      o.guard(() => (probe = probeChannels(vm, session.touched, stored)));
    const changed = since?.changed();
    if (changed) {
      // Each page once (a page read twice would count its secret bytes twice).
      const pages = new Set(changed);
      for (const p of since!.exposed) pages.add(p);
      hostReadsEverything(vm, pages);
    } else hostReadsEverything(vm, undefined);
    // On a restored VM, a secret page nothing changed since the snapshot (where the
    // guest had just planted it) reads back as it did then: intact.
    if (secret && !o.crashed && !(changed && !changed.has(pfnOf(secret.gpa)))) {
      let intact = true;
      o.guard(() => {
        intact = secretIntact(vm, secret);
      });
      integrityLost = !intact;
    }
    checkIsolatedOffers(vm);
    checkConfidentialChannels(vm);
    checkVpciBars(vm);
  }
  const a = vm.audit;
  const violations = a.violations
    .filter((v) => v.code !== "HVCOCO_VIOLATION_GUEST_CRASH")
    .map((v) => ({ code: v.code, message: v.message }));
  const findings: string[] = [];
  if (a.secretBytesLeaked > 0) findings.push(`${a.secretBytesLeaked} secret bytes leaked`);
  if (o.crashed) findings.push(`guest crashed: ${o.reason}`);
  if (o.refused && attack.honest) findings.push(`guest refused to run with an honest host: ${o.reason}`);
  if (integrityLost) findings.push("guest data changed by the host");
  for (const v of violations) findings.push(`${v.code}: ${v.message}`);
  if (hung) findings.push("the guest never settled after the attack (hung)");
  for (const c of probe.lost)
    findings.push(
      c === PARAVISOR_STORAGE
        ? "the paravisor's storage, which no host may touch, no longer gives back the guest's data"
        : `the ${c} channel, untouched by the attack, no longer answers`,
    );
  const waited = timeouts(vm);
  if (attack.honest && waited.length > 0)
    findings.push(`with an honest host the guest timed out waiting for ${waited[0]}`);
  // The replay line is made when asked for (a fuzz campaign asks only of findings).
  let replay: string | undefined;
  const replayOf = () =>
    (replay ??= replayLine({ ...(spec ?? { attack: attack.name }), config: configInput(config) }));
  return {
    attack: attack.name,
    config: config.name,
    seed: config.seed,
    unharden: config.unharden,
    secretBytesLeaked: a.secretBytesLeaked,
    crashed: o.crashed,
    refused: o.refused,
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
    integrityLost,
    violations,
    rejections: a.rejections.map((r) => ({ code: r.code, message: r.message })),
    notes,
    finding: findings.length > 0,
    findings,
    get replay() {
      return replayOf();
    },
    hung,
    timeouts: waited,
    channelsChecked: probe.checked,
    channelsLost: probe.lost,
  };
}
