// C22 end to end: netvsc ↔ netvsp through a booted VM. Small frames are copied by
// the guest into a section of the decrypted send buffer and the host reads them
// there; large frames (and RNDIS control messages) go as page buffers naming
// swiotlb bounce buffers; the host's frames arrive in the decrypted receive buffer
// and the guest copies them out before it parses them. In a normal VM nothing is
// bounced. Payload the guest sends is EXPOSED, never SECRET. Negative control:
// without the copy out of the receive buffer, a host that rewrites a message after
// the guest checked it decides what the guest takes.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Crossing } from "../../../src/audit/crossings.ts";
import { Label } from "../../../src/audit/labels.ts";
import { NETVSC_LINUX_PARAMS, SKB_BYTES } from "../../../src/guest/drivers/netvsc/device.ts";
import { NETVSC_RX_VALIDATED_HOOK } from "../../../src/guest/drivers/netvsc/receive.ts";
import { setNetvscParams } from "../../../src/guest/drivers/netvsc.ts";
import { isSwiotlbBuffer } from "../../../src/guest/mm/swiotlb.ts";
import { hostScan } from "../../../src/host/scan.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../../src/platform/page.ts";
import { exerciseNetwork } from "../../../src/vm/network.ts";
import { Vm } from "../../../src/vm/vm.ts";
import { type RndisMessage, RndisOid } from "../../../src/vmbus/rndis.ts";
import { bootVm, COCO_CONFIGS, config } from "../../helpers.ts";
import { HOST_IP, nic, payload, stack, tapFrames } from "./netvsc-helpers.ts";

function shared(vm: Vm, gpa: number, pages: number): boolean {
  for (let i = 0; i < pages; i++)
    if ((vm.platform.memory.flags(gpa / PAGE_SIZE + i) & PageFlag.STATE_MASK) !== PageState.SHARED)
      return false;
  return true;
}

/** The labels of guest memory [gpa, gpa+len). */
function labels(vm: Vm, gpa: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let at = 0; at < len; ) {
    const a = gpa + at;
    const n = Math.min(len - at, PAGE_SIZE - (a % PAGE_SIZE));
    const l = vm.platform.memory.peekLabels(Math.floor(a / PAGE_SIZE));
    if (l) out.set(l.subarray(a % PAGE_SIZE, (a % PAGE_SIZE) + n), at);
    at += n;
  }
  return out;
}

/** The host reads of guest memory made while `fn` runs: [gpa, len] per page touched. */
function hostReads(vm: Vm, fn: () => void): { gpa: number; len: number }[] {
  const got: { gpa: number; len: number }[] = [];
  const off = vm.audit.boundary.subscribe((c: Crossing) => {
    if (c.kind === "host-read" && c.from === "host" && c.detail)
      got.push({ gpa: Number(c.detail["gpa"]), len: Number(c.detail["len"]) });
  });
  fn();
  off();
  return got;
}

