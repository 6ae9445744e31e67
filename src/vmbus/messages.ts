// VMBus channel (control) messages: every message of enum vmbus_channel_message_type
// that has a layout, as a tagged union with one encoder and one decoder. They travel
// as the payload of a SynIC message (at most 240 bytes). decodeChannelMessage takes
// hostile bytes: it returns a VmbusFault, never throws, and copies what it keeps
// (a decoded message never aliases the shared page it came from).
import { VmbusSize, VmbusVersion } from "./constants.ts";
import { fault, type VmbusFault } from "./errors.ts";
import { readGuid, writeGuid } from "./guid.ts";
import * as L from "./layout.ts";
import {
  type ChannelMessage,
  channelMessageSize,
  KIND_OF_TYPE,
  MESSAGE_KINDS,
  type VersionResponseMsg,
} from "./message-types.ts";
import { decodeOffer, encodeOffer } from "./offer.ts";
import { readPfn } from "./packet.ts";

export * from "./message-types.ts";

function setPfns(v: DataView, at: number, pfns: readonly number[]): void {
  for (const p of pfns) {
    if (!Number.isSafeInteger(p) || p < 0) throw new Error(`bad PFN ${p}`);
    v.setUint32(at, p % 0x100000000, true);
    v.setUint32(at + 4, Math.floor(p / 0x100000000), true);
    at += 8;
  }
}

