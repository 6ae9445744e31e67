// The vPCI VSP: the host end of a Hyper-V virtual PCI bus as pci-hyperv.c expects
// it (kernel-facts.md §7), far enough to enumerate a function and its BARs:
// QUERY_PROTOCOL_VERSION (accepted up to the newest it speaks; older ones get
// STATUS_REVISION_MISMATCH so the guest walks down), QUERY_BUS_RELATIONS (answered
// with PCI_BUS_RELATIONS2 from 1.3 on, PCI_BUS_RELATIONS before),
// QUERY_RESOURCE_REQUIREMENTS (the probed BARs), BUS_D0ENTRY (the guest's config
// window base: the VSP puts its config space there, in the MMIO the hypervisor
// forwards — by HvCallMmioRead/Write or a trapped access, C23), RESOURCES_ASSIGNED(2)
// and RESOURCES_RELEASED, BUS_D0EXIT. Every guest message is decoded by the
// hv-pci-proto codec and checked; a refusal is a status with a recorded reason.
import type { MmioMap } from "../../platform/mmio.ts";
import { PacketType } from "../../vmbus/constants.ts";
import {
  decodePciGuestMessage,
  encodePciCompletion,
  encodePciHostMessage,
  HvPciConst,
  isHvPciFault,
  PCI_PROTOCOL_VERSIONS,
  PciProtocolVersion,
} from "../../vmbus/hv-pci-proto.ts";
import type { RingReader } from "../../vmbus/ring.ts";
import type { Vsp } from "../vmbus/vsp.ts";
import type { VspChannel } from "./storvsp.ts";
import { configWindow, DEFAULT_VPCI_FUNCTION, VpciFunction, type VpciFunctionSpec } from "./vpci-config.ts";

/** An NTSTATUS the guest sees as a failure (negative as s32): STATUS_UNSUCCESSFUL. */
export const VPCI_STATUS_UNSUCCESSFUL = 0xc0000001;

export interface VpciOptions {
  /** Where the config window is put when the guest enters D0 (the hypervisor's MMIO map of host devices). */
  mmio: MmioMap;
  /** The functions on the bus (default: one MANA VF). */
  functions?: readonly VpciFunctionSpec[];
  /** The newest protocol version it speaks (default 1.4). */
  maxVersion?: number;
}

export class VpciVsp implements Vsp {
  readonly functions: VpciFunction[];
  readonly maxVersion: number;
  readonly #mmio: MmioMap;
  version = 0;
  /** The config window's base from BUS_D0ENTRY (undefined outside D0). */
  configBase: number | undefined;
  /** Slots the guest assigned resources to. */
  readonly assigned = new Set<number>();
  /** Why messages were refused, newest last (bounded). */
  readonly problems: string[] = [];
  readonly #windowName = "vPCI config window";

  constructor(o: VpciOptions) {
    this.#mmio = o.mmio;
    this.functions = (o.functions ?? [DEFAULT_VPCI_FUNCTION]).map((f) => new VpciFunction(f));
    this.maxVersion = o.maxVersion ?? PciProtocolVersion.PCI_PROTOCOL_VERSION_1_4;
  }

  onOpen(): void {
    this.version = 0;
    this.assigned.clear();
  }

  onClose(): void {
    this.#leaveD0();
    this.version = 0;
  }

