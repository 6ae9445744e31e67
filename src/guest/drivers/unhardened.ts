// Drivers for the device classes an isolated VM refuses (C20): the synthetic
// keyboard, mouse, video, IDE (storvsc), file copy and dynamic memory. They were
// never hardened against a malicious host, which is why vmbus_is_valid_offer keeps
// their offers out of a CoCo guest. The model's versions only open the channel and
// drain what arrives, so that "the driver loaded" can be observed in a normal VM
// (and in a CoCo VM whose offer filter is switched off).
import { DeviceGuid } from "../../vmbus/constants.ts";
import type { VmbusChannel } from "../vmbus/channel.ts";
import { vmbusClose, vmbusOpen } from "../vmbus/channel_open.ts";
import type { HvDevice, HvDriver } from "../vmbus/driver.ts";

const RING = 4 * 4096;

function drain(ch: VmbusChannel, buf: Uint8Array): void {
  for (let i = 0; i < 64 && ch.recvPacket(buf) > 0; i++);
}

function stub(name: string, guid: string): HvDriver {
  return {
    name,
    ids: [guid],
    probe(dev: HvDevice): number {
      const buf = new Uint8Array(4096);
      return vmbusOpen(dev.channel, {
        sendSize: RING,
        recvSize: RING,
        callback: (ch) => drain(ch, buf),
      });
    },
    remove(dev: HvDevice): void {
      vmbusClose(dev.channel);
    },
  };
}

export const UNHARDENED_DRIVERS: readonly HvDriver[] = [
  stub("hyperv_keyboard", DeviceGuid.HV_KBD_GUID),
  stub("hid_hyperv", DeviceGuid.HV_MOUSE_GUID),
  stub("hyperv_drm", DeviceGuid.HV_SYNTHVID_GUID),
  stub("storvsc (IDE)", DeviceGuid.HV_IDE_GUID),
  stub("hv_fcopy_uio", DeviceGuid.HV_FCOPY_GUID),
  stub("hv_balloon", DeviceGuid.HV_DM_GUID),
];