/** Encode a message (header included). Unused and reserved bytes are zero. */
export function encodeChannelMessage(m: ChannelMessage): Uint8Array {
  const size = channelMessageSize(m);
  if (size > VmbusSize.MAX_SIZE_CHANNEL_MESSAGE) throw new Error(`${m.kind} message of ${size} bytes > 240`);
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(L.MSG_HEADER.off.msgtype, MESSAGE_KINDS[m.kind].msgtype, true);
  const u32 = (at: number, x: number) => v.setUint32(at, x >>> 0, true);
  switch (m.kind) {
    case "offer": {
      const o = L.MSG_OFFER_CHANNEL.off;
      encodeOffer(m.offer, b, o.offer);
      u32(o.child_relid, m.childRelid);
      v.setUint8(o.monitorid, m.monitorId);
      v.setUint8(o.monitor_allocated, m.monitorAllocated);
      v.setUint16(o.is_dedicated_interrupt, m.isDedicatedInterrupt, true);
      u32(o.connection_id, m.connectionId);
      break;
    }
    case "rescind":
    case "close":
    case "relid-released":
      u32(L.MSG_RESCIND_OFFER.off.child_relid, m.childRelid);
      break;
    case "request-offers":
    case "all-offers-delivered":
    case "unload":
    case "unload-response":
      break;
    case "open": {
      const o = L.MSG_OPEN_CHANNEL.off;
      if (m.userData.length > 120) throw new Error(`open userdata ${m.userData.length} > 120 bytes`);
      u32(o.child_relid, m.childRelid);
      u32(o.openid, m.openId);
      u32(o.ringbuffer_gpadlhandle, m.ringbufferGpadlHandle);
      u32(o.target_vp, m.targetVp);
      u32(o.downstream_ringbuffer_pageoffset, m.downstreamRingbufferPageOffset);
      b.set(m.userData, o.userdata);
      break;
    }
    case "open-result": {
      const o = L.MSG_OPEN_RESULT.off;
      u32(o.child_relid, m.childRelid);
      u32(o.openid, m.openId);
      u32(o.status, m.status);
      break;
    }
    case "gpadl-header": {
      const o = L.MSG_GPADL_HEADER.off;
      u32(o.child_relid, m.childRelid);
      u32(o.gpadl, m.gpadl);
      v.setUint16(o.range_buflen, m.rangeBufLen, true);
      v.setUint16(o.rangecount, m.rangeCount, true);
      u32(o.range + L.GPA_RANGE.off.byte_count, m.byteCount);
      u32(o.range + L.GPA_RANGE.off.byte_offset, m.byteOffset);
      setPfns(v, o.range + L.GPA_RANGE.off.pfn_array, m.pfns);
      break;
    }
    case "gpadl-body": {
      const o = L.MSG_GPADL_BODY.off;
      u32(o.msgnumber, m.msgnumber);
      u32(o.gpadl, m.gpadl);
      setPfns(v, o.pfn, m.pfns);
      break;
    }
    case "gpadl-created": {
      const o = L.MSG_GPADL_CREATED.off;
      u32(o.child_relid, m.childRelid);
      u32(o.gpadl, m.gpadl);
      u32(o.creation_status, m.creationStatus);
      break;
    }
    case "gpadl-teardown":
      u32(L.MSG_GPADL_TEARDOWN.off.child_relid, m.childRelid);
      u32(L.MSG_GPADL_TEARDOWN.off.gpadl, m.gpadl);
      break;
    case "gpadl-torndown":
      u32(L.MSG_GPADL_TORNDOWN.off.gpadl, m.gpadl);
      break;
    case "initiate-contact": {
      const o = L.MSG_INITIATE_CONTACT.off;
      u32(o.vmbus_version_requested, m.versionRequested);
      u32(o.target_vcpu, m.targetVcpu);
      if (m.versionRequested >= VmbusVersion.VERSION_WIN10_V5) {
        v.setUint8(o.msg_sint, m.msgSint);
        v.setUint8(o.msg_vtl, m.msgVtl);
        u32(o.feature_flags, m.featureFlags);
      } else {
        v.setBigUint64(o.msg_sint, m.interruptPage, true);
      }
      v.setBigUint64(o.monitor_page1, m.monitorPage1, true);
      v.setBigUint64(o.monitor_page2, m.monitorPage2, true);
      break;
    }
    case "version-response": {
      const o = L.MSG_VERSION_RESPONSE2.off;
      v.setUint8(o.version_supported, m.versionSupported);
      v.setUint8(o.connection_state, m.connectionState);
      u32(o.msg_conn_id, m.msgConnId);
      if (m.supportedFeatures !== undefined) u32(o.supported_features, m.supportedFeatures);
      break;
    }
    case "tl-connect-request":
      writeGuid(m.guestEndpointId, b, L.MSG_TL_CONNECT_REQUEST.off.guest_endpoint_id);
      writeGuid(m.hostServiceId, b, L.MSG_TL_CONNECT_REQUEST.off.host_service_id);
      break;
    case "tl-connect-result":
      writeGuid(m.endpointId, b, L.MSG_TL_CONNECT_RESULT.off.endpoint_id);
      writeGuid(m.serviceId, b, L.MSG_TL_CONNECT_RESULT.off.service_id);
      v.setInt32(L.MSG_TL_CONNECT_RESULT.off.status, m.status, true);
      break;
    case "modify-channel":
      u32(L.MSG_MODIFY_CHANNEL.off.child_relid, m.childRelid);
      u32(L.MSG_MODIFY_CHANNEL.off.target_vp, m.targetVp);
      break;
    case "modify-channel-response":
      u32(L.MSG_MODIFY_CHANNEL_RESPONSE.off.child_relid, m.childRelid);
      u32(L.MSG_MODIFY_CHANNEL_RESPONSE.off.status, m.status);
      break;
  }
  return b;
}

function readPfnList(v: DataView, at: number, n: number): number[] | VmbusFault {
  const pfns: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const p = readPfn(v, at + 8 * i);
    if (typeof p !== "number") return p;
    pfns[i] = p;
  }
  return pfns;
}

/**
 * Decode `len` bytes (a SynIC message payload) as a channel message. Bytes past the
 * layout's fixed part are ignored, except the PFN lists of GPADL messages and the
 * optional VersionResponse2 word.
 */
