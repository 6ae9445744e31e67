// GPADL abuse: answers for GPADLs the guest never described, a teardown the guest
// never asked for, refusals, and the host keeping its mapping of a GPADL after the
// guest tore it down — or writing it while the guest re-encrypts it. The guest
// matches every GPADL answer to a request outstanding, re-encrypts a buffer whose
// GPADL failed or was torn down (C17), and the platform refuses the host's access
// to pages that are private again.
import { encodeChannelMessage } from "../../vmbus/messages.ts";
import { defineAttack } from "../api.ts";
import { coco } from "./util.ts";

const klass = "GPADL abuse";
const FAIL = 0xc0000001;

export const gpadlCreatedUnknown = defineAttack({
  name: "gpadl-created-unknown-handle",
  description:
    "GPADL_CREATED for handles the guest never described, and again for the heartbeat's live ring GPADL",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const sd = ctx.host.vmbus.offers().find((o) => o.name === "shutdown")?.relid ?? 3;
    for (const handle of [0, 0xffffffff, 0xe1e1e1]) {
      ctx.host.vmbus.send({ kind: "gpadl-created", childRelid: sd, gpadl: handle, creationStatus: 0 });
      ctx.letGuestRun();
    }
    const g = ctx.host.vmbus.gpadls()[0];
    if (g)
      ctx.host.vmbus.send({
        kind: "gpadl-created",
        childRelid: g.relid,
        gpadl: g.handle,
        creationStatus: FAIL,
      });
  },
});

export const gpadlTorndownLive = defineAttack({
  name: "gpadl-torndown-unasked",
  description: "GPADL_TORNDOWN for the heartbeat's live ring GPADL, though the guest asked for no teardown",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const hb = ctx.host.vmbus.channel("heartbeat");
    for (const g of ctx.host.vmbus.gpadls())
      if (g.relid === hb?.relid) ctx.host.vmbus.send({ kind: "gpadl-torndown", gpadl: g.handle });
  },
});

export const gpadlRefused = defineAttack({
  name: "gpadl-refused",
  description: "the host answers every GPADL with a failure status, then writes the pages it was given",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.host.vmbus.interpose({
      toGuest(m) {
        if (m?.kind !== "gpadl-created") return undefined;
        return encodeChannelMessage({ ...m, creationStatus: FAIL });
      },
    });
  },
  after(ctx) {
    let refused = 0;
    const gs = ctx.host.vmbus.gpadls();
    for (const g of gs) if (!g.write(0, ctx.rng.fill(new Uint8Array(64)))) refused++;
    ctx.note(`${refused} of ${gs.length} refused GPADLs' pages were private again`);
  },
});

export const gpadlStaleMapping = defineAttack({
  name: "gpadl-use-after-teardown",
  description:
    "the host rescinds the heartbeat, lets the guest tear its ring GPADL down, then reads and writes it",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const hb = ctx.host.vmbus.channel("heartbeat");
    const g = ctx.host.vmbus.gpadls().find((x) => x.relid === hb?.relid);
    if (!hb || !g) return;
    ctx.host.vmbus.rescind(hb.relid);
    ctx.letGuestRun();
    const took = g.write(0, ctx.rng.fill(new Uint8Array(g.byteCount)));
    g.read(0, g.byteCount);
    ctx.note(took ? "the stale GPADL took the write" : "the stale GPADL's pages refused the write");
  },
});

export const gpadlTeardownRace = defineAttack({
  name: "gpadl-teardown-race",
  description:
    "while the guest re-encrypts a torn-down ring, the host writes it at every step of the conversion",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const hb = ctx.host.vmbus.channel("heartbeat");
    const g = ctx.host.vmbus.gpadls().find((x) => x.relid === hb?.relid);
    if (!hb || !g) return;
    const first = g.pfns[0]!;
    let writes = 0;
    let taken = 0;
    for (const point of ["begin", "prepared", "pte-changed", "visibility-done", "done"])
      ctx.at(`set_memory:${point}`, (d) => {
        if (d["enc"] === 0 || Number(d["pfn"]) !== first) return;
        writes++;
        if (g.write(0, ctx.rng.fill(new Uint8Array(g.byteCount)))) taken++;
      });
    ctx.host.vmbus.rescind(hb.relid);
    ctx.letGuestRun();
    ctx.note(
      `${taken} of ${writes} writes during the re-encryption landed (while the pages were still shared)`,
    );
  },
});
