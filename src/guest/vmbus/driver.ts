// The VMBus bus as far as drivers see it (include/linux/hyperv.h struct hv_driver,
// struct hv_device; drivers/hv/vmbus_drv.c vmbus_probe): a device is created for
// each primary channel the guest accepted, and the first driver whose id table
// holds the channel's class GUID is probed for it.
import type { VmbusChannel } from "./channel.ts";

export interface HvDevice {
  readonly channel: VmbusChannel;
  /** enum vmbus_device_type of the offer. */
  readonly devType: number;
  /** Class name from vmbus_devs[] ("heartbeat", "scsi", ...). */
  readonly name: string;
  /** The driver bound to it, once probe succeeded. */
  driver: HvDriver | undefined;
  /** The driver's per-device state (hv_set_drvdata). */
  data: unknown;
}

export interface HvDriver {
  readonly name: string;
  /** Class GUIDs (offer if_type) it binds to: its id_table. */
  readonly ids: readonly string[];
  /** Set up the device (usually vmbus_open): 0, or a negative errno. */
  probe(dev: HvDevice): number;
  /** Tear the device down (usually vmbus_close), e.g. after a rescind. */
  remove?(dev: HvDevice): void;
  /** The device has finished its start-up exchange with the host (boot waits for it, bounded). */
  ready?(dev: HvDevice): boolean;
}
