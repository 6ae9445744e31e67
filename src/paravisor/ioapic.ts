// The IO-APIC the paravisor emulates at HV_IOAPIC_BASE_ADDRESS (C12): the guest maps
// this page private (hv_is_private_mmio()), so its register accesses reach the
// paravisor rather than the host.
//
// Register model: Intel 82093AA I/O APIC datasheet (section 3, "Register
// Description"), as OpenHCL/OpenVMM emulates it (vm/devices/chipset/src/ioapic):
// version 0x11, 24 redirection entries, no EOI register (that arrived with version
// 0x20); end of interrupt reaches the IO-APIC as the local APIC's broadcast EOI
// (handleEoi). Two indirect-access windows: IOREGSEL at 0x00 selects a register,
// IOWIN at 0x10 reads or writes it (32 bits).
//
// Redirection entry (two registers, 0x10 + 2n low and 0x11 + 2n high):
//   7:0 vector, 10:8 delivery mode, 11 destination mode (1 logical), 12 delivery
//   status (RO), 13 polarity (1 active low), 14 remote IRR (RO), 15 trigger mode
//   (1 level), 16 mask, 55:48 extended destination ID (Hyper-V's msi_ext_dest_id
//   use; Linux virt_destid_8_14 in 55:49), 63:56 destination.
//
// Semantics: an edge-triggered pin delivers on a rising edge of its line if
// unmasked (an edge while masked is lost); a level-triggered pin (fixed or
// lowest-priority delivery only) delivers while its line is asserted, unmasked and
// remote IRR is clear, and sets remote IRR; an EOI for the vector clears remote IRR
// and re-delivers if the line is still asserted. Unmasking a level-triggered pin
// whose line is asserted delivers. Writing edge trigger mode clears remote IRR (the
// behaviour Linux relies on to EOI an IO-APIC without an EOI register,
// arch/x86/kernel/apic/io_apic.c __eoi_ioapic_pin()).

/** HV_IOAPIC_BASE_ADDRESS (arch/x86/hyperv/ivm.c): one page, [0xFEC00000, 0xFEC01000); defined once, in hyperv/hvgdk.ts. */
import { HV_IOAPIC_BASE_ADDRESS } from "../hyperv/hvgdk.ts";
import { type ConstantEntry, constantsOf, defineStruct } from "../layout/struct.ts";

export { HV_IOAPIC_BASE_ADDRESS };
export const IOAPIC_MMIO_SIZE = 0x1000;

/** The MMIO window (82093AA 3.0: IOREGSEL and IOWIN, 32-bit registers). */
export const IOAPIC_MMIO = defineStruct(
  "IOAPIC MMIO window",
  "Intel 82093AA I/O APIC datasheet 3.0 (little-endian)",
  [
    { name: "ioregsel", size: 4, note: "7:0 register index; 31:8 reserved" },
    { name: "reserved0", size: 12 },
    { name: "iowin", size: 4, note: "data of the selected register (32-bit access)" },
  ] as const,
);

/** One redirection-table entry as two indirect registers (0x10 + 2n low, 0x11 + 2n high). */
export const IOAPIC_REDIRECTION_ENTRY = defineStruct(
  "IOAPIC redirection table entry",
  "Intel 82093AA I/O APIC datasheet 3.2.4 IOREDTBL[23:0]; arch/x86/include/asm/io_apic.h",
  [
    {
      name: "low",
      size: 4,
      note: "7:0 vector, 10:8 delivery mode, 11 dest mode, 12 delivery status (RO), 13 polarity, 14 remote IRR (RO), 15 trigger, 16 mask",
    },
    { name: "high", size: 4, note: "55:48 extended destination ID, 63:56 destination (bits 32:47 reserved)" },
  ] as const,
);

/** Indirect register indices (82093AA Table 2) and layout facts. */
export const IOAPIC_REG = {
  ID: 0x00,
  VER: 0x01,
  ARB: 0x02,
  REDTBL_BASE: 0x10,
  /** 82093AA: version 0x11 (no EOI register; version 0x20 would add one at MMIO 0x40). */
  VERSION: 0x11,
  /** Redirection entries 0..23. */
  MAX_REDIRECTION_ENTRY: 23,
  NUM_PINS: 24,
  /** IOAPICID 27:24; IOAPICARB 27:24 (loaded from the ID when the ID is written). */
  ID_SHIFT: 24,
  ID_MASK: 0x0f000000,
  /** IOAPICVER 23:16: maximum redirection entry. */
  VER_MRE_SHIFT: 16,
} as const;

/** Redirection-table entry bits, split into the low and high 32-bit registers. */
export const IOAPIC_RTE = {
  LO_VECTOR_MASK: 0x000000ff,
  LO_DELIVERY_MODE_SHIFT: 8,
  LO_DELIVERY_MODE_MASK: 0x00000700,
  LO_DEST_MODE_LOGICAL: 0x00000800,
  LO_DELIVERY_STATUS: 0x00001000,
  LO_POLARITY_LOW: 0x00002000,
  LO_REMOTE_IRR: 0x00004000,
  LO_TRIGGER_LEVEL: 0x00008000,
  LO_MASKED: 0x00010000,
  /** Bits the guest may write in the low register (delivery status and remote IRR are read-only). */
  LO_WRITABLE: 0x0001afff,
  HI_EXT_DEST_SHIFT: 16,
  HI_DEST_SHIFT: 24,
  /** Bits the guest may write in the high register: 55:48 extended destination, 63:56 destination. */
  HI_WRITABLE: 0xffff0000,
  /** Reset value of the low register: masked (82093AA: other fields undefined; zero here). */
  LO_RESET: 0x00010000,
} as const;

