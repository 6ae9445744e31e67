// The host's integration components: heartbeat, time sync and shutdown (Hyper-V's
// icsvc; the packet format is include/linux/hyperv.h's, see src/vmbus/ic.ts). Each
// opens with ICMSGTYPE_NEGOTIATE listing the framework and service versions the
// host speaks, then sends its own requests; every answer from the guest is checked
// (length, RESPONSE flag, message type) before it is believed.

import { scratch } from "../../util/snapshot-hints.ts";
import { PacketType } from "../../vmbus/constants.ts";
import {
  HEARTBEAT_MSG_DATA,
  IC_VERSION,
  ICMSG_HDR,
  ICMSG_NEGOTIATE,
  ICTIMESYNC_DATA,
  ICTIMESYNC_REF_DATA,
  IcConst,
  type IcHeader,
  IcMsgFlag,
  IcMsgType,
  IcStatus,
  icVersion,
  readIcHeader,
  SHUTDOWN_MSG_DATA,
  TimeSyncFlag,
  TS_VERSION_3,
  writeIcHeader,
} from "../../vmbus/ic.ts";
import type { RingReader } from "../../vmbus/ring.ts";
import type { HostChannel } from "../vmbus/channel.ts";
import type { Vsp } from "../vmbus/vsp.ts";

/** The framework versions the host offers, newest first. */
export const HOST_FW_VERSIONS: readonly number[] = [icVersion(3, 0), icVersion(1, 0)];

export class IcVsp implements Vsp {
  readonly name: string;
  readonly msgType: number;
  /** Service versions the host offers, newest first. */
  readonly serviceVersions: readonly number[];
  channel: HostChannel | undefined;
  /** The versions the guest chose (0 until it answered the negotiation). */
  framework = 0;
  service = 0;
  /** Answers to this service's own requests. */
  acks = 0;
  /** What the host could not accept in the guest's answers. */
  readonly problems: string[] = [];
  protected readonly tx = scratch(new Uint8Array(4096));
  protected readonly txv = new DataView(this.tx.buffer);
  protected readonly rx = scratch(new Uint8Array(4096));
  protected readonly rxv = new DataView(this.rx.buffer);
  #icTransaction = 0;
  #transId = 0;

  constructor(name: string, msgType: number, serviceVersions: readonly number[]) {
    this.name = name;
    this.msgType = msgType;
    this.serviceVersions = serviceVersions;
  }

  get negotiated(): boolean {
    return this.service !== 0;
  }

