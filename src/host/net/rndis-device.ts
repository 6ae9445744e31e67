// The host's RNDIS device: the control half of netvsp. It answers the messages
// rndis_filter.c sends, in its order (rndis_filter_device_add, rndis_filter_open):
//   INIT → QUERY MAXIMUM_FRAME_SIZE → QUERY 802_3_PERMANENT_ADDRESS →
//   QUERY GEN_FRIENDLY_NAME (may fail) → QUERY TCP_OFFLOAD_HARDWARE_CAPABILITIES
//   (must answer a valid ndis_offload) → SET TCP_OFFLOAD_PARAMETERS →
//   QUERY MEDIA_CONNECT_STATUS → (NVSP >= 5) QUERY LINK_SPEED, QUERY RSS caps
//   (may fail: one channel) → on open SET CURRENT_PACKET_FILTER; HALT on removal.
// It keeps the packet filter, and says which frames the guest accepts.
import { NDIS_OFFLOAD, RndisConst, type RndisMessage, RndisOid, RndisStatus } from "../../vmbus/rndis.ts";

export interface RndisDeviceConfig {
  /** The synthetic NIC's (the guest's) MAC: 802_3_PERMANENT_ADDRESS. */
  mac: Uint8Array;
  /** RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE: the MTU the guest may use (default 1500). */
  mtu?: number;
  /** RNDIS_OID_GEN_LINK_SPEED in units of 100 bps (default 10 Gbit/s). */
  linkSpeed?: number;
  /** init complete: max_pkt_per_msg (default 8) and log2 of the packet alignment (default 3). */
  maxPktPerMsg?: number;
  pktAlignmentFactor?: number;
  /** Media state answered to MEDIA_CONNECT_STATUS (default connected). */
  connected?: boolean;
}

export type RndisDeviceState = "uninitialized" | "initialized" | "data-initialized" | "halted";

export interface RndisDeviceStats {
  requests: number;
  unsupportedOids: number;
  /** Control messages that arrived in a state that does not take them. */
  outOfOrder: number;
}

function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

export class RndisDevice {
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly #cfg: Required<Omit<RndisDeviceConfig, "mac" | "mtu">>;
  state: RndisDeviceState = "uninitialized";
  /** RNDIS_OID_GEN_CURRENT_PACKET_FILTER as the guest set it (NDIS_PACKET_TYPE_*). */
  packetFilter = 0;
  readonly stats: RndisDeviceStats = { requests: 0, unsupportedOids: 0, outOfOrder: 0 };

