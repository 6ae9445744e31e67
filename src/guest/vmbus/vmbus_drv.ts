// The VMBus driver core (drivers/hv/vmbus_drv.c; kernel-facts.md §4.4, §6.2, §6.5):
// vmbus_bus_init in the kernel's order, the interrupt handler on vector 0xf3 that
// scans the SINT2 event flags (bit n = relid n) and the SINT2 message slot, and
// vmbus_on_msg_dpc, which copies the 256-byte message to private memory first,
// validates the copy (message type, msgtype < 25, payload_size <= 240, the minimum
// length of channel_message_table[]), dispatches it and ends the message (EOM).
// With Confidential VMBus (6.19, §6.2, §6.5; C28, C31) the guest connects to the
// paravisor, serves both SynICs — events and messages are checked on the
// hypervisor's and on the paravisor's — and, as coco.rst's draft describes, falls
// back to the host's VMBus when the confidential connection fails.
import { Label } from "../../audit/labels.ts";
import {
  HV_EVENT_FLAGS_BYTE_COUNT,
  HV_MESSAGE,
  HV_MESSAGE_FLAG_PENDING,
  HV_MESSAGE_SIZE,
  HvMessageType,
  VMBUS_MESSAGE_SINT,
} from "../../hyperv/synic-abi.ts";
import { ChannelMessageType as T } from "../../vmbus/constants.ts";
import { isFault } from "../../vmbus/errors.ts";
import { decodeChannelMessage } from "../../vmbus/messages.ts";
import { hvEom, hvSynicAlloc, hvSynicEnable } from "../hv.ts";
import type { GuestKernel } from "../kernel.ts";
import { vmbusOnOffer, vmbusOnRescind, vmbusOnResponse } from "./channel_mgmt.ts";
import { VmbusConnection, type VmbusOptions, vmbusConnect, vmbusRequestOffers } from "./connection.ts";
import type { HvDriver } from "./driver.ts";
import { hvPostMsgPagesDecrypted, vmbusFallBack } from "./fallback.ts";

/** channel_message_table[]: handler type (0 = queued work, 1 = at once) and minimum payload length. */
const MESSAGE_TABLE = new Map<number, { type: 0 | 1; minLen: number }>([
  [T.CHANNELMSG_OFFERCHANNEL, { type: 0, minLen: 196 }],
  [T.CHANNELMSG_RESCIND_CHANNELOFFER, { type: 0, minLen: 12 }],
  [T.CHANNELMSG_ALLOFFERS_DELIVERED, { type: 1, minLen: 0 }],
  [T.CHANNELMSG_OPENCHANNEL_RESULT, { type: 1, minLen: 20 }],
  [T.CHANNELMSG_GPADL_CREATED, { type: 1, minLen: 20 }],
  [T.CHANNELMSG_GPADL_TORNDOWN, { type: 1, minLen: 12 }],
  [T.CHANNELMSG_VERSION_RESPONSE, { type: 1, minLen: 16 }],
  [T.CHANNELMSG_UNLOAD_RESPONSE, { type: 1, minLen: 0 }],
  [T.CHANNELMSG_MODIFYCHANNEL_RESPONSE, { type: 1, minLen: 16 }],
]);

const M = HV_MESSAGE.off;
const SLOT = VMBUS_MESSAGE_SINT * HV_MESSAGE_SIZE;
const FLAGS = VMBUS_MESSAGE_SINT * HV_EVENT_FLAGS_BYTE_COUNT;

/**
 * vmbus_bus_init(): the SynIC pages and per-CPU SynIC set-up with the handler on
 * vector 0xf3, vmbus_connect(), vmbus_request_offers(); then the offers' work runs
 * and boot waits (bounded) for the bound drivers to finish their start-up with the
 * host. A failed connection leaves the guest running without VMBus.
 */
