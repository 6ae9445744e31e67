// The root partition as far as a guest sees it: its VMBus server and VSPs, bound to
// the hypervisor's SynIC (what the host posts and signals reaches the guest as a
// SynIC message or event flag) and to the VM's scheduler (what the guest posts or
// signals is handled later, as a host task, so no actor re-enters another). The
// host reaches guest memory only through its own UntrustedView.
import { HvStatus } from "../hyperv/hvgdk.ts";
import { HvMessageType, VMBUS_MESSAGE_SINT } from "../hyperv/synic-abi.ts";
import type { PostOutcome, Synic } from "../hypervisor/synic.ts";
import type { MmioMap } from "../platform/mmio.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";
import type { Disk } from "./backends/disk.ts";
import type { HostInterposer } from "./interposer.ts";
import { defaultDevices, defaultIcs, type HostIcs, vpciDevice } from "./vmbus/devices.ts";
import type { MessageTarget, VmbusServerIo } from "./vmbus/io.ts";
import { VmbusServer, type VmbusServerOptions } from "./vmbus/server.ts";
import type { HostDevice, Vsp } from "./vmbus/vsp.ts";
import { NetVsp } from "./vsp/netvsp.ts";
import { defaultScsiDisk, StorVsp } from "./vsp/storvsp.ts";
import { type VpciOptions, VpciVsp } from "./vsp/vpci.ts";

export interface HostOptions {
  vmbus?: VmbusServerOptions;
  /** VSPs that replace the default ones, by device name ("scsi", "nic", ...). */
  vsps?: Readonly<Record<string, Vsp>>;
  /** A device list instead of the default one. */
  devices?: (ics: HostIcs) => HostDevice[];
  /** The disk behind the synthetic SCSI controller (LUN 0); a sparse in-memory disk when absent. */
  disk?: Disk;
  /** Offer a vPCI bus (a device assigned to the VM; C23): true for the default function, its options, or a VSP. */
  vpci?: boolean | Omit<VpciOptions, "mmio"> | VpciVsp;
}

export interface HostWiring {
  memory: UntrustedView;
  synic: Synic;
  schedule: (what: string, fn: () => void) => void;
  /**
   * A message to a client at VTL2 (the paravisor's relay connects with msg_vtl 2):
   * the hypervisor delivers it to that VTL's SynIC. Absent: dropped.
   */
  postToVtl2?: (vp: number, sint: number, payload: Uint8Array) => boolean;
  /** The MMIO the hypervisor forwards to the host's devices (where a vPCI bus puts its config space). */
  mmio?: MmioMap;
}

export class HostPartition {
  readonly memory: UntrustedView;
  readonly ics: HostIcs;
  readonly vmbus: VmbusServer;
  readonly io: VmbusServerIo;
  /** The storage VSP behind the "scsi" offer (unless `vsps` replaced it). */
  readonly storvsp: StorVsp;
  /** The vPCI VSP behind the "pcie" offer, when one is offered. */
  readonly vpci: VpciVsp | undefined;
  /** The network VSP behind the "nic" offer (the one `vsps` passes as "nic", if it is a NetVsp). */
  readonly net: NetVsp;
  /** A malicious host's changes to its own VMBus behaviour (none when honest). */
  interposer: HostInterposer | undefined;
  readonly #synic: Synic;
  readonly #postToVtl2: HostWiring["postToVtl2"];

  constructor(w: HostWiring, opts: HostOptions = {}) {
    this.memory = w.memory;
    this.ics = defaultIcs();
    this.#synic = w.synic;
    this.#postToVtl2 = w.postToVtl2;
    this.io = {
      memory: w.memory,
      // What the server posts goes to its client — the guest, or the paravisor's relay
      // at VTL2 — and a malicious host's interposer sees it either way.
      postToGuest: (vp, payload, target) => {
        const lie = this.interposer?.toGuest?.(vp, payload);
        if (lie !== null) this.#deliver(vp, lie ?? payload, target);
      },
      signalGuest: (vp, relid) => {
        w.synic.signalEvent(vp, VMBUS_MESSAGE_SINT, relid);
      },
      schedule: w.schedule,
    };
    this.storvsp = new StorVsp({ memory: w.memory, disk: opts.disk ?? defaultScsiDisk() });
    const nic = opts.vsps?.["nic"];
    this.net = nic instanceof NetVsp ? nic : new NetVsp();
    this.net.bind({ memory: w.memory, gpadl: (h) => this.vmbus.gpadl(h) });
    const vsps = { scsi: this.storvsp, nic: this.net, ...opts.vsps };
    this.vpci =
      opts.vpci instanceof VpciVsp
        ? opts.vpci
        : opts.vpci && w.mmio
          ? new VpciVsp({ ...(opts.vpci === true ? {} : opts.vpci), mmio: w.mmio })
          : undefined;
    const devices = opts.devices
      ? opts.devices(this.ics)
      : [...defaultDevices(this.ics, vsps), ...(this.vpci ? [vpciDevice(this.vpci)] : [])];
    this.vmbus = new VmbusServer(this.io, devices, opts.vmbus);
  }

  /** Change how the host behaves from now on; later calls merge with earlier ones. */
  interpose(i: HostInterposer): void {
    this.interposer = { ...(this.interposer ?? {}), ...i };
    this.vmbus.interposer = this.interposer;
  }

  /** Post channel-message bytes to the guest's VMBus SINT as they are (HvPostMessage from the root). */
  postRaw(vp: number, payload: Uint8Array): PostOutcome {
    return this.#synic.postMessage(vp, VMBUS_MESSAGE_SINT, HvMessageType.HVMSG_VMBUS, payload);
  }

  /**
   * Post channel-message bytes as they are to where the server's client asked its
   * messages to go: the guest's VMBus SINT, or (Confidential VMBus) the paravisor's
   * relay at VTL2.
   */
  postToClient(vp: number, payload: Uint8Array): PostOutcome {
    return this.#deliver(vp, payload, this.vmbus.messageTarget);
  }

  #deliver(vp: number, payload: Uint8Array, target: MessageTarget | undefined): PostOutcome {
    if (target?.vtl === 2) return this.#postToVtl2?.(vp, target.sint, payload) ? "delivered" : "dropped";
    return this.postRaw(vp, payload);
  }

  /** HvPostMessage's far end: take the message if it is for the VMBus server, handle it later. */
  postMessage(vp: number, connectionId: number, messageType: number, payload: Uint8Array): number {
    if (!this.vmbus.acceptsConnection(connectionId)) return HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
    if (messageType === 0 || messageType >= 0x80000000) return HvStatus.HV_STATUS_INVALID_PARAMETER;
    if (this.interposer?.fromGuest?.(vp, payload) === null) return HvStatus.HV_STATUS_SUCCESS; // ignored
    const copy = payload.slice();
    this.io.schedule("vmbus: channel message", () => this.vmbus.onMessage(vp, copy));
    return HvStatus.HV_STATUS_SUCCESS;
  }

  /** HvSignalEvent's far end: a channel's connection id. */
  signalEvent(_vp: number, connectionId: number, _flag: number): number {
    return this.vmbus.onSignal(connectionId)
      ? HvStatus.HV_STATUS_SUCCESS
      : HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#synic, this.#postToVtl2];
  }
}
