// Config-space access of pci-hyperv.c (_hv_pcifront_read_config,
// _hv_pcifront_write_config, hv_pci_read_mmio, hv_pci_write_mmio; kernel-facts.md
// §7): a few fields come from the function description the host gave in bus
// relations; the rest goes through the bus's config window, whose first page
// selects the function (its win_slot) and whose second page is that function's
// config space.
//
// How an access reaches the window (C23):
//  - `use_calls` (HV_X64_USE_MMIO_HYPERCALLS, which Hyper-V sets for a CoCo VM):
//    HvCallMmioWrite of the slot, then HvCallMmioRead/Write of the register, with
//    the input block at the start of the per-CPU hypercall input page and a read's
//    output right after it (offset 16). The access is described, so the hypervisor
//    needs nothing else of the guest's.
//  - otherwise writel/readl on the ioremap'd window: the CPU executes a MOV whose
//    bytes are in the guest's text, and the hypervisor traps and emulates it — it
//    must read the instruction at RIP and the register. The MOV encodings live in a
//    page of the driver's own memory (kernel text: not secret, but private, so
//    encrypted in a CoCo VM).
import { Label } from "../../../audit/labels.ts";
import { HvCallCode, HvStatus } from "../../../hyperv/hvgdk.ts";
import {
  encodeControl,
  HV_MMIO_READ_INPUT,
  HV_MMIO_WRITE_INPUT,
  resultStatus,
} from "../../../hyperv/hypercall-abi.ts";
import { PAGE_SIZE } from "../../../platform/page.ts";
import {
  configCachedRead,
  configReadRoute,
  configWriteRoute,
  HvPciConst,
  type PciFunctionDescription,
  readMmioOutputValue,
  writeMmioReadInput,
  writeMmioWriteInput,
} from "../../../vmbus/hv-pci-proto.ts";
import { hvDoHypercall } from "../../hypercall.ts";
import type { GuestKernel } from "../../kernel.ts";
import { ioremap } from "../../mm/ioremap.ts";

/** The MOVs readl/readw/readb/writel/writew/writeb compile to, with EAX and [RDX]; offsets in the text page. */
export const MMIO_MOVS = {
  writel: { at: 0, bytes: [0x89, 0x02] },
  readl: { at: 2, bytes: [0x8b, 0x02] },
  readw: { at: 4, bytes: [0x0f, 0xb7, 0x02] },
  readb: { at: 7, bytes: [0x0f, 0xb6, 0x02] },
  writew: { at: 10, bytes: [0x66, 0x89, 0x02] },
  writeb: { at: 13, bytes: [0x88, 0x02] },
} as const;

export class PciConfigAccess {
  readonly k: GuestKernel;
  /** The config window (mem_config->start). */
  readonly base: number;
  /** hbus->use_calls: config space by hypercall. */
  useCalls: boolean;
  readonly vp: number;
  /** The ioremap of the window (for the trapped path: its encryption bit). */
  readonly #encrypted: boolean;
  /** GPA of the driver's text page holding the MOVs. */
  readonly #text: number;
  readonly #block = new Uint8Array(HV_MMIO_WRITE_INPUT.size);
  readonly #out = new Uint8Array(4);
  /** Accesses by path. */
  hypercalls = 0;
  trapped = 0;
  failures = 0;

