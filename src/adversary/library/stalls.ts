// Stalls: the host never answers. Every wait of the guest is bounded (the scheduler
// runs dry, or its task budget runs out): it times out, logs what it waited for,
// undoes what it prepared (re-encrypting a GPADL buffer), and carries on without
// the device — it never hangs.
import { defineAttack } from "../api.ts";
import { coco } from "./util.ts";

const klass = "stalls (the guest times out instead of hanging)";

export const stallVersion = defineAttack({
  name: "stall-version-response",
  description: "the host ignores every INITIATE_CONTACT: no VERSION_RESPONSE ever comes",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.host.vmbus.interpose({ fromGuest: (m) => (m?.kind === "initiate-contact" ? null : undefined) });
  },
});

export const stallOffers = defineAttack({
  name: "stall-all-offers-delivered",
  description: "the host offers its devices but never sends ALLOFFERS_DELIVERED",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.host.vmbus.interpose({ toGuest: (m) => (m?.kind === "all-offers-delivered" ? null : undefined) });
  },
});

export const stallGpadl = defineAttack({
  name: "stall-gpadl-created",
  description: "the host ignores the guest's GPADL_HEADER for the heartbeat ring: no GPADL_CREATED",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.host.vmbus.interpose({
      fromGuest: (m) => (m?.kind === "gpadl-header" && m.childRelid === 1 ? null : undefined),
    });
  },
});

export const stallOpen = defineAttack({
  name: "stall-open-result",
  description: "the host takes every OPENCHANNEL and never answers it",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.host.vmbus.interpose({ fromGuest: (m) => (m?.kind === "open" ? null : undefined) });
  },
});

export const stallIc = defineAttack({
  name: "stall-ic-negotiation",
  description: "the heartbeat's VSP never sends its version negotiation (its packets are dropped)",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.host.vmbus.interpose({ vsp: (ch) => (ch.name === "heartbeat" ? null : undefined) });
  },
});

export const stallTeardown = defineAttack({
  name: "stall-gpadl-teardown",
  description: "the host rescinds the heartbeat and then ignores the guest's GPADL_TEARDOWN",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    ctx.host.vmbus.interpose({ fromGuest: (m) => (m?.kind === "gpadl-teardown" ? null : undefined) });
    const hb = ctx.host.vmbus.channel("heartbeat");
    if (hb) ctx.host.vmbus.rescind(hb.relid);
  },
});