export function decodeChannelMessage(src: Uint8Array, len = src.length): ChannelMessage | VmbusFault {
  if (len > VmbusSize.MAX_SIZE_CHANNEL_MESSAGE || len > src.length)
    return fault(
      "HVCOCO_ERR_VMBUS_OVERSIZE",
      `channel message of ${len} bytes (max 240, buffer ${src.length})`,
    );
  if (len < L.MSG_HEADER.size)
    return fault("HVCOCO_ERR_VMBUS_TRUNCATED", `channel message of ${len} bytes < 8`);
  const v = new DataView(src.buffer, src.byteOffset, len);
  const msgtype = v.getUint32(L.MSG_HEADER.off.msgtype, true);
  const kind = KIND_OF_TYPE.get(msgtype);
  if (kind === undefined) return fault("HVCOCO_ERR_VMBUS_UNKNOWN_MSGTYPE", `msgtype ${msgtype}`);
  const need = MESSAGE_KINDS[kind].size;
  if (len < need) return fault("HVCOCO_ERR_VMBUS_TRUNCATED", `${kind} needs ${need} bytes, got ${len}`);
  const u32 = (at: number) => v.getUint32(at, true);
  switch (kind) {
    case "offer": {
      const o = L.MSG_OFFER_CHANNEL.off;
      return {
        kind,
        offer: decodeOffer(src, o.offer),
        childRelid: u32(o.child_relid),
        monitorId: v.getUint8(o.monitorid),
        monitorAllocated: v.getUint8(o.monitor_allocated),
        isDedicatedInterrupt: v.getUint16(o.is_dedicated_interrupt, true),
        connectionId: u32(o.connection_id),
      };
    }
    case "rescind":
    case "close":
    case "relid-released":
      return { kind, childRelid: u32(L.MSG_RESCIND_OFFER.off.child_relid) };
    case "request-offers":
    case "all-offers-delivered":
    case "unload":
    case "unload-response":
      return { kind };
    case "open": {
      const o = L.MSG_OPEN_CHANNEL.off;
      return {
        kind,
        childRelid: u32(o.child_relid),
        openId: u32(o.openid),
        ringbufferGpadlHandle: u32(o.ringbuffer_gpadlhandle),
        targetVp: u32(o.target_vp),
        downstreamRingbufferPageOffset: u32(o.downstream_ringbuffer_pageoffset),
        userData: src.slice(o.userdata, o.userdata + 120),
      };
    }
    case "open-result": {
      const o = L.MSG_OPEN_RESULT.off;
      return { kind, childRelid: u32(o.child_relid), openId: u32(o.openid), status: u32(o.status) };
    }
    case "gpadl-header": {
      const o = L.MSG_GPADL_HEADER.off;
      const rangeBufLen = v.getUint16(o.range_buflen, true);
      const rangeCount = v.getUint16(o.rangecount, true);
      const n = Math.floor((len - need) / 8);
      if (rangeCount === 0 || rangeBufLen < 8 || rangeBufLen % 8 !== 0 || n > (rangeBufLen - 8) / 8)
        return fault(
          "HVCOCO_ERR_VMBUS_RANGE_COUNT",
          `gpadl header: rangecount ${rangeCount}, range_buflen ${rangeBufLen}, ${n} PFNs present`,
        );
      const pfns = readPfnList(v, o.range + L.GPA_RANGE.off.pfn_array, n);
      if (!Array.isArray(pfns)) return pfns;
      return {
        kind,
        childRelid: u32(o.child_relid),
        gpadl: u32(o.gpadl),
        rangeBufLen,
        rangeCount,
        byteCount: u32(o.range + L.GPA_RANGE.off.byte_count),
        byteOffset: u32(o.range + L.GPA_RANGE.off.byte_offset),
        pfns,
      };
    }
    case "gpadl-body": {
      const o = L.MSG_GPADL_BODY.off;
      const pfns = readPfnList(v, o.pfn, Math.floor((len - need) / 8));
      if (!Array.isArray(pfns)) return pfns;
      return { kind, msgnumber: u32(o.msgnumber), gpadl: u32(o.gpadl), pfns };
    }
    case "gpadl-created": {
      const o = L.MSG_GPADL_CREATED.off;
      return {
        kind,
        childRelid: u32(o.child_relid),
        gpadl: u32(o.gpadl),
        creationStatus: u32(o.creation_status),
      };
    }
    case "gpadl-teardown":
      return {
        kind,
        childRelid: u32(L.MSG_GPADL_TEARDOWN.off.child_relid),
        gpadl: u32(L.MSG_GPADL_TEARDOWN.off.gpadl),
      };
    case "gpadl-torndown":
      return { kind, gpadl: u32(L.MSG_GPADL_TORNDOWN.off.gpadl) };
    case "initiate-contact": {
      const o = L.MSG_INITIATE_CONTACT.off;
      return {
        kind,
        versionRequested: u32(o.vmbus_version_requested),
        targetVcpu: u32(o.target_vcpu),
        interruptPage: v.getBigUint64(o.msg_sint, true),
        msgSint: v.getUint8(o.msg_sint),
        msgVtl: v.getUint8(o.msg_vtl),
        featureFlags: u32(o.feature_flags),
        monitorPage1: v.getBigUint64(o.monitor_page1, true),
        monitorPage2: v.getBigUint64(o.monitor_page2, true),
      };
    }
    case "version-response": {
      const o = L.MSG_VERSION_RESPONSE2.off;
      const m: VersionResponseMsg = {
        kind,
        versionSupported: v.getUint8(o.version_supported),
        connectionState: v.getUint8(o.connection_state),
        msgConnId: u32(o.msg_conn_id),
      };
      if (len >= L.MSG_VERSION_RESPONSE2.size) m.supportedFeatures = u32(o.supported_features);
      return m;
    }
    case "tl-connect-request":
      return {
        kind,
        guestEndpointId: readGuid(src, L.MSG_TL_CONNECT_REQUEST.off.guest_endpoint_id),
        hostServiceId: readGuid(src, L.MSG_TL_CONNECT_REQUEST.off.host_service_id),
      };
    case "tl-connect-result":
      return {
        kind,
        endpointId: readGuid(src, L.MSG_TL_CONNECT_RESULT.off.endpoint_id),
        serviceId: readGuid(src, L.MSG_TL_CONNECT_RESULT.off.service_id),
        status: v.getInt32(L.MSG_TL_CONNECT_RESULT.off.status, true),
      };
    case "modify-channel":
      return {
        kind,
        childRelid: u32(L.MSG_MODIFY_CHANNEL.off.child_relid),
        targetVp: u32(L.MSG_MODIFY_CHANNEL.off.target_vp),
      };
    case "modify-channel-response":
      return {
        kind,
        childRelid: u32(L.MSG_MODIFY_CHANNEL_RESPONSE.off.child_relid),
        status: u32(L.MSG_MODIFY_CHANNEL_RESPONSE.off.status),
      };
  }
}

