// One Hyper-V virtual PCI bus (drivers/pci/controller/pci-hyperv.c hv_pci_probe and
// the work it queues; kernel-facts.md §7), far enough to enumerate its functions
// and their BARs: protocol negotiation down the version list, the config window
// from the VMBus MMIO range, QUERY_BUS_RELATIONS and the host's bus relations,
// QUERY_RESOURCE_REQUIREMENTS per function (the probed BARs), BUS_D0ENTRY with the
// window's base, the bridge windows sized from the probed BARs, RESOURCES_ASSIGNED
// (2 from 1.2 on), then the PCI scan through config space: header type, BAR sizing
// (write all ones, read back, restore), BAR assignment, memory decode on.
//
// Host packets are read raw (descriptor included) as pci-hyperv.c does, decoded by
// the hv-pci-proto codec and checked (completion length, transaction id through the
// channel's requestor, device_count against the message length); a refusal is
// logged with its reason and changes nothing.
import { Label } from "../../../audit/labels.ts";
import { PacketFlag, PacketType } from "../../../vmbus/constants.ts";
import {
  barRegions,
  decodePciCompletion,
  decodePciHostMessage,
  encodePciGuestMessage,
  getBarSize,
  HVPCI_DESC,
  HvPciConst,
  isHvPciFault,
  PCI_PROTOCOL_VERSIONS,
  type PciCompletion,
  type PciFunctionDescription,
  type PciGuestMessage,
  PciProtocolVersion,
  PciReg,
} from "../../../vmbus/hv-pci-proto.ts";
import type { GuestKernel } from "../../kernel.ts";
import type { VmbusChannel } from "../../vmbus/channel.ts";
import { Errno } from "../../vmbus/connection.ts";
import { PciConfigAccess } from "./config.ts";

/** The VMBus device's MMIO ranges (its ACPI _CRS): low below the IO-APIC, high above any RAM. */
export const VMBUS_LOW_MMIO = { base: 0xf8000000, end: 0xfec00000 } as const;
export const VMBUS_HIGH_MMIO_BASE = 2 ** 40;
/** Where the high range ends (the model's 64 TiB of guest physical address space). */
export const VMBUS_HIGH_MMIO_END = 2 ** 46;

/** Why hv_pci refuses what the host sent. Codes are stable. */
export const HVPCI_REJECTS = {
  HVCOCO_ERR_HVPCI_PACKET: "a host packet the codec refuses (too short, device_count beyond it)",
  HVCOCO_ERR_HVPCI_PACKET_TYPE: "a host packet of a type the driver does not take",
  HVCOCO_ERR_HVPCI_UNSOLICITED: "a completion for no request outstanding",
  HVCOCO_ERR_HVPCI_BAR_MISMATCH: "config space sizes a BAR differently from the resource requirements",
  HVCOCO_ERR_HVPCI_BAR_WINDOW:
    "a BAR that does not fit the window its resource requirements set aside (left unassigned)",
  HVCOCO_ERR_HVPCI_MMIO_SPACE: "resource requirements that need more MMIO space than the VMBus ranges have",
} as const;
export type HvPciRejectCode = keyof typeof HVPCI_REJECTS;

export interface HvPciBar {
  index: number;
  size: number;
  is64: boolean;
  prefetch: boolean;
  /** The address the guest assigned. */
  address: number;
}

/** A function on the bus as the guest found it. */
export interface HvPciFunction {
  desc: PciFunctionDescription;
  /** The BAR values QUERY_RESOURCE_REQUIREMENTS reported. */
  probedBar: number[];
  vendor: number;
  device: number;
  headerType: number;
  classCode: number;
  bars: HvPciBar[];
  /** PCI_COMMAND after the scan enabled memory decode. */
  command: number;
}

interface Pending {
  expect: PciCompletion["kind"];
  done: boolean;
  result: PciCompletion | undefined;
}

const RING = HvPciConst.PCI_RING_SIZE_PAYLOAD + 4096;

export class HvPciBus {
  readonly k: GuestKernel;
  readonly ch: VmbusChannel;
  state: "probing" | "ready" | "failed" = "probing";
  version = 0;
  /** The config window (mem_config). */
  cfgBase = 0;
  lowWindow: { base: number; size: number } | undefined;
  highWindow: { base: number; size: number } | undefined;
  readonly functions: HvPciFunction[] = [];
  config: PciConfigAccess | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #relations: PciFunctionDescription[] | undefined;
  readonly #rx = new Uint8Array(4096);

  constructor(k: GuestKernel, ch: VmbusChannel) {
    this.k = k;
    this.ch = ch;
  }

  static get ringBytes(): number {
    return RING;
  }

