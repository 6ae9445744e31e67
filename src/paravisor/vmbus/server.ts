// The paravisor's VMBus server: the one connection the guest sees with
// Confidential VMBus (coco.rst "Confidential VMBus"; kernel-facts.md §1.3-§1.4,
// §6; peers.md: OpenVMM's vmbus_server with a trusted connection and the relay).
//
//  - The guest's messages arrive either trusted (HvPostMessage through the hypercall
//    page, which the paravisor intercepts) or untrusted (through the GHCB/TDVMCALL
//    and the hypervisor). The connection takes the trust of its INITIATE_CONTACT;
//    only a trusted connection that asks for CONFIDENTIAL_CHANNELS (0x10) on 6.0 is
//    granted it (C29), and once it is, a message on the untrusted path is refused
//    and logged (the "trusted-connection" hardening; OpenVMM's UntrustedMessage).
//  - It offers two kinds of channel (C30, C33): the host's, through the relay
//    (relay.ts; confidential flags stripped, the host's relid kept), and its own
//    (local.ts; the devices' confidential flags, when the connection is
//    confidential). Its own relids are chosen among those the host does not use, so
//    relids are unique across both; a host offer that would collide later is not
//    relayed.
//  - What it sends the guest goes through the paravisor's SynIC on a trusted
//    connection (private pages, C31), and through the hypervisor's
//    (HvCallPostMessageDirect / SignalEventDirect) on an untrusted one.
import type { Auditor } from "../../audit/auditor.ts";
import type { VmbusServer } from "../../host/vmbus/server.ts";
import type { HostDevice } from "../../host/vmbus/vsp.ts";
import { HvStatus } from "../../hyperv/hvgdk.ts";
import { HvMessageType } from "../../hyperv/synic-abi.ts";
import type { CpuMemory } from "../../platform/cpu-memory.ts";
import { type Hardening, hardened, type VmConfig } from "../../vm/config.ts";
import { VmbusConnection as Conn, FeatureFlag, VMBUS_VERSIONS, VmbusVersion } from "../../vmbus/constants.ts";
import { isFault } from "../../vmbus/errors.ts";
import {
  type ChannelMessage,
  decodeChannelMessage,
  encodeChannelMessage,
  type InitiateContactMsg,
  type OfferChannelMsg,
} from "../../vmbus/messages.ts";
import {
  CONFIDENTIAL_OFFER_FLAGS,
  GUEST_MESSAGE_CONNECTION_IDS,
  paravisorConnectionId,
} from "./constants.ts";
import { localServer } from "./local.ts";
import { HostRelay } from "./relay.ts";
import type { ParavisorSynic } from "./synic.ts";

export interface ParavisorVmbusPort {
  readonly mem: CpuMemory;
  readonly audit: Auditor;
  readonly config: VmConfig;
  readonly guestPages: number;
  readonly synic: ParavisorSynic;
  schedule(what: string, fn: () => void): void;
  waitFor(cond: () => boolean, what: string): boolean;
  /** HvPostMessage to the host through the hypervisor (the relay's path); the status. */
  postToHost(connectionId: number, payload: Uint8Array): number;
  /** HvCallPostMessageDirect / HvCallSignalEventDirect into the guest's hypervisor SynIC. */
  postDirect(vp: number, payload: Uint8Array): number;
  signalDirect(vp: number, flag: number): number;
  /** Tell the hypervisor which connection ids the paravisor takes (its ports). */
  registerPorts(ids: readonly number[]): void;
}

export interface ParavisorVmbusOptions {
  /** The paravisor's own devices, offered with their confidential flags (chnFlags 0x2 / 0x6). */
  devices?: readonly HostDevice[];
  /** Host device classes the paravisor serves itself instead of relaying (OpenHCL intercepts storage). */
  intercept?: readonly string[];
  /** Relay the host's channels (default true). */
  relay?: boolean;
  /** Refuse every connection: a paravisor whose Confidential VMBus failed (C28's fallback). */
  refuse?: boolean;
}

type Route = { kind: "relay" } | { kind: "local"; localRelid: number };

/** Why the paravisor refused a guest message: stable codes, as the guest's rejects are. */
export const PARAVISOR_VMBUS_REFUSALS = {
  HVCOCO_ERR_PV_VMBUS_UNTRUSTED: "a message on the untrusted path while the connection is trusted",
  HVCOCO_ERR_PV_VMBUS_MESSAGE: "a malformed channel message, or one a client does not send",
  HVCOCO_ERR_PV_VMBUS_STATE: "a message before INITIATE_CONTACT, or for a relid or GPADL it does not know",
  HVCOCO_ERR_PV_VMBUS_RELID: "a host offer whose relid a paravisor channel already uses (not relayed)",
} as const;
export type ParavisorVmbusRefusal = keyof typeof PARAVISOR_VMBUS_REFUSALS;

