import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  barRegions,
  configCachedRead,
  configReadRoute,
  configWriteRoute,
  decodeMmioInput,
  decodePciCompletion,
  decodePciGuestMessage,
  decodePciHostMessage,
  devfnToWslot,
  encodePciCompletion,
  encodePciGuestMessage,
  encodePciHostMessage,
  getBarSize,
  HV_PCI_LAYOUT,
  HVPCI_ERRORS,
  isHvPciFault,
  PCI_BUS_D0_ENTRY,
  PCI_BUS_RELATIONS,
  PCI_BUS_RELATIONS2,
  PCI_CHILD_MESSAGE,
  PCI_DEV_INCOMING,
  PCI_DEV_INVAL_BLOCK,
  PCI_EJECT_RESPONSE,
  PCI_FUNCTION_DESCRIPTION,
  PCI_FUNCTION_DESCRIPTION2,
  PCI_PROTOCOL_VERSIONS,
  PCI_Q_RES_REQ_RESPONSE,
  PCI_RESOURCES_ASSIGNED,
  PCI_RESOURCES_ASSIGNED2,
  PCI_RESPONSE,
  PCI_VERSION_REQUEST,
  type PciFunctionDescription,
  type PciGuestMessage,
  type PciHostMessage,
  PciMessageType,
  pciMakeVersion,
  probedBarValue,
  readMmioOutputValue,
  writeMmioReadInput,
  writeMmioWriteInput,
  wslotToDevfn,
} from "../../src/vmbus/hv-pci-proto.ts";
import { hex, toHex, zeros } from "./hex.ts";

test("hv_pci layouts: sizes and offsets as in pci-hyperv.c", () => {
  const sizes: [string, number][] = [
    [PCI_FUNCTION_DESCRIPTION.name, 20],
    [PCI_FUNCTION_DESCRIPTION2.name, 28],
    [PCI_CHILD_MESSAGE.name, 8],
    [PCI_RESPONSE.name, 20],
    [PCI_VERSION_REQUEST.name, 8],
    [PCI_BUS_D0_ENTRY.name, 16],
    [PCI_BUS_RELATIONS.name, 24],
    [PCI_BUS_RELATIONS2.name, 24],
    [PCI_Q_RES_REQ_RESPONSE.name, 44],
    [PCI_RESOURCES_ASSIGNED.name, 148],
    [PCI_RESOURCES_ASSIGNED2.name, 202],
    [PCI_DEV_INCOMING.name, 24],
    [PCI_DEV_INVAL_BLOCK.name, 32],
    [PCI_EJECT_RESPONSE.name, 12],
  ];
  for (const [name, size] of sizes) {
    const s = HV_PCI_LAYOUT.structs.find((x) => x.name === name);
    assert.equal(s?.size, size, name);
  }
  assert.deepEqual(PCI_FUNCTION_DESCRIPTION.off, {
    v_id: 0,
    d_id: 2,
    rev: 4,
    prog_intf: 5,
    subclass: 6,
    base_class: 7,
    subsystem_id: 8,
    win_slot: 12,
    ser: 16,
  });
  assert.equal(PCI_Q_RES_REQ_RESPONSE.off.probed_bar, 20);
  assert.equal(PCI_RESOURCES_ASSIGNED.off.msi_descriptors, 128);
  assert.equal(PCI_RESOURCES_ASSIGNED2.off.msi_descriptor_count, 128);
  assert.equal(pciMakeVersion(1, 4), 0x10004);
  assert.deepEqual(PCI_PROTOCOL_VERSIONS, [0x10004, 0x10003, 0x10002, 0x10001]);
  assert.equal(PciMessageType.PCI_QUERY_PROTOCOL_VERSION, 0x42490013);
});

test("slot encoding: devfn <-> Windows slot", () => {
  assert.equal(devfnToWslot((2 << 3) | 1), 0x22);
  assert.equal(wslotToDevfn(0x22), (2 << 3) | 1);
  for (let devfn = 0; devfn < 256; devfn++) assert.equal(wslotToDevfn(devfnToWslot(devfn)), devfn);
});

const NIC: PciFunctionDescription = {
  vId: 0x15b3,
  dId: 0x101a,
  rev: 0x80,
  progIntf: 0,
  subclass: 0,
  baseClass: 2,
  subsystemId: 0x000715b3,
  winSlot: 0,
  ser: 0x1234,
};

