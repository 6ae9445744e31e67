// Channel management (drivers/hv/channel_mgmt.c; kernel-facts.md §4.2-§4.4): the
// handlers of the channel messages the host sends. Offers and rescinds run as work
// (channel_message_table type 0); the answers to the guest's own requests run at
// once and wake the request they match (type 1). Every message the guest cannot
// use is refused with a logged reason, and the guest carries on.
import { VmbusConnection as Conn } from "../../vmbus/constants.ts";
import type { ChannelMessage, OfferChannelMsg } from "../../vmbus/messages.ts";
import { isCoExternalMemory, isCoRingBuffer } from "../../vmbus/offer.ts";
import { VmbusChannel } from "./channel.ts";
import type { VmbusConnection } from "./connection.ts";
import { hvGetDevType, isValidOffer, VMBUS_DEVS } from "./devices.ts";
import type { HvDevice } from "./driver.ts";

/** vmbus_onoffer(). */
export function vmbusOnOffer(conn: VmbusConnection, m: OfferChannelMsg): void {
  const k = conn.k;
  const relid = m.childRelid;
  const filter = conn.opts.isolationFilter;
  if (filter && !isValidOffer(conn.isolated, m.offer.ifType, m.offer.chnFlags)) {
    const t = hvGetDevType(m.offer.ifType, m.offer.chnFlags);
    conn.refusedOffers.push(VMBUS_DEVS[t]!.name);
    k.reject("HVCOCO_ERR_VMBUS_OFFER_ISOLATED", `Invalid offer ${relid} from the host supporting isolation`);
    return;
  }
  const coRing = isCoRingBuffer(m.offer);
  const coExt = isCoExternalMemory(m.offer);
  if (coExt && !coRing) {
    k.reject(
      "HVCOCO_ERR_VMBUS_OFFER_CONFIDENTIAL",
      `Invalid offer ${relid}: the ring buffer isn't encrypted`,
    );
    return;
  }
  if ((coRing || coExt) && (conn.version < 0x60000 || !k.confidentialVmbus)) {
    k.reject(
      "HVCOCO_ERR_VMBUS_OFFER_CONFIDENTIAL",
      `Invalid offer ${relid}: no support for confidential VMBus`,
    );
    return;
  }
  // The relid indexes channels[] and names the channel's event flag (bit 0 is the control path).
  if (relid === 0 || relid >= Conn.MAX_CHANNEL_RELIDS) {
    k.reject("HVCOCO_ERR_VMBUS_RELID_RANGE", `offer with relid ${relid} outside [1, 2048)`);
    return;
  }
  if (conn.channels[relid]) {
    k.reject(
      "HVCOCO_ERR_VMBUS_DUPLICATE_RELID",
      `offer of relid ${relid}, already channel ${conn.channels[relid]!.name}`,
    );
    return;
  }
  const t = hvGetDevType(m.offer.ifType, m.offer.chnFlags);
  const ch = new VmbusChannel(conn, m, t, VMBUS_DEVS[t]!.name, { ring: coRing, ext: coExt });
  processOffer(conn, ch);
}

/** vmbus_process_offer(): a new primary channel, or a sub-channel of one; map the relid; queue the device work. */
function processOffer(conn: VmbusConnection, ch: VmbusChannel): void {
  const o = ch.offer.offer;
  const primary = conn.chnList.find(
    (c) => c.offer.offer.ifType === o.ifType && c.offer.offer.ifInstance === o.ifInstance,
  );
  if (primary && o.subChannelIndex === 0) {
    conn.k.reject(
      "HVCOCO_ERR_VMBUS_OFFER_SUBCHANNEL",
      `offer ${ch.relid} repeats channel ${primary.relid} with sub_channel_index 0`,
    );
    return;
  }
  // init_vp_index(): non-performance channels go to VMBUS_CONNECT_CPU; the others round-robin.
  ch.targetVp = VMBUS_DEVS[ch.devType]!.perfDevice ? conn.chnList.length % conn.k.hw.cpus.length : 0;
  if (primary) {
    ch.primary = primary;
    primary.subChannels.push(ch);
  } else conn.chnList.push(ch);
  conn.channels[ch.relid] = ch;
  conn.work.queue(() => addChannelWork(conn, ch));
}

