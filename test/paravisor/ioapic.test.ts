// The paravisor's IO-APIC: identification registers, the redirection table's bit
// layout, masking, delivery to the sink, and level-triggered remote IRR with EOI.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HV_IOAPIC_BASE_ADDRESS, IoApic, type IoApicDelivery } from "../../src/paravisor/ioapic.ts";

const IOREGSEL = 0x00;
const IOWIN = 0x10;

function setup() {
  const got: { vector: number; dest: number; info: IoApicDelivery }[] = [];
  const io = new IoApic((vector, dest, info) => got.push({ vector, dest, info }));
  const read = (index: number): number => {
    io.mmioWrite(IOREGSEL, 4, index);
    return io.mmioRead(IOWIN, 4);
  };
  const write = (index: number, value: number): void => {
    io.mmioWrite(IOREGSEL, 4, index);
    io.mmioWrite(IOWIN, 4, value);
  };
  const program = (pin: number, lo: number, hi: number): void => {
    write(0x11 + 2 * pin, hi);
    write(0x10 + 2 * pin, lo);
  };
  return { io, got, read, write, program };
}

test("IO-APIC sits at 0xFEC00000", () => {
  assert.equal(HV_IOAPIC_BASE_ADDRESS, 0xfec00000);
  assert.equal(IoApic.BASE, 0xfec00000);
  assert.equal(IoApic.SIZE, 0x1000);
});

test("IO-APIC ID, VER and ARB registers", () => {
  const { read, write } = setup();
  assert.equal(read(0x01), 0x00170011, "version 0x11, max redirection entry 23");
  assert.equal(read(0x00), 0);
  write(0x00, 0xffffffff);
  assert.equal(read(0x00), 0x0f000000, "only ID bits 27:24 are writable");
  assert.equal(read(0x02), 0x0f000000, "ARB is loaded from the ID when the ID is written");
  write(0x01, 0);
  write(0x02, 0);
  assert.equal(read(0x01), 0x00170011, "VER is read-only");
  assert.equal(read(0x02), 0x0f000000, "ARB is read-only");
});

test("IO-APIC IOREGSEL reads back its index; unknown registers read 0 and ignore writes", () => {
  const { io, read, write } = setup();
  io.mmioWrite(IOREGSEL, 1, 0x2a);
  assert.equal(io.mmioRead(IOREGSEL, 4), 0x2a);
  io.mmioWrite(IOREGSEL, 4, 0x1234);
  assert.equal(io.mmioRead(IOREGSEL, 4), 0x34, "only bits 7:0 are the index");
  for (const index of [0x03, 0x0f, 0x40, 0xff]) {
    write(index, 0xffffffff);
    assert.equal(read(index), 0, `register 0x${index.toString(16)}`);
  }
  assert.equal(io.mmioRead(0x20, 4), 0, "other offsets of the page read 0");
});

test("IO-APIC redirection entries reset masked; writable bits only; RO and reserved bits preserved", () => {
  const { io, read, write } = setup();
  for (let pin = 0; pin < 24; pin++) {
    assert.equal(read(0x10 + 2 * pin), 0x00010000, `pin ${pin} low`);
    assert.equal(read(0x11 + 2 * pin), 0, `pin ${pin} high`);
  }
  write(0x10, 0xffffffff);
  assert.equal(read(0x10) >>> 0, 0x0001afff, "delivery status (12), remote IRR (14) and 31:17 stay 0");
  write(0x11, 0xffffffff);
  assert.equal(
    read(0x11) >>> 0,
    0xffff0000,
    "bits 47:32 reserved; extended destination and destination writable",
  );
  assert.equal(io.redirectionEntry(0), 0xffff00000001afffn);
});

test("IO-APIC IOWIN accepts only 32-bit writes", () => {
  const { io, read } = setup();
  io.mmioWrite(IOREGSEL, 4, 0x10);
  io.mmioWrite(IOWIN, 1, 0x31);
  io.mmioWrite(IOWIN, 2, 0x31);
  assert.equal(read(0x10), 0x00010000);
  io.mmioWrite(IOREGSEL, 4, 0x10);
  assert.equal(io.mmioRead(IOWIN, 1), 0x00, "byte read sees the low byte");
  assert.equal(io.mmioRead(IOWIN, 4), 0x00010000);
});

test("edge-triggered pin delivers (vector, destination) on each rising edge when unmasked", () => {
  const { io, got, program } = setup();
  program(4, 0x00000031, 0x02000000); // vector 0x31, fixed, physical, edge, unmasked; dest 2
  assert.equal(io.assertIrq(4), true);
  assert.deepEqual(
    got.map((g) => [g.vector, g.dest]),
    [[0x31, 2]],
  );
  assert.deepEqual(got[0]!.info, {
    pin: 4,
    vector: 0x31,
    destination: 2,
    extendedDestination: 0,
    deliveryMode: 0,
    logical: false,
    level: false,
  });
  assert.equal(io.assertIrq(4), false, "no new edge while the line stays high");
  io.deassertIrq(4);
  assert.equal(io.assertIrq(4), true);
  assert.equal(got.length, 2);
});

