// The guest's VMBus connection (drivers/hv/connection.c struct vmbus_connection,
// vmbus_connect, vmbus_negotiate_version, vmbus_post_msg; kernel-facts.md §6.6-§6.8):
// the monitor pages and interrupt page, version negotiation newest first, the relid
// map, the list of requests waiting for the host's response, and posting channel
// messages through HvPostMessage.
import { Label } from "../../audit/labels.ts";
import { HvStatus } from "../../hyperv/hvgdk.ts";
import { HvMessageType } from "../../hyperv/synic-abi.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import { VmbusConnection as Conn, FeatureFlag, VMBUS_VERSIONS, VmbusVersion } from "../../vmbus/constants.ts";
import { type ChannelMessage, encodeChannelMessage } from "../../vmbus/messages.ts";
import { hvPostMessage } from "../hypercall.ts";
import type { GuestKernel } from "../kernel.ts";
import { setMemoryDecrypted } from "../mm/set_memory.ts";
import type { VmbusChannel } from "./channel.ts";
import type { HvDevice, HvDriver } from "./driver.ts";
import { WorkQueue } from "./workqueue.ts";

/** The errno values the VMBus client returns (negated). */
export const Errno = {
  EIO: 5,
  EAGAIN: 11,
  ENOMEM: 12,
  ENODEV: 19,
  EINVAL: 22,
  EMSGSIZE: 90,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EDQUOT: 122,
} as const;

/** The hardenings of C18-C20, all on unless a negative control switches one off. */
export interface VmbusOptions {
  /** C19: the ring reader copies a packet to private memory before validating it. */
  copyBeforeValidate: boolean;
  /** C18: the ring writer zeroes padding and unused fields. */
  zeroPadding: boolean;
  /** C20: an isolated VM accepts only allowed_in_isolated device classes. */
  isolationFilter: boolean;
  /** The max_version module parameter (default 6.0). */
  maxVersion?: number;
  /** C22/C19 for netvsc: copy a received message out of the shared receive buffer before parsing it (default on). */
  netvscCopy?: boolean;
  /** C28: try a Confidential VMBus connection even without the CPUID bit (coco.rst's draft probe). */
  probeConfidential?: boolean;
  /** A guest before 6.19: no Confidential VMBus support, whatever the CPUID bit says (C29). */
  preConfidential?: boolean;
  /** C28: fall back to the host's VMBus when the confidential connection fails (default on). */
  fallback?: boolean;
  /** C29/C32: on a confidential connection refuse channel messages on the hypervisor's SynIC (default on). */
  trustedOnly?: boolean;
}

export type ConnState = "disconnected" | "connecting" | "connected" | "failed";

/** A request waiting for the host's answer (an entry of vmbus_connection.chn_msg_list). */
export interface MsgInfo {
  readonly kind: "initiate-contact" | "open" | "gpadl-header" | "gpadl-teardown" | "modify-channel";
  readonly relid: number;
  /** The openid of an OPENCHANNEL, the handle of a GPADL message; 0 otherwise. */
  readonly id: number;
  done: boolean;
  /** Woken by a rescind of its channel, not by an answer. */
  rescinded: boolean;
  response: ChannelMessage | undefined;
}

export class VmbusConnection {
  readonly k: GuestKernel;
  readonly opts: Readonly<VmbusOptions>;
  state: ConnState = "disconnected";
  /** vmbus_proto_version. */
  version = 0;
  /** The connection id channel messages are posted to. */
  msgConnId: number = Conn.VMBUS_MESSAGE_CONNECTION_ID_4;
  /** int_page: recv half and send half (a private page; only hosts before 5.0 use it). */
  intPage = 0;
  /** monitor_pages[0] (parent→child) and [1] (child→parent): GPAs of decrypted pages. */
  readonly monitorPages: number[] = [];
  /**
   * channels[relid], relid < MAX_CHANNEL_RELIDS (checked before use). Linux allocates
   * all MAX_CHANNEL_RELIDS slots; this array grows to the highest relid offered.
   */
  readonly channels: (VmbusChannel | undefined)[] = [];
  readonly chnList: VmbusChannel[] = [];
  readonly devices: HvDevice[] = [];
  readonly drivers: HvDriver[] = [];
  readonly msgList: MsgInfo[] = [];
  readonly work = new WorkQueue();
  allOffersDelivered = false;
  unloadResponse = false;
  nextGpadlHandle: number = Conn.VMBUS_FIRST_GPADL_HANDLE;
  /** Classes of the offers refused by the isolated-VM filter (C20), in order. */
  readonly refusedOffers: string[] = [];
  /** set_memory_decrypted calls made for VMBus (monitor pages, GPADL buffers). */
  decryptCalls = 0;
  /** INITIATE_CONTACT versions tried, in order. */
  readonly versionsTried: number[] = [];
  /** Times a failed Confidential VMBus connection fell back to the host's (C28). */
  fallbacks = 0;
  /** The private copy of the SynIC message being handled (vmbus_on_msg_dpc's msg_copy). */
  readonly msgCopy = new Uint8Array(256);
  /** The private copy of SINT2's event flags being scanned. */
  readonly evCopy = new Uint8Array(256);

