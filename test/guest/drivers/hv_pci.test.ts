// vPCI (C23): hv_pci enumerates a function and its BARs over the Hyper-V PCI
// protocol; config space goes by HvCallMmioRead/Write in a CoCo VM and by trapped
// MMIO in a normal VM; the negative control shows why: a trapped access in a CoCo
// VM hands the hypervisor only ciphertext of the instruction and cannot be emulated.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HvPciBus } from "../../../src/guest/drivers/hv_pci/bus.ts";
import { MMIO_MOVS } from "../../../src/guest/drivers/hv_pci/config.ts";
import { hvPciBusOf } from "../../../src/guest/drivers/hv_pci.ts";
import type { VspChannel } from "../../../src/host/vsp/storvsp.ts";
import { VpciVsp } from "../../../src/host/vsp/vpci.ts";
import { HvCallCode } from "../../../src/hyperv/hvgdk.ts";
import { decodeMov, emulateNpf } from "../../../src/hypervisor/mmio-access.ts";
import { GuestCrash } from "../../../src/platform/exceptions.ts";
import { MmioMap } from "../../../src/platform/mmio.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../../src/platform/page.ts";
import { Vm } from "../../../src/vm/vm.ts";
import { PacketType } from "../../../src/vmbus/constants.ts";
import { PciMessageType, PciProtocolVersion } from "../../../src/vmbus/hv-pci-proto.ts";
import type { RingReader } from "../../../src/vmbus/ring.ts";
import { config } from "../../helpers.ts";

function vpciVm(c: Record<string, unknown>): Vm {
  const vm = new Vm(config(c), { host: { vpci: true } });
  const b = vm.boot();
  assert.ok(b.ok, b.crash);
  return vm;
}

function bus(vm: Vm): HvPciBus {
  const b = hvPciBusOf(vm.guest);
  assert.ok(b, `hv_pci bound (${vm.guest.dmesg.filter((l) => l.includes("hv_pci")).join("; ")})`);
  return b;
}

/** What the enumeration must find: the host's MANA VF with its two BARs, assigned and decoding. */
function checkEnumerated(vm: Vm, b: HvPciBus): void {
  assert.equal(b.state, "ready");
  assert.equal(b.version, PciProtocolVersion.PCI_PROTOCOL_VERSION_1_4);
  assert.equal(b.functions.length, 1);
  const f = b.functions[0]!;
  assert.deepEqual([f.vendor, f.device, f.classCode, f.headerType], [0x1414, 0x00ba, 0x020000, 0]);
  assert.deepEqual(
    f.bars.map((x) => [x.index, x.size, x.is64, x.prefetch]),
    [
      [0, 1024 * 1024, true, true],
      [2, 64 * 1024, false, false],
    ],
  );
  const host = vm.host.vpci!;
  assert.equal(host.configBase, b.cfgBase, "the host put its config space at the guest's window");
  assert.ok(host.assigned.has(0), "RESOURCES_ASSIGNED2 reached the host");
  const hf = host.functions[0]!;
  for (const bar of f.bars) {
    assert.ok(bar.address > 0 && bar.address % bar.size === 0);
    assert.equal(
      hf.barAddress(bar.index),
      bar.address,
      `BAR${bar.index} programmed in the host's config space`,
    );
  }
  assert.equal(hf.command & 0x2, 0x2, "memory decode on");
}

test("C23: in a CoCo VM vPCI config space is read and written by HvCallMmioRead/Write hypercalls describing each access; nothing is trapped", () => {
  for (const c of [
    { isolation: "snp", mode: "enlightened" },
    { isolation: "tdx", mode: "enlightened" },
  ]) {
    const vm = vpciVm(c);
    assert.equal(vm.guest.info?.useMmioHypercalls, true, "Hyper-V's hint for a CoCo VM");
    const b = bus(vm);
    checkEnumerated(vm, b);
    const hv = vm.hypervisor;
    const reads = hv.byCode.get(HvCallCode.HVCALL_MMIO_READ) ?? 0;
    const writes = hv.byCode.get(HvCallCode.HVCALL_MMIO_WRITE) ?? 0;
    assert.ok(reads > 0 && writes > 0, `${c.isolation}: ${reads} reads, ${writes} writes by hypercall`);
    assert.equal(b.config!.trapped, 0);
    assert.equal(b.config!.hypercalls, reads + writes);
    assert.ok(vm.hypervisor.refusals.every((r) => !r.includes("not emulated")));
    assert.ok(vm.host.vpci!.functions[0]!.reads > 0, "the accesses reached the host's config space");
    assert.equal(vm.audit.secretBytesLeaked, 0);
  }
});

