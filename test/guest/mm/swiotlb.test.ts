import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Label } from "../../../src/audit/labels.ts";
import type { GuestKernel } from "../../../src/guest/kernel.ts";
import {
  DmaDirection,
  dmaNeedsBounce,
  IO_TLB_MAX_MAPPING,
  IO_TLB_SEGSIZE,
  IO_TLB_SIZE,
  isSwiotlbBuffer,
  type SwiotlbMapResult,
  type SwiotlbPool,
  SwiotlbSlots,
  swiotlbMap,
  swiotlbMapWait,
  swiotlbPoolAt,
  swiotlbSize,
  swiotlbSyncForCpu,
  swiotlbSyncForDevice,
  swiotlbUnmap,
} from "../../../src/guest/mm/swiotlb.ts";
import { PAGE_SIZE } from "../../../src/platform/page.ts";
import type { Vm } from "../../../src/vm/vm.ts";
import { bootVm } from "../../helpers.ts";

const vm = bootVm({ isolation: "snp", mode: "paravisor" });
const k = vm.guest;
const pool0 = k.swiotlb!;
/** Private pages the tests map from. */
const SRC_PAGES = 80;
const src = k.alloc.alloc(SRC_PAGES)! * PAGE_SIZE;

function host(v: Vm) {
  return v.platform.untrustedView("host");
}

function mapped(r: SwiotlbMapResult): { tlbAddr: number; dmaAddr: number } {
  if (!r.ok) throw new Error(`${r.reason}: ${r.detail}`);
  return r;
}

function pattern(len: number, seed: number): Uint8Array {
  return new Uint8Array(len).map((_, i) => (i * 13 + seed * 101 + (i >> 8)) & 0xff);
}

/** A fresh pool over the first `pages` pages of the booted (decrypted) pool. */
function freshPool(pages: number): SwiotlbPool {
  return swiotlbPoolAt(pool0.gpa, pages, true);
}

test("the pool follows the CoCo size rule and is decrypted; slot state costs nothing until used", () => {
  assert.equal(swiotlbSize(128 * 1024 * 1024, true), 6 * 1024 * 1024);
  assert.equal(swiotlbSize(64 * 1024 * 1024 * 1024, true), 1024 * 1024 * 1024);
  assert.equal(swiotlbSize(128 * 1024 * 1024, false), 8 * 1024 * 1024);
  assert.equal(pool0.decrypted, true);
  assert.equal(pool0.nslabs, (pool0.pages * PAGE_SIZE) / IO_TLB_SIZE);
  assert.equal(freshPool(4).slots, undefined);
  assert.equal(dmaNeedsBounce(k), true);
  assert.equal(dmaNeedsBounce(bootVm({ isolation: "none" }).guest), false);
  assert.ok(isSwiotlbBuffer(pool0, pool0.gpa + 5) && !isSwiotlbBuffer(pool0, src));
});

test("C21: a write payload is bounced into shared memory labelled EXPOSED; the private original stays private", () => {
  const v = bootVm({ isolation: "snp", mode: "paravisor" });
  const g = v.guest;
  const p = g.swiotlb!;
  const buf = g.alloc.alloc(2)! * PAGE_SIZE;
  const data = pattern(6000, 1);
  g.hw.mem.write(buf + 100, data); // guest data: SECRET by default
  const exposed0 = v.audit.exposedBytesRead;
  // Boot already used the pool (storvsc's SCSI scan): count from here.
  const s0 = { ...p.stats };
  const m = mapped(swiotlbMap(g, p, buf + 100, data.length, DmaDirection.DMA_TO_DEVICE));
  assert.ok(isSwiotlbBuffer(p, m.tlbAddr));
  assert.equal(
    m.dmaAddr,
    m.tlbAddr + g.info!.sharedGpaBoundary,
    "the device addresses it through the vTOM alias",
  );
  const seen = host(v).read(m.dmaAddr, data.length);
  assert.deepEqual(seen, data);
  assert.equal(v.audit.exposedBytesRead - exposed0, data.length);
  assert.equal(v.audit.secretBytesLeaked, 0);
  // The original, in private memory: the host gets ciphertext, and no leak.
  assert.notDeepEqual(host(v).read(buf + 100, data.length), data);
  assert.equal(v.audit.secretBytesLeaked, 0);
  assert.equal(swiotlbUnmap(g, p, m.tlbAddr, data.length, DmaDirection.DMA_TO_DEVICE), "ok");
  assert.deepEqual(
    {
      maps: p.stats.maps - s0.maps,
      unmaps: p.stats.unmaps - s0.unmaps,
      copies: p.stats.copies - s0.copies,
      to: p.stats.bytesToDevice - s0.bytesToDevice,
      from: p.stats.bytesFromDevice - s0.bytesFromDevice,
    },
    { maps: 1, unmaps: 1, copies: 1, to: 6000, from: 0 },
  );
});

