// Offers and rescinds the host makes up: device classes an isolated VM must refuse
// (C20), relids that are out of range, taken, or unknown, duplicates of a live
// channel, confidential flags the connection does not support, and rescinds that
// race the guest's open. The guest rejects each with a reason; a race ends with
// the request woken, never with a hang.
import { DeviceGuid, OfferFlag } from "../../vmbus/constants.ts";
import { defineAttack } from "../api.ts";
import { coco, offer } from "./util.ts";

const G = DeviceGuid;

export const offerNonHardened = defineAttack({
  name: "offer-non-hardened-devices",
  description:
    "the host offers keyboard, video, KVP, file copy, balloon and unknown-class devices on new relids",
  klass: "offers for non-hardened devices",
  defeatedBy: ["isolation-filter"],
  appliesTo: coco,
  after(ctx) {
    const classes = [
      G.HV_KBD_GUID,
      G.HV_SYNTHVID_GUID,
      G.HV_KVP_GUID,
      G.HV_FCOPY_GUID,
      G.HV_DM_GUID,
      "0badc1a5-0000-4000-8000-000000000001",
    ];
    classes.forEach((c, i) => {
      ctx.host.vmbus.send(offer(100 + i, c, 100 + i));
    });
  },
});

export const offerDuplicateRelid = defineAttack({
  name: "offer-duplicate-relid",
  description: "offers reusing the heartbeat's relid, and repeating the heartbeat's instance on a new relid",
  klass: "duplicate and unknown relids",
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const hb = ctx.host.vmbus.offers().find((o) => o.name === "heartbeat");
    if (!hb) return;
    ctx.host.vmbus.send(offer(hb.relid, G.HV_TS_GUID, 7));
    ctx.host.vmbus.send({
      ...offer(60, hb.ifType, 0),
      offer: { ...offer(60, hb.ifType, 0).offer, ifInstance: hb.ifInstance },
    });
  },
});

export const offerRelidRange = defineAttack({
  name: "offer-relid-out-of-range",
  description: "offers of an allowed class with relid 0, 2048 and 0xffffffff",
  klass: "duplicate and unknown relids",
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    [0, 2048, 0xffffffff].forEach((relid, i) => {
      ctx.host.vmbus.send(offer(relid, G.HV_SHUTDOWN_GUID, 200 + i));
    });
  },
});

export const rescindUnknown = defineAttack({
  name: "rescind-unknown-relid",
  description:
    "rescinds of relids no channel has (0, 77, 2047, 5000, 0xffffffff), and of the heartbeat twice",
  klass: "duplicate and unknown relids",
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    for (const relid of [0, 77, 2047, 5000, 0xffffffff])
      ctx.host.vmbus.send({ kind: "rescind", childRelid: relid });
    ctx.letGuestRun();
    const hb = ctx.host.vmbus.offers().find((o) => o.name === "heartbeat");
    if (!hb) return;
    ctx.host.vmbus.rescind(hb.relid);
    ctx.letGuestRun();
    ctx.host.vmbus.send({ kind: "rescind", childRelid: hb.relid });
  },
});

export const offerConfidentialFlags = defineAttack({
  name: "offer-confidential-flags",
  description:
    "offers with the confidential ring / external memory flags on a connection that has no Confidential VMBus",
  klass: "confidential flags on offers",
  defeatedBy: [],
  appliesTo: (c) => coco(c) && c.vmbus !== "confidential",
  after(ctx) {
    const F = OfferFlag;
    [
      F.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER,
      F.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY,
      F.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER | F.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY,
    ].forEach((flags, i) => {
      ctx.host.vmbus.send(offer(300 + i, G.HV_TS_GUID, 300 + i, flags));
    });
  },
});

export const rescindDuringOpen = defineAttack({
  name: "rescind-during-open",
  description:
    "the host rescinds the heartbeat while the guest waits for its GPADL_CREATED, and time sync while it waits for OPENCHANNEL_RESULT",
  klass: "duplicate and unknown relids",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    const done = new Set<number>();
    ctx.host.vmbus.interpose({
      toGuest(m) {
        const name =
          m?.kind === "gpadl-created" ? "heartbeat" : m?.kind === "open-result" ? "timesync" : undefined;
        if (!name || m === undefined || !("childRelid" in m)) return undefined;
        const o = ctx.host.vmbus.offers().find((x) => x.relid === m.childRelid);
        if (o?.name !== name || done.has(o.relid)) return undefined;
        done.add(o.relid);
        ctx.host.vmbus.rescind(o.relid);
        ctx.note(`rescinded ${name} before its ${m.kind}`);
        return undefined;
      },
    });
  },
});

export const rescindAll = defineAttack({
  name: "rescind-everything",
  description: "the host rescinds every channel at once after boot, then offers nothing again",
  klass: "duplicate and unknown relids",
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    for (const o of ctx.host.vmbus.offers()) ctx.host.vmbus.rescind(o.relid);
    ctx.letGuestRun();
    const left = ctx.host.vmbus.offers().filter((o) => o.state === "rescinded").length;
    ctx.note(`${left} rescinded relids the guest has not released`);
  },
});
