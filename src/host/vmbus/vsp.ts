// A virtual service provider: the host end of one offered device. The server
// offers each HostDevice, and once the guest opens its channel hands the VSP a
// HostChannel; storvsp, netvsp and the ICs plug in here.
import type { RingReader } from "../../vmbus/ring.ts";
import type { HostChannel } from "./channel.ts";

export interface Vsp {
  /** The guest opened the channel (runs as a host task after OPENCHANNEL_RESULT): send the first packets. */
  onOpen(ch: HostChannel): void;
  /** One packet from the guest, held in `pkt` (its buf, type, transId, payload offset and length) until return. */
  onPacket(ch: HostChannel, pkt: RingReader): void;
  /** The channel is gone (CLOSECHANNEL, rescind or UNLOAD): forget it. */
  onClose?(ch: HostChannel): void;
}

/** One device the host offers. */
export interface HostDevice {
  /** A short name for logs ("heartbeat", "scsi"). */
  readonly name: string;
  /** Class GUID (offer if_type) and instance GUID. */
  readonly ifType: string;
  readonly ifInstance: string;
  readonly vsp: Vsp;
  /** Offer chn_flags (0 by default). */
  readonly chnFlags?: number;
  readonly mmioMegabytes?: number;
  /** Offer user_def bytes (up to 120). */
  readonly userDefined?: Uint8Array;
  /** Offer with monitor_allocated: the guest signals through the monitor page, which the host polls. */
  readonly monitored?: boolean;
}

/** A VSP that accepts the channel and ignores what arrives (devices the model does not serve yet). */
export class NullVsp implements Vsp {
  packets = 0;
  opened = 0;
  onOpen(): void {
    this.opened++;
  }
  onPacket(): void {
    this.packets++;
  }
}