test("C21 negative control: without the bounce the device cannot reach a private buffer", () => {
  const v = bootVm({ isolation: "snp", mode: "paravisor" });
  const g = v.guest;
  const buf = g.alloc.alloc(1)! * PAGE_SIZE;
  g.hw.mem.write(buf, pattern(512, 2));
  // A device given the private page directly reads ciphertext and its writes are refused.
  assert.notDeepEqual(host(v).read(buf, 512), pattern(512, 2));
  assert.equal(host(v).write(buf, new Uint8Array(16).fill(1)), false);
  assert.deepEqual(g.hw.mem.read(buf, 512), pattern(512, 2));
});

test("a read: the device writes the bounce buffer, unmap copies it back into the private original", () => {
  const v = bootVm({ isolation: "tdx", mode: "enlightened" });
  const g = v.guest;
  const p = g.swiotlb!;
  const buf = g.alloc.alloc(3)! * PAGE_SIZE;
  const from0 = p.stats.bytesFromDevice;
  const m = mapped(swiotlbMap(g, p, buf + 512, 8192, DmaDirection.DMA_FROM_DEVICE, { label: Label.PUBLIC }));
  const disk = pattern(8192, 3);
  assert.equal(host(v).write(m.dmaAddr, disk), true);
  assert.equal(swiotlbUnmap(g, p, m.tlbAddr, 8192, DmaDirection.DMA_FROM_DEVICE), "ok");
  assert.deepEqual(g.hw.mem.read(buf + 512, 8192), disk);
  assert.equal(p.stats.bytesFromDevice - from0, 8192);
  assert.equal(v.audit.secretBytesLeaked, 0);
});

test("map copies the original in for every direction (swiotlb_tbl_map_single); unmap copies back only when the device wrote", () => {
  const v = bootVm({ isolation: "snp", mode: "enlightened" });
  const g = v.guest;
  const p = g.swiotlb!;
  const buf = g.alloc.alloc(1)! * PAGE_SIZE;
  g.hw.mem.write(buf, pattern(1024, 4)); // secret
  // FROM_DEVICE: the kernel still copies the original in, so a host that reads the
  // bounce buffer before writing it sees the old contents: a leak, unless the guest
  // says what they are.
  const m = mapped(swiotlbMap(g, p, buf, 1024, DmaDirection.DMA_FROM_DEVICE));
  assert.deepEqual(g.hw.mem.read(m.tlbAddr, 1024), pattern(1024, 4));
  host(v).read(m.dmaAddr, 1024);
  assert.equal(v.audit.secretBytesLeaked, 1024);
  swiotlbUnmap(g, p, m.tlbAddr, 1024, DmaDirection.DMA_FROM_DEVICE);
  // With the pre-6.x behaviour (copy in only towards the device) nothing is copied.
  p.syncOnMapAlways = false;
  const m2 = mapped(swiotlbMap(g, p, buf, 1024, DmaDirection.DMA_FROM_DEVICE));
  assert.notDeepEqual(g.hw.mem.read(m2.tlbAddr, 1024), pattern(1024, 4));
  // TO_DEVICE: a device that scribbles on the bounce buffer changes nothing in the original.
  const m3 = mapped(swiotlbMap(g, p, buf, 1024, DmaDirection.DMA_TO_DEVICE));
  host(v).write(m3.dmaAddr, new Uint8Array(1024));
  swiotlbUnmap(g, p, m3.tlbAddr, 1024, DmaDirection.DMA_TO_DEVICE);
  assert.deepEqual(g.hw.mem.read(buf, 1024), pattern(1024, 4));
  swiotlbUnmap(g, p, m2.tlbAddr, 1024, DmaDirection.DMA_FROM_DEVICE);
  p.syncOnMapAlways = true;
});