  onOpen(ch: HostChannel): void {
    this.channel = ch;
    this.framework = 0;
    this.service = 0;
    const fw = HOST_FW_VERSIONS;
    const sv = this.serviceVersions;
    const n = ICMSG_NEGOTIATE.size + (fw.length + sv.length) * IC_VERSION.size;
    this.#send(IcMsgType.ICMSGTYPE_NEGOTIATE, n, (v, at) => {
      v.setUint16(at + ICMSG_NEGOTIATE.off.icframe_vercnt, fw.length, true);
      v.setUint16(at + ICMSG_NEGOTIATE.off.icmsg_vercnt, sv.length, true);
      v.setUint32(at + ICMSG_NEGOTIATE.off.reserved, 0, true);
      let p = at + ICMSG_NEGOTIATE.off.icversion_data;
      for (const ver of [...fw, ...sv]) {
        v.setUint16(p, ver >>> 16, true);
        v.setUint16(p + 2, ver & 0xffff, true);
        p += IC_VERSION.size;
      }
    });
  }

  onClose(): void {
    this.channel = undefined;
  }

  /** Send one request: pipe and icmsg headers, then `len` bytes of message data filled by `fill`. */
  protected request(msgType: number, len: number, fill: (v: DataView, at: number) => void): boolean {
    if (!this.channel || (msgType !== IcMsgType.ICMSGTYPE_NEGOTIATE && !this.negotiated)) return false;
    return this.#send(msgType, len, fill);
  }

  #send(msgType: number, len: number, fill: (v: DataView, at: number) => void): boolean {
    const ch = this.channel;
    if (!ch) return false;
    const negotiate = msgType === IcMsgType.ICMSGTYPE_NEGOTIATE;
    const h: IcHeader = {
      frameworkVersion: negotiate ? HOST_FW_VERSIONS[0]! : this.framework,
      msgType,
      messageVersion: negotiate ? 0 : this.service,
      msgSize: len,
      status: 0,
      transactionId: this.#icTransaction++ & 0xff,
      flags: IcMsgFlag.ICMSGHDRFLAG_TRANSACTION | IcMsgFlag.ICMSGHDRFLAG_REQUEST,
    };
    this.tx.fill(0, 0, ICMSG_HDR + len);
    writeIcHeader(this.txv, h);
    fill(this.txv, ICMSG_HDR);
    const r = ch.send(this.tx, 0, ICMSG_HDR + len, ++this.#transId, PacketType.VM_PKT_DATA_INBAND, 0);
    return r === "signal" || r === "quiet";
  }

  onPacket(_ch: HostChannel, pkt: RingReader): void {
    const len = pkt.payloadLength;
    if (len < ICMSG_HDR || len > this.rx.length) {
      this.#problem(`answer of ${len} bytes`);
      return;
    }
    this.rx.set(pkt.buf.subarray(pkt.payloadOffset, pkt.payloadOffset + len));
    const h = readIcHeader(this.rxv);
    if ((h.flags & IcMsgFlag.ICMSGHDRFLAG_RESPONSE) === 0) {
      this.#problem("a packet that is not a response");
      return;
    }
    if (h.msgType === IcMsgType.ICMSGTYPE_NEGOTIATE) {
      this.#negotiated(len);
      return;
    }
    if (h.msgType !== this.msgType) {
      this.#problem(`answer of message type ${h.msgType}`);
      return;
    }
    if (this.onResponse(h, len)) this.acks++;
  }

  #negotiated(len: number): void {
    const at = ICMSG_HDR;
    if (len < at + ICMSG_NEGOTIATE.size + 2 * IC_VERSION.size) {
      this.#problem("short negotiate answer");
      return;
    }
    const fwCount = this.rxv.getUint16(at + ICMSG_NEGOTIATE.off.icframe_vercnt, true);
    const msgCount = this.rxv.getUint16(at + ICMSG_NEGOTIATE.off.icmsg_vercnt, true);
    const d = at + ICMSG_NEGOTIATE.off.icversion_data;
    const fw = icVersion(this.rxv.getUint16(d, true), this.rxv.getUint16(d + 2, true));
    const sv = icVersion(this.rxv.getUint16(d + 4, true), this.rxv.getUint16(d + 6, true));
    if (fwCount !== 1 || msgCount !== 1) {
      this.#problem("the guest supports none of the versions offered");
      return;
    }
    if (!HOST_FW_VERSIONS.includes(fw) || !this.serviceVersions.includes(sv)) {
      this.#problem(
        `the guest chose versions it was not offered (0x${fw.toString(16)}, 0x${sv.toString(16)})`,
      );
      return;
    }
    this.framework = fw;
    this.service = sv;
  }

  /** Check an answer to this service's request; true if it is the answer expected. */
  protected onResponse(_h: IcHeader, _len: number): boolean {
    return true;
  }

  #problem(what: string): void {
    this.problems.push(`${this.name}: ${what}`);
    if (this.problems.length > 64) this.problems.shift();
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#icTransaction, this.#transId];
  }
  load(s: unknown[]): void {
    this.#icTransaction = s[0] as never;
    this.#transId = s[1] as never;
  }
}

/** Heartbeat: a sequence number each time; the guest must answer it + 1. */
export class HeartbeatIc extends IcVsp {
  #seq = 0n;
  #outstanding: bigint | undefined;
  /** The last sequence number the guest answered correctly. */
  lastSeq: bigint | undefined;

  constructor() {
    super("heartbeat", IcMsgType.ICMSGTYPE_HEARTBEAT, [icVersion(3, 0), icVersion(1, 0)]);
  }