/** Delivery modes (82093AA 3.2.4, bits 10:8). */
export const IOAPIC_DELIVERY_MODE = {
  FIXED: 0,
  LOWEST_PRIORITY: 1,
  SMI: 2,
  NMI: 4,
  INIT: 5,
  EXTINT: 7,
} as const;

/** What the IO-APIC sends to the local APICs for one interrupt. */
export interface IoApicDelivery {
  pin: number;
  vector: number;
  /** Destination APIC ID (bits 63:56), physical or logical per `logical`. */
  destination: number;
  /** Bits 55:48, set by guests that use the extended destination ID. */
  extendedDestination: number;
  deliveryMode: number;
  logical: boolean;
  level: boolean;
}

/** The sink: the paravisor's interrupt path to the target vCPU's local APIC. */
export type IoApicSink = (vector: number, destApicId: number, delivery: IoApicDelivery) => void;

export interface IoApicStats {
  /** Interrupts delivered, all pins. */
  delivered: number;
  /** Edges that arrived while the pin was masked (lost). */
  maskedEdges: number;
}

export class IoApic {
  static readonly BASE = HV_IOAPIC_BASE_ADDRESS;
  static readonly SIZE = IOAPIC_MMIO_SIZE;
  readonly stats: IoApicStats = { delivered: 0, maskedEdges: 0 };
  readonly #deliver: IoApicSink;
  #index = 0;
  #id = 0;
  #arb = 0;
  readonly #lo = new Uint32Array(IOAPIC_REG.NUM_PINS);
  readonly #hi = new Uint32Array(IOAPIC_REG.NUM_PINS);
  readonly #line = new Uint8Array(IOAPIC_REG.NUM_PINS);

  constructor(deliver: IoApicSink) {
    this.#deliver = deliver;
    this.reset();
  }

  /** Power-on state: index 0, ID 0, every entry masked, every line low. */
  reset(): void {
    this.#index = 0;
    this.#id = 0;
    this.#arb = 0;
    this.#lo.fill(IOAPIC_RTE.LO_RESET);
    this.#hi.fill(0);
    this.#line.fill(0);
  }

  /** MMIO read at `offset` within the page. IOREGSEL and IOWIN answer any size (low bytes); the rest reads 0. */
  mmioRead(offset: number, size: number): number {
    checkAccess(offset, size);
    let v: number;
    if (offset === IOAPIC_MMIO.off.ioregsel) v = this.#index;
    else if (offset === IOAPIC_MMIO.off.iowin) v = this.#readRegister(this.#index);
    else return 0;
    return size >= 4 ? v >>> 0 : v & ((1 << (8 * size)) - 1);
  }

  /** MMIO write. IOREGSEL takes its low byte; IOWIN takes 32-bit writes only; anything else is ignored. */
  mmioWrite(offset: number, size: number, value: number): void {
    checkAccess(offset, size);
    if (offset === IOAPIC_MMIO.off.ioregsel) this.#index = value & 0xff;
    else if (offset === IOAPIC_MMIO.off.iowin && size === 4) this.#writeRegister(this.#index, value >>> 0);
  }

  /** Raise a pin's line. Returns whether an interrupt was delivered. Pins outside 0..23 are ignored. */
  assertIrq(pin: number): boolean {
    if (!validPin(pin)) return false;
    const wasHigh = this.#line[pin] !== 0;
    this.#line[pin] = 1;
    return this.#evaluate(pin, !wasHigh);
  }

  /** Lower a pin's line. */
  deassertIrq(pin: number): void {
    if (validPin(pin)) this.#line[pin] = 0;
  }