/** PFNs that fit in one GPADL_HEADER (one range) and in one GPADL_BODY (channel.c). */
export const GPADL_HEADER_PFNS = Math.floor((240 - L.MSG_GPADL_HEADER.size - L.GPA_RANGE.size) / 8); // 26
export const GPADL_BODY_PFNS = Math.floor((240 - L.MSG_GPADL_BODY.size) / 8); // 28

/**
 * The messages that establish a one-range GPADL over `pfns` (__vmbus_establish_gpadl):
 * a GPADL_HEADER with the first 26 PFNs, then GPADL_BODY messages of up to 28
 * (msgnumber left 0, as Linux does).
 */
export function gpadlMessages(
  childRelid: number,
  gpadl: number,
  byteCount: number,
  pfns: readonly number[],
): ChannelMessage[] {
  const out: ChannelMessage[] = [
    {
      kind: "gpadl-header",
      childRelid,
      gpadl,
      rangeBufLen: 8 + 8 * pfns.length,
      rangeCount: 1,
      byteCount,
      byteOffset: 0,
      pfns: pfns.slice(0, GPADL_HEADER_PFNS),
    },
  ];
  for (let at = GPADL_HEADER_PFNS; at < pfns.length; at += GPADL_BODY_PFNS)
    out.push({ kind: "gpadl-body", msgnumber: 0, gpadl, pfns: pfns.slice(at, at + GPADL_BODY_PFNS) });
  return out;
}
