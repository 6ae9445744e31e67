// The host's VMBus server as a state machine: driven message by message through a
// recording VmbusServerIo, with no guest and no scheduler. What it answers, and
// when it refuses, is exactly what a guest (or a test, or an adversary wrapping
// the io) sees.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Auditor } from "../../src/audit/auditor.ts";
import { defaultDevices, defaultIcs } from "../../src/host/vmbus/devices.ts";
import type { VmbusServerIo } from "../../src/host/vmbus/io.ts";
import { STATUS_UNSUCCESSFUL, VmbusServer, type VmbusServerOptions } from "../../src/host/vmbus/server.ts";
import type { HostDevice, Vsp } from "../../src/host/vmbus/vsp.ts";
import { Platform } from "../../src/platform/platform.ts";
import { VmbusVersion as V } from "../../src/vmbus/constants.ts";
import { isFault } from "../../src/vmbus/errors.ts";
import {
  type ChannelMessage,
  decodeChannelMessage,
  encodeChannelMessage,
  gpadlMessages,
} from "../../src/vmbus/messages.ts";
import { initRing } from "../../src/vmbus/ring.ts";
import { config } from "../helpers.ts";

class RecordingIo implements VmbusServerIo {
  readonly posts: { vp: number; m: ChannelMessage; size: number }[] = [];
  readonly signals: { vp: number; relid: number }[] = [];
  readonly tasks: { what: string; fn: () => void }[] = [];
  readonly memory = new Platform(config({ isolation: "none" }), new Auditor(), 1).untrustedView("host");
  postToGuest(vp: number, payload: Uint8Array): void {
    const m = decodeChannelMessage(payload);
    if (isFault(m)) throw new Error(m.detail);
    this.posts.push({ vp, m, size: payload.length });
  }
  signalGuest(vp: number, relid: number): void {
    this.signals.push({ vp, relid });
  }
  schedule(what: string, fn: () => void): void {
    this.tasks.push({ what, fn });
  }
  take(): ChannelMessage[] {
    return this.posts.splice(0).map((p) => p.m);
  }
}

function server(opts: VmbusServerOptions = {}, devices?: HostDevice[]) {
  const io = new RecordingIo();
  const s = new VmbusServer(io, devices ?? defaultDevices(defaultIcs()), opts);
  const send = (m: ChannelMessage) => s.onMessage(0, encodeChannelMessage(m));
  return { io, s, send };
}

const contact = (version: number): ChannelMessage => ({
  kind: "initiate-contact",
  versionRequested: version,
  targetVcpu: 1,
  interruptPage: 0n,
  msgSint: 2,
  msgVtl: 0,
  featureFlags: 0,
  monitorPage1: 0x1000n,
  monitorPage2: 0x2000n,
});

test("server: version negotiation answers each INITIATE_CONTACT, on the VP the guest named", () => {
  const { io, s, send } = server({ versions: [V.VERSION_WIN10_V5_3, V.VERSION_WIN10_V6_0] });
  send({ kind: "request-offers" });
  assert.equal(io.posts.length, 0, "nothing before a version is agreed");
  assert.match(s.errors[0]!, /before a version was negotiated/);
  send(contact(V.VERSION_WIN10_V5_2));
  send(contact(V.VERSION_WIN10_V5_3));
  send(contact(V.VERSION_WIN10_V6_0));
  assert.deepEqual(
    io.posts.map((p) => [p.vp, p.size]),
    [
      [1, 16],
      [1, 16],
      [1, 20],
    ],
    "VersionResponse2 (20 bytes) for 6.0",
  );
  assert.deepEqual(
    io.take().map((m) => (m.kind === "version-response" ? [m.versionSupported, m.msgConnId] : [])),
    [
      [0, 0],
      [1, 1],
      [1, 1],
    ],
  );
  assert.equal(s.version, V.VERSION_WIN10_V6_0);
  assert.deepEqual(s.monitorPages, [0x1000n, 0x2000n]);
  assert.equal(s.acceptsConnection(4), true);
  assert.equal(new VmbusServer(io, [], { messageConnectionIds: [1] }).acceptsConnection(4), false);
});

test("server: REQUESTOFFERS offers every device in order, then ALLOFFERS_DELIVERED", () => {
  const { io, send } = server();
  send(contact(V.VERSION_WIN10_V6_0));
  io.take();
  send({ kind: "request-offers" });
  const ms = io.take();
  assert.equal(ms.length, 14);
  assert.equal(ms.at(-1)!.kind, "all-offers-delivered");
  ms.slice(0, 13).forEach((m, i) => {
    assert.equal(m.kind, "offer");
    if (m.kind !== "offer") return;
    assert.equal(m.childRelid, i + 1);
    assert.equal(m.connectionId, 0x2000 | (i + 1));
    assert.equal(m.monitorAllocated, 0);
  });
});

/** Connect, then establish a GPADL over `pages` contiguous pages at pfn 0x1000 for relid 1. */
function withGpadl(pages: number, handle = 0xe1e10) {
  const t = server();
  t.send(contact(V.VERSION_WIN10_V6_0));
  const pfns = Array.from({ length: pages }, (_, i) => 0x1000 + i);
  const msgs = gpadlMessages(1, handle, pages * 4096, pfns);
  t.io.take();
  return { ...t, msgs, pfns };
}

