// A VM restored from its post-boot snapshot is the VM just after boot: fuzz cases
// run on it give exactly the verdict, coverage and trace of crossings they give on a
// freshly booted VM, and a restore leaves every reachable object as the snapshot
// recorded it (so restoring twice is the same as once).
import assert from "node:assert/strict";
import { test } from "node:test";
import { caseToJson, type FuzzCase } from "../../src/adversary/fuzz/case.ts";
import {
  caseActions,
  caseAttack,
  coverageOf,
  installBootLies,
  type LieState,
  poolKey,
  runCase,
  shapesBoot,
  TargetPool,
} from "../../src/adversary/fuzz/execute.ts";
import { mutate, seedCorpus } from "../../src/adversary/fuzz/mutate.ts";
import { type BootedTarget, bootTarget, runAttack, runAttackOnBooted } from "../../src/adversary/runner.ts";
import type { Crossing } from "../../src/audit/crossings.ts";
import { FUZZ_CONFIGS } from "../../src/cli/fuzz.ts";
import { Prng } from "../../src/util/prng.ts";
import { parseConfig, type VmConfig } from "../../src/vm/config.ts";
import { restoreSnapshot, takeSnapshot, type VmSnapshot } from "../../src/vm/snapshot.ts";
import type { Vm } from "../../src/vm/vm.ts";

const MUTATIONS = 40;

interface Run {
  verdict: unknown;
  coverage: string[];
  trace: Crossing[];
  dmesg: string[];
}

const totalCrossings = (vm: Vm): number => Object.values(vm.audit.boundary.counts).reduce((a, b) => a + b, 0);

/** On a fresh VM: its crossings after boot (those numbered past `bootCrossings`). */
function fresh(c: FuzzCase, config: VmConfig, bootCrossings: number, end?: (vm: Vm) => void): Run {
  const trace: Crossing[] = [];
  let vm: Vm | undefined;
  const verdict = runAttack(caseAttack(c), config, { case: caseToJson(c) }, (v) => {
    vm = v;
    v.audit.boundary.subscribe((x) => {
      if (x.seq > bootCrossings) trace.push(structuredClone(x));
    });
  });
  end?.(vm!);
  return { verdict, coverage: [...coverageOf(vm!, verdict)].sort(), trace, dmesg: [...vm!.guest.dmesg] };
}

function restored(t: BootedTarget, c: FuzzCase): Run {
  const trace: Crossing[] = [];
  const verdict = runAttackOnBooted(t, caseAttack(c), { case: caseToJson(c) }, (v) => {
    v.audit.boundary.subscribe((x) => trace.push(structuredClone(x)));
  });
  return { verdict, coverage: [...coverageOf(t.vm, verdict)].sort(), trace, dmesg: [...t.vm.guest.dmesg] };
}

/** Every object the snapshot recorded holds what it recorded; the same objects are reachable, no more. */
function assertSameState(a: VmSnapshot, b: VmSnapshot, what: string): void {
  const same = (x: unknown, y: unknown) => Object.is(x, y);
  assert.equal(b.objects.length, a.objects.length, `${what}: reachable objects`);
  for (let i = 0; i < a.objects.length; i++) {
    const p = a.objects[i]!;
    const q = b.objects[i]!;
    assert.ok(p.o === q.o, `${what}: object ${i} (${p.o.constructor?.name}) is the same object`);
    assert.deepEqual(q.keys, p.keys, `${what}: ${p.o.constructor?.name} keys`);
    for (let k = 0; k < p.vals.length; k++)
      assert.ok(same(p.vals[k], q.vals[k]), `${what}: ${p.o.constructor?.name}.${p.keys[k]}`);
    assert.equal(q.priv?.length, p.priv?.length);
    for (let k = 0; k < (p.priv?.length ?? 0); k++)
      assert.ok(same(p.priv![k], q.priv![k]), `${what}: ${p.o.constructor?.name} private field ${k}`);
  }
  assert.equal(b.arrays.length, a.arrays.length, `${what}: arrays`);
  a.arrays.forEach((p, i) => {
    const q = b.arrays[i]!;
    assert.ok(p.o === q.o && p.vals.length === q.vals.length && p.vals.every((v, k) => same(v, q.vals[k])));
  });
  assert.deepEqual(
    b.logs.map((l) => [l.o, l.length]),
    a.logs.map((l) => [l.o, l.length]),
    `${what}: logs`,
  );
  assert.equal(b.maps.length, a.maps.length, `${what}: maps`);
  a.maps.forEach((p, i) => {
    const q = b.maps[i]!;
    assert.ok(p.o === q.o && p.entries.length === q.entries.length, `${what}: map ${i}`);
    p.entries.forEach(([k, v], j) => {
      assert.ok(same(k, q.entries[j]![0]) && same(v, q.entries[j]![1]), `${what}: map ${i} entry ${j}`);
    });
  });
  assert.equal(b.sets.length, a.sets.length, `${what}: sets`);
  a.sets.forEach((p, i) => {
    const q = b.sets[i]!;
    assert.ok(p.o === q.o && p.vals.every((v, k) => same(v, q.vals[k])), `${what}: set ${i}`);
  });
  assert.equal(b.buffers.length, a.buffers.length, `${what}: buffers`);
  a.buffers.forEach((p, i) => {
    const q = b.buffers[i]!;
    assert.ok(p.o.buffer === q.o.buffer && Buffer.compare(p.copy, q.copy) === 0, `${what}: buffer ${i}`);
  });
}