  /** The local APIC's broadcast EOI for `vector`: clear remote IRR on matching entries, re-deliver if still asserted. */
  handleEoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_REG.NUM_PINS; pin++) {
      if ((this.#lo[pin]! & IOAPIC_RTE.LO_VECTOR_MASK) !== (vector & 0xff)) continue;
      this.#lo[pin] = this.#lo[pin]! & ~IOAPIC_RTE.LO_REMOTE_IRR;
      this.#evaluate(pin, false);
    }
  }

  /** The 64-bit redirection entry of a pin (for inspection and tests). */
  redirectionEntry(pin: number): bigint {
    if (!validPin(pin)) throw new Error(`IO-APIC pin ${pin} does not exist`);
    return (BigInt(this.#hi[pin]!) << 32n) | BigInt(this.#lo[pin]!);
  }

  #readRegister(index: number): number {
    if (index === IOAPIC_REG.ID) return (this.#id << IOAPIC_REG.ID_SHIFT) >>> 0;
    if (index === IOAPIC_REG.VER)
      return (IOAPIC_REG.MAX_REDIRECTION_ENTRY << IOAPIC_REG.VER_MRE_SHIFT) | IOAPIC_REG.VERSION;
    if (index === IOAPIC_REG.ARB) return (this.#arb << IOAPIC_REG.ID_SHIFT) >>> 0;
    const rte = index - IOAPIC_REG.REDTBL_BASE;
    if (rte >= 0 && rte < 2 * IOAPIC_REG.NUM_PINS) {
      const pin = rte >>> 1;
      return (rte & 1) === 0 ? this.#lo[pin]! : this.#hi[pin]!;
    }
    return 0;
  }

  #writeRegister(index: number, value: number): void {
    if (index === IOAPIC_REG.ID) {
      this.#id = (value & IOAPIC_REG.ID_MASK) >>> IOAPIC_REG.ID_SHIFT;
      this.#arb = this.#id; // 82093AA 3.2.3: the arbitration ID is loaded when the ID is written
      return;
    }
    const rte = index - IOAPIC_REG.REDTBL_BASE;
    if (rte < 0 || rte >= 2 * IOAPIC_REG.NUM_PINS) return; // VER, ARB and unknown registers: read-only / ignored
    const pin = rte >>> 1;
    if ((rte & 1) === 1) {
      this.#hi[pin] = (value & IOAPIC_RTE.HI_WRITABLE) >>> 0;
      return;
    }
    const ro = this.#lo[pin]! & (IOAPIC_RTE.LO_DELIVERY_STATUS | IOAPIC_RTE.LO_REMOTE_IRR);
    let lo = (value & IOAPIC_RTE.LO_WRITABLE) | ro;
    if ((lo & IOAPIC_RTE.LO_TRIGGER_LEVEL) === 0) lo &= ~IOAPIC_RTE.LO_REMOTE_IRR;
    this.#lo[pin] = lo >>> 0;
    // An unmasked level-triggered pin with its line asserted delivers now.
    this.#evaluate(pin, false);
  }

  #evaluate(pin: number, risingEdge: boolean): boolean {
    const lo = this.#lo[pin]!;
    const mode = (lo & IOAPIC_RTE.LO_DELIVERY_MODE_MASK) >>> IOAPIC_RTE.LO_DELIVERY_MODE_SHIFT;
    // Only fixed and lowest-priority delivery can be level triggered.
    const level =
      (lo & IOAPIC_RTE.LO_TRIGGER_LEVEL) !== 0 &&
      (mode === IOAPIC_DELIVERY_MODE.FIXED || mode === IOAPIC_DELIVERY_MODE.LOWEST_PRIORITY);
    if ((lo & IOAPIC_RTE.LO_MASKED) !== 0) {
      if (!level && risingEdge) this.stats.maskedEdges++;
      return false;
    }
    if (level ? this.#line[pin] === 0 || (lo & IOAPIC_RTE.LO_REMOTE_IRR) !== 0 : !risingEdge) return false;
    if (level) this.#lo[pin] = (lo | IOAPIC_RTE.LO_REMOTE_IRR) >>> 0;
    const hi = this.#hi[pin]!;
    const delivery: IoApicDelivery = {
      pin,
      vector: lo & IOAPIC_RTE.LO_VECTOR_MASK,
      destination: hi >>> IOAPIC_RTE.HI_DEST_SHIFT,
      extendedDestination: (hi >>> IOAPIC_RTE.HI_EXT_DEST_SHIFT) & 0xff,
      deliveryMode: mode,
      logical: (lo & IOAPIC_RTE.LO_DEST_MODE_LOGICAL) !== 0,
      level,
    };
    this.stats.delivered++;
    this.#deliver(delivery.vector, delivery.destination, delivery);
    return true;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#deliver, this.#index, this.#id, this.#arb, this.#lo, this.#hi, this.#line];
  }
  load(s: unknown[]): void {
    this.#index = s[1] as never;
    this.#id = s[2] as never;
    this.#arb = s[3] as never;
  }
}

function validPin(pin: number): boolean {
  return Number.isInteger(pin) && pin >= 0 && pin < IOAPIC_REG.NUM_PINS;
}

function checkAccess(offset: number, size: number): void {
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8)
    throw new Error(`IO-APIC MMIO access of ${size} bytes`);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > IOAPIC_MMIO_SIZE) {
    throw new Error(`IO-APIC MMIO access at 0x${offset.toString(16)} is outside the page`);
  }
}

export const IOAPIC_CONSTANTS: readonly ConstantEntry[] = [
  ...constantsOf("IOAPIC", "arch/x86/hyperv/ivm.c; Intel 82093AA datasheet", {
    HV_IOAPIC_BASE_ADDRESS,
    IOAPIC_MMIO_SIZE,
    ...IOAPIC_REG,
  }),
  ...constantsOf("IOAPIC_RTE", "Intel 82093AA datasheet 3.2.4", IOAPIC_RTE),
  ...constantsOf("IOAPIC delivery mode", "Intel 82093AA datasheet 3.2.4", IOAPIC_DELIVERY_MODE),
];
