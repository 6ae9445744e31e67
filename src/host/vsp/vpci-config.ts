// The config space of the functions behind a vPCI bus, as the host emulates it,
// and the bus's config window (pci-hyperv.c: PCI_CONFIG_MMIO_LENGTH 0x2000 at the
// mmio_base the guest gave in PCI_BUS_D0ENTRY; kernel-facts.md §7): writing a
// function's win_slot to the first page selects it, the second page is its 4 KiB
// config space. A function is a type-0 header whose writable bits are a mask: the
// command register's memory-space and bus-master bits, and each BAR's address bits
// above its size — so writing all ones and reading back gives the size, as BAR
// probing expects.
//
//   type-0 header: +0 vendor +2 device +4 command +6 status +8 revision +9 class(3)
//   +0x0e header type +0x10..0x24 BAR0..5 +0x2c subsystem vendor/id +0x34 cap ptr
//   +0x3c interrupt line +0x3d interrupt pin
import type { MmioDevice } from "../../platform/mmio.ts";
import { HvPciConst, type PciFunctionDescription, PciReg, probedBarValue } from "../../vmbus/hv-pci-proto.ts";

/** One memory BAR of a function. */
export interface VpciBar {
  /** BAR index (a 64-bit BAR also takes index + 1). */
  index: number;
  /** Bytes (a power of two, at least 4 KiB). */
  size: number;
  is64: boolean;
  prefetch: boolean;
}

/** A function as the host describes it: its bus-relations entry and its BARs. */
export interface VpciFunctionSpec {
  desc: PciFunctionDescription;
  bars: readonly VpciBar[];
}

/**
 * The model's default device: Microsoft's MANA virtual function (vendor 0x1414,
 * device 0x00ba, an Ethernet controller) at slot 0, with a 64-bit prefetchable BAR0
 * of 1 MiB and a 32-bit BAR2 of 64 KiB.
 */
export const DEFAULT_VPCI_FUNCTION: VpciFunctionSpec = {
  desc: {
    vId: 0x1414,
    dId: 0x00ba,
    rev: 0,
    progIntf: 0,
    subclass: 0x00,
    baseClass: 0x02,
    subsystemId: 0x00ba1414,
    winSlot: 0,
    ser: 1,
    flags: 0,
    virtualNumaNode: 0,
  },
  bars: [
    { index: 0, size: 1024 * 1024, is64: true, prefetch: true },
    { index: 2, size: 64 * 1024, is64: false, prefetch: false },
  ],
};

const CFG = HvPciConst.CFG_PAGE_SIZE;

/** A function's config space: bytes and the mask of bits the guest may write. */
export class VpciFunction {
  readonly spec: VpciFunctionSpec;
  readonly space = new Uint8Array(CFG);
  readonly #mask = new Uint8Array(CFG);
  readonly #dv = new DataView(this.space.buffer);
  readonly #mv = new DataView(this.#mask.buffer);
  /** Accesses served, by kind. */
  reads = 0;
  writes = 0;

  constructor(spec: VpciFunctionSpec) {
    this.spec = spec;
    const d = spec.desc;
    const v = this.#dv;
    v.setUint16(PciReg.PCI_VENDOR_ID, d.vId, true);
    v.setUint16(PciReg.PCI_DEVICE_ID, d.dId, true);
    v.setUint16(PciReg.PCI_STATUS, 0, true); // no capabilities list
    this.space[PciReg.PCI_CLASS_REVISION] = d.rev;
    this.space[PciReg.PCI_CLASS_REVISION + 1] = d.progIntf;
    this.space[PciReg.PCI_CLASS_REVISION + 2] = d.subclass;
    this.space[PciReg.PCI_CLASS_REVISION + 3] = d.baseClass;
    this.space[0x0e] = 0x00; // header type 0, single function
    v.setUint32(PciReg.PCI_SUBSYSTEM_VENDOR_ID, d.subsystemId >>> 0, true);
    this.#mv.setUint16(PciReg.PCI_COMMAND, 0x0006, true); // memory space, bus master
    for (const b of spec.bars) {
      const [lo, hi] = probedBarValue(BigInt(b.size), b.is64, b.prefetch);
      const at = PciReg.PCI_BASE_ADDRESS_0 + 4 * b.index;
      v.setUint32(at, lo & 0xf, true); // flags; address 0 until assigned
      this.#mv.setUint32(at, lo & ~0xf, true);
      if (b.is64) {
        v.setUint32(at + 4, 0, true);
        this.#mv.setUint32(at + 4, hi >>> 0, true);
      }
    }
  }

  /** The BAR values resource requirements report: each BAR as it reads after writing all ones. */
  probedBars(): number[] {
    const out = [0, 0, 0, 0, 0, 0];
    for (const b of this.spec.bars) {
      const [lo, hi] = probedBarValue(BigInt(b.size), b.is64, b.prefetch);
      out[b.index] = lo >>> 0;
      if (b.is64) out[b.index + 1] = hi >>> 0;
    }
    return out;
  }

  read(off: number, dst: Uint8Array): void {
    this.reads++;
    for (let i = 0; i < dst.length; i++) dst[i] = off + i < CFG ? this.space[off + i]! : 0xff;
  }

  write(off: number, src: Uint8Array): void {
    this.writes++;
    for (let i = 0; i < src.length && off + i < CFG; i++) {
      const m = this.#mask[off + i]!;
      this.space[off + i] = (this.space[off + i]! & ~m) | (src[i]! & m);
    }
  }

  /** A BAR's current address (0 until the guest assigned one). */
  barAddress(index: number): number {
    const lo = this.#dv.getUint32(PciReg.PCI_BASE_ADDRESS_0 + 4 * index, true) & ~0xf;
    const b = this.spec.bars.find((x) => x.index === index);
    const hi = b?.is64 ? this.#dv.getUint32(PciReg.PCI_BASE_ADDRESS_0 + 4 * index + 4, true) : 0;
    return hi * 0x100000000 + (lo >>> 0);
  }

  get command(): number {
    return this.#dv.getUint16(PciReg.PCI_COMMAND, true);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#mask, this.#dv, this.#mv];
  }
}

/**
 * The bus's config window as an MMIO device at `base`: page 0 takes the slot
 * select (a 32-bit write of win_slot), page 1 is the selected function's config
 * space. An unknown slot reads as all ones and takes no writes.
 */
export function configWindow(
  base: number,
  functions: readonly VpciFunction[],
): MmioDevice & { slot: number } {
  let selected: VpciFunction | undefined;
  const win = {
    name: "vPCI config window",
    base,
    size: HvPciConst.PCI_CONFIG_MMIO_LENGTH,
    slot: -1,
    read(offset: number, dst: Uint8Array): void {
      if (offset >= HvPciConst.CFG_PAGE_OFFSET && selected)
        selected.read(offset - HvPciConst.CFG_PAGE_OFFSET, dst);
      else if (offset === 0 && dst.length === 4)
        new DataView(dst.buffer, dst.byteOffset, 4).setUint32(0, win.slot >>> 0, true);
      else dst.fill(0xff);
    },
    write(offset: number, src: Uint8Array): void {
      if (offset === 0 && src.length === 4) {
        win.slot = new DataView(src.buffer, src.byteOffset, 4).getUint32(0, true);
        selected = functions.find((f) => f.spec.desc.winSlot === win.slot);
        return;
      }
      if (offset >= HvPciConst.CFG_PAGE_OFFSET && selected)
        selected.write(offset - HvPciConst.CFG_PAGE_OFFSET, src);
    },
  };
  return win;
}
