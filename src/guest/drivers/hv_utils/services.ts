// The three utility services a CoCo guest loads (drivers/hv/hv_util.c
// heartbeat_onchannelcallback, timesync_onchannelcallback,
// shutdown_onchannelcallback): each checks that the request holds its message
// data before reading it, in the private receive buffer.
import {
  HB_VERSIONS,
  HEARTBEAT_MSG_DATA,
  IC_OFF,
  ICMSG_HDR,
  ICTIMESYNC_DATA,
  ICTIMESYNC_REF_DATA,
  IcConst,
  IcMsgType,
  IcStatus,
  SD_VERSIONS,
  SHUTDOWN_MSG_DATA,
  TimeSyncFlag,
  TS_VERSION_3,
  TS_VERSIONS,
} from "../../../vmbus/ic.ts";
import type { UtilHandler, UtilService } from "./util.ts";

/** Heartbeat: answer each request with seq_num + 1. */
export class Heartbeat implements UtilHandler {
  readonly name = "Heartbeat";
  readonly msgType = IcMsgType.ICMSGTYPE_HEARTBEAT;
  readonly srvVersions = HB_VERSIONS;
  /** The last sequence number answered. */
  lastSeq = -1n;

  handle(u: UtilService, recvlen: number): boolean {
    // The reserved words are not required: the host may not fill them.
    if (recvlen < ICMSG_HDR + 8) {
      u.channel?.conn.k.reject(
        "HVCOCO_ERR_IC_SHORT",
        `Invalid heartbeat msg data. Length too small: ${recvlen}`,
      );
      return false;
    }
    const at = ICMSG_HDR + HEARTBEAT_MSG_DATA.off.seq_num;
    const seq = BigInt.asUintN(64, u.view.getBigUint64(at, true) + 1n);
    u.view.setBigUint64(at, seq, true);
    this.lastSeq = seq;
    return true;
  }
}

/** Time sync: take the host's time; a SYNC sample sets the guest's clock. */
export class TimeSync implements UtilHandler {
  readonly name = "TimeSync";
  readonly msgType = IcMsgType.ICMSGTYPE_TIMESYNC;
  readonly srvVersions = TS_VERSIONS;
  /** host_ts.host_time of the last sample (100 ns units since 1601). */
  hostTime = 0n;
  samples = 0;
  /** The guest's wall clock (ns since 1970) as do_settimeofday64 last set it; undefined until a SYNC. */
  clockNs: bigint | undefined;

  handle(u: UtilService, recvlen: number): boolean {
    const k = u.channel?.conn.k;
    const v = u.view;
    if (u.srvVersion > TS_VERSION_3) {
      if (recvlen < ICMSG_HDR + ICTIMESYNC_REF_DATA.size) {
        k?.reject("HVCOCO_ERR_IC_SHORT", `Invalid ictimesync ref data. Length too small: ${recvlen}`);
        return false;
      }
      const o = ICMSG_HDR;
      // adj_guesttime(parenttime, vmreferencetime, flags): the model's reference counter does
      // not run, so the sample's reference time is "now" and adds nothing.
      this.#adjust(
        v.getBigUint64(o + ICTIMESYNC_REF_DATA.off.parenttime, true),
        v.getUint8(o + ICTIMESYNC_REF_DATA.off.flags),
      );
    } else {
      if (recvlen < ICMSG_HDR + ICTIMESYNC_DATA.size) {
        k?.reject("HVCOCO_ERR_IC_SHORT", `Invalid ictimesync data. Length too small: ${recvlen}`);
        return false;
      }
      const o = ICMSG_HDR;
      this.#adjust(
        v.getBigUint64(o + ICTIMESYNC_DATA.off.parenttime, true),
        v.getUint8(o + ICTIMESYNC_DATA.off.flags),
      );
    }
    return true;
  }

  #adjust(hostTime: bigint, flags: number): void {
    this.hostTime = hostTime;
    this.samples++;
    // hv_set_host_time(): reftime_to_ns() = (reftime - WLTIMEDELTA) * 100.
    if (flags & TimeSyncFlag.ICTIMESYNCFLAG_SYNC) this.clockNs = (hostTime - IcConst.WLTIMEDELTA) * 100n;
  }
}

export type ShutdownAction = "shutdown" | "restart" | "hibernate";

/** Shutdown: acknowledge and record what the host asked for (the model's guest does not stop). */
export class Shutdown implements UtilHandler {
  readonly name = "Shutdown";
  readonly msgType = IcMsgType.ICMSGTYPE_SHUTDOWN;
  readonly srvVersions = SD_VERSIONS;
  readonly onePerCallback = true;
  /** hv_is_hibernation_supported(): no hibernation in the model. */
  readonly hibernationSupported = false;
  /** What the guest would now do (orderly_poweroff / orderly_reboot), once asked. */
  requested: { action: ShutdownAction; forced: boolean } | undefined;

  handle(u: UtilService, recvlen: number): boolean {
    const k = u.channel?.conn.k;
    if (recvlen < ICMSG_HDR + SHUTDOWN_MSG_DATA.size) {
      k?.reject("HVCOCO_ERR_IC_SHORT", `Invalid shutdown msg data. Packet length too small: ${recvlen}`);
      return false;
    }
    const flags = u.view.getUint32(ICMSG_HDR + SHUTDOWN_MSG_DATA.off.flags, true);
    const forced = (flags & 1) !== 0;
    let status: number = IcStatus.HV_S_OK;
    switch (flags) {
      case 0:
      case 1:
        this.requested = { action: "shutdown", forced };
        k?.log("Shutdown request received - graceful shutdown initiated");
        break;
      case 2:
      case 3:
        this.requested = { action: "restart", forced };
        k?.log("Restart request received - graceful restart initiated");
        break;
      case 4:
      case 5:
        k?.log("Hibernation request received");
        if (this.hibernationSupported) this.requested = { action: "hibernate", forced };
        else status = IcStatus.HV_E_FAIL;
        break;
      default:
        status = IcStatus.HV_E_FAIL;
        k?.log("Shutdown request received - Invalid request");
    }
    u.view.setUint32(IC_OFF.status, status, true);
    return true;
  }
}