const GUEST: [PciGuestMessage, string][] = [
  [{ kind: "query-protocol-version", protocolVersion: 0x10004 }, "13004942 04000100"],
  [{ kind: "query-bus-relations" }, "01004942"],
  [{ kind: "bus-d0-entry", mmioBase: 0xfe0000000n }, "07004942 00000000 000000e00f000000"],
  [{ kind: "bus-d0-exit" }, "08004942"],
  [{ kind: "query-resource-requirements", wslot: 0 }, "05004942 00000000"],
  [
    { kind: "resources-assigned", wslot: 0, msiDescriptors: 0 },
    `10004942 00000000 ${zeros(120)} 00000000 ${zeros(16)}`,
  ],
  [
    { kind: "resources-assigned2", wslot: 0x22, msiDescriptorCount: 0 },
    `16004942 22000000 ${zeros(120)} 00000000 ${zeros(70)}`,
  ],
  [{ kind: "resources-released", wslot: 0x22 }, "11004942 22000000"],
  [{ kind: "ejection-complete", wslot: 0x22, status: 0 }, "0f004942 22000000 00000000"],
];

test("golden: every guest message, round trip", () => {
  for (const [m, bytes] of GUEST) {
    const b = encodePciGuestMessage(m);
    assert.equal(toHex(b), toHex(hex(bytes)), m.kind);
    assert.deepEqual(decodePciGuestMessage(b), m, m.kind);
  }
});

const HOST: [PciHostMessage, string][] = [
  [
    { kind: "bus-relations", functions: [NIC] },
    "00004942 01000000 b3151a10 80000002 b3150700 00000000 34120000",
  ],
  [
    { kind: "bus-relations2", functions: [{ ...NIC, flags: 1, virtualNumaNode: 0 }] },
    "19004942 01000000 b3151a10 80000002 b3150700 00000000 34120000 01000000 0000 0000",
  ],
  [{ kind: "eject", wslot: 0 }, "0b004942 00000000"],
  [{ kind: "invalidate-block", wslot: 0, blockMask: 3n }, "12004942 00000000 0300000000000000"],
];

test("golden: every host inband message (VMBus payload, after the descriptor), round trip", () => {
  for (const [m, bytes] of HOST) {
    const b = encodePciHostMessage(m);
    assert.equal(toHex(b), toHex(hex(bytes)), m.kind);
    assert.deepEqual(decodePciHostMessage(b), m, m.kind);
  }
});

test("golden: completions; a short resource-requirements answer reads as status -1", () => {
  const st = encodePciCompletion({ kind: "status", status: 0xc0000059 | 0 });
  assert.equal(toHex(st), "590000c0");
  assert.deepEqual(decodePciCompletion(st, "status"), { kind: "status", status: 0xc0000059 | 0 });
  const bars = [0xffff8004, 0xffffffff, 0xfffff000, 0, 0, 0];
  const rr = encodePciCompletion({ kind: "resource-requirements", status: 0, probedBar: bars });
  assert.equal(toHex(rr), toHex(hex(`00000000 0480ffff ffffffff 00f0ffff ${zeros(12)}`)));
  assert.deepEqual(decodePciCompletion(rr, "resource-requirements"), {
    kind: "resource-requirements",
    status: 0,
    probedBar: bars,
  });
  assert.deepEqual(decodePciCompletion(rr.subarray(0, 20), "resource-requirements"), {
    kind: "resource-requirements",
    status: -1,
    probedBar: [0, 0, 0, 0, 0, 0],
  });
});

test("BARs: sizes from probed values, as survey_child_resources and get_bar_size", () => {
  const [lo, hi] = probedBarValue(32768n, true);
  assert.deepEqual([lo, hi], [0xffff8004, 0xffffffff]);
  assert.deepEqual(probedBarValue(4096n, false), [0xfffff000, 0]);
  assert.deepEqual(probedBarValue(1n << 33n, true, true), [0x0000000c, 0xfffffffe]);
  const { regions, low, high } = barRegions([lo, hi, 0xfffff000, 0, 0xffffff00, 0]);
  assert.deepEqual(regions, [
    { index: 0, size: 32768n, is64: true },
    { index: 2, size: 4096n, is64: false },
    { index: 4, size: 4096n, is64: false },
  ]);
  assert.equal(high, 32768n);
  assert.equal(low, 8192n, "a 256-byte BAR still takes a page");
  assert.equal(getBarSize(0xfffffffffffff000n), 0x1000n);
});