  constructor(k: GuestKernel, opts: VmbusOptions) {
    this.k = k;
    this.opts = Object.freeze({ ...opts });
  }

  /** hv_is_isolation_supported(). */
  get isolated(): boolean {
    return this.k.isolation === "snp" || this.k.isolation === "tdx";
  }

  relid2channel(relid: number): VmbusChannel | undefined {
    return relid < Conn.MAX_CHANNEL_RELIDS ? this.channels[relid] : undefined;
  }

  /** vmbus_post_msg(): HvPostMessage to msg_conn_id, retrying transient failures. 0 or -errno. */
  post(msg: ChannelMessage): number {
    const bytes = encodeChannelMessage(msg);
    for (let retries = 0; retries < 100; retries++) {
      const status = hvPostMessage(this.k, 0, this.msgConnId, HvMessageType.HVMSG_VMBUS, bytes);
      switch (status) {
        case HvStatus.HV_STATUS_SUCCESS:
          return 0;
        case HvStatus.HV_STATUS_INVALID_CONNECTION_ID:
          // Protocol >= 5.0 must use connection id 4 for INITIATE_CONTACT, older ones 1.
          if (msg.kind === "initiate-contact") return -Errno.EINVAL;
          break;
        case HvStatus.HV_STATUS_INSUFFICIENT_MEMORY:
        case HvStatus.HV_STATUS_INSUFFICIENT_BUFFERS:
          break;
        default:
          this.k.log(`hv_post_msg() failed; error code:${status}`);
          return -Errno.EINVAL;
      }
    }
    return -Errno.EAGAIN;
  }

  /** Queue a request on chn_msg_list before posting it, so its answer finds it. */
  expect(kind: MsgInfo["kind"], relid: number, id: number): MsgInfo {
    const m: MsgInfo = { kind, relid, id, done: false, rescinded: false, response: undefined };
    this.msgList.push(m);
    return m;
  }

  /** Wait (bounded) for the answer to `m`, then take it off the list. False on a timeout. */
  wait(m: MsgInfo, what: string): boolean {
    const ok = this.k.hw.waitFor(() => m.done, what);
    this.forget(m);
    return ok && m.done;
  }

  forget(m: MsgInfo): void {
    const i = this.msgList.indexOf(m);
    if (i >= 0) this.msgList.splice(i, 1);
  }

  /** Hand a response to the first waiting request it matches; false when none does. */
  complete(
    kind: MsgInfo["kind"],
    match: (m: MsgInfo) => boolean,
    response: ChannelMessage | undefined,
  ): boolean {
    for (const m of this.msgList)
      if (m.kind === kind && !m.done && match(m)) {
        m.response = response;
        m.done = true;
        return true;
      }
    return false;
  }

  /** vmbus_rescind_cleanup(): wake every request of a rescinded channel. */
  wakeChannel(relid: number): void {
    for (const m of this.msgList)
      if (m.relid === relid && !m.done && m.kind !== "initiate-contact") {
        m.rescinded = true;
        m.done = true;
      }
  }

  /** Allocate `pages` zeroed pages and decrypt them: a buffer the host will read and write. */
  allocShared(pages: number, purpose: string): number | undefined {
    const k = this.k;
    const pfn = k.alloc.alloc(pages);
    if (pfn === undefined) return undefined;
    const gpa = pfn * PAGE_SIZE;
    if (this.isolated) {
      this.decryptCalls++;
      if (setMemoryDecrypted(k, gpa, pages, purpose) !== 0) return undefined; // leaked, as Linux does
    }
    k.hw.mem.fill(gpa, pages * PAGE_SIZE, 0, Label.PUBLIC);
    return gpa;
  }
}

/**
 * vmbus_connect(): the interrupt page (private), the two monitor pages (each
 * decrypted, then zeroed: C17), then INITIATE_CONTACT for each version newest first
 * until the host accepts one. An isolated guest refuses a host below 5.2.
 * Returns 0 or -errno (and the connection is "failed").
 */