  #reject(code: HvPciRejectCode, message: string): void {
    this.k.reject(code, `hv_pci relid ${this.ch.relid}: ${message}`);
  }

  /** hv_pci_onchannelcallback(): raw packets; completions by requestor id, bus relations by type. */
  onChannelCallback(ch: VmbusChannel): void {
    const rx = this.#rx;
    for (let i = 0; i < 1024; i++) {
      const n = ch.recvPacket(rx, true);
      if (n === 0) return;
      if (n < 0) {
        if (n === -Errno.ENOBUFS) continue;
        return;
      }
      const type = rx[0]! | (rx[1]! << 8);
      if (type === PacketType.VM_PKT_COMP) {
        const id = ch.requestAddr(ch.requestIdLo, ch.requestIdHi);
        const p = typeof id === "number" ? this.#pending.get(id) : undefined;
        if (!p) {
          if (id !== undefined)
            this.#reject("HVCOCO_ERR_HVPCI_UNSOLICITED", `completion for request ${String(id)}`);
          continue;
        }
        this.#pending.delete(id as number);
        const c = decodePciCompletion(rx.subarray(HVPCI_DESC, n), p.expect);
        if (isHvPciFault(c)) {
          this.#reject("HVCOCO_ERR_HVPCI_PACKET", `completion: ${c.detail}`);
          p.result = { kind: "status", status: -1 };
        } else p.result = c;
        p.done = true;
        continue;
      }
      if (type === PacketType.VM_PKT_DATA_INBAND) {
        const m = decodePciHostMessage(rx.subarray(HVPCI_DESC, n));
        if (isHvPciFault(m)) {
          this.#reject("HVCOCO_ERR_HVPCI_PACKET", m.detail);
          continue;
        }
        if (m.kind === "bus-relations" || m.kind === "bus-relations2") this.#relations = m.functions;
        else this.k.log(`hv_pci: host message ${m.kind} ignored`);
        continue;
      }
      this.#reject("HVCOCO_ERR_HVPCI_PACKET_TYPE", `packet type ${type}`);
    }
  }

  /** Send a message with COMPLETION_REQUESTED and wait for its completion; -errno when none came. */
  #request(m: PciGuestMessage, expect: PciCompletion["kind"]): PciCompletion | number {
    const id = this.#nextId++;
    const p: Pending = { expect, done: false, result: undefined };
    this.#pending.set(id, p);
    const b = encodePciGuestMessage(m);
    const ret = this.ch.sendPacket(
      b,
      0,
      b.length,
      id,
      PacketType.VM_PKT_DATA_INBAND,
      PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED,
      Label.PUBLIC,
    );
    if (ret !== 0) {
      this.#pending.delete(id);
      return ret;
    }
    if (!this.k.hw.waitFor(() => p.done, `hv_pci ${m.kind}`)) {
      this.#pending.delete(id);
      return -Errno.ETIMEDOUT;
    }
    return p.result ?? { kind: "status", status: -1 };
  }

  #fail(step: string, why: number | string): number {
    this.state = "failed";
    this.k.log(`hv_pci: ${step} failed: ${why}`);
    return typeof why === "number" ? why : -Errno.EIO;
  }

  /** hv_pci_probe() after vmbus_open: 0 or -errno. */
  probe(): number {
    const k = this.k;
    // hv_pci_protocol_negotiation(): newest first; STATUS_REVISION_MISMATCH tries the next.
    for (const v of PCI_PROTOCOL_VERSIONS) {
      const r = this.#request({ kind: "query-protocol-version", protocolVersion: v }, "status");
      if (typeof r === "number") return this.#fail("protocol negotiation", r);
      if (r.status === 0) {
        this.version = v;
        break;
      }
      if (r.status >>> 0 !== HvPciConst.STATUS_REVISION_MISMATCH)
        return this.#fail("protocol negotiation", `status 0x${(r.status >>> 0).toString(16)}`);
    }
    if (this.version === 0) return this.#fail("protocol negotiation", "no version the host accepts");
    k.log(`hv_pci: PCI VMBus probing: Using version 0x${this.version.toString(16)}`);
    // hv_allocate_config_window(): the low VMBus range, when RAM ends below it.
    const low = k.hw.usablePages * 4096 <= VMBUS_LOW_MMIO.base;
    let next = low ? VMBUS_LOW_MMIO.base : VMBUS_HIGH_MMIO_BASE;
    this.cfgBase = next;
    next += HvPciConst.PCI_CONFIG_MMIO_LENGTH;
    this.config = new PciConfigAccess(k, this.cfgBase, k.info?.useMmioHypercalls ?? false);
    // hv_pci_query_relations(): the answer is an in-band PCI_BUS_RELATIONS(2).
    this.#relations = undefined;
    const q = encodePciGuestMessage({ kind: "query-bus-relations" });
    const sent = this.ch.sendPacket(q, 0, q.length, 0, PacketType.VM_PKT_DATA_INBAND, 0, Label.PUBLIC);
    if (sent !== 0) return this.#fail("query bus relations", sent);
    if (!k.hw.waitFor(() => this.#relations !== undefined, "hv_pci bus relations"))
      return this.#fail("query bus relations", -Errno.ETIMEDOUT);
    // pci_devices_present_work → new_pcichild_device: resource requirements of each.
    const relations: readonly PciFunctionDescription[] = this.#relations ?? [];
    for (const desc of relations) {
      const r = this.#request(
        { kind: "query-resource-requirements", wslot: desc.winSlot },
        "resource-requirements",
      );
      if (typeof r === "number") return this.#fail("query resource requirements", r);
      if (r.kind !== "resource-requirements" || r.status < 0) {
        k.log(`hv_pci: query resource requirements failed: ${r.status}`);
        continue;
      }
      this.functions.push({
        desc,
        probedBar: r.probedBar,
        vendor: 0,
        device: 0,
        headerType: 0,
        classCode: 0,
        bars: [],
        command: 0,
      });
    }
    // hv_pci_enter_d0().
    const d0 = this.#request({ kind: "bus-d0-entry", mmioBase: BigInt(this.cfgBase) }, "status");
    if (typeof d0 === "number" || d0.status < 0)
      return this.#fail(
        "D0 entry",
        typeof d0 === "number" ? d0 : `status 0x${(d0.status >>> 0).toString(16)}`,
      );
    // hv_pci_allocate_bridge_windows(): what the probed BARs need, low and high.
    let lowSize = 0n;
    let highSize = 0n;
    for (const f of this.functions) {
      const r = barRegions(f.probedBar);
      lowSize += r.low;
      highSize += r.high;
    }
    // vmbus_allocate_mmio() finds the windows in the VMBus ranges, or the probe fails.
    const align = (x: number, a: number) => Math.ceil(x / a) * a;
    const room = (base: number, end: number, need: bigint, what: string): boolean => {
      if (need <= BigInt(Math.max(0, end - base))) return true;
      this.#reject(
        "HVCOCO_ERR_HVPCI_MMIO_SPACE",
        `Need 0x${need.toString(16)} of ${what} MMIO space. Consider reconfiguring the VM.`,
      );
      return false;
    };
    const lowEnd = low ? VMBUS_LOW_MMIO.end : VMBUS_HIGH_MMIO_END;
    if (lowSize > 0n) {
      const base = align(next, 0x100000);
      if (!room(base, lowEnd, lowSize, "low")) return this.#fail("bridge windows", -Errno.ENOMEM);
      this.lowWindow = { base, size: Number(lowSize) };
      next = base + Number(lowSize);
    }
    if (highSize > 0n) {
      const base = low ? VMBUS_HIGH_MMIO_BASE : align(next, 0x100000);
      if (!room(base, VMBUS_HIGH_MMIO_END, highSize, "high"))
        return this.#fail("bridge windows", -Errno.ENOMEM);
      this.highWindow = { base, size: Number(highSize) };
    }
    // hv_send_resources_allocated(): RESOURCES_ASSIGNED2 from 1.2 on.
    for (const f of this.functions) {
      const m: PciGuestMessage =
        this.version >= PciProtocolVersion.PCI_PROTOCOL_VERSION_1_2
          ? { kind: "resources-assigned2", wslot: f.desc.winSlot, msiDescriptorCount: 0 }
          : { kind: "resources-assigned", wslot: f.desc.winSlot, msiDescriptors: 0 };
      const r = this.#request(m, "status");
      if (typeof r === "number" || r.status < 0)
        return this.#fail("resources assigned", typeof r === "number" ? r : `status ${r.status}`);
    }
    // create_root_hv_pci_bus(): the PCI scan.
    for (const f of this.functions)
      if (!this.#scan(f)) return this.#fail("PCI scan", "config space access failed");
    this.state = "ready";
    return 0;
  }

  #read(f: HvPciFunction, where: number, size: 1 | 2 | 4): number {
    const v = this.config!.read(f.desc, where, size);
    if (v === undefined) throw new ScanError(`read of 0x${where.toString(16)}`);
    return v;
  }

  #write(f: HvPciFunction, where: number, size: 1 | 2 | 4, value: number): void {
    if (!this.config!.write(f.desc, where, size, value))
      throw new ScanError(`write of 0x${where.toString(16)}`);
  }

  /** pci_scan_single_device + pci_read_bases + BAR assignment + memory decode on. */
  #scan(f: HvPciFunction): boolean {
    try {
      f.vendor = this.#read(f, PciReg.PCI_VENDOR_ID, 2);
      f.device = this.#read(f, PciReg.PCI_DEVICE_ID, 2);
      f.classCode = this.#read(f, PciReg.PCI_CLASS_REVISION, 4) >>> 8;
      f.headerType = this.#read(f, 0x0e, 1);
      const cmd = this.#read(f, PciReg.PCI_COMMAND, 2);
      this.#write(f, PciReg.PCI_COMMAND, 2, cmd & ~PciReg.PCI_COMMAND_MEMORY);
      for (let i = 0; i < HvPciConst.PCI_STD_NUM_BARS; i++) {
        const at = PciReg.PCI_BASE_ADDRESS_0 + 4 * i;
        const l = this.#read(f, at, 4);
        this.#write(f, at, 4, 0xffffffff);
        const sz = this.#read(f, at, 4);
        this.#write(f, at, 4, l);
        if (sz === 0 || sz === 0xffffffff || sz & PciReg.PCI_BASE_ADDRESS_SPACE_IO) continue;
        const is64 = (sz & 0x6) === PciReg.PCI_BASE_ADDRESS_MEM_TYPE_64;
        let val = BigInt(sz >>> 0) | 0xffffffff00000000n;
        if (is64) {
          const lh = this.#read(f, at + 4, 4);
          this.#write(f, at + 4, 4, 0xffffffff);
          const szh = this.#read(f, at + 4, 4);
          this.#write(f, at + 4, 4, lh);
          val = (BigInt(szh >>> 0) << 32n) | BigInt(sz >>> 0);
        }
        const size = Number(getBarSize(val));
        const probed = (f.probedBar[i] ?? 0) >>> 0;
        if (probed !== sz >>> 0)
          this.#reject(
            "HVCOCO_ERR_HVPCI_BAR_MISMATCH",
            `BAR${i}: config space reads 0x${(sz >>> 0).toString(16)}, resource requirements said 0x${probed.toString(16)}`,
          );
        f.bars.push({
          index: i,
          size,
          is64,
          prefetch: (sz & PciReg.PCI_BASE_ADDRESS_MEM_PREFETCH) !== 0,
          address: 0,
        });
        if (is64) i++;
      }
      // Assign each BAR from its window, naturally aligned, and check it reads back. A
      // BAR that does not fit (config space sized it larger than the resource
      // requirements did) stays unassigned, and then memory decode stays off
      // (pci_assign_resource's "no space", pci_enable_resources' "not assigned").
      const unassigned: number[] = [];
      for (const b of f.bars) {
        const w = b.is64 ? this.highWindow : this.lowWindow;
        const addr = w && b.size > 0 ? Math.ceil(w.base / b.size) * b.size : Number.NaN;
        if (!w || !Number.isSafeInteger(addr + b.size) || addr + b.size > w.base + w.size) {
          this.#reject(
            "HVCOCO_ERR_HVPCI_BAR_WINDOW",
            `BAR${b.index}: no space for [mem size 0x${b.size.toString(16)}${b.is64 ? " 64bit" : ""}]`,
          );
          unassigned.push(b.index);
          continue;
        }
        w.size -= addr + b.size - w.base;
        w.base = addr + b.size;
        const at = PciReg.PCI_BASE_ADDRESS_0 + 4 * b.index;
        this.#write(f, at, 4, addr % 0x100000000);
        if (b.is64) this.#write(f, at + 4, 4, Math.floor(addr / 0x100000000));
        const back = this.#read(f, at, 4) & ~0xf;
        if (back >>> 0 !== (addr % 0x100000000) >>> 0)
          throw new ScanError(`BAR${b.index} did not take 0x${addr.toString(16)}`);
        b.address = addr;
      }
      if (unassigned.length > 0)
        this.k.log(
          `pci ${f.desc.winSlot.toString(16).padStart(4, "0")}: can't enable device: BAR ${unassigned[0]} not assigned`,
        );
      else this.#write(f, PciReg.PCI_COMMAND, 2, cmd | PciReg.PCI_COMMAND_MEMORY);
      f.command = this.#read(f, PciReg.PCI_COMMAND, 2);
      this.k.log(
        `pci ${f.desc.winSlot.toString(16).padStart(4, "0")}: [${f.vendor.toString(16).padStart(4, "0")}:${f.device.toString(16).padStart(4, "0")}] type ${f.headerType.toString(16).padStart(2, "0")} class 0x${f.classCode.toString(16).padStart(6, "0")}, ${f.bars.length} memory BARs`,
      );
      return true;
    } catch (e) {
      if (e instanceof ScanError) {
        this.k.log(`hv_pci: scan of slot ${f.desc.winSlot}: ${e.message} failed`);
        return false;
      }
      throw e;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#pending, this.#nextId, this.#relations, this.#rx];
  }
  load(s: unknown[]): void {
    this.#nextId = s[1] as never;
    this.#relations = s[2] as never;
  }
}

class ScanError extends Error {}
