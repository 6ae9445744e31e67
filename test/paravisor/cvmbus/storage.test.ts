// The paravisor's storage behind Confidential VMBus (C24, C26, C27): storvsp in the
// paravisor, on an assigned device that can reach encrypted memory (TDISP-like) or
// one that cannot (bounce-buffered through pages outside the host's SLAT).
import assert from "node:assert/strict";
import { test } from "node:test";
import { PAGE_SIZE, PageState } from "../../../src/platform/page.ts";
import { SrbStatus } from "../../../src/vmbus/storvsc-proto.ts";
import {
  bootCvm,
  hostFinds,
  hostReads,
  isPrivate,
  pageOf,
  secretBuffer,
  secretData,
  TestVsc,
  takeScsi,
} from "./helpers.ts";

const LEN = 64 * 1024;

function roundTrip(c: Record<string, unknown>) {
  const vm = bootCvm(c);
  const vsc = new TestVsc(vm, takeScsi(vm));
  vsc.open();
  const data = secretData(vm, LEN);
  const wgpa = secretBuffer(vm, data);
  assert.equal(vsc.write(8, wgpa, LEN), SrbStatus.SRB_STATUS_SUCCESS);
  const rgpa = secretBuffer(vm, new Uint8Array(LEN));
  assert.equal(vsc.read(8, rgpa, LEN), SrbStatus.SRB_STATUS_SUCCESS);
  const back = vm.guest.hw.mem.read(rgpa, LEN);
  assert.deepEqual(back, data, "read back what was written");
  // What the assigned device stored: the guest's bytes.
  const onDisk = new Uint8Array(LEN);
  vm.paravisor!.storage!.disk.read(8, LEN / 512, onDisk, 0);
  assert.deepEqual(onDisk, data);
  return { vm, vsc, data };
}

function allPages(vm: ReturnType<typeof bootCvm>): number[] {
  return Array.from({ length: vm.platform.memory.pages }, (_, i) => i);
}

test("C24: with Confidential VMBus the guest's storage talks to storvsp inside the paravisor over a ring that stays encrypted", () => {
  const { vm, vsc } = roundTrip({});
  const ch = vsc.ch;
  assert.equal(ch.coRingBuffer, true);
  const r = ch.ring!;
  assert.equal(r.mappedDecrypted, false);
  for (let i = 0; i < (r.sendSize + r.recvSize) / PAGE_SIZE; i++)
    assert.ok(isPrivate(vm, r.gpa + i * PAGE_SIZE), "ring page private");
  // The host's server never saw this channel, and reading the ring gets ciphertext.
  assert.ok(![...vm.host.vmbus.channels.values()].some((c) => c.open && c.device.name === "scsi"));
  const cipherBefore = vm.audit.ciphertextBytesRead;
  assert.equal(hostReads(vm, [r.gpa / PAGE_SIZE]), 0);
  assert.ok(vm.audit.ciphertextBytesRead > cipherBefore);
  assert.ok(vm.paravisor!.storage!.vsp.stats.srbs >= 2);
});

test("C24 negative control: without Confidential VMBus the same storage ring is decrypted and the host's storvsp serves it", () => {
  const vm = bootCvm({ vmbus: "host" });
  const d = vm.guest.vmbus!.devices.find((x) => x.name === "scsi")!;
  assert.equal(d.channel.coRingBuffer, false);
  assert.equal(pageOf(vm, d.channel.ring!.gpa).state, PageState.SHARED);
  assert.equal(vm.host.vmbus.channel("scsi")?.state, "open");
  assert.equal(vm.paravisor!.vmbus, undefined);
});

test("C26: a device that supports encrypted memory moves the data from private pages: the host and hypervisor read none of it", () => {
  for (const isolation of ["snp", "tdx"]) {
    const { vm, vsc, data } = roundTrip({ isolation, paravisorStorage: "tdisp" });
    assert.equal(vsc.ch.coExternalMemory, true);
    for (const pfn of vsc.dataPfns)
      assert.ok(isPrivate(vm, pfn * PAGE_SIZE), "the data stayed in private pages");
    const dma = vm.paravisor!.storage!.dma;
    assert.equal(dma.kind, "tdisp");
    assert.equal(dma.stats.bouncedBytes, 0);
    assert.ok(dma.stats.dmaBytes >= 2 * LEN);
    // A host (and a hypervisor: the same view) reading every page of the VM gets no plaintext of it.
    assert.equal(hostFinds(vm, allPages(vm), data), 0);
    assert.equal(vm.audit.secretBytesLeaked, 0);
  }
});

test("C26 negative control: ring-only (no encrypted external memory) sends the data through the guest's decrypted swiotlb, where the host reads it", () => {
  const { vm, vsc, data } = roundTrip({ paravisorStorage: "ring-only" });
  assert.equal(vsc.ch.coRingBuffer, true);
  assert.equal(vsc.ch.coExternalMemory, false);
  const read = hostReads(vm, vsc.dataPfns);
  assert.ok(read >= LEN, `the host read ${read} bytes of the data`);
  assert.equal(hostFinds(vm, vsc.dataPfns, data), LEN / 512);
});

test("C27: a device without encrypted-memory support goes through bounce pages that are shared but outside the host's SLAT", () => {
  for (const isolation of ["snp", "tdx"]) {
    const { vm, data } = roundTrip({ isolation, paravisorStorage: "bounce" });
    const pv = vm.paravisor!;
    const b = pv.bounce!;
    assert.equal(b.hostVisible, false);
    assert.ok(pv.storage!.dma.stats.bouncedBytes >= 2 * LEN);
    for (let i = 0; i < b.pages; i++) {
      const pg = pageOf(vm, (b.pfn + i) * PAGE_SIZE);
      assert.equal(pg.state, PageState.SHARED, "unencrypted: the device can reach it");
      assert.equal(pg.hostVisible, false, "not in the host's SLAT");
    }
    // The host cannot read them: all ones, and the attempt is recorded.
    const refused = vm.audit.refusedReads;
    const view = vm.platform.untrustedView("host");
    const got = view.read(b.pfn * PAGE_SIZE, 64);
    assert.ok(got.every((x) => x === 0xff));
    assert.ok(vm.audit.refusedReads > refused);
    assert.equal(hostFinds(vm, allPages(vm), data), 0);
    assert.equal(vm.audit.secretBytesLeaked, 0);
  }
});

test("C27 negative control: with the SLAT exclusion off the bounce pages are host-visible and the host reads the guest's data: a finding", () => {
  const { vm, data } = roundTrip({ paravisorStorage: "bounce", unharden: ["slat-exclusion"] });
  const b = vm.paravisor!.bounce!;
  assert.equal(b.hostVisible, true);
  assert.equal(pageOf(vm, b.pfn * PAGE_SIZE).hostVisible, true);
  const pfns = Array.from({ length: b.pages }, (_, i) => b.pfn + i);
  assert.ok(hostFinds(vm, pfns, data) > 0, "the host finds the guest's data in the bounce pages");
  assert.ok(hostReads(vm, pfns) > 0);
  assert.ok(vm.audit.secretBytesLeaked > 0, "secret bytes leaked");
  assert.equal(vm.audit.clean, false, "the auditor reports a finding");
});