  #problem(why: string): void {
    this.problems.push(why);
    if (this.problems.length > 64) this.problems.shift();
  }

  #complete(ch: VspChannel, pkt: RingReader, payload: Uint8Array): void {
    ch.send(payload, 0, payload.length, pkt.transId, PacketType.VM_PKT_COMP, 0);
  }

  #status(ch: VspChannel, pkt: RingReader, status: number): void {
    this.#complete(ch, pkt, encodePciCompletion({ kind: "status", status: status | 0 }));
  }

  #leaveD0(): void {
    if (this.configBase === undefined) return;
    this.#mmio.remove(this.#windowName);
    this.configBase = undefined;
  }

  onPacket(ch: VspChannel, pkt: RingReader): void {
    const off = pkt.payloadOffset;
    const msg = decodePciGuestMessage(pkt.buf.slice(off, off + pkt.payloadLength));
    const wantsReply = pkt.type === PacketType.VM_PKT_DATA_INBAND && (pkt.flags & 1) !== 0;
    if (isHvPciFault(msg)) {
      this.#problem(`${msg.code}: ${msg.detail}`);
      if (wantsReply) this.#status(ch, pkt, VPCI_STATUS_UNSUCCESSFUL);
      return;
    }
    switch (msg.kind) {
      case "query-protocol-version": {
        const ok =
          PCI_PROTOCOL_VERSIONS.includes(msg.protocolVersion) && msg.protocolVersion <= this.maxVersion;
        if (ok) this.version = msg.protocolVersion;
        this.#status(ch, pkt, ok ? 0 : HvPciConst.STATUS_REVISION_MISMATCH);
        return;
      }
      case "query-bus-relations": {
        if (this.version === 0) {
          this.#problem("bus relations queried before a version was agreed");
          return;
        }
        const two = this.version >= PciProtocolVersion.PCI_PROTOCOL_VERSION_1_3;
        const m = encodePciHostMessage({
          kind: two ? "bus-relations2" : "bus-relations",
          functions: this.functions.map((f) => f.spec.desc),
        });
        ch.send(m, 0, m.length, 0, PacketType.VM_PKT_DATA_INBAND, 0);
        return;
      }
      case "query-resource-requirements": {
        const f = this.#find(msg.wslot);
        if (!f) {
          this.#problem(`resource requirements of unknown slot 0x${msg.wslot.toString(16)}`);
          this.#complete(
            ch,
            pkt,
            encodePciCompletion({
              kind: "resource-requirements",
              status: VPCI_STATUS_UNSUCCESSFUL | 0,
              probedBar: [],
            }),
          );
          return;
        }
        this.#complete(
          ch,
          pkt,
          encodePciCompletion({ kind: "resource-requirements", status: 0, probedBar: f.probedBars() }),
        );
        return;
      }
      case "bus-d0-entry": {
        const base = msg.mmioBase;
        if (base === 0n || base % 0x1000n !== 0n || base > BigInt(Number.MAX_SAFE_INTEGER)) {
          this.#problem(`D0 entry with config window 0x${base.toString(16)}`);
          this.#status(ch, pkt, VPCI_STATUS_UNSUCCESSFUL);
          return;
        }
        this.#leaveD0();
        try {
          this.#mmio.add(configWindow(Number(base), this.functions));
        } catch (e) {
          this.#problem(`D0 entry: ${(e as Error).message}`);
          this.#status(ch, pkt, VPCI_STATUS_UNSUCCESSFUL);
          return;
        }
        this.configBase = Number(base);
        this.#status(ch, pkt, 0);
        return;
      }
      case "bus-d0-exit":
        this.#leaveD0();
        if (wantsReply) this.#status(ch, pkt, 0);
        return;
      case "resources-assigned":
      case "resources-assigned2":
      case "resources-released": {
        const f = this.#find(msg.wslot);
        if (!f) this.#problem(`${msg.kind} for unknown slot 0x${msg.wslot.toString(16)}`);
        else if (msg.kind === "resources-released") this.assigned.delete(msg.wslot);
        else this.assigned.add(msg.wslot);
        if (wantsReply) this.#status(ch, pkt, f ? 0 : VPCI_STATUS_UNSUCCESSFUL);
        return;
      }
      default:
        this.#problem(`message ${msg.kind} not served`);
        if (wantsReply) this.#status(ch, pkt, VPCI_STATUS_UNSUCCESSFUL);
    }
  }

  #find(wslot: number): VpciFunction | undefined {
    return this.functions.find((f) => f.spec.desc.winSlot === wslot);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#mmio, this.#windowName];
  }
}
