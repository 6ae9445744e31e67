// The host's VMBus server: the control plane as a state machine whose every effect
// goes through a VmbusServerIo (after OpenVMM's vmbus_server channels::Server;
// peers.md §2.1). It negotiates the protocol version, offers its devices, assembles
// GPADLs from the guest's PFN lists, opens and closes channels, rescinds, unloads,
// and retargets interrupts; an open channel's packets go to its device's VSP. What
// the guest sends is decoded and checked; what does not fit is logged and refused.
import { VmbusConnection as Conn, VMBUS_VERSIONS, VmbusVersion } from "../../vmbus/constants.ts";
import { isFault } from "../../vmbus/errors.ts";
import {
  type ChannelMessage,
  decodeChannelMessage,
  encodeChannelMessage,
  type InitiateContactMsg,
} from "../../vmbus/messages.ts";
import { monitorGroupBit, monitorPendingOffset } from "../../vmbus/monitor.ts";
import type { HostInterposer } from "../interposer.ts";
import { HostChannel, type HostChannelPort } from "./channel.ts";
import {
  gpadlAddBody,
  gpadlComplete,
  gpadlFromHeader,
  gpadlInRange,
  mapGpadlPages,
  type ServerGpadl,
} from "./gpadl.ts";
import type { MessageTarget, VmbusServerIo } from "./io.ts";
import type { HostDevice } from "./vsp.ts";

/** NTSTATUS STATUS_UNSUCCESSFUL: the status of a refused GPADL or open. */
export const STATUS_UNSUCCESSFUL = 0xc0000001;

export interface VmbusServerOptions {
  /** Protocol versions the host accepts (default: every version Linux knows). */
  versions?: readonly number[];
  /** Connection ids the host takes channel messages on (default 1 and 4; a host before 5.0 has only 1). */
  messageConnectionIds?: readonly number[];
  /** msg_conn_id of VERSION_RESPONSE for versions >= 5.0 (default VMBUS_MESSAGE_CONNECTION_ID). */
  responseConnectionId?: number;
}

export type ServerChannelState = "offered" | "open" | "rescinded" | "released";

export interface ServerChannel {
  readonly relid: number;
  readonly device: HostDevice;
  /** The offer's connection_id: what the guest's HvSignalEvent names. */
  readonly connectionId: number;
  readonly monitorId: number;
  state: ServerChannelState;
  open: HostChannel | undefined;
}

export class VmbusServer {
  readonly io: VmbusServerIo;
  readonly versions: readonly number[];
  readonly messageConnectionIds: readonly number[];
  readonly responseConnectionId: number;
  connected = false;
  version = 0;
  /** The VP the guest asked channel messages on (INITIATE_CONTACT target_vcpu). */
  targetVp = 0;
  /** The SINT and VTL the client asked its messages on (msg_sint / msg_vtl, protocol >= 5.0). */
  messageTarget: MessageTarget = { sint: Conn.VMBUS_MESSAGE_SINT, vtl: 0 };
  /** monitor_page1 / monitor_page2 as the guest sent them. */
  monitorPages: readonly [bigint, bigint] | undefined;
  /** Every INITIATE_CONTACT received, in order. */
  readonly contacts: InitiateContactMsg[] = [];
  /** Relids the guest released (RELID_RELEASED), in order. */
  readonly released: number[] = [];
  /** What the server refused, in order (host-side log). */
  readonly errors: string[] = [];
  readonly channels = new Map<number, ServerChannel>();
  /** A malicious host's changes to what its VSPs send (none when honest). */
  interposer: HostInterposer | undefined;
  readonly #byConnection = new Map<number, ServerChannel>();
  readonly #gpadls = new Map<number, ServerGpadl>();
  readonly #port: HostChannelPort;