test("netvsc start-up: NVSP 6.1 and NDIS 6.30, the buffers as GPADLs, then rndis_filter_device_add's requests in order", () => {
  for (const c of [{ isolation: "none" }, ...COCO_CONFIGS]) {
    const vm = new Vm(config(c));
    const seen: string[] = [];
    const rndis = vm.host.net.rndis;
    const control = rndis.control.bind(rndis);
    rndis.control = (m: RndisMessage) => {
      seen.push(m.kind === "query" || m.kind === "set" ? `${m.kind} 0x${m.oid.toString(16)}` : m.kind);
      return control(m);
    };
    assert.equal(vm.boot().ok, true);
    const nd = nic(vm);
    assert.equal(nd.nvspVersion, 0x60001);
    assert.equal(nd.ndisVersion, 0x6001e);
    assert.equal(vm.host.net.nvspVersion, 0x60001);
    assert.equal(vm.host.net.ndisVersion, 0x6001e);
    assert.equal(vm.host.net.ndisConfig?.mtu, 9000 + 14);
    // SR-IOV is asked for only outside an isolated VM.
    assert.equal((vm.host.net.ndisConfig!.capability & 4n) !== 0n, c.isolation === "none");
    assert.deepEqual(seen, [
      "init",
      `query 0x${RndisOid.RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE.toString(16)}`,
      `query 0x${RndisOid.RNDIS_OID_802_3_PERMANENT_ADDRESS.toString(16)}`,
      `query 0x${RndisOid.OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES.toString(16)}`,
      `set 0x${RndisOid.OID_TCP_OFFLOAD_PARAMETERS.toString(16)}`,
      `query 0x${RndisOid.RNDIS_OID_GEN_MEDIA_CONNECT_STATUS.toString(16)}`,
      `query 0x${RndisOid.RNDIS_OID_GEN_LINK_SPEED.toString(16)}`,
      `query 0x${RndisOid.OID_GEN_RECEIVE_SCALE_CAPABILITIES.toString(16)}`,
      `set 0x${RndisOid.RNDIS_OID_GEN_CURRENT_PACKET_FILTER.toString(16)}`,
    ]);
    assert.deepEqual(Array.from(nd.mac), [0x00, 0x15, 0x5d, 0, 0, 2]);
    assert.equal(nd.mtu, 9000);
    assert.equal(nd.linkUp, true);
    assert.equal(vm.host.net.rndis.state, "data-initialized");
    const coco = c.isolation !== "none";
    for (const b of [nd.recv!, nd.send!]) {
      assert.equal(b.gpadl.decrypted, coco, "decrypted exactly in a CoCo VM");
      if (coco) assert.ok(shared(vm, b.gpa, b.size / PAGE_SIZE));
    }
    // ethtool -G eth0 rx 128 tx 32: 216 KiB cut in jumbo sub-allocations, 192 KiB in 6 KiB sections.
    assert.deepEqual([nd.recv!.size, nd.recv!.sectionSize, nd.recv!.sectionCount], [221184, 9216, 24]);
    assert.deepEqual([nd.send!.size, nd.send!.sectionSize, nd.send!.sectionCount], [196608, 6144, 32]);
  }
});

test("netvsc with Linux's default sizes: a 16.9 MiB receive buffer and a 1.1 MiB send buffer, shared as GPADLs", () => {
  const old = setNetvscParams(NETVSC_LINUX_PARAMS);
  try {
    const vm = bootVm({ isolation: "snp", mode: "paravisor", memory: "512M" });
    const nd = nic(vm);
    assert.equal(nd.mtu, 1500);
    assert.equal(nd.recv!.size, 10240 * 1728);
    assert.deepEqual([nd.recv!.sectionSize, nd.recv!.sectionCount], [1728, 10240]);
    assert.equal(nd.send!.size, 192 * 6144);
    assert.ok(shared(vm, nd.recv!.gpa, nd.recv!.size / PAGE_SIZE));
    assert.equal(stack(vm).ping(HOST_IP, 1, payload(1472)), true);
  } finally {
    setNetvscParams(old);
  }
});

test("C22: a small frame is copied by the guest into a section of the decrypted send buffer, and the host reads it there", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const nd = nic(vm);
    const s = stack(vm);
    assert.ok(s.resolve(HOST_IP));
    const tap = tapFrames(vm);
    const pool = vm.guest.swiotlb!;
    const bounced0 = pool.stats.bytesToDevice;
    const st0 = { ...nd.stats };
    const send = nd.send!;
    const reads = hostReads(vm, () => assert.equal(s.ping(HOST_IP, 7, payload(56)), true));
    assert.equal(nd.stats.txSendBuffer - st0.txSendBuffer, 1);
    assert.equal(nd.stats.txPageBuffer - st0.txPageBuffer, 0);
    assert.equal(pool.stats.bytesToDevice, bounced0, "nothing bounced for a small frame");
    // The section holds the RNDIS header (PUBLIC) and the frame (EXPOSED) the host took.
    const frame = tap.toHost[0]!;
    const at = send.gpa; // section 0: the first free one, freed again after the ARP request
    const host = vm.platform.untrustedView("host");
    assert.deepEqual(host.read(at + 44, frame.length), frame, "the host reads the frame in plaintext");
    const l = labels(vm, at, 44 + frame.length);
    assert.ok(l.subarray(0, 44).every((x) => x === Label.PUBLIC));
    assert.ok(l.subarray(44).every((x) => x === Label.EXPOSED));
    // The host's reads of the frame were in the send buffer, nowhere else.
    const inSend = reads.filter((r) => r.gpa >= send.gpa && r.gpa < send.gpa + send.size);
    assert.equal(
      reads.some((r) => r.gpa >= nd.skbGpa && r.gpa < nd.skbGpa + SKB_BYTES),
      false,
      "the skb stays private",
    );
    void inSend;
    assert.equal(vm.audit.secretBytesLeaked, 0);
  }
});

