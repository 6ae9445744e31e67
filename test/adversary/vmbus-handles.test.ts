// The attack API's VMBus and SynIC handles, and the verdict's new parts: hangs vs
// timeouts, and the integrity of the channels an attack left alone.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Attack, AttackContext } from "../../src/adversary/api.ts";
import { findAttack } from "../../src/adversary/library/index.ts";
import { heartbeatRequest, rawPacket } from "../../src/adversary/library/util.ts";
import { attackContext, runAttack } from "../../src/adversary/runner.ts";
import { GuestKernel } from "../../src/guest/kernel.ts";
import { VmbusChannel } from "../../src/guest/vmbus/channel.ts";
import { VmbusConnection } from "../../src/guest/vmbus/connection.ts";
import { CpuMemory } from "../../src/platform/cpu-memory.ts";
import { GuestMemory } from "../../src/platform/memory.ts";
import { PAGE_SIZE } from "../../src/platform/page.ts";
import { Vm } from "../../src/vm/vm.ts";
import { config } from "../helpers.ts";

const SNP_PV = { isolation: "snp", mode: "paravisor" } as const;

function attack(a: Partial<Attack> & Pick<Attack, "name">): Attack {
  return { description: "a test attack", klass: "test", defeatedBy: [], ...a };
}

test("nothing in the attack context reaches a guest object or guest memory's plaintext store", () => {
  const vm = new Vm(config(SNP_PV));
  const ctx = attackContext(vm, []);
  vm.boot();
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: string, depth: number): void => {
    if (v === null || typeof v !== "object" || seen.has(v) || depth > 4) return;
    seen.add(v);
    for (const bad of [Vm, GuestKernel, VmbusConnection, VmbusChannel, CpuMemory, GuestMemory])
      assert.ok(!(v instanceof bad), `${path} is a ${bad.name}`);
    for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
  };
  walk(ctx, "ctx", 0);
  // The handles' own results: channels and GPADLs are host-side views.
  walk(ctx.host.vmbus.channels(), "channels", 0);
  walk(ctx.host.vmbus.gpadls(), "gpadls", 0);
});

test("the host end of a ring: indices, raw bytes, a well-formed request the guest answers", () => {
  const vm = new Vm(config(SNP_PV));
  const ctx: AttackContext = attackContext(vm, []);
  vm.boot();
  const hb = ctx.host.vmbus.channel("heartbeat")!;
  assert.equal(hb.toGuest.dataSize, 3 * PAGE_SIZE);
  assert.equal(hb.toGuest.readIndex, hb.toGuest.writeIndex, "the guest read everything");
  const answered = hb.fromGuest.writeIndex;
  assert.equal(hb.send(heartbeatRequest(41n), { transId: 7 }), "signal");
  ctx.letGuestRun();
  assert.ok(hb.fromGuest.writeIndex !== answered, "the guest wrote its answer");
  const desc = hb.fromGuest.readData(answered, 16);
  assert.equal(new DataView(desc.buffer).getBigUint64(8, true), 7n, "echoing the transaction id");
  // Every channel the guest opened has its ring GPADL recorded, through the host's view.
  const gs = ctx.host.vmbus.gpadls();
  for (const ch of ctx.host.vmbus.channels())
    assert.ok(
      gs.some((g) => g.relid === ch.relid),
      ch.name,
    );
  assert.equal(ctx.hypervisor.synic.pages(0)?.message, vm.guest.synic[0]!.message);
});