export function vmbusBusInit(
  k: GuestKernel,
  opts: VmbusOptions,
  drivers: readonly HvDriver[],
): VmbusConnection {
  const conn = new VmbusConnection(k, opts);
  k.vmbus = conn;
  // A driver is its id table and entry points: it never changes once registered.
  for (const d of drivers) conn.drivers.push(Object.isFrozen(d) ? d : Object.freeze(d));
  // 6.19: is_confidential from CPUID 0x40000082 EAX bit 3; the draft's probe tries it without the bit.
  k.confidentialVmbus =
    k.paravisor &&
    opts.preConfidential !== true &&
    (k.info?.confidentialVmbusAvailable === true || opts.probeConfidential === true);
  if (k.confidentialVmbus) {
    k.log("Establishing connection to the confidential VMBus");
    k.step("vmbus_bus_init: Establishing connection to the confidential VMBus (no SINT proxy)");
  } else if (hvPostMsgPagesDecrypted(k) !== 0) k.log("vmbus: post_msg_page could not be decrypted");
  k.step("vmbus_bus_init: hv_synic_alloc, hv_synic_init on every CPU");
  hvSynicAlloc(k);
  for (let vp = 0; vp < k.hw.cpus.length; vp++) {
    const apic = k.hw.apics[vp]!;
    // sysvec_hyperv_callback: vmbus_isr, EOI, then the work it queued runs outside the
    // interrupt (the kworker), where it may wait for the host's answers.
    const isr = () => {
      vmbusIsr(conn, vp);
      apic.eoi();
      conn.work.run();
    };
    hvSynicEnable(k, vp, isr, { eoi: "manual" });
  }
  k.step("vmbus_connect: monitor pages, version negotiation");
  let ret = vmbusConnect(conn);
  if (ret !== 0 && k.confidentialVmbus && opts.fallback !== false) ret = vmbusFallBack(conn, ret);
  if (ret !== 0) return conn;
  k.step("vmbus_request_offers");
  vmbusRequestOffers(conn);
  conn.work.run();
  k.hw.waitFor(() => vmbusSettled(conn), "VMBus devices");
  return conn;
}

/** No offer work pending and every bound driver done with its start-up exchange. */
export function vmbusSettled(conn: VmbusConnection): boolean {
  if (!conn.work.idle) return false;
  for (const d of conn.devices) if (d.driver?.ready && !d.driver.ready(d)) return false;
  return true;
}

/**
 * vmbus_isr(): channel events first — the hypervisor SynIC's page, then the
 * paravisor SynIC's — then the message slots in the same order (6.19).
 */
export function vmbusIsr(conn: VmbusConnection, vp: number): void {
  const hyp = conn.k.synic[vp];
  const para = conn.k.confidentialVmbus ? conn.k.paraSynic[vp] : undefined;
  if (hyp) vmbusChanSched(conn, vp, hyp.event);
  if (para) vmbusChanSched(conn, vp, para.event);
  if (hyp) vmbusMessageSched(conn, vp, hyp.message + SLOT, false);
  if (para) vmbusMessageSched(conn, vp, para.message + SLOT, true);
}

/** vmbus_message_sched(): a message in the SINT2 slot goes to vmbus_on_msg_dpc. */
function vmbusMessageSched(conn: VmbusConnection, vp: number, slot: number, para: boolean): void {
  conn.k.hw.mem.read(slot + M.message_type, 4, conn.msgCopy);
  if ((conn.msgCopy[0]! | conn.msgCopy[1]! | conn.msgCopy[2]! | conn.msgCopy[3]!) !== 0)
    vmbusOnMsgDpc(conn, vp, slot, para);
}

const zero = new Uint8Array(4);
const ZERO_BYTE = new Uint8Array(1);

/**
 * vmbus_chan_sched(): test-and-clear every set bit of SINT2's flags; bit 0 (the
 * control path) is skipped; each other bit is a relid whose channel, if known and
 * not rescinded, runs its callback.
 */
function vmbusChanSched(conn: VmbusConnection, vp: number, eventPage: number): void {
  const mem = conn.k.hw.mem;
  const evCopy = conn.evCopy;
  mem.read(eventPage + FLAGS, HV_EVENT_FLAGS_BYTE_COUNT, evCopy);
  for (let i = 0; i < HV_EVENT_FLAGS_BYTE_COUNT; i++) {
    const b = evCopy[i]!;
    if (b === 0) continue;
    mem.write(eventPage + FLAGS + i, ZERO_BYTE, Label.PUBLIC);
    for (let bit = 0; bit < 8; bit++) {
      if ((b & (1 << bit)) === 0) continue;
      const relid = i * 8 + bit;
      if (relid === 0) continue;
      const ch = conn.relid2channel(relid);
      if (ch && !ch.rescind) ch.onEvent();
    }
  }
  void vp;
}