test("C23: with a paravisor the guest's HvCallMmioRead/Write go through the hypercall page to the paravisor, which forwards them through its shared pages and copies the read's output back; the guest's own pages stay private", () => {
  for (const c of [
    { isolation: "snp", mode: "paravisor" },
    { isolation: "tdx", mode: "paravisor" },
  ]) {
    const vm = vpciVm(c);
    assert.equal(vm.guest.info?.useMmioHypercalls, true, `${c.isolation}: Hyper-V's hint for a CoCo VM`);
    const b = bus(vm);
    checkEnumerated(vm, b);
    const hv = vm.hypervisor;
    const reads = hv.byCode.get(HvCallCode.HVCALL_MMIO_READ) ?? 0;
    const writes = hv.byCode.get(HvCallCode.HVCALL_MMIO_WRITE) ?? 0;
    assert.ok(reads > 0 && writes > 0, `${c.isolation}: ${reads} reads, ${writes} writes by hypercall`);
    assert.equal(b.config!.trapped, 0);
    assert.equal(b.config!.hypercalls, reads + writes, "every access went to the hypervisor once");
    assert.ok(vm.paravisor!.forwarded >= reads + writes, "each one forwarded by the paravisor");
    // The guest's per-CPU input page (and the output after its input block) stays
    // private: the hypervisor read the paravisor's forwarding page and wrote its output
    // page, both shared, and never the guest's.
    const input = vm.guest.percpu[0]!.inputPage;
    const state = vm.platform.memory.flags(input / PAGE_SIZE) & PageFlag.STATE_MASK;
    assert.equal(state, PageState.PRIVATE);
    assert.equal(vm.hypervisor.refusals.filter((r) => r.includes("MMIO")).length, 0);
    assert.equal(vm.audit.refusedWrites, 0, "the hypervisor wrote only shared pages");
    assert.equal(vm.audit.secretBytesLeaked, 0);
  }
});

test("C23: in a normal VM the same config space is reached by trapped MMIO, which the hypervisor emulates from the instruction at RIP", () => {
  const vm = vpciVm({ isolation: "none" });
  assert.equal(vm.guest.info?.useMmioHypercalls ?? false, false);
  const b = bus(vm);
  checkEnumerated(vm, b);
  assert.ok(b.config!.trapped > 0);
  assert.equal(b.config!.hypercalls, 0);
  assert.equal(vm.hypervisor.byCode.get(HvCallCode.HVCALL_MMIO_READ) ?? 0, 0);
});

test("C23 negative control: a trapped config access in a CoCo VM gives the hypervisor only ciphertext of the instruction bytes; it cannot emulate it and the VP cannot go on", () => {
  for (const c of [
    { isolation: "snp", mode: "enlightened" },
    { isolation: "tdx", mode: "enlightened" },
  ]) {
    const vm = vpciVm(c);
    const b = bus(vm);
    const f = b.functions[0]!;
    // The same read works by hypercall...
    assert.equal(b.config!.read(f.desc, 0x0e, 1), 0);
    // ...and not by the trap: pci-hyperv.c without use_calls.
    b.config!.useCalls = false;
    const cipher0 = vm.audit.ciphertextBytesRead;
    assert.throws(
      () => b.config!.read(f.desc, 0x0e, 1),
      (e: unknown) =>
        e instanceof GuestCrash &&
        /could not emulate the MMIO access at 0x[0-9a-f]+: cannot decode/.test(e.message),
    );
    assert.ok(vm.audit.ciphertextBytesRead - cipher0 >= 15, "what it fetched at RIP was ciphertext");
    const refusal = vm.hypervisor.refusals.at(-1)!;
    assert.match(refusal, /not emulated: cannot decode the instruction at RIP/);
    // The bytes it got are not the MOV the guest executed.
    const rip = b.config!.instructionAt("writel");
    const seen = vm.host.memory.read(rip, 2);
    assert.notDeepEqual([...seen], [...MMIO_MOVS.writel.bytes]);
    assert.deepEqual([...vm.guest.hw.mem.read(rip, 2)], [...MMIO_MOVS.writel.bytes]);
    assert.equal(vm.audit.secretBytesLeaked, 0);
  }
  // In a normal VM the very same access is emulated.
  const vm = vpciVm({ isolation: "none" });
  const b = bus(vm);
  b.config!.useCalls = false;
  assert.equal(b.config!.read(b.functions[0]!.desc, 0x0e, 1), 0);
  assert.equal(b.config!.read(b.functions[0]!.desc, 0x04, 2), 0x2);
});