  constructor(k: GuestKernel, base: number, useCalls: boolean, vp = 0) {
    this.k = k;
    this.base = base;
    this.useCalls = useCalls;
    this.vp = vp;
    this.#encrypted = ioremap(k, base, HvPciConst.PCI_CONFIG_MMIO_LENGTH, vp).encrypted;
    const pfn = k.alloc.alloc(1);
    if (pfn === undefined) throw new Error("hv_pci: no page for the config accessors");
    this.#text = pfn * PAGE_SIZE;
    for (const m of Object.values(MMIO_MOVS))
      k.hw.mem.write(this.#text + m.at, Uint8Array.from(m.bytes), Label.PUBLIC);
  }

  /** GPA of the instruction `name` in the text page (for tests: what the trap path executes). */
  instructionAt(name: keyof typeof MMIO_MOVS): number {
    return this.#text + MMIO_MOVS[name].at;
  }

  /** hv_pci_read_mmio(): the value, or undefined when the hypercall failed (logged). */
  #hcRead(gpa: number, size: number): number | undefined {
    const k = this.k;
    const input = k.percpu[this.vp]!.inputPage;
    writeMmioReadInput(this.#block, 0, BigInt(gpa), size);
    k.hw.mem.write(input, this.#block.subarray(0, HV_MMIO_READ_INPUT.size), Label.PUBLIC);
    this.hypercalls++;
    const out = input + HV_MMIO_READ_INPUT.size;
    const r = hvDoHypercall(k, this.vp, encodeControl({ code: HvCallCode.HVCALL_MMIO_READ }), input, out);
    if (resultStatus(r) !== HvStatus.HV_STATUS_SUCCESS) {
      this.failures++;
      k.log(`hv_pci: MMIO read hypercall error ${r.toString(16)} addr ${gpa.toString(16)} size ${size}`);
      return undefined;
    }
    k.hw.mem.read(out, size, this.#out);
    return readMmioOutputValue(this.#out, 0, size);
  }

  /** hv_pci_write_mmio(): false when the hypercall failed (logged). */
  #hcWrite(gpa: number, size: number, value: number): boolean {
    const k = this.k;
    const input = k.percpu[this.vp]!.inputPage;
    writeMmioWriteInput(this.#block, 0, BigInt(gpa), size, value);
    k.hw.mem.write(input, this.#block, Label.PUBLIC);
    this.hypercalls++;
    const r = hvDoHypercall(k, this.vp, encodeControl({ code: HvCallCode.HVCALL_MMIO_WRITE }), input, 0);
    if (resultStatus(r) !== HvStatus.HV_STATUS_SUCCESS) {
      this.failures++;
      k.log(`hv_pci: MMIO write hypercall error ${r.toString(16)} addr ${gpa.toString(16)} size ${size}`);
      return false;
    }
    return true;
  }

  /** writel/readl & co. on the window: the CPU runs the MOV and the hypervisor traps it. */
  #mov(name: keyof typeof MMIO_MOVS, gpa: number, value: number): number {
    this.trapped++;
    return this.k.hw.cpus[this.vp]!.trappedMov(this.#text + MMIO_MOVS[name].at, gpa, value, this.#encrypted);
  }

  /** Select the function, then read `size` bytes of its config space at `where`. */
  #windowRead(slot: number, where: number, size: number): number | undefined {
    const reg = this.base + HvPciConst.CFG_PAGE_OFFSET + where;
    if (this.useCalls) {
      if (!this.#hcWrite(this.base, 4, slot)) return undefined;
      return this.#hcRead(reg, size);
    }
    this.#mov("writel", this.base, slot);
    return this.#mov(size === 1 ? "readb" : size === 2 ? "readw" : "readl", reg, 0);
  }

  #windowWrite(slot: number, where: number, size: number, value: number): boolean {
    const reg = this.base + HvPciConst.CFG_PAGE_OFFSET + where;
    if (this.useCalls) return this.#hcWrite(this.base, 4, slot) && this.#hcWrite(reg, size, value);
    this.#mov("writel", this.base, slot);
    this.#mov(size === 1 ? "writeb" : size === 2 ? "writew" : "writel", reg, value);
    return true;
  }

  /** _hv_pcifront_read_config(): the value, or undefined (beyond the page, or a failed access; logged). */
  read(f: PciFunctionDescription, where: number, size: 1 | 2 | 4): number | undefined {
    switch (configReadRoute(where, size)) {
      case "ids":
      case "class":
      case "ssid":
        return configCachedRead(f, where, size);
      case "rom":
      case "intx":
        return 0;
      case "mmio":
        return this.#windowRead(f.winSlot, where, size);
      case "beyond":
        this.k.log(`hv_pci: Attempt to read beyond a function's config space (0x${where.toString(16)}).`);
        return undefined;
    }
  }

  /** _hv_pcifront_write_config(): false for an access beyond the page or a failed one. */
  write(f: PciFunctionDescription, where: number, size: 1 | 2 | 4, value: number): boolean {
    switch (configWriteRoute(where, size)) {
      case "read-only":
        return true;
      case "mmio":
        return this.#windowWrite(f.winSlot, where, size, value);
      case "beyond":
        this.k.log(`hv_pci: Attempt to write beyond a function's config space (0x${where.toString(16)}).`);
        return false;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#encrypted, this.#text, this.#block, this.#out];
  }
}
