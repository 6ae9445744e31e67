// The hv_netvsc driver (drivers/net/hyperv/netvsc_drv.c netvsc_probe,
// netvsc_remove; netvsc.c netvsc_device_add): open the channel with netvsc's ring
// size, requestor table and packet buffer, connect to the host's NVSP, set up the
// shared receive and send buffers (C22), run the RNDIS start-up, open the link.
// Its pieces live in ./netvsc/: device state, the NVSP start-up, the send and
// receive paths, the RNDIS filter, the reject codes.
import { PAGE_SIZE } from "../../platform/page.ts";
import { DeviceGuid } from "../../vmbus/constants.ts";
import { vmbusClose, vmbusOpen } from "../vmbus/channel_open.ts";
import type { HvDevice, HvDriver } from "../vmbus/driver.ts";
import { netvscConnectVsp, netvscReleaseBuffers } from "./netvsc/connect.ts";
import {
  NETVSC_MAX_PKT_SIZE,
  NETVSC_MODEL_PARAMS,
  NetvscDevice,
  type NetvscParams,
  netvscRqstorSize,
  SKB_BYTES,
} from "./netvsc/device.ts";
import { netvscOnChannelCallback } from "./netvsc/receive.ts";
import { rndisFilterDeviceAdd, rndisFilterHalt, rndisFilterOpen } from "./netvsc/rndis_filter.ts";

let moduleParams: Readonly<NetvscParams> = NETVSC_MODEL_PARAMS;

/**
 * Set netvsc's module and ring parameters for devices probed from now on (as
 * `modprobe hv_netvsc ring_size=N` and `ethtool -G` would); returns the old ones.
 */
export function setNetvscParams(p: Partial<NetvscParams>): Readonly<NetvscParams> {
  const old = moduleParams;
  moduleParams = Object.freeze({ ...moduleParams, ...p });
  return old;
}

function probe(dev: HvDevice): number {
  const ch = dev.channel;
  const k = ch.conn.k;
  const params = moduleParams;
  const nd = new NetvscDevice(k, ch, params, ch.conn.opts.netvscCopy !== false);
  dev.data = nd;
  // Private pages: one for RNDIS control messages, then the skb area.
  const pfn = k.alloc.alloc(1 + SKB_BYTES / PAGE_SIZE);
  if (pfn === undefined) return fail(nd, -12);
  nd.ctrlGpa = pfn * PAGE_SIZE;
  nd.skbGpa = (pfn + 1) * PAGE_SIZE;
  const ring = PAGE_SIZE + params.ringPages * PAGE_SIZE;
  let ret = vmbusOpen(ch, {
    sendSize: ring,
    recvSize: ring,
    callback: () => netvscOnChannelCallback(nd),
    maxPktSize: NETVSC_MAX_PKT_SIZE,
    rqstorSize: netvscRqstorSize(ring),
  });
  if (ret !== 0) return fail(nd, ret);
  ret = netvscConnectVsp(nd);
  if (ret === 0) {
    ret = rndisFilterDeviceAdd(nd);
    if (ret === 0) ret = rndisFilterOpen(nd);
    if (ret !== 0) netvscReleaseBuffers(nd);
  }
  if (ret !== 0) {
    vmbusClose(ch);
    return fail(nd, ret);
  }
  nd.state = "ready";
  const mac = Array.from(nd.mac, (b) => b.toString(16).padStart(2, "0")).join(":");
  k.log(
    `hv_netvsc: eth0: NVSP 0x${nd.nvspVersion.toString(16)}, NDIS ${nd.ndisVersion >>> 16}.${nd.ndisVersion & 0xffff}, MAC ${mac}, MTU ${nd.mtu}, receive ${nd.recv!.sectionCount}x${nd.recv!.sectionSize}, send ${nd.send!.sectionCount}x${nd.send!.sectionSize}`,
  );
  return 0;
}

function fail(nd: NetvscDevice, ret: number): number {
  nd.state = "failed";
  nd.k.log(`hv_netvsc: probe failed (${ret})`);
  return ret;
}

export const NETVSC: HvDriver = {
  name: "hv_netvsc",
  ids: [DeviceGuid.HV_NIC_GUID],
  probe,
  remove(dev: HvDevice): void {
    const nd = dev.data as NetvscDevice | undefined;
    if (nd?.state !== "ready") return;
    rndisFilterHalt(nd);
    netvscReleaseBuffers(nd);
    vmbusClose(dev.channel);
    nd.state = "removed";
  },
  ready(dev: HvDevice): boolean {
    return (dev.data as NetvscDevice | undefined)?.state !== "probing";
  },
};

/** The netvsc device bound to a VMBus device, if any. */
export function netvscOf(dev: HvDevice | undefined): NetvscDevice | undefined {
  return dev?.driver === NETVSC ? (dev.data as NetvscDevice) : undefined;
}
