// The paravisor's storage: the same storvsp the host runs (src/host/vsp/storvsp.ts),
// behind a paravisor channel, moving data through the assigned device's DMA
// (device.ts) instead of the host's view. What it offers (C30): a confidential
// ring always, and confidential external memory unless configured "ring-only"
// (which is what OpenHCL's VSPs offer today: "currently no OpenHCL VSP supports
// encrypted external memory", coco.rst).
import type { Disk } from "../../host/backends/disk.ts";
import { MemoryDisk } from "../../host/backends/memory-disk.ts";
import type { HostDevice } from "../../host/vmbus/vsp.ts";
import { StorVsp } from "../../host/vsp/storvsp.ts";
import { DeviceGuid, OfferFlag } from "../../vmbus/constants.ts";
import { type BouncePool, DeviceDma, type DeviceKind, type DmaPort } from "./device.ts";

/** How the paravisor's disk is backed, and what its offer says (config "paravisorStorage"). */
export type ParavisorStorageKind = "tdisp" | "bounce" | "ring-only";

/** Pages of VTL2 memory the paravisor bounces through for a device without encrypted-memory support. */
export const BOUNCE_PAGES = 64;

/** The instance GUID of the paravisor's SCSI controller (distinct from every host device's). */
export const PARAVISOR_SCSI_INSTANCE = "5ec0c0c0-0000-4000-8000-7a7a00000001";

/** Capacity of the paravisor's disk: sparse, so it costs nothing until written. */
export const PARAVISOR_DISK_BYTES = 1024 * 1024 * 1024;

export interface ParavisorStorage {
  readonly kind: ParavisorStorageKind;
  readonly device: HostDevice;
  readonly vsp: StorVsp;
  readonly dma: DeviceDma;
  readonly disk: Disk;
}

export function deviceKindOf(kind: ParavisorStorageKind): DeviceKind {
  return kind === "tdisp" ? "tdisp" : "plain";
}

/** The offer flags of the paravisor's storage channel: ring only, or ring and external memory. */
export function storageOfferFlags(kind: ParavisorStorageKind): number {
  const ring = OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER;
  return kind === "ring-only" ? ring : ring | OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY;
}

/** Build the paravisor's storage VSP on its assigned device (the bounce pool for a "plain" device). */
export function paravisorStorage(
  kind: ParavisorStorageKind,
  port: DmaPort,
  bounce: BouncePool,
): ParavisorStorage {
  const disk = new MemoryDisk({ bytes: PARAVISOR_DISK_BYTES, serial: "hvcoco-pv-0" });
  const dkind = deviceKindOf(kind);
  const dma = new DeviceDma(dkind, port, dkind === "plain" ? bounce : undefined);
  const vsp = new StorVsp({ memory: dma, disk });
  const device: HostDevice = {
    name: "scsi",
    ifType: DeviceGuid.HV_SCSI_GUID,
    ifInstance: PARAVISOR_SCSI_INSTANCE,
    vsp,
    chnFlags: storageOfferFlags(kind),
  };
  return { kind, device, vsp, dma, disk };
}