test("C23: even a decodable instruction cannot be emulated without the registers, which a CoCo VM keeps in encrypted VP state", () => {
  const mmio = new MmioMap();
  let stored = -1;
  mmio.add({
    name: "reg",
    base: 0x1000,
    size: 16,
    read: (_o, d) => d.fill(7),
    write: (_o, s) => {
      stored = s[0]!;
    },
  });
  const text = Uint8Array.from(MMIO_MOVS.writel.bytes);
  const view = { read: (_g: number, len: number) => text.slice(0, len) } as unknown as Parameters<
    typeof emulateNpf
  >[0];
  assert.deepEqual(decodeMov(text), { write: true, size: 4, length: 2 });
  const coco = emulateNpf(view, mmio, { gpa: 0x1000, ripGpa: 0, regs: undefined }, (g) => g);
  assert.equal(coco.emulated, false);
  assert.match(!coco.emulated ? coco.reason : "", /encrypted VP state/);
  assert.equal(stored, -1);
  const plain = emulateNpf(view, mmio, { gpa: 0x1000, ripGpa: 0, regs: { rax: 0x2a } }, (g) => g);
  assert.equal(plain.emulated, true);
  assert.equal(stored, 0x2a);
});

test("hv_pci negotiates the protocol down its list and follows the host's version: bus relations and resources assigned of 1.1 and 1.2", () => {
  for (const [max, relations] of [
    [PciProtocolVersion.PCI_PROTOCOL_VERSION_1_2, "v1"],
    [PciProtocolVersion.PCI_PROTOCOL_VERSION_1_1, "v1"],
    [PciProtocolVersion.PCI_PROTOCOL_VERSION_1_3, "v2"],
  ] as const) {
    const vm = new Vm(config({ isolation: "snp", mode: "enlightened" }), {
      host: { vpci: { maxVersion: max } },
    });
    assert.ok(vm.boot().ok);
    const b = bus(vm);
    assert.equal(b.version, max);
    assert.equal(b.state, "ready");
    assert.equal(b.functions.length, 1, relations);
    assert.ok(vm.host.vpci!.assigned.has(0));
  }
});

/** A host whose bus relations claim more functions than the message holds. */
class LyingVpci extends VpciVsp {
  override onPacket(ch: VspChannel, pkt: RingReader): void {
    const type = pkt.view.getUint32(pkt.payloadOffset, true);
    if (type !== PciMessageType.PCI_QUERY_BUS_RELATIONS) {
      super.onPacket(ch, pkt);
      return;
    }
    const m = new Uint8Array(4 + 4 + 20);
    const v = new DataView(m.buffer);
    v.setUint32(0, PciMessageType.PCI_BUS_RELATIONS, true);
    v.setUint32(4, 5, true); // device_count 5, room for 1
    ch.send(m, 0, m.length, 0, PacketType.VM_PKT_DATA_INBAND, 0);
  }
}

test("hostile bus relations (device_count beyond the message) are rejected with a logged reason; the probe fails cleanly and the guest runs on", () => {
  const lying = new LyingVpci({ mmio: new MmioMap() });
  const vm = new Vm(config({ isolation: "tdx", mode: "enlightened" }), { host: { vpci: lying } });
  const b = vm.boot();
  assert.ok(b.ok, b.crash);
  const rej = vm.audit.rejections.filter((r) => r.code === "HVCOCO_ERR_HVPCI_PACKET");
  assert.equal(rej.length, 1);
  assert.match(rej[0]!.message, /device_count 5 > 1 present/);
  assert.equal(hvPciBusOf(vm.guest), undefined, "the driver did not bind");
  assert.ok(vm.guest.dmesg.some((l) => /hv_pci: query bus relations failed: -110/.test(l)));
  assert.equal(vm.audit.violations.length, 0);
});