/**
 * Two VMs in the same state: their reachable graphs are isomorphic (the same walk,
 * the same scalars, the same bytes, references to corresponding objects).
 */
function assertIsomorphic(a: VmSnapshot, b: VmSnapshot, what: string): void {
  const index = (s: VmSnapshot) => {
    const m = new Map<unknown, string>();
    s.objects.forEach((r, i) => {
      m.set(r.o, `o${i}`);
    });
    s.arrays.forEach((r, i) => {
      m.set(r.o, `a${i}`);
    });
    s.maps.forEach((r, i) => {
      m.set(r.o, `m${i}`);
    });
    s.sets.forEach((r, i) => {
      m.set(r.o, `s${i}`);
    });
    return m;
  };
  const ia = index(a);
  const ib = index(b);
  const same = (x: unknown, y: unknown, where: string) => {
    if (typeof x === "function" || typeof y === "function") {
      assert.equal(typeof y, typeof x, where);
      return;
    }
    if (typeof x !== "object" || x === null || ArrayBuffer.isView(x)) {
      if (!ArrayBuffer.isView(x)) assert.ok(Object.is(x, y), `${where}: ${String(x)} vs ${String(y)}`);
      return;
    }
    const p = ia.get(x);
    assert.equal(ib.get(y), p, where);
    if (p === undefined)
      assert.ok(x === y || (x as object).constructor === (y as object)?.constructor, where);
  };
  assert.equal(b.objects.length, a.objects.length, `${what}: objects`);
  a.objects.forEach((p, i) => {
    const q = b.objects[i]!;
    const w = `${what}: ${p.o.constructor?.name}`;
    assert.deepEqual(q.keys, p.keys, w);
    p.vals.forEach((v, k) => {
      same(v, q.vals[k], `${w}.${p.keys[k]}`);
    });
    (p.priv ?? []).forEach((v, k) => {
      same(v, q.priv![k], `${w} private field ${k}`);
    });
  });
  assert.equal(b.arrays.length, a.arrays.length, `${what}: arrays`);
  a.arrays.forEach((p, i) => {
    assert.equal(b.arrays[i]!.vals.length, p.vals.length, `${what}: array ${i}`);
    p.vals.forEach((v, k) => {
      same(v, b.arrays[i]!.vals[k], `${what}: array ${i}[${k}]`);
    });
  });
  assert.deepEqual(
    b.logs.map((l) => l.o.slice(0, l.length)),
    a.logs.map((l) => l.o.slice(0, l.length)),
    `${what}: logs`,
  );
  a.maps.forEach((p, i) => {
    assert.equal(b.maps[i]!.entries.length, p.entries.length, `${what}: map ${i}`);
    p.entries.forEach(([k, v], j) => {
      same(k, b.maps[i]!.entries[j]![0], `${what}: map ${i} key`);
      same(v, b.maps[i]!.entries[j]![1], `${what}: map ${i} value`);
    });
  });
  a.sets.forEach((p, i) => {
    p.vals.forEach((v, k) => {
      same(v, b.sets[i]!.vals[k], `${what}: set ${i}`);
    });
  });
  assert.equal(b.buffers.length, a.buffers.length, `${what}: buffers`);
  a.buffers.forEach((p, i) => {
    assert.ok(Buffer.compare(p.copy, b.buffers[i]!.copy) === 0, `${what}: buffer ${i} bytes`);
  });
}

