// What a malicious host changes about its own VMBus server: the seam through which
// an attack makes the root partition lie, stall or say something else. The honest
// host has none installed. Every hook acts only on what the host itself sends or
// receives — its channel messages to the guest, the guest's messages it takes, the
// packets its VSPs put in the rings — never on guest state.
import type { HostChannel } from "./vmbus/channel.ts";

/** A packet a VSP sends on an open channel (the arguments of HostChannel.send). */
export interface VspPacket {
  payload: Uint8Array;
  transId: number | bigint;
  type: number;
  flags: number;
}

export interface HostInterposer {
  /** A channel message the VMBus server posts to the guest: bytes to post instead, null to drop it, undefined to post it unchanged. */
  toGuest?(vp: number, payload: Uint8Array): Uint8Array | null | undefined;
  /** A channel message the guest posted, before the server handles it: null to ignore it (never answer), undefined to handle it. */
  fromGuest?(vp: number, payload: Uint8Array): null | undefined;
  /** A packet a VSP sends on an open channel: a replacement, null to drop it, undefined to send it unchanged. */
  vspPacket?(ch: HostChannel, p: VspPacket): VspPacket | null | undefined;
}
