// The channel messages as a tagged union (one `kind` per message type that has a
// layout), with each kind's msgtype and fixed size. Codecs: messages.ts.
import { ChannelMessageType } from "./constants.ts";
import * as L from "./layout.ts";
import type { ChannelOffer } from "./offer.ts";

const T = ChannelMessageType;

interface Relid {
  childRelid: number;
}
export interface OfferChannelMsg extends Relid {
  kind: "offer";
  offer: ChannelOffer;
  monitorId: number;
  /** The whole u8: bit 0 monitor_allocated, other bits reserved (kept as sent). */
  monitorAllocated: number;
  /** The whole u16: bit 0 is_dedicated_interrupt, other bits reserved (kept as sent). */
  isDedicatedInterrupt: number;
  connectionId: number;
}
export interface RescindMsg extends Relid {
  kind: "rescind";
}
export interface HeaderOnlyMsg {
  kind: "request-offers" | "all-offers-delivered" | "unload" | "unload-response";
}
export interface OpenChannelMsg extends Relid {
  kind: "open";
  openId: number;
  ringbufferGpadlHandle: number;
  targetVp: number;
  /** Send ring size in 4 KiB pages: where the host→guest ring starts in the GPADL. */
  downstreamRingbufferPageOffset: number;
  /** Up to 120 bytes (zero-filled to 120 on the wire). */
  userData: Uint8Array;
}
export interface OpenResultMsg extends Relid {
  kind: "open-result";
  openId: number;
  status: number;
}
export interface CloseChannelMsg extends Relid {
  kind: "close";
}
export interface GpadlHeaderMsg extends Relid {
  kind: "gpadl-header";
  gpadl: number;
  /** Bytes of all ranges with all their PFNs (8 + 8 * pages for Linux's one range). */
  rangeBufLen: number;
  rangeCount: number;
  /** The first gpa_range's header. */
  byteCount: number;
  byteOffset: number;
  /** The PFNs carried in this message (the rest follow in GPADL_BODY messages). */
  pfns: number[];
}
export interface GpadlBodyMsg {
  kind: "gpadl-body";
  msgnumber: number;
  gpadl: number;
  pfns: number[];
}
export interface GpadlCreatedMsg extends Relid {
  kind: "gpadl-created";
  gpadl: number;
  creationStatus: number;
}
export interface GpadlTeardownMsg extends Relid {
  kind: "gpadl-teardown";
  gpadl: number;
}
export interface GpadlTorndownMsg {
  kind: "gpadl-torndown";
  gpadl: number;
}
export interface RelidReleasedMsg extends Relid {
  kind: "relid-released";
}
export interface InitiateContactMsg {
  kind: "initiate-contact";
  versionRequested: number;
  targetVcpu: number;
  /** The union's u64 as a whole: the interrupt page (version < 5.0). */
  interruptPage: bigint;
  /** The union's fields for version >= 5.0 (written instead of interruptPage then). */
  msgSint: number;
  msgVtl: number;
  featureFlags: number;
  monitorPage1: bigint;
  monitorPage2: bigint;
}
export interface VersionResponseMsg {
  kind: "version-response";
  versionSupported: number;
  connectionState: number;
  msgConnId: number;
  /** OpenVMM VersionResponse2 (20 bytes, version >= 6.0): present only when sent. */
  supportedFeatures?: number;
}
export interface TlConnectRequestMsg {
  kind: "tl-connect-request";
  guestEndpointId: string;
  hostServiceId: string;
}
export interface TlConnectResultMsg {
  kind: "tl-connect-result";
  endpointId: string;
  serviceId: string;
  status: number;
}
export interface ModifyChannelMsg extends Relid {
  kind: "modify-channel";
  targetVp: number;
}
export interface ModifyChannelResponseMsg extends Relid {
  kind: "modify-channel-response";
  status: number;
}

export type ChannelMessage =
  | OfferChannelMsg
  | RescindMsg
  | HeaderOnlyMsg
  | OpenChannelMsg
  | OpenResultMsg
  | CloseChannelMsg
  | GpadlHeaderMsg
  | GpadlBodyMsg
  | GpadlCreatedMsg
  | GpadlTeardownMsg
  | GpadlTorndownMsg
  | RelidReleasedMsg
  | InitiateContactMsg
  | VersionResponseMsg
  | TlConnectRequestMsg
  | TlConnectResultMsg
  | ModifyChannelMsg
  | ModifyChannelResponseMsg;
