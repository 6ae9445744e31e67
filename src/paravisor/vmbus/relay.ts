// The VMBus relay (after OpenVMM's vmbus_relay; peers.md §1a, §2.1): the paravisor
// is the host's VMBus client. At boot it connects to the host's server from VTL2
// (INITIATE_CONTACT on the redirect connection id, msg_vtl 2, msg_sint 7), asks for
// the offers and keeps them; the paravisor's own server re-offers them to the guest
// (server.ts), so the guest sees one connection. The relay has no part in the data
// plane: a relayed channel's rings are the guest's decrypted pages, which the host
// maps itself, and its signals travel through the hypervisor's SynIC.
//
// Everything the host sends is decoded and checked here before the paravisor acts
// on it; what does not fit is logged and dropped.
import { VmbusConnection as Conn, VMBUS_VERSIONS } from "../../vmbus/constants.ts";
import { isFault } from "../../vmbus/errors.ts";
import {
  type ChannelMessage,
  decodeChannelMessage,
  encodeChannelMessage,
  type OfferChannelMsg,
} from "../../vmbus/messages.ts";
import { REDIRECT_SINT, REDIRECT_VTL, VMBUS_MESSAGE_REDIRECT_CONNECTION_ID } from "./constants.ts";

export interface RelayPort {
  /** HvPostMessage to the host's server through the hypervisor; the hypercall status. */
  post(connectionId: number, payload: Uint8Array): number;
  /** Let the machine run until `cond` holds (bounded); false on a timeout. */
  waitFor(cond: () => boolean, what: string): boolean;
  /** A host message about a relayed channel, for the guest (the server checks it names one). */
  toGuest(m: ChannelMessage): void;
  /** An offer the host made after the guest connected (a hot add). */
  hotAdd(m: OfferChannelMsg): void;
  log(line: string): void;
}

export type RelayState = "disconnected" | "connected" | "failed";

export class HostRelay {
  readonly #port: RelayPort;
  state: RelayState = "disconnected";
  /** The protocol version the host accepted. */
  version = 0;
  /** The host's offers by its relid, in the order it made them. */
  readonly offers = new Map<number, OfferChannelMsg>();
  allOffersDelivered = false;
  /** Host messages the relay refused (malformed, or not a message a server sends). */
  refused = 0;
  #response: number | undefined;

  constructor(port: RelayPort) {
    this.#port = port;
  }

  #send(m: ChannelMessage): number {
    return this.#port.post(VMBUS_MESSAGE_REDIRECT_CONNECTION_ID, encodeChannelMessage(m));
  }

  /** Connect to the host's server, newest version first; then fetch every offer. */
  connect(): boolean {
    for (const version of VMBUS_VERSIONS) {
      this.#response = undefined;
      const st = this.#send({
        kind: "initiate-contact",
        versionRequested: version,
        targetVcpu: Conn.VMBUS_CONNECT_CPU,
        interruptPage: 0n,
        msgSint: REDIRECT_SINT,
        msgVtl: REDIRECT_VTL,
        featureFlags: 0,
        monitorPage1: 0n,
        monitorPage2: 0n,
      });
      if (st !== 0) break;
      if (!this.#port.waitFor(() => this.#response !== undefined, "host VERSION_RESPONSE")) break;
      if (this.#response) {
        this.version = version;
        this.state = "connected";
        break;
      }
    }
    if (this.state !== "connected") {
      this.state = "failed";
      this.#port.log("relay: the host's VMBus server did not accept a connection");
      return false;
    }
    this.allOffersDelivered = false;
    if (this.#send({ kind: "request-offers" }) !== 0) return false;
    if (!this.#port.waitFor(() => this.allOffersDelivered, "host ALLOFFERS_DELIVERED"))
      this.#port.log("relay: timed out waiting for the host's offers");
    return true;
  }

  /** A message for a relayed channel, from the guest, to the host (the relid is the host's). */
  forward(m: ChannelMessage): number {
    return this.#send(m);
  }

  /** A message the host posted to the paravisor's SynIC (VTL2 SINT 7). */
  onHostMessage(_vp: number, payload: Uint8Array): void {
    const m = decodeChannelMessage(payload);
    if (isFault(m)) {
      this.#refuse(`${m.code}: ${m.detail}`);
      return;
    }
    switch (m.kind) {
      case "version-response":
        this.#response = m.versionSupported;
        return;
      case "offer": {
        const relid = m.childRelid;
        if (relid === 0 || relid >= Conn.MAX_CHANNEL_RELIDS || this.offers.has(relid)) {
          this.#refuse(`offer with relid ${relid} (0, too large, or already offered)`);
          return;
        }
        this.offers.set(relid, m);
        if (this.allOffersDelivered) this.#port.hotAdd(m);
        return;
      }
      case "all-offers-delivered":
        this.allOffersDelivered = true;
        return;
      case "rescind":
        if (this.offers.delete(m.childRelid)) this.#port.toGuest(m);
        else this.#refuse(`rescind of relid ${m.childRelid}, never offered`);
        return;
      case "open-result":
      case "gpadl-created":
      case "gpadl-torndown":
      case "modify-channel-response":
        this.#port.toGuest(m);
        return;
      case "unload-response":
        return;
      default:
        this.#refuse(`${m.kind} is not a message a server sends`);
    }
  }

  #refuse(why: string): void {
    this.refused++;
    this.#port.log(`relay: refused a host message: ${why}`);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#port, this.#response];
  }
  load(s: unknown[]): void {
    this.#response = s[1] as never;
  }
}
