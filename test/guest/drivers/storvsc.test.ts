// storvsc ↔ storvsp end to end: C21 (storage bounces through decrypted swiotlb
// memory in a CoCo VM, straight to the guest's buffers in a normal VM) and its
// negative control, the VSTOR init exchange, and the SCSI commands.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cdbReadWrite16, ScsiOpcode } from "../../../src/guest/drivers/storvsc/scsi.ts";
import { failure } from "../../../src/guest/drivers/storvsc/sd.ts";
import { scsiHostOf } from "../../../src/guest/drivers/storvsc.ts";
import { DmaDirection, isSwiotlbBuffer } from "../../../src/guest/mm/swiotlb.ts";
import { MemoryDisk } from "../../../src/host/backends/memory-disk.ts";
import { VmstorProtoVersion } from "../../../src/vmbus/storvsc-proto.ts";
import { guestBuffer, pattern, scsi, storageVm } from "./storvsc-helpers.ts";

const COCO = [
  { isolation: "snp", mode: "enlightened" },
  { isolation: "snp", mode: "paravisor" },
  { isolation: "tdx", mode: "enlightened" },
  { isolation: "tdx", mode: "paravisor" },
];

/** The page a host GPA names, without the shared alias (vTOM / TDX shared bit). */
function canonical(gpa: number, boundary: number): number {
  return boundary && gpa >= boundary ? gpa - boundary : gpa;
}

test("C21: in a CoCo VM storage I/O bounces through decrypted swiotlb memory: the host is handed only pool pages and reads the payload as EXPOSED, never SECRET", () => {
  for (const c of COCO) {
    const { vm, mem, disk: backing } = storageVm(c);
    const { host, disk } = scsi(vm);
    const pool = vm.guest.swiotlb!;
    assert.equal(pool.decrypted, true);
    const boundary = vm.platform.sharedBoundary;
    const data = pattern(64 * 1024, 1);
    const wbuf = guestBuffer(vm, data.length, data); // private, SECRET
    const rbuf = guestBuffer(vm, data.length);
    const a = vm.audit;
    const exposed0 = a.exposedBytesRead;
    const reads0 = mem.reads.length;
    const writes0 = mem.writes.length;
    const s0 = { ...pool.stats };
    assert.deepEqual(host.write(disk, 100, 128, wbuf), { ok: true, bytes: data.length });
    assert.deepEqual(host.sync(disk), { ok: true, bytes: 0 });
    assert.deepEqual(host.read(disk, 100, 128, rbuf), { ok: true, bytes: data.length });
    // The data made it to the disk and back.
    const onDisk = new Uint8Array(data.length);
    assert.equal(backing.read(100, 128, onDisk, 0), undefined);
    assert.deepEqual(onDisk, data, `${vm.config.name}: the disk holds what the guest wrote`);
    assert.deepEqual(vm.guest.hw.mem.read(rbuf, data.length), data);
    // Every byte the host touched lies in the decrypted pool, none in the guest's buffers.
    const touched = [...mem.reads.slice(reads0), ...mem.writes.slice(writes0)];
    assert.ok(touched.length >= 2);
    for (const t of touched) {
      const g = canonical(t.gpa, boundary);
      assert.ok(
        isSwiotlbBuffer(pool, g),
        `${vm.config.name}: host touched 0x${g.toString(16)} outside the pool`,
      );
      assert.ok(!(g >= wbuf && g < wbuf + data.length) && !(g >= rbuf && g < rbuf + data.length));
    }
    // The write bounced in, the read bounced out; the payload reached the host EXPOSED.
    assert.equal(pool.stats.bytesToDevice - s0.bytesToDevice, data.length);
    assert.equal(pool.stats.bytesFromDevice - s0.bytesFromDevice, data.length);
    assert.ok(a.exposedBytesRead - exposed0 >= data.length);
    assert.equal(a.secretBytesLeaked, 0, `${vm.config.name}: no secret byte read`);
  }
});