export type ChannelMessageKind = ChannelMessage["kind"];

/** msgtype of each kind, and the fixed size of its layout. */
export const MESSAGE_KINDS: Readonly<Record<ChannelMessageKind, { msgtype: number; size: number }>> = {
  offer: { msgtype: T.CHANNELMSG_OFFERCHANNEL, size: L.MSG_OFFER_CHANNEL.size },
  rescind: { msgtype: T.CHANNELMSG_RESCIND_CHANNELOFFER, size: L.MSG_RESCIND_OFFER.size },
  "request-offers": { msgtype: T.CHANNELMSG_REQUESTOFFERS, size: L.MSG_REQUEST_OFFERS.size },
  "all-offers-delivered": {
    msgtype: T.CHANNELMSG_ALLOFFERS_DELIVERED,
    size: L.MSG_ALL_OFFERS_DELIVERED.size,
  },
  open: { msgtype: T.CHANNELMSG_OPENCHANNEL, size: L.MSG_OPEN_CHANNEL.size },
  "open-result": { msgtype: T.CHANNELMSG_OPENCHANNEL_RESULT, size: L.MSG_OPEN_RESULT.size },
  close: { msgtype: T.CHANNELMSG_CLOSECHANNEL, size: L.MSG_CLOSE_CHANNEL.size },
  "gpadl-header": { msgtype: T.CHANNELMSG_GPADL_HEADER, size: L.MSG_GPADL_HEADER.size + L.GPA_RANGE.size },
  "gpadl-body": { msgtype: T.CHANNELMSG_GPADL_BODY, size: L.MSG_GPADL_BODY.size },
  "gpadl-created": { msgtype: T.CHANNELMSG_GPADL_CREATED, size: L.MSG_GPADL_CREATED.size },
  "gpadl-teardown": { msgtype: T.CHANNELMSG_GPADL_TEARDOWN, size: L.MSG_GPADL_TEARDOWN.size },
  "gpadl-torndown": { msgtype: T.CHANNELMSG_GPADL_TORNDOWN, size: L.MSG_GPADL_TORNDOWN.size },
  "relid-released": { msgtype: T.CHANNELMSG_RELID_RELEASED, size: L.MSG_RELID_RELEASED.size },
  "initiate-contact": { msgtype: T.CHANNELMSG_INITIATE_CONTACT, size: L.MSG_INITIATE_CONTACT.size },
  "version-response": { msgtype: T.CHANNELMSG_VERSION_RESPONSE, size: L.MSG_VERSION_RESPONSE.size },
  unload: { msgtype: T.CHANNELMSG_UNLOAD, size: L.MSG_UNLOAD.size },
  "unload-response": { msgtype: T.CHANNELMSG_UNLOAD_RESPONSE, size: L.MSG_UNLOAD_RESPONSE.size },
  "tl-connect-request": { msgtype: T.CHANNELMSG_TL_CONNECT_REQUEST, size: L.MSG_TL_CONNECT_REQUEST.size },
  "tl-connect-result": { msgtype: T.CHANNELMSG_TL_CONNECT_RESULT, size: L.MSG_TL_CONNECT_RESULT.size },
  "modify-channel": { msgtype: T.CHANNELMSG_MODIFYCHANNEL, size: L.MSG_MODIFY_CHANNEL.size },
  "modify-channel-response": {
    msgtype: T.CHANNELMSG_MODIFYCHANNEL_RESPONSE,
    size: L.MSG_MODIFY_CHANNEL_RESPONSE.size,
  },
};

export const KIND_OF_TYPE = new Map<number, ChannelMessageKind>(
  Object.entries(MESSAGE_KINDS).map(([k, v]) => [v.msgtype, k as ChannelMessageKind]),
);

/** Bytes the message takes on the wire. */
export function channelMessageSize(m: ChannelMessage): number {
  switch (m.kind) {
    case "gpadl-header":
    case "gpadl-body":
      return MESSAGE_KINDS[m.kind].size + 8 * m.pfns.length;
    case "version-response":
      return m.supportedFeatures === undefined ? L.MSG_VERSION_RESPONSE.size : L.MSG_VERSION_RESPONSE2.size;
    default:
      return MESSAGE_KINDS[m.kind].size;
  }
}
