// The attack API's VMBus handles: what an untrusted host controls on VMBus, and
// nothing else — its server's channel messages to the guest (raw bytes included),
// offers and rescinds, the host end of every open channel's rings (the control
// page's indices and the packet bytes, through the host's own view of the shared
// ring pages), what its VSPs send, the GPADLs the guest described to it (their
// pages through the host's view, kept after teardown as a host would keep a stale
// mapping), and which of the guest's channel messages it takes at all.
import type { ChannelMessage } from "../vmbus/messages.ts";

/** One ring as the host maps it: a 4 KiB control page, then the data area. */
export interface RingHandle {
  /** Bytes of the ring, its control page included. */
  readonly size: number;
  /** Bytes of the data area (size - 4096): ring indices run from 0 to dataSize - 1. */
  readonly dataSize: number;
  /** The control page's fields, raw: the host may write any value. */
  writeIndex: number;
  readIndex: number;
  interruptMask: number;
  pendingSendSize: number;
  /** Raw bytes at `off` from the ring's start (the data area starts at 4096). */
  read(off: number, len: number): Uint8Array;
  write(off: number, bytes: Uint8Array): void;
  /** Bytes at data-area index `idx`, wrapping at the end of the data area. */
  readData(idx: number, len: number): Uint8Array;
  writeData(idx: number, bytes: Uint8Array): void;
}

export interface SendOptions {
  transId?: number | bigint;
  /** VM_PKT_* (default VM_PKT_DATA_INBAND). */
  type?: number;
  flags?: number;
}

/** An open channel at the host end. */
export interface ChannelHandle {
  readonly relid: number;
  /** The device's short name ("heartbeat", "timesync", ...). */
  readonly name: string;
  /** Still open at the host (not closed, rescinded or unloaded since). */
  readonly open: boolean;
  /** The host→guest ring: the host writes packets, the guest's hardened reader takes them. */
  readonly toGuest: RingHandle;
  /** The guest→host ring: the guest's zero-padding writer puts its packets here. */
  readonly fromGuest: RingHandle;
  /** A well-formed packet through the host's ring writer; the guest is signalled if the ring was empty. */
  send(payload: Uint8Array, o?: SendOptions): "signal" | "quiet" | "full" | "refused";
  /**
   * Raw packet bytes (descriptor included) at write_index, which then moves on by
   * `advance` bytes (default: the bytes and the 8-byte trailer, rounded up to 8;
   * any number is written as it is). Returns the index the bytes went to. No signal.
   */
  inject(bytes: Uint8Array, advance?: number): number;
  /** Set the channel's event flag and interrupt the guest. */
  signal(): void;
}

/** A GPADL the guest described to the host, as the host keeps it. */
export interface GpadlHandle {
  readonly handle: number;
  readonly relid: number;
  readonly pfns: readonly number[];
  readonly byteCount: number;
  readonly byteOffset: number;
  /** Bytes at `off` of the buffer through the host's view (plaintext only while the pages are shared). */
  read(off: number, len: number): Uint8Array;
  /** Write through the host's view; false when the platform refused (the guest made the pages private again). */
  write(off: number, bytes: Uint8Array): boolean;
}

/** A packet a VSP sends (what a `vsp` interposer sees and may replace). */
export interface VspPacketView {
  payload: Uint8Array;
  transId: number | bigint;
  type: number;
  flags: number;
}

/**
 * Changes to the host's VMBus behaviour. Each hook gets the message decoded (when
 * it decodes) and raw; undefined leaves it as it is.
 */
export interface VmbusInterposer {
  /** A channel message the server posts (to the guest, or with Confidential VMBus to the relay): bytes to post instead, null to drop it. */
  toGuest?(m: ChannelMessage | undefined, raw: Uint8Array, vp: number): Uint8Array | null | undefined;
  /** A channel message the guest posted: null to ignore it (the server never answers). */
  fromGuest?(m: ChannelMessage | undefined, raw: Uint8Array, vp: number): null | undefined;
  /** A packet a VSP sends on an open channel: a replacement, or null to drop it. */
  vsp?(ch: ChannelHandle, p: VspPacketView): VspPacketView | null | undefined;
}

/** A device the server offers. */
export interface OfferInfo {
  readonly relid: number;
  readonly name: string;
  readonly ifType: string;
  readonly ifInstance: string;
  readonly connectionId: number;
  readonly state: "offered" | "open" | "rescinded" | "released";
}

export interface VmbusHandles {
  /** The devices the server offers, in relid order. */
  offers(): OfferInfo[];
  /** The channels open at the host. */
  channels(): ChannelHandle[];
  /** An open channel by device name or relid. */
  channel(nameOrRelid: string | number): ChannelHandle | undefined;
  /** Every GPADL the server created for the guest so far, torn-down ones included. */
  gpadls(): GpadlHandle[];
  /** Post raw channel-message bytes (HvPostMessage: more than 240 bytes and the SynIC drops them). */
  post(payload: Uint8Array, vp?: number): "delivered" | "queued" | "dropped";
  /** Encode and post a channel message (any field values, any relid). */
  send(m: ChannelMessage, vp?: number): "delivered" | "queued" | "dropped";
  /**
   * Raw channel-message bytes posted where the server's own messages go: to its
   * client's SINT — the guest's, or with Confidential VMBus the paravisor's relay at
   * VTL2 (offers, rescinds and answers the paravisor passes on to the guest).
   * `post` and `send` always go to the guest's VMBus SINT on the hypervisor's SynIC.
   */
  postToClient(payload: Uint8Array, vp?: number): "delivered" | "queued" | "dropped";
  /** Encode and post a channel message where the server's own messages go (see postToClient). */
  sendToClient(m: ChannelMessage, vp?: number): "delivered" | "queued" | "dropped";
  /** Rescind an offered device the honest way: its VSP stops, RESCIND_CHANNELOFFER goes out. */
  rescind(relid: number): boolean;
  /** Set event flag `relid` on the guest's VMBus SINT and interrupt it (any relid). */
  signal(relid: number, vp?: number): boolean;
  /** Change what the server posts, takes and sends from now on; later calls merge with earlier ones. */
  interpose(i: VmbusInterposer): void;
}

/** The hypervisor's SynIC, as the hypervisor holds it (message and event pages are shared). */
export interface SynicHandles {
  /** GPAs of a VP's message and event pages (from the SIMP and SIEFP it holds), once enabled. */
  pages(vp: number): { message: number; event: number } | undefined;
  /**
   * Write a raw 256-byte hv_message into a SINT's slot, whatever the slot holds,
   * and (by default) raise the SINT's interrupt. False when the page is not set up.
   */
  writeSlot(vp: number, sint: number, message: Uint8Array, interrupt?: boolean): boolean;
  /** Raise a SINT's interrupt (the vector the guest programmed), as a message or event would. */
  raise(vp: number, sint: number): void;
  /** Messages the hypervisor holds for a SINT until the guest frees the slot (EOM). */
  queued(vp: number, sint: number): number;
}