/** vmbus_on_msg_dpc(): copy, validate, dispatch, end of message. */
function vmbusOnMsgDpc(conn: VmbusConnection, vp: number, slot: number, para: boolean): void {
  const k = conn.k;
  const copy = conn.msgCopy;
  k.hw.mem.read(slot, HV_MESSAGE_SIZE, copy);
  const dv = new DataView(copy.buffer);
  const type = dv.getUint32(M.message_type, true);
  if (type === HvMessageType.HVMSG_NONE) return;
  const done = () => vmbusSignalEom(conn, vp, slot, type);
  // On a confidential connection every channel message comes from the paravisor; one
  // on the hypervisor's SynIC is the host's and is refused (a model hardening: Linux
  // 6.19 processes both pages alike).
  if (!para && k.confidentialVmbus && type === HvMessageType.HVMSG_VMBUS && conn.opts.trustedOnly !== false) {
    k.reject(
      "HVCOCO_ERR_VMBUS_UNTRUSTED_MSG",
      "channel message on the hypervisor's SynIC while VMBus is confidential",
    );
    done();
    return;
  }
  if (type !== HvMessageType.HVMSG_VMBUS) {
    if (type !== HvMessageType.HVMSG_TIMER_EXPIRED)
      k.reject("HVCOCO_ERR_SYNIC_MSG_TYPE", `SynIC message type 0x${type.toString(16)} on the VMBus SINT`);
    done();
    return;
  }
  const size = copy[M.payload_size]!;
  const msgtype = dv.getUint32(M.payload, true);
  if (msgtype >= T.CHANNELMSG_COUNT) {
    k.reject("HVCOCO_ERR_VMBUS_MSGTYPE_RANGE", `Received invalid channel message type ${msgtype}`);
    done();
    return;
  }
  if (size > 240) {
    k.reject("HVCOCO_ERR_VMBUS_PAYLOAD_SIZE", `Received invalid channel message size ${size}`);
    done();
    return;
  }
  const entry = MESSAGE_TABLE.get(msgtype);
  if (!entry) {
    k.reject("HVCOCO_ERR_VMBUS_NO_HANDLER", `channel message type ${msgtype} has no handler in the guest`);
    done();
    return;
  }
  if (size < entry.minLen) {
    k.reject("HVCOCO_ERR_VMBUS_MSG_SHORT", `Message too short: msgtype=${msgtype} len=${size}`);
    done();
    return;
  }
  const m = decodeChannelMessage(copy.subarray(M.payload), Math.max(size, 8));
  if (isFault(m)) {
    k.reject(m.code, `channel message type ${msgtype}: ${m.detail}`);
    done();
    return;
  }
  if (entry.type === 1) vmbusOnResponse(conn, m);
  else if (m.kind === "offer") conn.work.queue(() => vmbusOnOffer(conn, m));
  else if (m.kind === "rescind") conn.work.queue(() => vmbusOnRescind(conn, m.childRelid));
  done();
}

/**
 * vmbus_signal_eom(): free the slot if it still holds the message handled
 * (cmpxchg of message_type to HVMSG_NONE), then write EOM if the hypervisor has
 * another message waiting (msg_pending).
 */
function vmbusSignalEom(conn: VmbusConnection, vp: number, slot: number, oldType: number): void {
  const mem = conn.k.hw.mem;
  const cur = mem.read(slot + M.message_type, 4, conn.msgCopy);
  if (new DataView(cur.buffer).getUint32(0, true) !== oldType) return;
  mem.write(slot + M.message_type, zero, Label.PUBLIC);
  mem.read(slot + M.message_flags, 1, conn.msgCopy);
  if (conn.msgCopy[0]! & HV_MESSAGE_FLAG_PENDING) hvEom(conn.k, vp);
}
