// Confidential VMBus (C27, C29, C30, C32, C33): what a host can try against a guest
// whose VMBus is the paravisor's. It sets confidential flags on the offers it makes
// the paravisor's relay; forges channel messages on the untrusted paths — on the
// guest's hypervisor SynIC, and into the paravisor through the hypervisor — naming
// relids it never offered (the paravisor's own channels); numbers its offers where
// a careless paravisor would put its own; and reads every page its SLAT maps while
// the paravisor bounces the guest's disk data. The auditor checks that only the
// paravisor's channels are confidential, and that the guest's key page, stored on
// the paravisor's disk, comes back intact and is never read by the host.
import { HvCallCode } from "../../hyperv/hvgdk.ts";
import { encodePostMessageInput } from "../../hypervisor/direct.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import { VmbusConnection as Conn, DeviceGuid, OfferFlag } from "../../vmbus/constants.ts";
import { type ChannelMessage, encodeChannelMessage } from "../../vmbus/messages.ts";
import { type AttackContext, defineAttack } from "../api.ts";
import { offer } from "./util.ts";

type Cfg = { isolation: string; mode: string; vmbus?: string; paravisorStorage?: string };

const cvmbus = (c: Cfg): boolean => c.vmbus === "confidential";
const FLAGS =
  OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER | OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY;

/** Relids the host never offered, from 1 up: where the paravisor's own channels are. */
function notOffered(ctx: AttackContext, n: number): number[] {
  const mine = new Set(ctx.host.vmbus.offers().map((o) => o.relid));
  const out: number[] = [];
  for (let relid = 1; out.length < n && relid < Conn.MAX_CHANNEL_RELIDS; relid++)
    if (!mine.has(relid)) out.push(relid);
  return out;
}

/** The offers each run's host flagged (setup and after share the run's context). */
const flagged = new WeakMap<AttackContext, { offers: number }>();

export const relayOfferConfidentialFlags = defineAttack({
  name: "relay-offer-confidential-flags",
  description:
    "with Confidential VMBus the host sets the confidential ring and external-memory flags on every offer it makes the paravisor's relay",
  klass: "confidential flags on offers",
  defeatedBy: ["relay-flag-strip"],
  appliesTo: cvmbus,
  setup(ctx) {
    const n = { offers: 0 };
    flagged.set(ctx, n);
    ctx.host.vmbus.interpose({
      toGuest(m) {
        if (m?.kind !== "offer") return undefined;
        n.offers++;
        return encodeChannelMessage({ ...m, offer: { ...m.offer, chnFlags: m.offer.chnFlags | FLAGS } });
      },
    });
  },
  after(ctx) {
    ctx.note(`set the confidential flags on ${flagged.get(ctx)?.offers ?? 0} offers to the relay`);
  },
});

export const untrustedSynicRescind = defineAttack({
  name: "untrusted-synic-rescind",
  description:
    "with Confidential VMBus the host posts RESCIND_CHANNELOFFER on the guest's hypervisor SynIC for every relid it never offered (the paravisor's channels)",
  klass: "duplicate and unknown relids",
  defeatedBy: ["trusted-connection"],
  appliesTo: cvmbus,
  after(ctx) {
    const relids = notOffered(ctx, 16);
    for (const relid of relids) ctx.host.vmbus.send({ kind: "rescind", childRelid: relid });
    ctx.letGuestRun();
    ctx.note(`forged rescinds of relids ${relids[0]}..${relids.at(-1)} on the untrusted SynIC`);
  },
});

/** A channel message as if the guest had posted it, delivered through the hypervisor to the paravisor. */
function forgeFromGuest(ctx: AttackContext, m: ChannelMessage): number {
  const input = encodePostMessageInput(Conn.VMBUS_MESSAGE_CONNECTION_ID_4, 1, encodeChannelMessage(m));
  return Number(ctx.hypervisor.callParavisor(0, BigInt(HvCallCode.HVCALL_POST_MESSAGE), input) & 0xffffn);
}

export const untrustedPathClose = defineAttack({
  name: "untrusted-path-close",
  description:
    "with Confidential VMBus the host forges the guest's CLOSECHANNEL and GPADL_TEARDOWN into the paravisor through the hypervisor, for every relid it never offered",
  klass: "malformed, truncated and oversized channel messages",
  defeatedBy: ["trusted-connection"],
  appliesTo: cvmbus,
  after(ctx) {
    let posted = 0;
    for (const relid of notOffered(ctx, 16)) {
      if (forgeFromGuest(ctx, { kind: "close", childRelid: relid }) === 0) posted++;
      forgeFromGuest(ctx, { kind: "gpadl-teardown", childRelid: relid, gpadl: 0xe1e10 + relid });
    }
    ctx.letGuestRun();
    ctx.note(`posted ${posted} forged closes into the paravisor's untrusted path`);
  },
});

export const offerRelidCollision = defineAttack({
  name: "offer-relid-collision",
  description:
    "the host numbers its offers from relid 1 up, where a paravisor that does not number around them puts its own channels, and hot-adds one more at the first relid it left free",
  klass: "duplicate and unknown relids",
  defeatedBy: ["relid-coordination"],
  appliesTo: cvmbus,
  after(ctx) {
    const [relid] = notOffered(ctx, 1);
    if (relid === undefined) return;
    ctx.host.vmbus.sendToClient(offer(relid, DeviceGuid.HV_SHUTDOWN_GUID, 400 + relid));
    ctx.letGuestRun();
    ctx.note(`hot-added an offer at relid ${relid}`);
  },
});

export const hostReadsBouncePages = defineAttack({
  name: "host-reads-bounce-pages",
  description:
    "while the paravisor bounces the guest's disk data for a device without encrypted-memory support, the host reads every page its SLAT maps",
  klass: "host reads and writes of private pages",
  defeatedBy: ["slat-exclusion"],
  appliesTo: (c) => cvmbus(c) && c.paravisorStorage === "bounce",
  after(ctx) {
    const buf = new Uint8Array(PAGE_SIZE);
    const pages = ctx.host.mappedPages();
    for (const pfn of pages) ctx.host.memory.read(pfn * PAGE_SIZE, PAGE_SIZE, buf);
    ctx.note(`read the ${pages.length} pages its SLAT maps`);
  },
});
