// The hv_utils driver (drivers/hv/hv_util.c id_table): shutdown, time sync and
// heartbeat — the utility classes an isolated VM accepts — plus KVP and VSS, whose
// offers an isolated VM refuses (C20). KVP and VSS hand their requests to user-space
// daemons in Linux; the model has none, so those services open their channel,
// answer a version negotiation with no versions, and fail every other request.
import { DeviceGuid } from "../../../vmbus/constants.ts";
import type { HvDevice, HvDriver } from "../../vmbus/driver.ts";
import { Heartbeat, Shutdown, TimeSync } from "./services.ts";
import { type UtilHandler, UtilService } from "./util.ts";

/** A service whose requests go to a daemon the model does not run. */
class Unserved implements UtilHandler {
  readonly name: string;
  readonly msgType = -1;
  readonly srvVersions: readonly number[] = [];
  constructor(name: string) {
    this.name = name;
  }
  handle(): boolean {
    return false;
  }
}

const SERVICES: Readonly<Record<string, () => UtilHandler>> = {
  [DeviceGuid.HV_SHUTDOWN_GUID]: () => new Shutdown(),
  [DeviceGuid.HV_TS_GUID]: () => new TimeSync(),
  [DeviceGuid.HV_HEART_BEAT_GUID]: () => new Heartbeat(),
  [DeviceGuid.HV_KVP_GUID]: () => new Unserved("KVP"),
  [DeviceGuid.HV_VSS_GUID]: () => new Unserved("VSS"),
};

export const HV_UTILS: HvDriver = {
  name: "hv_utils",
  ids: Object.keys(SERVICES),
  probe(dev: HvDevice): number {
    const make = SERVICES[dev.channel.offer.offer.ifType];
    if (!make) return -19;
    const u = new UtilService(make());
    dev.data = u;
    const ret = u.probe(dev);
    if (ret !== 0) dev.data = undefined;
    return ret;
  },
  remove(dev: HvDevice): void {
    (dev.data as UtilService | undefined)?.remove();
  },
  ready(dev: HvDevice): boolean {
    const u = dev.data as UtilService | undefined;
    return !u || u.handler.srvVersions.length === 0 || u.negotiated;
  },
};

/** The util service bound to a device, if hv_utils drives it. */
export function utilService(dev: HvDevice | undefined): UtilService | undefined {
  return dev?.driver === HV_UTILS ? (dev.data as UtilService) : undefined;
}