test("a masked edge is lost, and unmasking does not deliver it", () => {
  const { io, got, program } = setup();
  program(1, 0x00010041, 0x01000000); // masked
  assert.equal(io.assertIrq(1), false);
  program(1, 0x00000041, 0x01000000); // unmask while the line is high
  assert.equal(got.length, 0);
  assert.equal(io.stats.maskedEdges, 1);
});

test("level-triggered: remote IRR blocks re-delivery until EOI; EOI re-delivers while asserted", () => {
  const { io, got, read, program } = setup();
  program(9, 0x0000a051, 0x03000000); // vector 0x51, level, active low; dest 3
  assert.equal(io.assertIrq(9), true);
  assert.equal(read(0x10 + 18) & 0x4000, 0x4000, "remote IRR set");
  assert.equal(got[0]!.info.level, true);
  io.deassertIrq(9);
  assert.equal(io.assertIrq(9), false, "remote IRR still set: no delivery");
  io.handleEoi(0x51);
  assert.equal(got.length, 2, "EOI with the line still asserted delivers again");
  assert.equal(read(0x10 + 18) & 0x4000, 0x4000);
  io.deassertIrq(9);
  io.handleEoi(0x51);
  assert.equal(read(0x10 + 18) & 0x4000, 0, "EOI with the line low clears remote IRR");
  assert.equal(got.length, 2);
  io.handleEoi(0x99);
  assert.equal(got.length, 2, "an EOI for another vector does nothing");
});

test("level-triggered: a pin asserted while masked delivers when unmasked", () => {
  const { io, got, program } = setup();
  program(10, 0x00018060, 0); // level, masked, vector 0x60
  assert.equal(io.assertIrq(10), false);
  program(10, 0x00008060, 0);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.vector, 0x60);
});

test("writing edge trigger mode clears remote IRR (Linux's EOI for IO-APICs without an EOI register)", () => {
  const { io, got, read, program } = setup();
  program(2, 0x00008070, 0);
  io.assertIrq(2);
  assert.equal(read(0x14) & 0x4000, 0x4000);
  io.deassertIrq(2);
  program(2, 0x00010070, 0); // edge + masked
  assert.equal(read(0x14) & 0x4000, 0, "remote IRR cleared");
  program(2, 0x00008070, 0); // back to level, unmasked
  io.assertIrq(2);
  assert.equal(got.length, 2);
});

test("remote IRR cannot be set or cleared by a write", () => {
  const { io, read, program, write } = setup();
  program(5, 0x00008072, 0);
  io.assertIrq(5);
  write(0x10 + 10, 0x00008072); // same entry, remote IRR bit 0 in the value
  assert.equal(read(0x10 + 10) & 0x4000, 0x4000);
  write(0x10 + 12, 0x0000c073); // pin 6, tries to set remote IRR
  assert.equal(read(0x10 + 12) & 0x4000, 0);
});

test("NMI delivery mode is never level-triggered; logical mode and extended destination reach the sink", () => {
  const { io, got, program } = setup();
  program(7, 0x00008c02, 0x0f2a0000); // NMI (100), logical, level bit set; dest 0x0f, ext 0x2a
  io.assertIrq(7);
  io.assertIrq(7);
  assert.equal(got.length, 1, "no second delivery without a new edge");
  assert.deepEqual(got[0]!.info, {
    pin: 7,
    vector: 0x02,
    destination: 0x0f,
    extendedDestination: 0x2a,
    deliveryMode: 4,
    logical: true,
    level: false,
  });
  io.deassertIrq(7);
  io.assertIrq(7);
  assert.equal(got.length, 2);
});

test("pins outside 0..23 are ignored", () => {
  const { io, got } = setup();
  assert.equal(io.assertIrq(24), false);
  assert.equal(io.assertIrq(-1), false);
  io.deassertIrq(99);
  assert.equal(got.length, 0);
  assert.throws(() => io.redirectionEntry(24));
});

test("reset restores masked entries and lowers all lines", () => {
  const { io, got, read, program } = setup();
  program(3, 0x00000033, 0);
  io.assertIrq(3);
  io.reset();
  assert.equal(read(0x16), 0x00010000);
  program(3, 0x00000033, 0);
  assert.equal(io.assertIrq(3), true, "the line was lowered by reset, so this is a rising edge");
  assert.equal(got.length, 2);
});
