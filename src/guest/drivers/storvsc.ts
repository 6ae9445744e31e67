// The storvsc driver for the synthetic SCSI controller (drivers/scsi/storvsc_drv.c
// storvsc_probe / storvsc_connect_to_vsp; id table: HV_SCSI_GUID — the IDE class is
// the unhardened stub in unhardened.ts). Probe opens the channel with 128 KiB
// rings and a zeroed vmstorage_channel_properties as user data, runs the VSTOR init
// exchange, then the SCSI scan; the disks it finds are in `ScsiHost.disks`.
//
// The path of one disk write (SPEC.md "the path of one disk write"): sd builds the
// WRITE CDB (storvsc/sd.ts) → storvsc maps the buffer, which in a CoCo VM bounces
// it into decrypted swiotlb memory (storvsc/dma.ts) → the GPA-direct packet with
// the bounce PFNs goes through the hardened ring writer and the host is signalled
// (storvsc/device.ts) → the host's storvsp reads the bounce pages through its view
// and writes the disk (src/host/vsp/storvsp.ts) → COMPLETE_IO comes back, is copied
// out of the ring, validated, matched to its tag, and the mapping is undone.
import { PAGE_SIZE } from "../../platform/page.ts";
import { DeviceGuid } from "../../vmbus/constants.ts";
import {
  StorvscSize,
  VMSTOR_PROTOCOL_VERSIONS,
  VMSTORAGE_CHANNEL_PROPERTIES,
} from "../../vmbus/storvsc-proto.ts";
import type { GuestKernel } from "../kernel.ts";
import { vmbusClose, vmbusOpen } from "../vmbus/channel_open.ts";
import type { HvDevice, HvDriver } from "../vmbus/driver.ts";
import { StorvscDevice } from "./storvsc/device.ts";
import { ScsiHost } from "./storvsc/sd.ts";

/** VMBUS_RING_SIZE(storvsc_ringbuffer_size): 128 KiB of ring plus its control page. */
export const STORVSC_RING_BYTES = StorvscSize.STORVSC_RINGBUFFER_SIZE + PAGE_SIZE;

interface Bound {
  dev: StorvscDevice;
  host: ScsiHost | undefined;
  done: boolean;
}

export const STORVSC: HvDriver = {
  name: "storvsc",
  ids: [DeviceGuid.HV_SCSI_GUID],
  probe(d: HvDevice): number {
    const k = d.channel.conn.k;
    // The SCSI host number (vm_srb.port_number): storvsc adapters bound before this one.
    const hostNo = (k.vmbus?.devices ?? []).filter((x) => x.driver === STORVSC && x !== d).length;
    const dev = new StorvscDevice(k, d.channel, hostNo & 0xff);
    const b: Bound = { dev, host: undefined, done: false };
    d.data = b;
    const ret = vmbusOpen(d.channel, {
      sendSize: STORVSC_RING_BYTES,
      recvSize: STORVSC_RING_BYTES,
      userData: new Uint8Array(VMSTORAGE_CHANNEL_PROPERTIES.size),
      maxPktSize: StorvscSize.STORVSC_MAX_PKT_SIZE,
      callback: (ch) => dev.onChannelCallback(ch),
    });
    if (ret !== 0) {
      b.done = true;
      return ret;
    }
    const init = dev.channelInit(VMSTOR_PROTOCOL_VERSIONS);
    if (init !== 0) {
      vmbusClose(d.channel);
      b.done = true;
      return init;
    }
    // The scan's responses land in one private page of the driver's.
    const pfn = k.alloc.alloc(1);
    if (pfn !== undefined) {
      b.host = new ScsiHost(dev, pfn * PAGE_SIZE);
      b.host.scan();
    }
    b.done = true;
    return 0;
  },
  remove(d: HvDevice): void {
    const b = d.data as Bound | undefined;
    if (b) b.dev.state = "failed";
    vmbusClose(d.channel);
  },
  ready(d: HvDevice): boolean {
    const b = d.data as Bound | undefined;
    return !b || b.done;
  },
};

/** The SCSI host storvsc drives for this guest's first synthetic SCSI controller, once scanned. */
export function scsiHostOf(k: GuestKernel): ScsiHost | undefined {
  for (const d of k.vmbus?.devices ?? []) {
    if (d.driver !== STORVSC) continue;
    const b = d.data as Bound | undefined;
    if (b?.host) return b.host;
  }
  return undefined;
}