test("private bytes (not in guest memory) bounce both ways; sync for cpu / for device", () => {
  const p = freshPool(8);
  const out = pattern(3000, 5);
  const m = mapped(swiotlbMap(k, p, out, out.length, DmaDirection.DMA_BIDIRECTIONAL));
  assert.deepEqual(k.hw.mem.read(m.tlbAddr, out.length), out);
  host(vm).write(m.dmaAddr, pattern(3000, 6));
  assert.equal(swiotlbSyncForCpu(k, p, m.tlbAddr, 3000, DmaDirection.DMA_BIDIRECTIONAL), "ok");
  assert.deepEqual(out, pattern(3000, 6));
  out.set(pattern(3000, 7));
  assert.equal(swiotlbSyncForDevice(k, p, m.tlbAddr, 3000, DmaDirection.DMA_TO_DEVICE), "ok");
  assert.deepEqual(k.hw.mem.read(m.tlbAddr, 3000), pattern(3000, 7));
  assert.equal(swiotlbUnmap(k, p, m.tlbAddr, 3000, DmaDirection.DMA_BIDIRECTIONAL), "ok");
  assert.deepEqual(out, pattern(3000, 7));
});

test("alignment: min_align_mask keeps the page offset; a mapping of a page or more is page aligned", () => {
  const p = freshPool(64);
  const a = mapped(swiotlbMap(k, p, src + 0x234, 100, DmaDirection.DMA_TO_DEVICE, { minAlignMask: 0xfff }));
  assert.equal(a.tlbAddr % PAGE_SIZE, 0x234);
  const b = mapped(swiotlbMap(k, p, src + 0x934, 5000, DmaDirection.DMA_TO_DEVICE, { minAlignMask: 0xfff }));
  assert.equal(b.tlbAddr % PAGE_SIZE, 0x934);
  const c = mapped(swiotlbMap(k, p, src + 0x10, 4096, DmaDirection.DMA_TO_DEVICE));
  assert.equal(c.tlbAddr % PAGE_SIZE, 0);
  const d = mapped(swiotlbMap(k, p, src + 0x10, 100, DmaDirection.DMA_TO_DEVICE));
  assert.equal(d.tlbAddr % IO_TLB_SIZE, 0);
  for (const x of [a, b, c, d])
    assert.equal(swiotlbUnmap(k, p, x.tlbAddr, 1, DmaDirection.DMA_TO_DEVICE), "ok");
  assert.equal(p.slots!.used, 0);
});

test("one mapping fits one segment (256 KiB); beyond is 'too-big', a zero length 'bad-length'", () => {
  const p = freshPool(IO_TLB_SEGSIZE);
  const big = mapped(swiotlbMap(k, p, src, IO_TLB_MAX_MAPPING, DmaDirection.DMA_TO_DEVICE));
  assert.equal((big.tlbAddr - p.gpa) % (IO_TLB_SEGSIZE * IO_TLB_SIZE), 0);
  swiotlbUnmap(k, p, big.tlbAddr, IO_TLB_MAX_MAPPING, DmaDirection.DMA_TO_DEVICE);
  const r = swiotlbMap(k, p, src, IO_TLB_MAX_MAPPING + 1, DmaDirection.DMA_TO_DEVICE);
  assert.equal(r.ok ? "ok" : r.reason, "too-big");
  const r2 = swiotlbMap(k, p, src, IO_TLB_MAX_MAPPING, DmaDirection.DMA_TO_DEVICE, { minAlignMask: 0xfff });
  assert.equal(r2.ok ? "ok" : r2.reason, "too-big", "swiotlb_max_mapping_size minus the min_align rounding");
  const r3 = swiotlbMap(k, p, src, 0, DmaDirection.DMA_TO_DEVICE);
  assert.equal(r3.ok ? "ok" : r3.reason, "bad-length");
  assert.equal(p.stats.tooBig, 2);
});