  beat(): boolean {
    this.#seq += 7n;
    const seq = this.#seq;
    const ok = this.request(IcMsgType.ICMSGTYPE_HEARTBEAT, HEARTBEAT_MSG_DATA.size, (v, at) =>
      v.setBigUint64(at + HEARTBEAT_MSG_DATA.off.seq_num, seq, true),
    );
    if (ok) this.#outstanding = seq;
    return ok;
  }

  protected override onResponse(_h: IcHeader, len: number): boolean {
    if (len < ICMSG_HDR + 8 || this.#outstanding === undefined) return false;
    const seq = this.rxv.getBigUint64(ICMSG_HDR + HEARTBEAT_MSG_DATA.off.seq_num, true);
    if (seq !== this.#outstanding + 1n) return false;
    this.lastSeq = seq;
    this.#outstanding = undefined;
    return true;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  override save(): unknown[] {
    return [...super.save(), this.#seq, this.#outstanding];
  }
  override load(s: unknown[]): void {
    super.load(s);
    this.#seq = s[2] as never;
    this.#outstanding = s[3] as never;
  }
}

/** Time sync: the host's wall clock, as a SYNC (set the clock) or a SAMPLE. */
export class TimeSyncIc extends IcVsp {
  /** `versions`: the service versions the host offers (4.0 carries ictimesync_ref_data, older ictimesync_data). */
  constructor(versions: readonly number[] = [icVersion(4, 0), icVersion(3, 0), icVersion(1, 0)]) {
    super("timesync", IcMsgType.ICMSGTYPE_TIMESYNC, versions);
  }

  /** Send the host's time, `unixNs` nanoseconds since 1970, as 100 ns units since 1601. */
  sample(unixNs: bigint, flags: number = TimeSyncFlag.ICTIMESYNCFLAG_SYNC): boolean {
    const parent = unixNs / 100n + IcConst.WLTIMEDELTA;
    if (this.service > TS_VERSION_3)
      return this.request(IcMsgType.ICMSGTYPE_TIMESYNC, ICTIMESYNC_REF_DATA.size, (v, at) => {
        v.setBigUint64(at + ICTIMESYNC_REF_DATA.off.parenttime, parent, true);
        v.setBigUint64(at + ICTIMESYNC_REF_DATA.off.vmreferencetime, 0n, true);
        v.setUint8(at + ICTIMESYNC_REF_DATA.off.flags, flags);
      });
    return this.request(IcMsgType.ICMSGTYPE_TIMESYNC, ICTIMESYNC_DATA.size, (v, at) => {
      v.setBigUint64(at + ICTIMESYNC_DATA.off.parenttime, parent, true);
      v.setUint8(at + ICTIMESYNC_DATA.off.flags, flags);
    });
  }
}

/** Shutdown: ask the guest to shut down (0), restart (2) or hibernate (4); | 1 = forced. */
export class ShutdownIc extends IcVsp {
  /** The status of the guest's last answer (HV_S_OK when it accepted). */
  lastStatus: number | undefined;

  constructor() {
    super("shutdown", IcMsgType.ICMSGTYPE_SHUTDOWN, [
      icVersion(3, 2),
      icVersion(3, 1),
      icVersion(3, 0),
      icVersion(1, 0),
    ]);
  }

  requestShutdown(flags = 0, reason = 0, message = "hvcoco host requests a shutdown"): boolean {
    const text = new TextEncoder().encode(message).subarray(0, 2047);
    return this.request(IcMsgType.ICMSGTYPE_SHUTDOWN, SHUTDOWN_MSG_DATA.size, (v, at) => {
      v.setUint32(at + SHUTDOWN_MSG_DATA.off.reason_code, reason, true);
      v.setUint32(at + SHUTDOWN_MSG_DATA.off.timeout_seconds, 0, true);
      v.setUint32(at + SHUTDOWN_MSG_DATA.off.flags, flags, true);
      new Uint8Array(v.buffer).set(text, at + SHUTDOWN_MSG_DATA.off.display_message);
    });
  }

  protected override onResponse(h: IcHeader): boolean {
    this.lastStatus = h.status;
    return h.status === IcStatus.HV_S_OK;
  }
}