for (const input of FUZZ_CONFIGS) {
  test(`fuzz cases on a restored ${JSON.stringify(input)} VM match a freshly booted one`, () => {
    const r = parseConfig({ ...input, seed: 7 });
    if (!r.ok) throw new Error(r.error.message);
    const config = r.config;
    const t = bootTarget(config);
    assert.ok(t.boot.ok, "the honest boot succeeds");
    const bootCrossings = totalCrossings(t.vm);
    // The root the runner snapshots: the VM and the attack context it keeps.
    const root = { vm: t.vm, notes: t.notes, session: t.session, ctx: t.ctx };
    const base = takeSnapshot(root);

    const rng = Prng.fromSeed(0x5eed ^ FUZZ_CONFIGS.indexOf(input));
    const corpus = seedCorpus(rng, { ...input, seed: 7 });
    const cases = [...corpus];
    for (let i = 0; i < MUTATIONS; i++) {
      const m = mutate(rng, cases[rng.int(0, cases.length - 1)]!, cases[rng.int(0, cases.length - 1)]);
      cases.push(m);
    }
    let compared = 0;
    let acted = 0;
    for (const c of cases) {
      if (shapesBoot(c)) continue;
      let after: VmSnapshot | undefined;
      const a = fresh(c, config, bootCrossings, (vm) => {
        after = takeSnapshot(vm);
      });
      const b = restored(t, c);
      // Not only what the verdict reports: the whole reachable state after the case.
      assertIsomorphic(
        after!,
        takeSnapshot(t.vm),
        `state after ${JSON.stringify(caseToJson(c)).slice(0, 120)}`,
      );
      const label = JSON.stringify(caseToJson(c)).slice(0, 200);
      assert.deepEqual(b.verdict, a.verdict, `verdict: ${label}`);
      assert.deepEqual(b.coverage, a.coverage, `coverage: ${label}`);
      assert.deepEqual(b.dmesg, a.dmesg, `dmesg: ${label}`);
      assert.deepEqual(b.trace, a.trace, `crossings: ${label}`);
      compared++;
      if (a.trace.length > 0) acted++;
      // After a case the VM is elsewhere; a restore brings back every recorded object,
      // and a second restore in a row changes nothing.
      restoreSnapshot(t.snapshot);
      assertSameState(base, takeSnapshot(root), "after one restore");
      restoreSnapshot(t.snapshot);
      assertSameState(base, takeSnapshot(root), "after two restores");
    }
    assert.ok(compared >= 20, `compared ${compared} cases`);
    assert.ok(acted >= compared / 2, "the cases made the machine cross its boundaries after boot");
    // Order does not matter: the first case again, after all the others, still matches.
    const first = cases.find((c) => !shapesBoot(c))!;
    assert.deepEqual(restored(t, first), fresh(first, config, bootCrossings));
  });
}

test("cases that lie at boot run on a pooled VM booted under their lies exactly as on a fresh one", () => {
  const rng = Prng.fromSeed(0x11e5);
  // Small, so that targets are evicted and booted again on the way.
  const pool = new TargetPool(3);
  let lied = 0;
  let reused = 0;
  for (const input of FUZZ_CONFIGS) {
    const cases = seedCorpus(rng, { ...input, seed: 7 });
    for (let i = 0; i < 30 && lied < 6 * (FUZZ_CONFIGS.indexOf(input) + 1); i++) {
      const c = mutate(rng, cases[rng.int(0, cases.length - 1)]!, undefined, true);
      cases.push(c);
      if (!shapesBoot(c)) continue;
      lied++;
      // A child that keeps the lies runs on the same pooled VM, restored.
      const child = mutate(rng, c, cases[rng.int(0, cases.length - 1)], false);
      assert.equal(poolKey(child), poolKey(c), "a child without new lies keeps its parent's");
      for (const x of [c, child, c]) {
        const before = pool.has(poolKey(x));
        const a = runCase(x);
        const b = runCase(x, pool);
        if (before) reused++;
        const label = JSON.stringify(caseToJson(x)).slice(0, 200);
        assert.deepEqual(b.verdict, a.verdict, `verdict: ${label}`);
        assert.deepEqual([...b.coverage].sort(), [...a.coverage].sort(), `coverage: ${label}`);
      }
    }
  }
  assert.ok(lied >= 12, `compared ${lied} cases with boot-time lies`);
  assert.ok(reused >= lied, "pooled VMs booted under lies were restored and reused");
});

test("a pooled VM keeps the count of its hypercall lies from boot: every case sees the same calls fail", () => {
  const config = { ...FUZZ_CONFIGS[3]!, seed: 7 };
  const r = parseConfig(config);
  if (!r.ok) throw new Error(r.error.message);
  // How many HvPostMessage calls boot and the workload make (a lie that never acts counts them).
  let state: LieState | undefined;
  const counting: FuzzCase = {
    config,
    actions: [{ kind: "hypercall", code: 0x5c, status: 2, nth: 1 << 20 }],
  };
  bootTarget(r.config, undefined, (ctx) => {
    state = installBootLies(ctx, counting);
    return state;
  });
  const n = state!.calls.get(0x5c) ?? 0;
  assert.ok(n > 0, "boot posts messages");
  // The host rescinds relid 1; of the messages the guest posts in answer, the first
  // goes through and every later one fails.
  const rescind = new Uint8Array(12);
  rescind[0] = 2;
  rescind[8] = 1;
  const c: FuzzCase = {
    config,
    actions: [
      { kind: "hypercall", code: 0x5c, status: 2, nth: n + 1 },
      { kind: "message", vp: 0, payload: rescind },
    ],
  };
  const t = bootTarget(r.config, undefined, (ctx) => installBootLies(ctx, c));
  const a = fresh(c, r.config, totalCrossings(t.vm));
  const posts = a.trace
    .filter((x) => x.kind === "hypercall" && x.what === "HVCALL_POST_MESSAGE")
    .map((x) => x.detail?.["status"]);
  assert.deepEqual(posts.slice(0, 2), [0, 2], "after boot, the first post went through and the next failed");
  for (let i = 0; i < 3; i++) {
    const trace: Crossing[] = [];
    const verdict = runAttackOnBooted(t, caseActions(c), { case: caseToJson(c) }, (v) => {
      v.audit.boundary.subscribe((x) => trace.push(structuredClone(x)));
    });
    assert.deepEqual(verdict, a.verdict, `run ${i}: verdict`);
    assert.deepEqual(trace, a.trace, `run ${i}: crossings`);
  }
});