export class ParavisorVmbus {
  readonly #port: ParavisorVmbusPort;
  readonly #opts: ParavisorVmbusOptions;
  readonly relay: HostRelay | undefined;
  readonly local: VmbusServer;
  readonly devices: readonly HostDevice[];
  connected = false;
  /** The connection's INITIATE_CONTACT came through the hypercall page (trusted path). */
  trusted = false;
  /** CONFIDENTIAL_CHANNELS was granted: paravisor channels keep their confidential flags. */
  confidential = false;
  version = 0;
  targetVp = 0;
  /** Refusals, newest last (bounded), with their codes. */
  readonly refusals: { code: ParavisorVmbusRefusal; message: string }[] = [];
  /** Messages from the guest, by path. */
  readonly received = { trusted: 0, untrusted: 0 };
  /** The guest relid of each channel the guest may use. */
  readonly routes = new Map<number, Route>();
  /** The guest relid of each of the paravisor's own devices (local relid - 1 indexes it). */
  readonly localRelids: number[] = [];
  readonly #gpadls = new Map<number, "relay" | "local">();
  readonly #localConn = new Map<number, number>();

  constructor(port: ParavisorVmbusPort, opts: ParavisorVmbusOptions = {}) {
    this.#port = port;
    this.#opts = opts;
    this.devices = opts.devices ?? [];
    this.local = localServer(port.mem, port.guestPages, this.devices, {
      post: (payload) => this.#onLocal(payload),
      signal: (vp, relid) => this.#signalGuest(vp, this.localRelids[relid - 1] ?? 0),
      schedule: (what, fn) => port.schedule(`paravisor: ${what}`, fn),
    });
    this.relay =
      opts.relay === false || opts.refuse
        ? undefined
        : new HostRelay({
            post: (conn, payload) => port.postToHost(conn, payload),
            waitFor: (cond, what) => port.waitFor(cond, what),
            toGuest: (m) => this.#fromHost(m),
            hotAdd: (m) => this.#hotAdd(m),
            log: (line) => this.#refuse("HVCOCO_ERR_PV_VMBUS_MESSAGE", line),
          });
  }

  #hardened(h: Hardening): boolean {
    return hardened(this.#port.config, h);
  }

  /** Boot: connect the relay to the host, then number the paravisor's own channels around the host's. */
  boot(): void {
    this.relay?.connect();
    const taken = new Set(this.relay?.offers.keys() ?? []);
    const coordinate = this.#hardened("relid-coordination");
    let next = 1;
    this.devices.forEach((_, i) => {
      let relid = i + 1;
      if (coordinate) {
        while (taken.has(next)) next++;
        relid = next++;
      }
      this.localRelids.push(relid);
      this.#localConn.set(paravisorConnectionId(relid), i + 1);
    });
    this.#port.registerPorts(this.ports());
  }

  /** The connection ids the guest's messages and signals to the paravisor use. */
  ports(): number[] {
    return [...(this.#opts.refuse ? [] : GUEST_MESSAGE_CONNECTION_IDS), ...this.#localConn.keys()];
  }

  #refuse(code: ParavisorVmbusRefusal, message: string): void {
    this.refusals.push({ code, message });
    if (this.refusals.length > 64) this.refusals.shift();
    this.#port.audit.rejection(code, `paravisor VMBus: ${message}`);
  }

  // --- the guest's side ---

  /** HvPostMessage from the guest: the hypercall page (trusted) or through the hypervisor. */
  post(vp: number, connectionId: number, type: number, payload: Uint8Array, trusted: boolean): number {
    if (!GUEST_MESSAGE_CONNECTION_IDS.includes(connectionId)) return HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
    if (type !== HvMessageType.HVMSG_VMBUS) return HvStatus.HV_STATUS_INVALID_PARAMETER;
    const copy = payload.slice();
    this.#port.schedule("paravisor: vmbus channel message", () => this.onMessage(vp, copy, trusted));
    return HvStatus.HV_STATUS_SUCCESS;
  }

  /** HvSignalEvent from the guest for one of the paravisor's channels. */
  signal(_vp: number, connectionId: number): number {
    const local = this.#localConn.get(connectionId);
    if (local === undefined) return HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
    return this.local.onSignal(local | (Conn.VMBUS_MESSAGE_SINT << 12))
      ? HvStatus.HV_STATUS_SUCCESS
      : HvStatus.HV_STATUS_INVALID_CONNECTION_ID;
  }

  /** A channel message from the guest (runs as a paravisor task). */
  onMessage(vp: number, payload: Uint8Array, trusted: boolean): void {
    this.received[trusted ? "trusted" : "untrusted"]++;
    const m = decodeChannelMessage(payload);
    if (isFault(m)) {
      this.#refuse("HVCOCO_ERR_PV_VMBUS_MESSAGE", `${m.code}: ${m.detail}`);
      return;
    }
    if (this.connected && this.trusted && !trusted && this.#hardened("trusted-connection")) {
      this.#refuse(
        "HVCOCO_ERR_PV_VMBUS_UNTRUSTED",
        `${m.kind} arrived through the hypervisor while the connection is trusted`,
      );
      return;
    }
    if (m.kind === "initiate-contact") this.#contact(vp, m, trusted);
    else if (!this.connected) this.#refuse("HVCOCO_ERR_PV_VMBUS_STATE", `${m.kind} before INITIATE_CONTACT`);
    else this.#dispatch(vp, m);
  }