  constructor(c: RndisDeviceConfig) {
    if (c.mac.length !== 6) throw new Error("RNDIS device MAC must be 6 bytes");
    this.mac = c.mac.slice();
    this.mtu = c.mtu ?? 1500;
    this.#cfg = {
      linkSpeed: c.linkSpeed ?? 100_000_000,
      maxPktPerMsg: c.maxPktPerMsg ?? 8,
      pktAlignmentFactor: c.pktAlignmentFactor ?? 3,
      connected: c.connected ?? true,
    };
  }

  /**
   * Answer one control message from the guest. Returns the completion to send
   * back, or undefined for messages that have none (HALT, packets, completions).
   */
  control(m: RndisMessage): RndisMessage | undefined {
    this.stats.requests++;
    switch (m.kind) {
      case "init":
        this.state = "initialized";
        return {
          kind: "init-complete",
          reqId: m.reqId,
          status: RndisStatus.RNDIS_STATUS_SUCCESS,
          majorVer: RndisConst.RNDIS_MAJOR_VERSION,
          minorVer: RndisConst.RNDIS_MINOR_VERSION,
          devFlags: RndisConst.RNDIS_DF_CONNECTIONLESS,
          medium: RndisConst.RNDIS_MEDIUM_802_3,
          maxPktPerMsg: this.#cfg.maxPktPerMsg,
          maxXferSize: Math.min(m.maxXferSize, 0x4000) || 0x4000,
          pktAlignmentFactor: this.#cfg.pktAlignmentFactor,
          afListOffset: 0,
          afListSize: 0,
        };
      case "query": {
        if (this.state === "uninitialized" || this.state === "halted") this.stats.outOfOrder++;
        const info = this.#query(m.oid, m.info);
        if (info === undefined) {
          this.stats.unsupportedOids++;
          return {
            kind: "query-complete",
            reqId: m.reqId,
            status: RndisStatus.RNDIS_STATUS_NOT_SUPPORTED,
            info: new Uint8Array(0),
          };
        }
        return { kind: "query-complete", reqId: m.reqId, status: RndisStatus.RNDIS_STATUS_SUCCESS, info };
      }
      case "set": {
        if (this.state === "uninitialized" || this.state === "halted") this.stats.outOfOrder++;
        return { kind: "set-complete", reqId: m.reqId, status: this.#set(m.oid, m.info) };
      }
      case "keepalive":
        return { kind: "keepalive-complete", reqId: m.reqId, status: RndisStatus.RNDIS_STATUS_SUCCESS };
      case "reset":
        this.packetFilter = 0;
        return { kind: "reset-complete", status: RndisStatus.RNDIS_STATUS_SUCCESS, addressingReset: 1 };
      case "halt":
        this.state = "halted";
        this.packetFilter = 0;
        return undefined;
      default:
        return undefined;
    }
  }

  #query(oid: number, req: Uint8Array): Uint8Array | undefined {
    switch (oid) {
      case RndisOid.RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE:
        return u32le(this.mtu);
      case RndisOid.RNDIS_OID_802_3_PERMANENT_ADDRESS:
      case RndisOid.RNDIS_OID_802_3_CURRENT_ADDRESS:
        return this.mac.slice();
      case RndisOid.RNDIS_OID_GEN_MEDIA_CONNECT_STATUS:
        return u32le(
          this.#cfg.connected
            ? RndisConst.RNDIS_MEDIA_STATE_CONNECTED
            : RndisConst.RNDIS_MEDIA_STATE_DISCONNECTED,
        );
      case RndisOid.RNDIS_OID_GEN_LINK_SPEED:
        return u32le(this.#cfg.linkSpeed);
      case RndisOid.OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES:
        return this.#hwcaps(req);
      default:
        return undefined;
    }
  }

  /**
   * An ndis_offload with no offload capabilities: the header of the revision the
   * guest asked for (rndis_query_hwcaps checks type 0xa7, revision >= 1, and
   * NDIS_OFFLOAD_SIZE_6_0 <= size <= what it can take).
   */
  #hwcaps(req: Uint8Array): Uint8Array {
    const rev =
      req.length >= 2 ? Math.max(1, Math.min(req[1] ?? 1, 3)) : RndisConst.NDIS_OFFLOAD_PARAMETERS_REVISION_3;
    const size =
      rev >= 3
        ? RndisConst.NDIS_OFFLOAD_SIZE
        : rev === 2
          ? RndisConst.NDIS_OFFLOAD_SIZE_6_1
          : RndisConst.NDIS_OFFLOAD_SIZE_6_0;
    const b = new Uint8Array(size);
    b[NDIS_OFFLOAD.off.header] = RndisConst.NDIS_OBJECT_TYPE_OFFLOAD;
    b[NDIS_OFFLOAD.off.header + 1] = rev;
    new DataView(b.buffer).setUint16(NDIS_OFFLOAD.off.header + 2, size, true);
    return b;
  }

  #set(oid: number, info: Uint8Array): number {
    switch (oid) {
      case RndisOid.RNDIS_OID_GEN_CURRENT_PACKET_FILTER:
        if (info.length < 4) return RndisStatus.RNDIS_STATUS_INVALID_LENGTH;
        this.packetFilter = new DataView(info.buffer, info.byteOffset, 4).getUint32(0, true);
        this.state = this.packetFilter !== 0 ? "data-initialized" : "initialized";
        return RndisStatus.RNDIS_STATUS_SUCCESS;
      case RndisOid.OID_TCP_OFFLOAD_PARAMETERS:
        // All offloads stay off: accept the guest's (disabling) parameters as they are.
        return RndisStatus.RNDIS_STATUS_SUCCESS;
      default:
        this.stats.unsupportedOids++;
        return RndisStatus.RNDIS_STATUS_NOT_SUPPORTED;
    }
  }

  /** Whether the guest's packet filter takes a frame to `dst` (NDIS_PACKET_TYPE_* bits). */
  accepts(frame: Uint8Array): boolean {
    if (this.state !== "data-initialized" || frame.length < 6) return false;
    const f = this.packetFilter;
    if (f & 0x20) return true; // PROMISCUOUS
    let bcast = true;
    for (let i = 0; i < 6; i++) if (frame[i] !== 0xff) bcast = false;
    if (bcast) return (f & 0x08) !== 0; // BROADCAST
    if ((frame[0] ?? 0) & 1) return (f & 0x06) !== 0; // MULTICAST / ALL_MULTICAST
    for (let i = 0; i < 6; i++) if (frame[i] !== this.mac[i]) return false;
    return (f & 0x01) !== 0; // DIRECTED
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#cfg];
  }
}