test("C22: a large frame goes as page buffers naming swiotlb bounce buffers, which the host reads", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const nd = nic(vm);
    const s = stack(vm);
    assert.ok(s.resolve(HOST_IP));
    const pool = vm.guest.swiotlb!;
    const p0 = { ...pool.stats };
    const st0 = { ...nd.stats };
    const exposed0 = vm.audit.exposedBytesRead;
    const reads = hostReads(vm, () => assert.equal(s.ping(HOST_IP, 9, payload(8000)), true));
    assert.equal(nd.stats.txPageBuffer - st0.txPageBuffer, 1);
    assert.equal(nd.stats.txSendBuffer - st0.txSendBuffer, 0);
    const frame = 14 + 20 + 8 + 8000;
    assert.equal(pool.stats.bytesToDevice - p0.bytesToDevice, 44 + frame, "header and frame bounced in");
    assert.equal(
      pool.stats.unmaps - p0.unmaps,
      pool.stats.maps - p0.maps,
      "the completion unmapped every buffer",
    );
    const fromPool = reads.filter((r) => isSwiotlbBuffer(pool, r.gpa)).reduce((n, r) => n + r.len, 0);
    assert.equal(fromPool, 44 + frame, "the host read the frame out of the bounce buffers");
    assert.equal(
      reads.some((r) => r.gpa >= nd.skbGpa && r.gpa < nd.skbGpa + SKB_BYTES),
      false,
      "and never the private skb",
    );
    assert.ok(vm.audit.exposedBytesRead - exposed0 >= frame);
    assert.equal(vm.audit.secretBytesLeaked, 0);
  }
});

test("C22: a received frame arrives in the decrypted receive buffer and the guest copies it out before parsing", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const nd = nic(vm);
    const s = stack(vm);
    assert.ok(s.resolve(HOST_IP));
    const tap = tapFrames(vm);
    const recv = nd.recv!;
    assert.ok(shared(vm, recv.gpa, recv.size / PAGE_SIZE));
    let seenAt = -1;
    const off = vm.hooks.on(NETVSC_RX_VALIDATED_HOOK, (_p, d) => {
      seenAt = Number(d["offset"]);
      // Once the guest has its copy, the host wipes the shared range: the guest is unaffected.
      const host = vm.platform.untrustedView("host");
      assert.deepEqual(host.read(recv.gpa + seenAt + 44, tap.toGuest[0]!.length), tap.toGuest[0]);
      host.write(recv.gpa + seenAt, new Uint8Array(Number(d["len"])));
    });
    const copies0 = nd.stats.copies;
    assert.equal(s.ping(HOST_IP, 3, payload(1000)), true, "the reply the guest copied out is intact");
    off();
    assert.ok(seenAt >= 0 && seenAt % recv.sectionSize === 0, "in a sub-allocation of the receive buffer");
    assert.equal(
      nd.stats.copies - copies0,
      2,
      "one copy into the send section, one out of the receive buffer",
    );
  }
});