test("server: a GPADL of 40 pages is created once its body brings the last 14 PFNs", () => {
  const { io, send, msgs } = withGpadl(40);
  assert.deepEqual(
    msgs.map((m) => m.kind),
    ["gpadl-header", "gpadl-body"],
  );
  send(msgs[0]!);
  assert.equal(io.posts.length, 0, "not yet: 26 of 40 PFNs");
  send(msgs[1]!);
  assert.deepEqual(io.take(), [{ kind: "gpadl-created", childRelid: 1, gpadl: 0xe1e10, creationStatus: 0 }]);
});

test("server: a GPADL whose PFNs disagree with its byte count, or leave the partition, is refused", () => {
  const a = withGpadl(2);
  const h = a.msgs[0]!;
  if (h.kind !== "gpadl-header") throw new Error();
  a.send({ ...h, byteCount: 3 * 4096 });
  const b = withGpadl(2);
  b.send({ ...h, pfns: [0x1000, 0xfffffff] });
  for (const t of [a, b]) {
    const [m] = t.io.take();
    assert.equal(m?.kind, "gpadl-created");
    if (m?.kind === "gpadl-created") assert.equal(m.creationStatus, STATUS_UNSUCCESSFUL);
  }
});

test("server: OPENCHANNEL needs the channel's own ring GPADL; the VSP is told later, as a task", () => {
  const opened: number[] = [];
  const vsp: Vsp = { onOpen: (ch) => opened.push(ch.relid), onPacket: () => {} };
  const dev = "00000000-0000-0000-0000-000000000001";
  const t = server({}, [{ name: "dev", ifType: dev, ifInstance: dev, vsp }]);
  t.send(contact(V.VERSION_WIN10_V6_0));
  t.io.take();
  for (const m of gpadlMessages(
    1,
    0xe1e10,
    8 * 4096,
    [0, 1, 2, 3, 4, 5, 6, 7].map((i) => 0x1000 + i),
  ))
    t.send(m);
  const open = (gpadl: number, offset: number): ChannelMessage => ({
    kind: "open",
    childRelid: 1,
    openId: 1,
    ringbufferGpadlHandle: gpadl,
    targetVp: 1,
    downstreamRingbufferPageOffset: offset,
    userData: new Uint8Array(0),
  });
  t.send(open(0x1234, 4));
  t.send(open(0xe1e10, 7));
  // The guest initialised its rings before asking to open them.
  initRing(t.io.memory.window(0x1000 * 4096, 4 * 4096));
  initRing(t.io.memory.window(0x1004 * 4096, 4 * 4096));
  t.send(open(0xe1e10, 4));
  const results = t.io.take().filter((m) => m.kind === "open-result");
  assert.deepEqual(
    results.map((m) => (m.kind === "open-result" ? m.status : -1)),
    [STATUS_UNSUCCESSFUL, STATUS_UNSUCCESSFUL, 0],
  );
  assert.deepEqual(opened, [], "not re-entered from onMessage");
  for (const task of t.io.tasks.splice(0)) task.fn();
  assert.deepEqual(opened, [1]);
  assert.equal(t.s.channel("dev")!.open?.targetVp, 1);
});

test("server: close, teardown, rescind, RELID_RELEASED, MODIFYCHANNEL and UNLOAD", () => {
  const { io, send, s, msgs } = withGpadl(8);
  for (const m of msgs) send(m);
  initRing(io.memory.window(0x1000 * 4096, 4 * 4096));
  initRing(io.memory.window(0x1004 * 4096, 4 * 4096));
  send({
    kind: "open",
    childRelid: 1,
    openId: 1,
    ringbufferGpadlHandle: 0xe1e10,
    targetVp: 0,
    downstreamRingbufferPageOffset: 4,
    userData: new Uint8Array(0),
  });
  io.take();
  send({ kind: "modify-channel", childRelid: 1, targetVp: 1 });
  assert.deepEqual(io.take(), [{ kind: "modify-channel-response", childRelid: 1, status: 0 }]);
  assert.equal(s.channels.get(1)!.open!.targetVp, 1);
  send({ kind: "close", childRelid: 1 });
  send({ kind: "gpadl-teardown", childRelid: 1, gpadl: 0xe1e10 });
  assert.deepEqual(io.take(), [{ kind: "gpadl-torndown", gpadl: 0xe1e10 }]);
  assert.equal(s.channels.get(1)!.state, "offered");
  send({ kind: "relid-released", childRelid: 2 });
  assert.match(s.errors.at(-1)!, /not rescinded/);
  assert.equal(s.rescind(2), true);
  assert.deepEqual(io.take(), [{ kind: "rescind", childRelid: 2 }]);
  send({ kind: "relid-released", childRelid: 2 });
  assert.deepEqual(s.released, [2]);
  send({ kind: "unload" });
  assert.deepEqual(io.take(), [{ kind: "unload-response" }]);
  assert.equal(s.connected, false);
});

test("server: before 5.3 MODIFYCHANNEL is not answered", () => {
  const { io, send, s } = server();
  send(contact(V.VERSION_WIN10_V5_2));
  io.take();
  send({ kind: "modify-channel", childRelid: 1, targetVp: 1 });
  assert.deepEqual(io.take(), []);
  assert.equal(s.version, V.VERSION_WIN10_V5_2);
});
