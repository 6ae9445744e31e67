// Opening and closing a channel (drivers/hv/channel.c __vmbus_establish_gpadl,
// vmbus_teardown_gpadl, __vmbus_open, vmbus_close_internal,
// vmbus_send_modifychannel; drivers/hv/ring_buffer.c hv_ringbuffer_init;
// kernel-facts.md §2.1, §6.10). The ring buffer is one allocation, send ring first;
// it is decrypted before the host learns of it (C17), described to the host as a
// GPADL of its PFNs (a header with up to 26, bodies of up to 28), mapped decrypted
// as two rings, and re-encrypted after the host has torn the GPADL down.
import { Label } from "../../audit/labels.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import { VmbusVersion } from "../../vmbus/constants.ts";
import { gpadlMessages } from "../../vmbus/messages.ts";
import { initRing } from "../../vmbus/ring.ts";
import type { GuestKernel } from "../kernel.ts";
import { setMemoryDecrypted, setMemoryEncrypted } from "../mm/set_memory.ts";
import type { Gpadl, VmbusChannel } from "./channel.ts";
import { Errno } from "./connection.ts";
import { GuestRingReader, READ_POINTS, type ReadPoint } from "./reader.ts";
import { GuestRingWriter } from "./writer.ts";

/** Interleaving points of the inbound ring reader, as vm.hooks names them (detail: { relid }). */
export const RING_READ_HOOKS: Readonly<Record<ReadPoint, string>> = Object.fromEntries(
  READ_POINTS.map((p) => [p, `vmbus:read:${p}`]),
) as Record<ReadPoint, string>;

/**
 * __vmbus_establish_gpadl(): build the GPADL messages, decrypt the buffer (unless
 * the offer says it must stay encrypted), post them, wait for GPADL_CREATED.
 * Returns the GPADL, or -errno (the buffer is encrypted again on failure).
 */
export function vmbusEstablishGpadl(
  ch: VmbusChannel,
  type: "ring" | "buffer",
  gpa: number,
  size: number,
  purpose: string,
): Gpadl | number {
  const conn = ch.conn;
  const k = conn.k;
  const handle = conn.nextGpadlHandle++;
  const pages = size / PAGE_SIZE;
  const first = gpa / PAGE_SIZE;
  const pfns = Array.from({ length: pages }, (_, i) => first + i);
  const msgs = gpadlMessages(ch.relid, handle, size, pfns);
  // 6.19: a confidential ring (or external memory) stays encrypted.
  const keep = type === "ring" ? ch.coRingBuffer : ch.coExternalMemory;
  const gpadl: Gpadl = { handle, gpa, size, decrypted: false };
  if (!keep && conn.isolated) {
    conn.decryptCalls++;
    const ret = setMemoryDecrypted(k, gpa, pages, purpose);
    if (ret !== 0) {
      k.log(`Failed to set host visibility for new GPADL ${ret}.`);
      return ret;
    }
    gpadl.decrypted = true;
  }
  const m = conn.expect("gpadl-header", ch.relid, handle);
  for (const msg of msgs) {
    const ret = conn.post(msg);
    if (ret !== 0) {
      conn.forget(m);
      reencrypt(k, gpadl);
      return ret;
    }
  }
  if (!conn.wait(m, "VMBus GPADL_CREATED")) {
    reencrypt(k, gpadl);
    return -Errno.ETIMEDOUT;
  }
  const r = m.response;
  if (m.rescinded || r?.kind !== "gpadl-created" || r.creationStatus !== 0) {
    reencrypt(k, gpadl);
    return m.rescinded ? -Errno.ENODEV : -Errno.EDQUOT;
  }
  return gpadl;
}

/** vmbus_teardown_gpadl(): GPADL_TEARDOWN, wait for GPADL_TORNDOWN, then encrypt the buffer again. */
export function vmbusTeardownGpadl(ch: VmbusChannel, gpadl: Gpadl): number {
  const conn = ch.conn;
  const m = conn.expect("gpadl-teardown", ch.relid, gpadl.handle);
  let ret = conn.post({ kind: "gpadl-teardown", childRelid: ch.relid, gpadl: gpadl.handle });
  if (ret !== 0) conn.forget(m);
  else if (!conn.wait(m, "VMBus GPADL_TORNDOWN")) ret = -Errno.ETIMEDOUT;
  reencrypt(conn.k, gpadl);
  return ret;
}

function reencrypt(k: GuestKernel, g: Gpadl): void {
  if (!g.decrypted) return;
  const ret = setMemoryEncrypted(k, g.gpa, g.size / PAGE_SIZE);
  if (ret !== 0) k.log(`Fail to set mem host visibility in GPADL teardown ${ret}.`);
  else g.decrypted = false;
}

export interface OpenOptions {
  /** Bytes of the guest→host ring, control page included (a page multiple). */
  sendSize: number;
  /** Bytes of the host→guest ring, control page included. */
  recvSize: number;
  /** Up to 120 bytes for OPENCHANNEL's userdata. */
  userData?: Uint8Array;
  callback: (ch: VmbusChannel) => void;
  readMode?: "batched" | "direct";
  /** The inbound ring's private packet buffer (VMBUS_DEFAULT_MAX_PKT_SIZE by default). */
  maxPktSize?: number;
  /** Outstanding requests the requestor table holds (0: none). */
  rqstorSize?: number;
}

/**
 * vmbus_alloc_ring() + __vmbus_open(): allocate the ring buffer, establish its
 * GPADL (which decrypts it), map and initialise both rings, send OPENCHANNEL and
 * wait for OPENCHANNEL_RESULT. 0 or -errno.
 */