/** vmbus_add_channel_work(): the channel is ready to open; a primary becomes a device and is probed. */
function addChannelWork(conn: VmbusConnection, ch: VmbusChannel): void {
  ch.state = "open";
  if (ch.primary || ch.rescind) return;
  const dev: HvDevice = {
    channel: ch,
    devType: ch.devType,
    name: ch.name,
    driver: undefined,
    data: undefined,
  };
  ch.device = dev;
  conn.devices.push(dev);
  // vmbus_probe(): the first driver whose id table holds the class.
  const drv = conn.drivers.find((d) => d.ids.includes(ch.offer.offer.ifType));
  if (!drv) return;
  const ret = drv.probe(dev);
  if (ret === 0) dev.driver = drv;
  else conn.k.log(`${drv.name}: probe of relid ${ch.relid} failed with error ${ret}`);
}

/** vmbus_onoffer_rescind(): wake the channel's waiters, unbind its driver, then remove it. */
export function vmbusOnRescind(conn: VmbusConnection, relid: number): void {
  const ch = conn.relid2channel(relid);
  if (!ch) {
    conn.k.reject("HVCOCO_ERR_VMBUS_UNKNOWN_RELID", `rescind of relid ${relid}, which names no channel`);
    return;
  }
  ch.rescind = true;
  conn.wakeChannel(relid);
  const dev = ch.device;
  if (dev?.driver) {
    dev.driver.remove?.(dev);
    dev.driver = undefined;
  }
  processChannelRemoval(conn, ch);
}

/** hv_process_channel_removal(): unmap the relid, unlink the channel, RELID_RELEASED. */
function processChannelRemoval(conn: VmbusConnection, ch: VmbusChannel): void {
  if (conn.channels[ch.relid] === ch) conn.channels[ch.relid] = undefined;
  if (ch.primary) {
    const i = ch.primary.subChannels.indexOf(ch);
    if (i >= 0) ch.primary.subChannels.splice(i, 1);
  } else {
    const i = conn.chnList.indexOf(ch);
    if (i >= 0) conn.chnList.splice(i, 1);
    const d = ch.device ? conn.devices.indexOf(ch.device) : -1;
    if (d >= 0) conn.devices.splice(d, 1);
  }
  conn.post({ kind: "relid-released", childRelid: ch.relid });
}

/** The type-1 handlers: answers to the guest's requests, matched as Linux matches them. */
export function vmbusOnResponse(conn: VmbusConnection, m: ChannelMessage): void {
  let matched = true;
  switch (m.kind) {
    case "version-response":
      matched = conn.complete("initiate-contact", () => true, m);
      break;
    case "open-result":
      matched = conn.complete("open", (x) => x.relid === m.childRelid && x.id === m.openId, m);
      break;
    case "gpadl-created":
      matched = conn.complete("gpadl-header", (x) => x.relid === m.childRelid && x.id === m.gpadl, m);
      break;
    case "gpadl-torndown":
      matched = conn.complete("gpadl-teardown", (x) => x.id === m.gpadl, m);
      break;
    case "modify-channel-response":
      matched = conn.complete("modify-channel", (x) => x.relid === m.childRelid, m);
      break;
    case "all-offers-delivered":
      conn.allOffersDelivered = true;
      break;
    case "unload-response":
      conn.unloadResponse = true;
      break;
    default:
      matched = false;
  }
  if (!matched)
    conn.k.reject("HVCOCO_ERR_VMBUS_UNSOLICITED", `${m.kind} that answers no request outstanding`);
}