test("interposers: the host drops what it likes; stalls end in timeouts, not hangs", () => {
  const dropped: string[] = [];
  const v = runAttack(
    attack({
      name: "drop-opens",
      setup(ctx) {
        ctx.host.vmbus.interpose({
          fromGuest(m) {
            if (m?.kind !== "open" || m.childRelid !== 1) return undefined;
            dropped.push(m.kind);
            return null;
          },
        });
      },
    }),
    config(SNP_PV),
  );
  assert.deepEqual(dropped, ["open"]);
  assert.equal(v.finding, false, v.findings.join("; "));
  assert.equal(v.hung, false);
  assert.deepEqual(v.timeouts, ["VMBus OPENCHANNEL_RESULT"]);
  assert.deepEqual(v.channelsChecked, ["timesync"], "relid 1 (heartbeat) was touched; time sync was not");
  for (const name of ["stall-version-response", "stall-ic-negotiation", "stall-gpadl-teardown"]) {
    const s = runAttack(findAttack(name)!, config({ isolation: "tdx", mode: "enlightened" }));
    assert.equal(s.finding, false, name);
    assert.ok(s.timeouts.length > 0, name);
  }
});

test("a ring page written through the host's plain view counts as touching its channel", () => {
  const v = runAttack(
    attack({
      name: "scribble-timesync",
      after(ctx) {
        const ts = ctx.host.vmbus.channel("timesync")!;
        const g = ctx.host.vmbus.gpadls().find((x) => x.relid === ts.relid)!;
        ctx.host.memory.write(g.pfns[g.pfns.length - 1]! * PAGE_SIZE, new Uint8Array(64).fill(0xee));
      },
    }),
    config(SNP_PV),
  );
  assert.deepEqual(v.channelsChecked, ["heartbeat"]);
  assert.equal(v.finding, false);
});

test("a host that keeps signalling for ever stops with the attack: the machine settles, nothing hangs", () => {
  let signals = 0;
  const v = runAttack(
    attack({
      name: "perpetual-signal",
      after(ctx) {
        const hb = ctx.host.vmbus.channel("heartbeat")!;
        // A packet the guest rejects and stays on; each time it looks, the host signals again.
        hb.inject(rawPacket(2, 1, new Uint8Array(8)), 24);
        ctx.at("vmbus:read:after-index-read", () => {
          signals++;
          hb.signal();
        });
        hb.signal();
      },
    }),
    config(SNP_PV),
  );
  assert.ok(signals > 1000, `${signals} signals`);
  assert.equal(v.hung, false, "once the attack stops, the guest goes idle");
  assert.ok(v.rejections.some((r) => r.code === "HVCOCO_ERR_PKT_LEN_SHORT"));
  assert.deepEqual(v.channelsLost, []);
});

test("an attack that breaks channels it never touched is reported: integrity of unaffected channels", () => {
  const a = findAttack("untrusted-hypercall-share-memory")!;
  const v = runAttack(a, config({ ...SNP_PV, unharden: ["untrusted-hypercall-filter"] }));
  assert.equal(v.finding, true);
  assert.deepEqual(v.channelsLost, ["heartbeat", "timesync"]);
  const ok = runAttack(a, config(SNP_PV));
  assert.equal(ok.finding, false);
  assert.deepEqual(ok.channelsChecked, ["heartbeat", "timesync"]);
});

test("TOCTOU through the reader's points: the auditor sees an unvalidated length only without copy-before-validate", () => {
  const a = findAttack("toctou-len8-after-validate")!;
  const ok = runAttack(a, config(SNP_PV));
  assert.equal(ok.finding, false);
  assert.match(ok.notes.join(), /rewrote len8/);
  const bad = runAttack(a, config({ ...SNP_PV, unharden: ["copy-before-validate"] }));
  assert.deepEqual(
    bad.violations.map((x) => x.code),
    ["HVCOCO_VIOLATION_UNVALIDATED_USE"],
  );
});

test("VMBus attacks replay exactly: the same seed gives the same verdict", () => {
  for (const name of ["msg-random-junk", "synic-slot-flood", "rescind-during-open"]) {
    const a = findAttack(name)!;
    const c = config({ isolation: "tdx", mode: "paravisor", seed: 7 });
    assert.deepEqual(runAttack(a, c), runAttack(a, c), name);
  }
});