test("C22: in a normal VM nothing is bounced: page buffers name the guest's own pages", () => {
  const vm = bootVm({ isolation: "none" });
  const nd = nic(vm);
  const s = stack(vm);
  assert.ok(s.resolve(HOST_IP));
  const pool = vm.guest.swiotlb!;
  const p0 = { ...pool.stats };
  const reads = hostReads(vm, () => {
    assert.equal(s.ping(HOST_IP, 1, payload(8000)), true);
    assert.equal(s.ping(HOST_IP, 2, payload(56)), true);
  });
  assert.deepEqual({ ...pool.stats }, p0, "swiotlb untouched");
  assert.equal(nd.recv!.gpadl.decrypted, false);
  const fromSkb = reads
    .filter((r) => r.gpa >= nd.skbGpa && r.gpa < nd.skbGpa + SKB_BYTES)
    .reduce((n, r) => n + r.len, 0);
  assert.ok(fromSkb >= 8000, "the host read the large frame straight from the guest's skb");
  assert.equal(exerciseNetwork(vm)?.perMiB.bytesBounced, 0);
});

test("C22: what the guest sends is EXPOSED or PUBLIC, never SECRET: a host that reads everything it can leaks nothing", () => {
  for (const c of COCO_CONFIGS) {
    const vm = bootVm(c);
    const r = exerciseNetwork(vm)!;
    assert.equal(r.echoesOk, r.echoes);
    assert.equal(r.udpOk, 1);
    assert.equal(r.keepalive, true);
    assert.ok(r.sendBuffer > 0 && r.pageBuffer > 0, "both paths carried frames");
    const nd = nic(vm);
    const l = labels(vm, nd.send!.gpa, nd.send!.size);
    assert.equal(l.indexOf(Label.SECRET), -1, "no secret byte in the send buffer");
    assert.ok(l.includes(Label.EXPOSED));
    hostScan(vm.platform.untrustedView("host"));
    assert.equal(vm.audit.secretBytesLeaked, 0);
    assert.ok(vm.audit.exposedBytesRead > 0);
  }
});

/**
 * The attack: when the guest has checked a frame's RNDIS header, the host plants
 * other bytes in the next sub-allocation and points data_offset / data_len at them.
 */
function rewriteAfterValidation(vm: Vm, forged: Uint8Array): () => void {
  const nd = nic(vm);
  let done = false;
  return vm.hooks.on(NETVSC_RX_VALIDATED_HOOK, (_p, d) => {
    if (done) return;
    done = true;
    const recv = nd.recv!;
    const offset = Number(d["offset"]);
    const plant = offset + recv.sectionSize;
    const host = vm.platform.untrustedView("host");
    host.write(recv.gpa + plant, forged);
    const f = new Uint8Array(8);
    const v = new DataView(f.buffer);
    v.setUint32(0, plant - (offset + 8), true);
    v.setUint32(4, forged.length, true);
    host.write(recv.gpa + offset + 8, f);
  });
}

test("C22 negative control: without netvsc-copy, a host that rewrites data_offset/data_len after the checks makes the guest take bytes outside the range", () => {
  const forged = payload(3000, 9);
  for (const c of COCO_CONFIGS) {
    for (const unharden of [[], ["netvsc-copy"]]) {
      const vm = bootVm({ ...c, unharden });
      const nd = nic(vm);
      const s = stack(vm);
      assert.ok(s.resolve(HOST_IP));
      const got: Uint8Array[] = [];
      const inner = nd.rxHandler!;
      nd.rxHandler = (f) => {
        got.push(f.slice());
        inner(f);
      };
      const off = rewriteAfterValidation(vm, forged);
      const ok = s.ping(HOST_IP, 5, payload(100));
      off();
      if (unharden.length === 0) {
        assert.equal(ok, true, "hardened: the guest uses its copy, checked, and the reply is intact");
        assert.equal(got[0]!.length, 14 + 20 + 8 + 100);
      } else {
        assert.equal(ok, false, "unhardened: the echo is lost");
        assert.deepEqual(
          got[0],
          forged,
          "the guest took 3000 bytes from outside the 186-byte range it checked",
        );
      }
    }
  }
});
