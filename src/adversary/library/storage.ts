// Storage: storvsp's completions, rewritten on their way into the ring during the
// guest's SCSI scan — cut short, carrying transaction ids of no request (or 0),
// SRB statuses the driver does not know, sense data longer than its buffer, more
// bytes moved than were asked for. storvsc copies each completion out of the ring,
// checks its length, matches its id to a tag outstanding, and logs why it refused;
// the command times out or is clamped, and the guest goes on.
import { VSTOR_PAYLOAD } from "../../vmbus/storvsc-proto.ts";
import { type AttackContext, defineAttack, type VspPacketView } from "../api.ts";
import { coco } from "./util.ts";

/** VMBUS_RQST_INIT: the id of the init exchange's completions (not an SRB's). */
const INIT_ID = 0xfffffffffffffffdn;
const S = VSTOR_PAYLOAD;

/** Rewrite the first SRB completions storvsp sends with `tamper[i]`, one each. */
function tamperSrbCompletions(ctx: AttackContext, tamper: ((p: VspPacketView) => VspPacketView)[]): void {
  let i = 0;
  ctx.host.vmbus.interpose({
    vsp(ch, p) {
      if (ch.name !== "scsi" || BigInt(p.transId) === INIT_ID || i >= tamper.length) return undefined;
      return tamper[i++]!(p);
    },
  });
}

export const storvspBadLengths = defineAttack({
  name: "storvsp-bad-lengths",
  description: "storvsp's first SCSI completions cut to 40, 4 and 0 bytes",
  klass: "storvsp replies with bad lengths or sense data",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    tamperSrbCompletions(
      ctx,
      [40, 4, 0].map((n) => (p) => ({ ...p, payload: p.payload.slice(0, n) })),
    );
  },
});

export const storvspBogusCompletions = defineAttack({
  name: "storvsp-bogus-completions",
  description:
    "storvsp completes SCSI commands with transaction ids of no request: 29, above the tag space, 0",
  klass: "bogus transaction ids and completions",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    tamperSrbCompletions(
      ctx,
      [29, (7n << 32n) | 1n, 0].map((transId) => (p) => ({ ...p, transId })),
    );
  },
});

export const storvspStatusAndSense = defineAttack({
  name: "storvsp-status-and-sense",
  description: "storvsp answers with an unknown SRB status, 200 bytes of sense data, and 1 GiB moved",
  klass: "storvsp replies with bad lengths or sense data",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    const at = (off: number, set: (v: DataView) => void) => (p: VspPacketView) => {
      if (p.payload.length > off) set(new DataView(p.payload.buffer, p.payload.byteOffset));
      return p;
    };
    // The scan starts with INQUIRY, whose SRB status Linux ignores (a host quirk): the
    // status lies go to the commands after it.
    const status = at(S + 2, (v) => v.setUint8(S + 2, 0x3f));
    tamperSrbCompletions(ctx, [
      at(S + 9, (v) => v.setUint8(S + 9, 200)),
      at(S + 12, (v) => v.setUint32(S + 12, 1 << 30, true)),
      status,
      status,
      status,
    ]);
  },
});