export function vmbusConnect(conn: VmbusConnection): number {
  const k = conn.k;
  conn.state = "connecting";
  // A second attempt (the fallback to the host, C28) keeps the pages of the first.
  if (conn.intPage === 0) {
    const ip = k.alloc.alloc(1);
    if (ip === undefined) return fail(conn, -Errno.ENOMEM);
    conn.intPage = ip * PAGE_SIZE;
  }
  k.hw.mem.fill(conn.intPage, PAGE_SIZE, 0, Label.PUBLIC);
  for (let i = conn.monitorPages.length; i < 2; i++) {
    const gpa = conn.allocShared(1, `VMBus monitor page ${i + 1}`);
    if (gpa === undefined) return fail(conn, -Errno.ENOMEM);
    conn.monitorPages.push(gpa);
  }
  const max = conn.opts.maxVersion ?? VmbusVersion.VERSION_WIN10_V6_0;
  let version = 0;
  for (const v of VMBUS_VERSIONS) {
    if (v > max) continue;
    version = v;
    const ret = negotiateVersion(conn, v);
    if (ret === -Errno.ETIMEDOUT) return fail(conn, ret);
    if (isConnected(conn)) break;
  }
  if (!isConnected(conn)) return fail(conn, -Errno.ECONNREFUSED);
  if (conn.isolated && version < VmbusVersion.VERSION_WIN10_V5_2) {
    k.reject(
      "HVCOCO_ERR_VMBUS_VERSION_ISOLATED",
      `Invalid VMBus version ${version >>> 16}.${version & 0xffff} (expected >= 5.2) from the host supporting isolation`,
    );
    return fail(conn, -Errno.EINVAL);
  }
  conn.version = version;
  k.log(`Vmbus version:${version >>> 16}.${version & 0xffff}`);
  return 0;
}

function isConnected(conn: VmbusConnection): boolean {
  return conn.state === "connected";
}

function fail(conn: VmbusConnection, ret: number): number {
  conn.state = "failed";
  conn.k.log(`vmbus: connect failed (${ret})`);
  return ret;
}

/** vmbus_negotiate_version(): one INITIATE_CONTACT and its VERSION_RESPONSE. */
function negotiateVersion(conn: VmbusConnection, version: number): number {
  const k = conn.k;
  conn.versionsTried.push(version);
  const v5 = version >= VmbusVersion.VERSION_WIN10_V5;
  conn.msgConnId = v5 ? Conn.VMBUS_MESSAGE_CONNECTION_ID_4 : Conn.VMBUS_MESSAGE_CONNECTION_ID;
  // The monitor pages go out as their decrypted alias (| shared_gpa_boundary; 0 without one).
  const boundary = BigInt(k.info?.sharedGpaBoundary ?? 0);
  const m = conn.expect("initiate-contact", 0, 0);
  const ret = conn.post({
    kind: "initiate-contact",
    versionRequested: version,
    targetVcpu: Conn.VMBUS_CONNECT_CPU,
    interruptPage: v5 ? 0n : BigInt(conn.intPage),
    msgSint: Conn.VMBUS_MESSAGE_SINT,
    msgVtl: 0,
    // 6.19: a guest talking to the paravisor's Confidential VMBus asks for confidential channels.
    featureFlags:
      k.confidentialVmbus && version >= VmbusVersion.VERSION_WIN10_V6_0
        ? FeatureFlag.VMBUS_FEATURE_FLAG_CONFIDENTIAL_CHANNELS
        : 0,
    monitorPage1: BigInt(conn.monitorPages[0]!) | boundary,
    monitorPage2: BigInt(conn.monitorPages[1]!) | boundary,
  });
  if (ret !== 0) {
    conn.forget(m);
    return ret;
  }
  if (!conn.wait(m, "VMBus VERSION_RESPONSE")) return -Errno.ETIMEDOUT;
  const r = m.response;
  if (r?.kind === "version-response" && r.versionSupported !== 0) {
    conn.state = "connected";
    if (v5) conn.msgConnId = r.msgConnId;
    return 0;
  }
  return -Errno.ECONNREFUSED;
}

/** vmbus_request_offers(): REQUESTOFFERS, then wait for ALLOFFERS_DELIVERED (a warning on timeout). */
export function vmbusRequestOffers(conn: VmbusConnection): number {
  conn.allOffersDelivered = false;
  const ret = conn.post({ kind: "request-offers" });
  if (ret !== 0) return ret;
  if (!conn.k.hw.waitFor(() => conn.allOffersDelivered, "VMBus ALLOFFERS_DELIVERED"))
    conn.k.log("vmbus: timed out waiting for all offers to be delivered");
  return 0;
}

/** vmbus_initiate_unload(): UNLOAD, then wait for UNLOAD_RESPONSE. No-op before 3.0 or when disconnected. */
export function vmbusInitiateUnload(conn: VmbusConnection): number {
  if (conn.state !== "connected" || conn.version < VmbusVersion.VERSION_WIN8_1) return 0;
  conn.unloadResponse = false;
  const ret = conn.post({ kind: "unload" });
  if (ret !== 0) return ret;
  const ok = conn.k.hw.waitFor(() => conn.unloadResponse, "VMBus UNLOAD_RESPONSE");
  conn.state = "disconnected";
  return ok ? 0 : -Errno.ETIMEDOUT;
}