test("exhaustion: a full pool refuses cleanly, other mappings are untouched, and a freed slot is reused", () => {
  const p = freshPool(4); // 8 slots
  const live: { tlbAddr: number; seed: number }[] = [];
  for (let i = 0; i < 4; i++) {
    k.hw.mem.write(src + i * 4096, pattern(4000, 10 + i));
    live.push({
      ...mapped(swiotlbMap(k, p, src + i * 4096, 4000, DmaDirection.DMA_TO_DEVICE)),
      seed: 10 + i,
    });
  }
  const before = p.slots!.list.slice();
  const r = swiotlbMap(k, p, src, 100, DmaDirection.DMA_TO_DEVICE);
  assert.equal(r.ok ? "ok" : r.reason, "full");
  assert.match(
    r.ok ? "" : r.detail,
    /swiotlb buffer is full \(sz: 100 bytes\), total 8 \(slots\), used 8 \(slots\)/,
  );
  assert.deepEqual(p.slots!.list, before, "a refused map changes no slot");
  assert.equal(p.stats.full, 1);
  for (const m of live) assert.deepEqual(k.hw.mem.read(m.tlbAddr, 4000), pattern(4000, m.seed));
  swiotlbUnmap(k, p, live[2]!.tlbAddr, 4000, DmaDirection.DMA_TO_DEVICE);
  const again = mapped(swiotlbMap(k, p, src, 3000, DmaDirection.DMA_TO_DEVICE));
  assert.equal(again.tlbAddr, live[2]!.tlbAddr);
});

test("swiotlbMapWait waits while the machine frees slots, and gives up cleanly when nothing does", () => {
  const p = freshPool(1); // 2 slots
  const a = mapped(swiotlbMap(k, p, src, 4096, DmaDirection.DMA_TO_DEVICE));
  let polls = 0;
  let completed = false;
  const hw = Object.create(k.hw) as GuestKernel["hw"];
  Object.defineProperty(hw, "waitFor", {
    value: (cond: () => boolean) => {
      for (let i = 0; i < 5; i++) {
        polls++;
        if (i === 3 && !completed) {
          completed = true; // a completion arrives and unmaps
          swiotlbUnmap(k, p, a.tlbAddr, 4096, DmaDirection.DMA_TO_DEVICE);
        }
        if (cond()) return true;
      }
      return false;
    },
  });
  const k2 = Object.create(k, { hw: { value: hw } }) as GuestKernel;
  const r = swiotlbMapWait(k2, p, src, 2000, DmaDirection.DMA_TO_DEVICE);
  assert.ok(r.ok);
  assert.equal(polls, 4);
  const fullBefore = p.stats.full;
  const r2 = swiotlbMapWait(k2, p, src, 4096, DmaDirection.DMA_TO_DEVICE);
  assert.equal(r2.ok ? "ok" : r2.reason, "full");
  assert.equal(p.stats.full, fullBefore + 1, "one refusal, however long it waited");
});

test("unmap of an address that is not a live mapping's start changes nothing", () => {
  const p = freshPool(4);
  const m = mapped(swiotlbMap(k, p, src + 0x100, 3000, DmaDirection.DMA_TO_DEVICE, { minAlignMask: 0xfff }));
  const state = () => [p.slots!.used, [...p.slots!.list]];
  const before = state();
  for (const bad of [m.tlbAddr + 8, m.tlbAddr + IO_TLB_SIZE, p.gpa - 4096, p.gpa + 4 * PAGE_SIZE, Number.NaN])
    assert.equal(swiotlbUnmap(k, p, bad, 10, DmaDirection.DMA_FROM_DEVICE), "not-mapped");
  assert.deepEqual(state(), before);
  assert.equal(swiotlbUnmap(k, p, m.tlbAddr, 3000, DmaDirection.DMA_TO_DEVICE), "ok");
  assert.equal(swiotlbUnmap(k, p, m.tlbAddr, 3000, DmaDirection.DMA_TO_DEVICE), "not-mapped");
  assert.equal(swiotlbSyncForCpu(k, p, m.tlbAddr, 3000, DmaDirection.DMA_FROM_DEVICE), "not-mapped");
});

test("a mapping never spans a segment boundary line of the device", () => {
  const s = new SwiotlbSlots(256);
  // A pool whose DMA address puts a 4 GiB line after its 3rd slot: nothing may span it.
  const poolDma = 0x100000000 - 3 * IO_TLB_SIZE;
  const i = s.search(poolDma, 0, 4 * IO_TLB_SIZE, 0, 0xffffffff);
  assert.ok(i >= 3, `slot ${i} would span the line`);
});

