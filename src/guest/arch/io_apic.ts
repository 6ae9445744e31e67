// The guest's IO-APIC setup (arch/x86/kernel/apic/io_apic.c: io_apic_get_version /
// setup_IO_APIC / clear_IO_APIC, ioapic_write_entry), on a mapping from ioremap():
// private with a paravisor, which emulates the IO-APIC (hv_is_private_mmio, C12);
// shared without one, where the host emulates it. The guest reads the version,
// masks every redirection entry, then routes one pin: ISA IRQ 4 (COM1) to
// ISA_IRQ_VECTOR(4) on the boot CPU, edge triggered, active high, with a handler.
// What the IO-APIC registers say is validated like any device input.
import { Label } from "../../audit/labels.ts";
import { HV_IOAPIC_BASE_ADDRESS } from "../../hyperv/hvgdk.ts";
import { IOAPIC_MMIO, IOAPIC_REG, IOAPIC_RTE } from "../../paravisor/ioapic.ts";
import { FIRST_EXTERNAL_VECTOR } from "../../platform/exceptions.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import type { GuestKernel } from "../kernel.ts";
import { type IoMapping, ioremap } from "../mm/ioremap.ts";

/** ISA_IRQ_VECTOR(irq) = ((FIRST_EXTERNAL_VECTOR + 16) & ~15) + irq (arch/x86/include/asm/irq_vectors.h). */
export function isaIrqVector(irq: number): number {
  return ((FIRST_EXTERNAL_VECTOR + 16) & ~15) + irq;
}

/** The serial port's ISA IRQ. */
export const COM1_IRQ = 4;

export interface GuestIoApicState {
  encrypted: boolean;
  version: number;
  entries: number;
  /** Interrupts the routed pin delivered to the guest. */
  interrupts: number;
  mapping: IoMapping;
}

function readReg(m: IoMapping, reg: number): number {
  m.writel(IOAPIC_MMIO.off.ioregsel, reg, Label.PUBLIC);
  return m.readl(IOAPIC_MMIO.off.iowin);
}

function writeReg(m: IoMapping, reg: number, v: number): void {
  m.writel(IOAPIC_MMIO.off.ioregsel, reg, Label.PUBLIC);
  m.writel(IOAPIC_MMIO.off.iowin, v, Label.PUBLIC);
}

/** Set up the IO-APIC; undefined (with a logged reason) if its registers make no sense. */
export function setupIoApic(k: GuestKernel): GuestIoApicState | undefined {
  const m = ioremap(k, HV_IOAPIC_BASE_ADDRESS, PAGE_SIZE);
  const ver = readReg(m, IOAPIC_REG.VER);
  const version = ver & 0xff;
  const entries = ((ver >>> IOAPIC_REG.VER_MRE_SHIFT) & 0xff) + 1;
  // A version register of all ones is no IO-APIC; more than 240 entries is nonsense.
  if (ver === 0xffffffff || entries > 240 || version < 0x10) {
    k.reject("HVCOCO_REJECT_IOAPIC", `IO-APIC version register 0x${ver.toString(16)} makes no sense`);
    return undefined;
  }
  // clear_IO_APIC(): mask every entry.
  for (let pin = 0; pin < Math.min(entries, IOAPIC_REG.NUM_PINS); pin++)
    writeReg(m, IOAPIC_REG.REDTBL_BASE + 2 * pin, IOAPIC_RTE.LO_MASKED);
  const state: GuestIoApicState = { encrypted: m.encrypted, version, entries, interrupts: 0, mapping: m };
  // Route COM1's pin to the boot CPU (physical destination APIC ID 0), unmasked.
  const vector = isaIrqVector(COM1_IRQ);
  k.hw.apics[0]?.install(vector, () => {
    state.interrupts++;
  });
  writeReg(m, IOAPIC_REG.REDTBL_BASE + 2 * COM1_IRQ + 1, 0 << IOAPIC_RTE.HI_DEST_SHIFT);
  writeReg(m, IOAPIC_REG.REDTBL_BASE + 2 * COM1_IRQ, vector);
  k.log(
    `IOAPIC[0]: version 0x${version.toString(16)}, ${entries} pins, ${m.encrypted ? "private" : "shared"} MMIO at 0x${HV_IOAPIC_BASE_ADDRESS.toString(16)}`,
  );
  return state;
}