  constructor(io: VmbusServerIo, devices: readonly HostDevice[], opts: VmbusServerOptions = {}) {
    this.io = io;
    this.versions = opts.versions ?? VMBUS_VERSIONS;
    this.messageConnectionIds = opts.messageConnectionIds ?? [
      Conn.VMBUS_MESSAGE_CONNECTION_ID,
      Conn.VMBUS_MESSAGE_CONNECTION_ID_4,
    ];
    this.responseConnectionId = opts.responseConnectionId ?? Conn.VMBUS_MESSAGE_CONNECTION_ID;
    let monitor = 0;
    devices.forEach((device, i) => {
      const relid = i + 1;
      // OpenVMM ConnectionId::new(relid, vtl 0, sint 2): relid | sint << 12 | vtl << 16.
      const ch: ServerChannel = {
        relid,
        device,
        connectionId: relid | (Conn.VMBUS_MESSAGE_SINT << 12),
        monitorId: device.monitored ? monitor++ : 0,
        state: "offered",
        open: undefined,
      };
      this.channels.set(relid, ch);
      this.#byConnection.set(ch.connectionId, ch);
    });
    this.#port = {
      signal: (hc) => this.io.signalGuest(hc.targetVp, hc.relid),
      error: (hc, what) => this.#error(`relid ${hc.relid} (${hc.name}): ${what}`),
      interposer: () => this.interposer,
    };
  }

  /** Does the host take channel messages on this connection id (HvPostMessage's check)? */
  acceptsConnection(connectionId: number): boolean {
    return this.messageConnectionIds.includes(connectionId);
  }

  /** A GPADL the guest described (being assembled, or created), by handle. */
  gpadl(handle: number): Readonly<ServerGpadl> | undefined {
    return this.#gpadls.get(handle);
  }

  /** The channel of a device by name. */
  channel(name: string): ServerChannel | undefined {
    for (const c of this.channels.values()) if (c.device.name === name) return c;
    return undefined;
  }

  #error(what: string): void {
    this.errors.push(what);
    if (this.errors.length > 256) this.errors.shift();
  }

  #post(m: ChannelMessage): void {
    this.io.postToGuest(this.targetVp, encodeChannelMessage(m), this.messageTarget);
  }

  /** A channel message the guest posted (runs as a host task). */
  onMessage(vp: number, payload: Uint8Array): void {
    const m = decodeChannelMessage(payload);
    if (isFault(m)) {
      this.#error(`message from VP${vp}: ${m.code}: ${m.detail}`);
      return;
    }
    if (m.kind !== "initiate-contact" && !this.connected) {
      this.#error(`${m.kind} before a version was negotiated`);
      return;
    }
    switch (m.kind) {
      case "initiate-contact":
        this.#initiateContact(m);
        return;
      case "request-offers":
        this.#offerAll();
        return;
      case "gpadl-header": {
        const c = this.#live(m.childRelid, m.kind);
        if (!c) return;
        if (this.#gpadls.has(m.gpadl)) {
          this.#gpadlCreated(m.childRelid, m.gpadl, false, "handle in use");
          return;
        }
        const g = gpadlFromHeader(m);
        if (typeof g === "string") {
          this.#gpadlCreated(m.childRelid, m.gpadl, false, g);
          return;
        }
        this.#gpadls.set(g.handle, g);
        if (gpadlComplete(g)) this.#createGpadl(g);
        return;
      }
      case "gpadl-body": {
        const g = this.#gpadls.get(m.gpadl);
        if (!g || g.created) {
          this.#error(`gpadl body for unknown gpadl 0x${m.gpadl.toString(16)}`);
          return;
        }
        const bad = gpadlAddBody(g, m);
        if (bad) {
          this.#gpadls.delete(g.handle);
          this.#gpadlCreated(g.relid, g.handle, false, bad);
          return;
        }
        if (gpadlComplete(g)) this.#createGpadl(g);
        return;
      }
      case "gpadl-teardown": {
        const g = this.#gpadls.get(m.gpadl);
        if (!g || g.relid !== m.childRelid) {
          this.#error(`teardown of unknown gpadl 0x${m.gpadl.toString(16)}`);
          return;
        }
        const c = this.channels.get(g.relid);
        if (c?.open && c.state === "open") this.#close(c);
        this.#gpadls.delete(g.handle);
        this.#post({ kind: "gpadl-torndown", gpadl: g.handle });
        return;
      }
      case "open":
        this.#open(
          m.childRelid,
          m.openId,
          m.ringbufferGpadlHandle,
          m.downstreamRingbufferPageOffset,
          m.targetVp,
        );
        return;
      case "close": {
        const c = this.channels.get(m.childRelid);
        if (c?.state === "open") this.#close(c);
        return;
      }
      case "relid-released": {
        const c = this.channels.get(m.childRelid);
        if (c?.state !== "rescinded") {
          this.#error(`release of relid ${m.childRelid} not rescinded`);
          return;
        }
        c.state = "released";
        this.released.push(c.relid);
        return;
      }
      case "modify-channel": {
        const c = this.#live(m.childRelid, m.kind);
        if (!c) return;
        if (c.open) c.open.targetVp = m.targetVp;
        if (this.version >= VmbusVersion.VERSION_WIN10_V5_3)
          this.#post({ kind: "modify-channel-response", childRelid: c.relid, status: 0 });
        return;
      }
      case "unload":
        this.#unload();
        return;
      default:
        this.#error(`unexpected ${m.kind} from the guest`);
        return;
    }
  }

  /** A channel that exists and is not rescinded. */
  #live(relid: number, what: string): ServerChannel | undefined {
    const c = this.channels.get(relid);
    if (!c || c.state === "rescinded" || c.state === "released") {
      this.#error(`${what} for relid ${relid}, which is not offered`);
      return undefined;
    }
    return c;
  }

  #initiateContact(m: InitiateContactMsg): void {
    this.contacts.push(m);
    if (this.connected) this.#reset();
    this.targetVp = m.targetVcpu;
    this.messageTarget =
      m.versionRequested >= VmbusVersion.VERSION_WIN10_V5
        ? { sint: m.msgSint, vtl: m.msgVtl }
        : { sint: Conn.VMBUS_MESSAGE_SINT, vtl: 0 };
    const ok = this.versions.includes(m.versionRequested);
    if (ok) {
      this.connected = true;
      this.version = m.versionRequested;
      this.monitorPages = [m.monitorPage1, m.monitorPage2];
    }
    const v5 = m.versionRequested >= VmbusVersion.VERSION_WIN10_V5;
    this.#post({
      kind: "version-response",
      versionSupported: ok ? 1 : 0,
      connectionState: 0,
      msgConnId: ok && v5 ? this.responseConnectionId : 0,
      // OpenVMM answers a 6.0 request with VersionResponse2 (Linux reads its first 16 bytes).
      ...(ok && m.versionRequested >= VmbusVersion.VERSION_WIN10_V6_0 ? { supportedFeatures: 0 } : {}),
    });
  }

  #offerAll(): void {
    for (const c of this.channels.values()) {
      if (c.state === "released") continue;
      const d = c.device;
      const user = new Uint8Array(120);
      if (d.userDefined) user.set(d.userDefined.subarray(0, 120));
      this.#post({
        kind: "offer",
        offer: {
          ifType: d.ifType,
          ifInstance: d.ifInstance,
          reserved1: 0n,
          reserved2: 0n,
          chnFlags: d.chnFlags ?? 0,
          mmioMegabytes: d.mmioMegabytes ?? 0,
          userDefined: user,
          subChannelIndex: 0,
          reserved3: 0,
        },
        childRelid: c.relid,
        monitorId: c.monitorId,
        monitorAllocated: d.monitored ? 1 : 0,
        isDedicatedInterrupt: 0,
        connectionId: c.connectionId,
      });
    }
    this.#post({ kind: "all-offers-delivered" });
  }

  #createGpadl(g: ServerGpadl): void {
    if (!gpadlInRange(g, this.io.memory.pages)) {
      this.#gpadls.delete(g.handle);
      this.#gpadlCreated(g.relid, g.handle, false, "PFN outside the partition");
      return;
    }
    g.created = true;
    // Fully described: its pages never change again (and a snapshot need not keep them).
    Object.freeze(g.pfns);
    this.#gpadlCreated(g.relid, g.handle, true);
  }

  #gpadlCreated(relid: number, handle: number, ok: boolean, why?: string): void {
    if (!ok) this.#error(`gpadl 0x${handle.toString(16)} refused: ${why}`);
    this.#post({
      kind: "gpadl-created",
      childRelid: relid,
      gpadl: handle,
      creationStatus: ok ? 0 : STATUS_UNSUCCESSFUL,
    });
  }

  #open(relid: number, openId: number, handle: number, downstream: number, targetVp: number): void {
    const c = this.#live(relid, "open");
    if (!c) return;
    const g = this.#gpadls.get(handle);
    const pages = g?.pfns.length ?? 0;
    let why: string | undefined;
    if (c.state !== "offered") why = "already open";
    else if (!g?.created || g.relid !== relid || g.byteOffset !== 0)
      why = `no ring gpadl 0x${handle.toString(16)}`;
    else if (downstream < 2 || pages - downstream < 2)
      why = `downstream offset ${downstream} of ${pages} pages`;
    if (why !== undefined || !g) {
      this.#error(`open of relid ${relid} refused: ${why}`);
      this.#post({ kind: "open-result", childRelid: relid, openId, status: STATUS_UNSUCCESSFUL });
      return;
    }
    const view = this.io.memory;
    const inMem = mapGpadlPages(view, g, 0, downstream);
    const outMem = mapGpadlPages(view, g, downstream, pages - downstream);
    const hc = new HostChannel(relid, c.device.name, c.device.vsp, targetVp, inMem, outMem, this.#port);
    c.open = hc;
    c.state = "open";
    this.#post({ kind: "open-result", childRelid: relid, openId, status: 0 });
    this.io.schedule(`${c.device.name}: channel open`, () => {
      if (c.open === hc && !hc.closed) c.device.vsp.onOpen(hc);
    });
  }

  #close(c: ServerChannel): void {
    const hc = c.open;
    c.open = undefined;
    if (c.state === "open") c.state = "offered";
    if (!hc) return;
    hc.closed = true;
    c.device.vsp.onClose?.(hc);
  }

  /** Close every channel and forget every GPADL (a new INITIATE_CONTACT or UNLOAD). */
  #reset(): void {
    for (const c of this.channels.values()) {
      this.#close(c);
      if (c.state !== "released") c.state = "offered";
    }
    this.#gpadls.clear();
    this.connected = false;
  }

  #unload(): void {
    this.#reset();
    this.#post({ kind: "unload-response" });
  }

  /** The guest signalled a channel (HvSignalEvent on its connection id). False: no such channel. */
  onSignal(connectionId: number): boolean {
    const c = this.#byConnection.get(connectionId);
    if (!c) return false;
    const hc = c.open;
    if (hc) this.io.schedule(`${c.device.name}: drain`, () => hc.drain());
    return true;
  }

  /** Rescind a device: RESCIND_CHANNELOFFER; its VSP stops; the guest closes and releases the relid. */
  rescind(relid: number): boolean {
    const c = this.channels.get(relid);
    if (!c || c.state === "rescinded" || c.state === "released") return false;
    if (c.open) this.#close(c);
    c.state = "rescinded";
    this.#post({ kind: "rescind", childRelid: relid });
    return true;
  }

  /**
   * Poll the child→parent monitor page (what the host does for monitored
   * channels): every pending bit is cleared and its channel drained.
   */
  pollMonitor(): number {
    const page = this.monitorPages?.[1];
    if (page === undefined) return 0;
    let n = 0;
    const mem = this.io.memory;
    for (const c of this.channels.values()) {
      if (!c.device.monitored || !c.open) continue;
      const { group, bit } = monitorGroupBit(c.monitorId);
      const at = Number(page) + monitorPendingOffset(group);
      const b = mem.read(at + (bit >>> 3), 1);
      if ((b[0]! & (1 << (bit & 7))) === 0) continue;
      mem.write(at + (bit >>> 3), new Uint8Array([b[0]! & ~(1 << (bit & 7))]));
      c.open.drain();
      n++;
    }
    return n;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#byConnection, this.#gpadls, this.#port];
  }
}