  #dispatch(vp: number, m: ChannelMessage): void {
    switch (m.kind) {
      case "request-offers":
        this.#offers(vp);
        break;
      case "gpadl-header":
      case "open":
      case "close":
      case "gpadl-teardown":
      case "relid-released":
      case "modify-channel": {
        const r = this.routes.get(m.childRelid);
        if (!r) {
          this.#refuse("HVCOCO_ERR_PV_VMBUS_STATE", `${m.kind} for relid ${m.childRelid}`);
          break;
        }
        if (m.kind === "gpadl-header") this.#gpadls.set(m.gpadl, r.kind);
        if (m.kind === "relid-released") this.routes.delete(m.childRelid);
        if (r.kind === "relay") this.relay?.forward(m);
        else this.#toLocal(vp, { ...m, childRelid: r.localRelid });
        break;
      }
      case "gpadl-body": {
        const k = this.#gpadls.get(m.gpadl);
        if (k === "relay") this.relay?.forward(m);
        else if (k === "local") this.#toLocal(vp, m);
        else
          this.#refuse("HVCOCO_ERR_PV_VMBUS_STATE", `gpadl body for unknown gpadl 0x${m.gpadl.toString(16)}`);
        break;
      }
      case "unload":
        this.#toLocal(vp, m);
        this.#reset();
        this.#toGuest({ kind: "unload-response" });
        break;
      default:
        this.#refuse("HVCOCO_ERR_PV_VMBUS_MESSAGE", `${m.kind} is not a message a client sends`);
    }
  }

  #contact(vp: number, m: InitiateContactMsg, trusted: boolean): void {
    if (this.connected) this.#reset();
    const v = m.versionRequested;
    const hostVersion =
      this.relay?.state === "connected" ? this.relay.version : VmbusVersion.VERSION_WIN10_V6_0;
    const ok =
      !this.#opts.refuse &&
      VMBUS_VERSIONS.includes(v) &&
      v >= VmbusVersion.VERSION_WIN10_V5 &&
      v <= hostVersion;
    this.trusted = trusted;
    this.targetVp = m.targetVcpu;
    const v6 = v >= VmbusVersion.VERSION_WIN10_V6_0;
    if (!ok) {
      this.#toGuest({ kind: "version-response", versionSupported: 0, connectionState: 0, msgConnId: 0 });
      return;
    }
    this.connected = true;
    this.version = v;
    // OpenVMM grants confidential channels only to a trusted connection that asks for them on 6.0.
    this.confidential =
      trusted && v6 && (m.featureFlags & FeatureFlag.VMBUS_FEATURE_FLAG_CONFIDENTIAL_CHANNELS) !== 0;
    this.#toLocal(vp, m);
    this.#toGuest({
      kind: "version-response",
      versionSupported: 1,
      connectionState: 0,
      msgConnId: Conn.VMBUS_MESSAGE_CONNECTION_ID_4,
      ...(v6
        ? { supportedFeatures: this.confidential ? FeatureFlag.VMBUS_FEATURE_FLAG_CONFIDENTIAL_CHANNELS : 0 }
        : {}),
    });
  }

  /** Forget the connection: its local channels close; the relayed ones the guest had open are closed at the host. */
  #reset(): void {
    for (const [relid, r] of this.routes)
      if (r.kind === "relay") this.relay?.forward({ kind: "close", childRelid: relid });
    this.routes.clear();
    this.#gpadls.clear();
    this.connected = false;
    this.trusted = false;
    this.confidential = false;
  }

  /** REQUESTOFFERS: the host's channels (through the relay), then the paravisor's, then ALLOFFERS_DELIVERED. */
  #offers(vp: number): void {
    for (const o of this.relay?.offers.values() ?? []) this.#relayOffer(o);
    this.#toLocal(vp, { kind: "request-offers" });
    this.#toGuest({ kind: "all-offers-delivered" });
  }

  /** Whether a host offer goes to the guest: not a class the paravisor serves itself, not a relid of its own. */
  #relayable(o: OfferChannelMsg): boolean {
    if ((this.#opts.intercept ?? []).includes(o.offer.ifType)) return false;
    if (this.#hardened("relid-coordination") && this.localRelids.includes(o.childRelid)) {
      this.#refuse(
        "HVCOCO_ERR_PV_VMBUS_RELID",
        `host offer of relid ${o.childRelid} collides with a paravisor channel; not relayed`,
      );
      return false;
    }
    return true;
  }

  #relayOffer(o: OfferChannelMsg): void {
    if (!this.#relayable(o)) return;
    this.routes.set(o.childRelid, { kind: "relay" });
    // The relay strips confidential flags a host sets (OpenVMM vmbus_relay), and takes
    // monitored notification out of the picture (the guest signals with HvSignalEvent).
    const strip = this.#hardened("relay-flag-strip") ? CONFIDENTIAL_OFFER_FLAGS : 0;
    this.#toGuest({
      ...o,
      offer: { ...o.offer, chnFlags: o.offer.chnFlags & ~strip },
      monitorId: 0,
      monitorAllocated: 0,
    });
  }

  #hotAdd(o: OfferChannelMsg): void {
    if (this.connected) this.#relayOffer(o);
  }

  /** A host message about a relayed channel: passed on only if it names one. */
  #fromHost(m: ChannelMessage): void {
    if (!this.connected) return;
    if (m.kind === "gpadl-torndown") {
      if (this.#gpadls.get(m.gpadl) !== "relay") {
        this.#refuse("HVCOCO_ERR_PV_VMBUS_STATE", `host torndown of gpadl 0x${m.gpadl.toString(16)}`);
        return;
      }
      this.#gpadls.delete(m.gpadl);
    } else if (!("childRelid" in m) || this.routes.get(m.childRelid)?.kind !== "relay") {
      this.#refuse("HVCOCO_ERR_PV_VMBUS_STATE", `host ${m.kind} for a relid it did not offer`);
      return;
    }
    this.#toGuest(m);
  }

  // --- the paravisor's own channels ---

  #toLocal(vp: number, m: ChannelMessage): void {
    this.local.onMessage(vp, encodeChannelMessage(m));
  }

  /** What the local server sends its client: translated to guest relids and passed on (some it answers itself). */
  #onLocal(payload: Uint8Array): void {
    const m = decodeChannelMessage(payload);
    if (isFault(m)) return;
    const g = (relid: number) => this.localRelids[relid - 1] ?? 0;
    switch (m.kind) {
      case "version-response":
      case "all-offers-delivered":
      case "unload-response":
        break; // the front end answers these itself
      case "offer": {
        const relid = g(m.childRelid);
        this.routes.set(relid, { kind: "local", localRelid: m.childRelid });
        const flags = this.confidential ? m.offer.chnFlags : m.offer.chnFlags & ~CONFIDENTIAL_OFFER_FLAGS;
        this.#toGuest({
          ...m,
          childRelid: relid,
          connectionId: paravisorConnectionId(relid),
          offer: { ...m.offer, chnFlags: flags },
        });
        break;
      }
      case "gpadl-torndown":
        this.#gpadls.delete(m.gpadl);
        this.#toGuest(m);
        break;
      default:
        this.#toGuest("childRelid" in m ? { ...m, childRelid: g(m.childRelid) } : m);
    }
  }

  // --- to the guest ---

  #toGuest(m: ChannelMessage): void {
    const bytes = encodeChannelMessage(m);
    if (this.trusted)
      this.#port.synic.postMessage(this.targetVp, Conn.VMBUS_MESSAGE_SINT, HvMessageType.HVMSG_VMBUS, bytes);
    else this.#port.postDirect(this.targetVp, bytes);
  }

  #signalGuest(vp: number, relid: number): void {
    if (relid === 0 || relid >= Conn.MAX_CHANNEL_RELIDS) return;
    if (this.trusted) this.#port.synic.signalEvent(vp, Conn.VMBUS_MESSAGE_SINT, relid);
    else this.#port.signalDirect(vp, relid);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#port, this.#opts, this.#gpadls, this.#localConn];
  }
}
