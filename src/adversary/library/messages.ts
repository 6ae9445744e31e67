// Malformed, truncated and oversized channel messages, and responses to requests the
// guest never made. vmbus_on_msg_dpc copies the SynIC message to private memory,
// checks its type, size and the minimum length of its type, and the type-1
// handlers match each response to a request outstanding; everything else is
// rejected with a reason and the slot is freed (EOM).
import { VmbusConnection as Conn, ChannelMessageType as T } from "../../vmbus/constants.ts";
import { type ChannelMessage, encodeChannelMessage } from "../../vmbus/messages.ts";
import { type AttackContext, defineAttack } from "../api.ts";
import { coco, msgOfType, synicMessage } from "./util.ts";

const klass = "malformed, truncated and oversized channel messages";

export const msgTypeOutOfRange = defineAttack({
  name: "msg-type-out-of-range",
  description: "channel messages whose msgtype is at or above CHANNELMSG_COUNT (25, 0x7fff, 0xffffffff)",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    for (const t of [T.CHANNELMSG_COUNT, 0x7fff, 0xffffffff]) {
      ctx.host.vmbus.post(msgOfType(t, 24));
      ctx.letGuestRun();
    }
  },
});

export const msgNoHandler = defineAttack({
  name: "msg-host-bound-types",
  description: "messages only a host takes (REQUESTOFFERS, OPENCHANNEL, GPADL_HEADER, ...) sent to the guest",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    for (const t of [
      T.CHANNELMSG_INVALID,
      T.CHANNELMSG_REQUESTOFFERS,
      T.CHANNELMSG_OPENCHANNEL,
      T.CHANNELMSG_CLOSECHANNEL,
      T.CHANNELMSG_GPADL_HEADER,
      T.CHANNELMSG_GPADL_BODY,
      T.CHANNELMSG_GPADL_TEARDOWN,
      T.CHANNELMSG_RELID_RELEASED,
      T.CHANNELMSG_INITIATE_CONTACT,
      T.CHANNELMSG_UNLOAD,
      T.CHANNELMSG_18,
      T.CHANNELMSG_TL_CONNECT_REQUEST,
      T.CHANNELMSG_MODIFYCHANNEL,
      T.CHANNELMSG_TL_CONNECT_RESULT,
    ]) {
      ctx.host.vmbus.post(msgOfType(t, 232));
      ctx.letGuestRun();
    }
  },
});

/** A well-formed message of every type the guest handles, naming relid `relid` and made-up handles. */
function guestBound(relid: number): ChannelMessage[] {
  return [
    { kind: "rescind", childRelid: relid },
    { kind: "open-result", childRelid: relid, openId: relid, status: 0 },
    { kind: "gpadl-created", childRelid: relid, gpadl: 0xe1000, creationStatus: 0 },
    { kind: "gpadl-torndown", gpadl: 0xe1000 },
    { kind: "version-response", versionSupported: 1, connectionState: 0, msgConnId: 1 },
    { kind: "modify-channel-response", childRelid: relid, status: 0 },
  ];
}

/** The shutdown device's relid: these attacks name a live channel, but not one the verdict probes. */
function shutdownRelid(ctx: AttackContext): number {
  return ctx.host.vmbus.offers().find((o) => o.name === "shutdown")?.relid ?? 3;
}

export const msgTruncated = defineAttack({
  name: "msg-truncated",
  description:
    "each message type the guest handles, cut one byte short of its minimum and down to its header",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const offerLen = 196;
    const full = [...guestBound(shutdownRelid(ctx)).map(encodeChannelMessage), new Uint8Array(offerLen)];
    new DataView(full[full.length - 1]!.buffer).setUint32(0, T.CHANNELMSG_OFFERCHANNEL, true);
    for (const m of full)
      for (const len of [m.length - 1, 8, 4]) {
        ctx.host.vmbus.post(m.subarray(0, len));
        ctx.letGuestRun();
      }
  },
});

export const msgOversized = defineAttack({
  name: "msg-oversized",
  description:
    "SynIC messages claiming payload_size 241 and 255 (written straight into the slot), and a 300-byte post",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const payload = msgOfType(T.CHANNELMSG_OFFERCHANNEL, 232);
    for (const size of [241, 255]) {
      ctx.hypervisor.synic.writeSlot(0, Conn.VMBUS_MESSAGE_SINT, synicMessage(payload, size));
      ctx.letGuestRun();
    }
    const big = ctx.host.vmbus.post(new Uint8Array(300));
    ctx.note(`a 300-byte HvPostMessage: ${big} by the SynIC`);
  },
});

export const msgUnsolicited = defineAttack({
  name: "msg-unsolicited-responses",
  description:
    "VERSION_RESPONSE, OPENCHANNEL_RESULT, GPADL_CREATED/TORNDOWN, MODIFYCHANNEL_RESPONSE no request asked for",
  klass: "bogus transaction ids and completions",
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const relid = shutdownRelid(ctx);
    for (const m of guestBound(relid)) {
      if (m.kind === "rescind") continue;
      ctx.host.vmbus.send(m);
      ctx.letGuestRun();
    }
    ctx.host.vmbus.send({ kind: "version-response", versionSupported: 0, connectionState: 1, msgConnId: 9 });
    ctx.host.vmbus.send({ kind: "open-result", childRelid: relid, openId: relid, status: 0xc0000001 });
    ctx.host.vmbus.send({ kind: "all-offers-delivered" });
    ctx.host.vmbus.send({ kind: "unload-response" });
  },
});

export const msgRandomJunk = defineAttack({
  name: "msg-random-junk",
  description: "96 seeded random channel messages of every guest-handled type with random bytes and lengths",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const types = [1, 2, 4, 6, 10, 12, 15, 17, 24];
    for (let i = 0; i < 96; i++) {
      const m = ctx.rng.fill(new Uint8Array(1 + ctx.rng.int(0, 239)));
      if (m.length >= 4) new DataView(m.buffer).setUint32(0, types[i % types.length]!, true);
      ctx.host.vmbus.post(m);
      ctx.letGuestRun();
    }
  },
});