test("C21: in a normal VM storvsc hands the host the guest's own buffer: no bounce, the host reads and writes it in place", () => {
  const { vm, mem, disk: backing } = storageVm({ isolation: "none" });
  const { host, disk } = scsi(vm);
  const pool = vm.guest.swiotlb!;
  const data = pattern(64 * 1024, 2);
  const wbuf = guestBuffer(vm, data.length, data);
  const rbuf = guestBuffer(vm, data.length);
  const s0 = { ...pool.stats };
  const reads0 = mem.reads.length;
  const writes0 = mem.writes.length;
  assert.equal(host.write(disk, 8, 128, wbuf).ok, true);
  assert.equal(host.read(disk, 8, 128, rbuf).ok, true);
  assert.deepEqual(vm.guest.hw.mem.read(rbuf, data.length), data);
  const onDisk = new Uint8Array(data.length);
  backing.read(8, 128, onDisk, 0);
  assert.deepEqual(onDisk, data);
  assert.deepEqual(
    mem.reads.slice(reads0).map((r) => r.gpa),
    [wbuf],
    "the host read the write buffer itself",
  );
  assert.deepEqual(
    mem.writes.slice(writes0).map((w) => w.gpa),
    [rbuf],
    "the host wrote the read buffer itself",
  );
  assert.equal(pool.stats.maps, s0.maps, "nothing went through swiotlb");
  // Handed out on purpose: the payload the host read counts as exposed, not leaked.
  assert.equal(vm.audit.secretBytesLeaked, 0);
  assert.ok(vm.audit.exposedBytesRead >= data.length);
});

test("C21 negative control: with swiotlb bouncing off a CoCo guest hands the host its private buffers: the host gets ciphertext, its writes are refused, and the I/O cannot work", () => {
  const {
    vm,
    mem,
    disk: backing,
  } = storageVm({
    isolation: "snp",
    mode: "enlightened",
    unharden: ["swiotlb-bounce"],
  });
  const sh = scsiHostOf(vm.guest);
  assert.ok(sh);
  // The scan's answers never reach the guest (the host cannot write private pages): no disk.
  assert.deepEqual(sh.disks, []);
  assert.ok(vm.audit.refusedWrites > 0, "the host's writes to private pages were refused");
  // Force a write anyway, to a disk the guest describes itself.
  const disk = {
    lun: 0,
    vendor: "",
    product: "",
    revision: "",
    blockSize: 512,
    blocks: backing.blocks,
    serial: "",
    ids: [],
    vpdPages: [],
    writeProtect: false,
    writeCache: true,
  };
  const data = pattern(64 * 1024, 3);
  const wbuf = guestBuffer(vm, data.length, data);
  const cipher0 = vm.audit.ciphertextBytesRead;
  const reads0 = mem.reads.length;
  assert.equal(sh.write(disk, 0, 128, wbuf).ok, true, "the host cannot tell: the command completes");
  assert.deepEqual(
    mem.reads.slice(reads0).map((r) => r.gpa),
    [wbuf],
    "the host was handed the private buffer's GPA",
  );
  assert.ok(vm.audit.ciphertextBytesRead - cipher0 >= data.length, "what it read was ciphertext");
  const onDisk = new Uint8Array(data.length);
  backing.read(0, 128, onDisk, 0);
  assert.notDeepEqual(onDisk, data, "the disk holds ciphertext, not the guest's data");
  assert.equal(vm.audit.secretBytesLeaked, 0);
  // And the read back does not bring the data: the host's writes to the private buffer are refused.
  const rbuf = guestBuffer(vm, data.length);
  const refused0 = vm.audit.refusedWrites;
  sh.read(disk, 0, 128, rbuf);
  assert.ok(vm.audit.refusedWrites > refused0);
  assert.notDeepEqual(vm.guest.hw.mem.read(rbuf, data.length), data);
});

test("storvsc negotiates the VSTOR version down its list (WIN10, WIN8.1, WIN8) and refuses an older host", () => {
  const V = VmstorProtoVersion;
  for (const [max, want] of [
    [V.VMSTOR_PROTO_VERSION_WIN10, V.VMSTOR_PROTO_VERSION_WIN10],
    [V.VMSTOR_PROTO_VERSION_WIN8_1, V.VMSTOR_PROTO_VERSION_WIN8_1],
    [V.VMSTOR_PROTO_VERSION_WIN8, V.VMSTOR_PROTO_VERSION_WIN8],
  ] as const) {
    const { vm, vsp } = storageVm({ isolation: "tdx", mode: "enlightened" }, { maxVersion: max });
    const { host } = scsi(vm);
    assert.equal(host.dev.protocolVersion, want);
    assert.equal(vsp.version, want);
    assert.equal(vsp.state, "ready");
    assert.equal(host.dev.maxTransferBytes, vsp.maxTransferBytes);
  }
  const { vm, vsp } = storageVm(
    { isolation: "tdx", mode: "enlightened" },
    { maxVersion: V.VMSTOR_PROTO_VERSION_WIN7 },
  );
  assert.equal(vsp.state, "closed", "the guest closed the channel");
  assert.equal(vsp.version, 0);
  assert.ok(vm.guest.dmesg.includes("storvsc: Obsolete Hyper-V version"));
  assert.ok(!vm.guest.vmbus!.devices.some((d) => d.name === "scsi" && d.driver));
});

