// The root partition as far as a guest sees it: its VMBus server and VSPs, bound to
// the hypervisor's SynIC (what the host posts and signals reaches the guest as a
// SynIC message or event flag) and to the VM's scheduler (what the guest posts or
// signals is handled later, as a host task, so no actor re-enters another). The
// host reaches guest memory only through its own UntrustedView.
import { HvStatus } from "../hyperv/hvgdk.ts";
import { HvMessageType, VMBUS_MESSAGE_SINT } from "../hyperv/synic-abi.ts";
import type { Synic } from "../hypervisor/synic.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";
import { defaultDevices, defaultIcs, type HostIcs } from "./vmbus/devices.ts";
import type { VmbusServerIo } from "./vmbus/io.ts";
import { VmbusServer, type VmbusServerOptions } from "./vmbus/server.ts";
import type { HostDevice, Vsp } from "./vmbus/vsp.ts";

export interface HostOptions {
  vmbus?: VmbusServerOptions;
  /** VSPs that replace the default ones, by device name ("scsi", "nic", ...). */
  vsps?: Readonly<Record<string, Vsp>>;
  /** A device list instead of the default one. */
  devices?: (ics: HostIcs) => HostDevice[];
}

export interface HostWiring {
  memory: UntrustedView;
  synic: Synic;
  schedule: (what: string, fn: () => void) => void;
}

export class HostPartition {
  readonly memory: UntrustedView;
  readonly ics: HostIcs;
  readonly vmbus: VmbusServer;
  readonly io: VmbusServerIo;

  constructor(w: HostWiring, opts: HostOptions = {}) {
    this.memory = w.memory;
    this.ics = defaultIcs();
    this.io = {
      memory: w.memory,
      postToGuest: (vp, payload) => {
        w.synic.postMessage(vp, VMBUS_MESSAGE_SINT, HvMessageType.HVMSG_VMBUS, payload);
      },
      signalGuest: (vp, relid) => {
        w.synic.signalEvent(vp, VMBUS_MESSAGE_SINT, relid);
      },
      schedule: w.schedule,
    };
    const devices = opts.devices ? opts.devices(this.ics) : defaultDevices(this.ics, opts.vsps);
    this.vmbus = new VmbusServer(this.io, devices, opts.vmbus);
  }

  /** HvPostMessage's far end: take the message if it is for the VMBus server, handle it later. */
  postMessage(vp: number, connectionId: number, messageType: number, payload: Uint8Array): number {
    if (!this.vmbus.acceptsConnection(connectionId)) return HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
    if (messageType === 0 || messageType >= 0x80000000) return HvStatus.HV_STATUS_INVALID_PARAMETER;
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
}