export function vmbusOpen(ch: VmbusChannel, o: OpenOptions): number {
  const conn = ch.conn;
  const k = conn.k;
  if (ch.state !== "open") return -Errno.EINVAL;
  const size = o.sendSize + o.recvSize;
  if (
    o.sendSize % PAGE_SIZE ||
    o.recvSize % PAGE_SIZE ||
    o.sendSize < 2 * PAGE_SIZE ||
    o.recvSize < 2 * PAGE_SIZE
  )
    return -Errno.EINVAL;
  if ((o.userData?.length ?? 0) > 120) return -Errno.EINVAL;
  const pfn = k.alloc.alloc(size / PAGE_SIZE);
  if (pfn === undefined) return -Errno.ENOMEM;
  const gpa = pfn * PAGE_SIZE;
  // One mapping of the whole allocation first: both rings and the host's view share its backing.
  k.hw.mem.window(gpa, size);
  k.hw.mem.fill(gpa, size, 0, Label.PUBLIC);
  ch.state = "opening";
  ch.callback = o.callback;
  ch.readMode = o.readMode ?? "batched";
  ch.maxPktSize = o.maxPktSize ?? ch.maxPktSize;
  const gpadl = vmbusEstablishGpadl(
    ch,
    "ring",
    gpa,
    size,
    `VMBus ring buffers, relid ${ch.relid} (${ch.name})`,
  );
  if (typeof gpadl === "number") return openFailed(ch, pfn, size, gpadl);
  // hv_ringbuffer_init: each ring is mapped decrypted (pgprot_decrypted) unless it is confidential.
  k.hw.setPte(pfn, size / PAGE_SIZE, { encrypted: ch.coRingBuffer });
  const outMem = k.hw.mem.window(gpa, o.sendSize);
  const inMem = k.hw.mem.window(gpa + o.sendSize, o.recvSize);
  initRing(outMem);
  initRing(inMem);
  const detail = { relid: ch.relid };
  ch.ring = {
    gpa,
    sendSize: o.sendSize,
    recvSize: o.recvSize,
    gpadl,
    outMem,
    inMem,
    mappedDecrypted: !ch.coRingBuffer,
    out: new GuestRingWriter(outMem, { zeroPadding: conn.opts.zeroPadding }),
    in: new GuestRingReader(inMem, {
      maxPacketSize: ch.maxPktSize,
      copyBeforeValidate: conn.opts.copyBeforeValidate,
      onPoint: (p) => k.hooks.fire(RING_READ_HOOKS[p], detail),
    }),
  };
  if (o.rqstorSize) ch.allocRequestor(o.rqstorSize);
  const m = conn.expect("open", ch.relid, ch.relid);
  let ret = conn.post({
    kind: "open",
    childRelid: ch.relid,
    openId: ch.relid,
    ringbufferGpadlHandle: gpadl.handle,
    targetVp: ch.targetVp,
    downstreamRingbufferPageOffset: o.sendSize / PAGE_SIZE,
    userData: o.userData ?? new Uint8Array(0),
  });
  if (ret !== 0) conn.forget(m);
  else if (!conn.wait(m, "VMBus OPENCHANNEL_RESULT")) ret = -Errno.ETIMEDOUT;
  else if (m.rescinded) ret = -Errno.ENODEV;
  else if (m.response?.kind !== "open-result" || m.response.status !== 0) ret = -Errno.EAGAIN;
  if (ret !== 0) {
    vmbusTeardownGpadl(ch, gpadl);
    ch.ring = undefined;
    return openFailed(ch, pfn, size, ret, gpadl.decrypted);
  }
  ch.state = "opened";
  return 0;
}

function openFailed(ch: VmbusChannel, pfn: number, size: number, ret: number, stillShared = false): number {
  ch.state = "open";
  ch.callback = undefined;
  ch.rqstor = undefined;
  // Memory the host may still map is never handed out again.
  if (!stillShared) ch.conn.k.alloc.free(pfn, size / PAGE_SIZE);
  ch.conn.k.log(`vmbus: open of relid ${ch.relid} (${ch.name}) failed: ${ret}`);
  return ret;
}

/**
 * vmbus_close_internal(): stop callbacks, CLOSECHANNEL, tear the ring's GPADL down
 * (which re-encrypts it), free the ring. 0 or -errno.
 */
export function vmbusClose(ch: VmbusChannel): number {
  const r = ch.ring;
  if (!r) return 0;
  const conn = ch.conn;
  ch.state = "open";
  ch.callback = undefined;
  const post = conn.post({ kind: "close", childRelid: ch.relid });
  if (post !== 0) conn.k.log(`Close failed: close post msg return is ${post}`);
  const ret = vmbusTeardownGpadl(ch, r.gpadl);
  ch.ring = undefined;
  ch.rqstor = undefined;
  if (!r.gpadl.decrypted) conn.k.alloc.free(r.gpa / PAGE_SIZE, (r.sendSize + r.recvSize) / PAGE_SIZE);
  return ret;
}

/** vmbus_send_modifychannel(): retarget the channel's interrupts; from 5.3 the host acknowledges. */
export function vmbusSendModifyChannel(ch: VmbusChannel, targetVp: number): number {
  const conn = ch.conn;
  const acked = conn.version >= VmbusVersion.VERSION_WIN10_V5_3;
  const m = acked ? conn.expect("modify-channel", ch.relid, 0) : undefined;
  const ret = conn.post({ kind: "modify-channel", childRelid: ch.relid, targetVp });
  if (ret !== 0) {
    if (m) conn.forget(m);
    return ret;
  }
  if (m) {
    if (!conn.wait(m, "VMBus MODIFYCHANNEL_RESPONSE")) return -Errno.ETIMEDOUT;
    if (m.response?.kind !== "modify-channel-response" || m.response.status !== 0) return -Errno.EAGAIN;
  }
  ch.targetVp = targetVp;
  return 0;
}
