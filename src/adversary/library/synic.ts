// SynIC slot abuse: the hypervisor owns the message slots' contents and the
// msg_pending protocol. It writes messages of types that are not VMBus's, plays
// with msg_pending (set with nothing queued; cleared with messages waiting), and
// floods a slot with queued messages. The guest copies each message out of the
// slot, checks it, frees the slot and writes EOM when told another waits: a
// message it cannot use is rejected, a lost wake-up makes a wait time out.
import {
  HV_MESSAGE,
  HV_MESSAGE_FLAG_PENDING,
  HvMessageType,
  VMBUS_MESSAGE_SINT,
} from "../../hyperv/synic-abi.ts";
import { ChannelMessageType as T } from "../../vmbus/constants.ts";
import { defineAttack } from "../api.ts";
import { coco, msgOfType, synicMessage } from "./util.ts";

const klass = "SynIC slot abuse";
const SINT = VMBUS_MESSAGE_SINT;

export const synicBadTypes = defineAttack({
  name: "synic-bad-message-types",
  description:
    "messages in the VMBus slot whose hv_message_type is not HVMSG_VMBUS (timer, 0xdeadbeef, 0x80000000)",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const body = msgOfType(T.CHANNELMSG_RESCIND_CHANNELOFFER, 8);
    for (const type of [HvMessageType.HVMSG_TIMER_EXPIRED, 0xdeadbeef, 0x80000000, 2]) {
      ctx.hypervisor.synic.writeSlot(0, SINT, synicMessage(body, body.length, type));
      ctx.letGuestRun();
    }
  },
});

export const synicPendingGames = defineAttack({
  name: "synic-msg-pending-games",
  description: "msg_pending set with nothing queued, then cleared while 32 messages wait for the slot",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    const junk = msgOfType(T.CHANNELMSG_COUNT + 1, 8);
    // A spurious msg_pending: the guest writes an EOM for nothing.
    ctx.hypervisor.synic.writeSlot(
      0,
      SINT,
      synicMessage(junk, junk.length, HvMessageType.HVMSG_VMBUS, HV_MESSAGE_FLAG_PENDING),
    );
    ctx.letGuestRun();
    // Hold the slot with a message whose flags say nothing waits, then queue 32 behind it.
    ctx.hypervisor.synic.writeSlot(0, SINT, synicMessage(junk, junk.length), false);
    for (let i = 0; i < 32; i++) ctx.hypervisor.postMessage(0, SINT, HvMessageType.HVMSG_VMBUS, junk);
    const p = ctx.hypervisor.synic.pages(0);
    if (p)
      ctx.hypervisor.memory.write(p.message + SINT * 256 + HV_MESSAGE.off.message_flags, new Uint8Array(1));
    ctx.hypervisor.synic.raise(0, SINT);
    ctx.letGuestRun();
    ctx.note(`${ctx.hypervisor.synic.queued(0, SINT)} messages still queued behind a lost msg_pending`);
  },
});

export const synicFlood = defineAttack({
  name: "synic-slot-flood",
  description: "the hypervisor queues 2,000 junk channel messages on the VMBus SINT at once",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    for (let i = 0; i < 2000; i++) {
      const m = ctx.rng.fill(new Uint8Array(16 + (i % 200)));
      new DataView(m.buffer).setUint32(0, [6, 10, 12, 15, 24, 2][i % 6]!, true);
      ctx.hypervisor.postMessage(0, SINT, HvMessageType.HVMSG_VMBUS, m);
    }
  },
});