test("the scan: INQUIRY, REPORT LUNS, TEST UNIT READY, READ CAPACITY (10, 16), MODE SENSE, VPD pages 0x00, 0x80, 0x83", () => {
  const backing = new MemoryDisk({ bytes: 16 * 1024 * 1024, blockSize: 4096, serial: "SERIAL-XYZ" });
  const { vm, vsp } = storageVm({ isolation: "snp", mode: "paravisor" }, { disk: backing });
  const { host, disk } = scsi(vm);
  assert.equal(host.disks.length, 1);
  assert.equal(disk.vendor, "Msft");
  assert.equal(disk.product, "Virtual Disk");
  assert.equal(disk.blockSize, 4096);
  assert.equal(disk.blocks, backing.blocks);
  assert.equal(disk.serial, "SERIAL-XYZ");
  assert.deepEqual(disk.vpdPages, [0x00, 0x80, 0x83]);
  assert.equal(disk.ids.length, 2);
  assert.match(disk.ids[0]!, /^6002248/, "NAA designator with Microsoft's OUI");
  assert.equal(disk.writeCache, true);
  assert.equal(disk.writeProtect, false);
  assert.deepEqual(host.scanLog, []);
  // Each command crossed as an SRB: standard INQUIRY twice, REPORT LUNS, TUR, RC10, RC16, MODE SENSE, 3 VPD.
  assert.equal(vsp.stats.srbs, 10);
  assert.equal(vsp.target.stats.checkConditions, 0);
});

test("READ/WRITE(16), SYNCHRONIZE CACHE flushes the disk, and CHECK CONDITION comes back with its sense data", () => {
  const { vm, disk: backing } = storageVm({ isolation: "tdx", mode: "paravisor" });
  const { host, disk } = scsi(vm);
  const data = pattern(8192, 4);
  const buf = guestBuffer(vm, data.length, data);
  const cdb = new Uint8Array(16);
  // 16-byte CDBs directly.
  const cdbLen = cdbReadWrite16(cdb, true, 1000, 16);
  const r1 = host.dev.execute({
    lun: 0,
    cdb,
    cdbLength: cdbLen,
    dir: DmaDirection.DMA_TO_DEVICE,
    gpa: buf,
    len: 8192,
  });
  assert.equal(r1.errno, 0);
  assert.equal(r1.transferred, 8192);
  assert.equal(cdb[0], ScsiOpcode.WRITE_16);
  const back = guestBuffer(vm, 8192);
  const len2 = cdbReadWrite16(cdb, false, 1000, 16);
  const r2 = host.dev.execute({
    lun: 0,
    cdb,
    cdbLength: len2,
    dir: DmaDirection.DMA_FROM_DEVICE,
    gpa: back,
    len: 8192,
  });
  assert.equal(r2.errno, 0);
  assert.deepEqual(vm.guest.hw.mem.read(back, 8192), data);
  const flushes = backing.stats.flushes;
  assert.equal(host.sync(disk).ok, true);
  assert.equal(backing.stats.flushes, flushes + 1);
  // A read past the end: CHECK CONDITION, ILLEGAL REQUEST / LBA OUT OF RANGE, through autosense.
  const bad = host.read(disk, disk.blocks - 1, 8, back);
  assert.equal(bad.ok, false);
  assert.ok(!bad.ok && bad.errno === 0);
  assert.deepEqual(!bad.ok && bad.sense, { key: 0x5, asc: 0x21, ascq: 0 });
  // The guest goes on working.
  assert.equal(host.read(disk, 1000, 16, back).ok, true);
  assert.equal(
    failure(
      host.dev.execute({
        lun: 0,
        cdb: new Uint8Array(16),
        cdbLength: 6,
        dir: DmaDirection.DMA_NONE,
        gpa: 0,
        len: 0,
      }),
    ),
    undefined,
    "TEST UNIT READY",
  );
});