// ---- the model check ----

type Op =
  | { kind: "map"; len: number; off: number; align: boolean; dir: DmaDirection }
  | { kind: "unmap"; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("map" as const),
    len: fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 200_000 })),
    off: fc.nat(4095),
    align: fc.boolean(),
    dir: fc.constantFrom(
      DmaDirection.DMA_TO_DEVICE,
      DmaDirection.DMA_FROM_DEVICE,
      DmaDirection.DMA_BIDIRECTIONAL,
    ),
  }),
  fc.record({ kind: fc.constant("unmap" as const), pick: fc.nat() }),
);

test("model: random map/unmap never overlaps or leaks slots, and data round-trips", () => {
  const pages = 80; // 160 slots: a whole segment and a partial one
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), fc.nat(1000), (ops, seed0) => {
      const p = freshPool(pages);
      const fresh = new SwiotlbSlots(p.nslabs).list;
      const live: {
        tlbAddr: number;
        first: number;
        n: number;
        len: number;
        orig: number;
        dir: DmaDirection;
        seed: number;
      }[] = [];
      let seed = seed0;
      for (const op of ops) {
        if (op.kind === "map") {
          const len = Math.min(op.len, SRC_PAGES * PAGE_SIZE - op.off);
          const orig = src + op.off;
          const data = pattern(len, ++seed);
          k.hw.mem.write(orig, data);
          const r = swiotlbMap(k, p, orig, len, op.dir, op.align ? { minAlignMask: 0xfff } : {});
          if (!r.ok) {
            assert.ok(r.reason === "full" || r.reason === "too-big", r.reason);
            continue;
          }
          const offset = op.align ? orig & 0x7ff : 0;
          const first = (r.tlbAddr - offset - p.gpa) / IO_TLB_SIZE;
          const n = Math.ceil((len + offset) / IO_TLB_SIZE);
          assert.ok(Number.isInteger(first) && first >= 0 && first + n <= p.nslabs);
          assert.equal(
            Math.floor(first / IO_TLB_SEGSIZE),
            Math.floor((first + n - 1) / IO_TLB_SEGSIZE),
            "within a segment",
          );
          if (op.align) assert.equal(r.tlbAddr % PAGE_SIZE, orig % PAGE_SIZE);
          else if (len >= PAGE_SIZE) assert.equal(r.tlbAddr % PAGE_SIZE, 0);
          for (const o of live) assert.ok(first + n <= o.first || o.first + o.n <= first, "no overlap");
          // Every direction copies the original in (swiotlb_tbl_map_single).
          assert.deepEqual(k.hw.mem.read(r.tlbAddr, len), data);
          // The device writes its answer into the bounce buffer.
          host(vm).write(r.dmaAddr, pattern(len, seed + 5000));
          live.push({ tlbAddr: r.tlbAddr, first, n, len, orig, dir: op.dir, seed });
        } else if (live.length > 0) {
          const [m] = live.splice(op.pick % live.length, 1);
          k.hw.mem.write(m!.orig, pattern(m!.len, m!.seed));
          assert.equal(swiotlbUnmap(k, p, m!.tlbAddr, m!.len, m!.dir), "ok");
          const back =
            m!.dir === DmaDirection.DMA_TO_DEVICE
              ? pattern(m!.len, m!.seed)
              : pattern(m!.len, m!.seed + 5000);
          assert.deepEqual(k.hw.mem.read(m!.orig, m!.len), back);
        }
        assert.equal(
          p.slots?.used ?? 0,
          live.reduce((a, o) => a + o.n, 0),
          "used slots = live slots",
        );
      }
      for (const m of live) assert.equal(swiotlbUnmap(k, p, m.tlbAddr, m.len, m.dir), "ok");
      if (p.slots) {
        assert.equal(p.slots.used, 0);
        assert.deepEqual(p.slots.list, fresh, "every slot is free again and merged");
        assert.ok(p.slots.origAddr.every((x) => x === -1));
      }
    }),
    { numRuns: 60 },
  );
});