test("config space: which accesses the guest emulates and which go to the host", () => {
  assert.equal(configReadRoute(0, 4), "ids");
  assert.equal(configReadRoute(2, 2), "ids");
  assert.equal(configReadRoute(4, 2), "mmio");
  assert.equal(configReadRoute(8, 4), "class");
  assert.equal(configReadRoute(0x10, 4), "mmio");
  assert.equal(configReadRoute(0x2c, 4), "ssid");
  assert.equal(configReadRoute(0x30, 4), "rom");
  assert.equal(configReadRoute(0x3c, 1), "intx");
  assert.equal(configReadRoute(0x3d, 1), "intx");
  assert.equal(configReadRoute(0x3c, 2), "mmio");
  assert.equal(configReadRoute(0xffc, 4), "mmio");
  assert.equal(configReadRoute(0xffe, 4), "beyond");
  assert.equal(configWriteRoute(0x2c, 4), "read-only");
  assert.equal(configWriteRoute(0x30, 4), "read-only");
  assert.equal(configWriteRoute(0x04, 2), "mmio");
  assert.equal(configWriteRoute(0x00, 2), "beyond");
  assert.equal(configCachedRead(NIC, 0, 4), 0x101a15b3);
  assert.equal(configCachedRead(NIC, 2, 2), 0x101a);
  assert.equal(configCachedRead(NIC, 8, 4), 0x02000080);
  assert.equal(configCachedRead(NIC, 0x2c, 4), 0x000715b3);
});

test("golden: the MMIO hypercall inputs hv_pci_read_mmio / hv_pci_write_mmio build", () => {
  const page = new Uint8Array(4096).fill(0xee);
  writeMmioReadInput(page, 0, 0xf8001004n, 2);
  assert.equal(toHex(page.subarray(0, 16)), toHex(hex("041000f8 00000000 02000000 00000000")));
  assert.equal(page[16], 0xee, "the output area after the input is not touched");
  writeMmioWriteInput(page, 0, 0xf8000000n, 4, 0x22);
  assert.equal(
    toHex(page.subarray(0, 80)),
    toHex(hex(`000000f8 00000000 04000000 00000000 22000000 ${zeros(60)}`)),
  );
  assert.deepEqual(decodeMmioInput(page), { gpa: 0xf8000000n, size: 4, reserved: 0 });
  writeMmioWriteInput(page, 0, 0xf8001004n, 1, 0x1ff);
  assert.equal(page[16], 0xff);
  const out = hex("3412cdab");
  assert.equal(readMmioOutputValue(out, 0, 1), 0x34);
  assert.equal(readMmioOutputValue(out, 0, 2), 0x1234);
  assert.equal(readMmioOutputValue(out, 0, 4), 0xabcd1234);
});

test("hostile: every HVPCI error code has a test that produces it", () => {
  const seen = new Set<string>();
  const check = (x: unknown, code: string) => {
    assert.ok(isHvPciFault(x), code);
    assert.equal(x.code, code);
    seen.add(code);
  };
  check(decodePciHostMessage(hex("0000")), "HVCOCO_ERR_HVPCI_TRUNCATED");
  check(decodePciHostMessage(hex("00004942 0100")), "HVCOCO_ERR_HVPCI_TRUNCATED");
  check(decodePciHostMessage(hex("0b004942")), "HVCOCO_ERR_HVPCI_TRUNCATED");
  check(decodePciHostMessage(hex("12004942 00000000 0300")), "HVCOCO_ERR_HVPCI_TRUNCATED");
  check(decodePciCompletion(hex("0000"), "status"), "HVCOCO_ERR_HVPCI_TRUNCATED");
  check(decodePciGuestMessage(hex("07004942 00000000")), "HVCOCO_ERR_HVPCI_TRUNCATED");
  check(decodePciHostMessage(hex(`00004942 02000000 ${zeros(20)}`)), "HVCOCO_ERR_HVPCI_DEVICE_COUNT");
  check(decodePciHostMessage(hex(`19004942 ffffffff ${zeros(28)}`)), "HVCOCO_ERR_HVPCI_DEVICE_COUNT");
  check(decodeMmioInput(hex("00000000 00000000 00000000 00000000")), "HVCOCO_ERR_HVPCI_MMIO_SIZE");
  check(decodeMmioInput(hex("00000000 00000000 41000000 00000000")), "HVCOCO_ERR_HVPCI_MMIO_SIZE");
  check(decodeMmioInput(hex("00000000 00000000 04000000")), "HVCOCO_ERR_HVPCI_TRUNCATED");
  assert.deepEqual([...seen].sort(), Object.keys(HVPCI_ERRORS).sort());
  assert.deepEqual(decodePciHostMessage(hex("99994942 0102")), {
    kind: "unknown",
    type: 0x42499999,
    body: hex("0102"),
  });
});

test("decoders never throw on arbitrary bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 0x1b }), (tail, t) => {
      const b = new Uint8Array(4 + tail.length);
      new DataView(b.buffer).setUint32(0, 0x42490000 + t, true);
      b.set(tail, 4);
      decodePciHostMessage(b);
      decodePciGuestMessage(b);
      decodePciCompletion(tail, "resource-requirements");
      decodePciCompletion(tail, "status");
      decodeMmioInput(tail);
    }),
  );
});
