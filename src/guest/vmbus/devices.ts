// The guest's table of VMBus device classes (drivers/hv/channel_mgmt.c vmbus_devs[],
// indexed by enum vmbus_device_type; kernel-facts.md §4.1) and the offer filter of
// an isolated VM (vmbus_is_valid_offer, §4.2; C20): only the classes marked
// allowed_in_isolated — SCSI, NIC, PCIe, time sync, heartbeat, shutdown — are
// accepted; everything else, unknown classes included, is refused.
import { DeviceGuid, OfferFlag } from "../../vmbus/constants.ts";
import { NULL_GUID } from "../../vmbus/guid.ts";

// include/linux/hyperv.h: enum vmbus_device_type
export const VmbusDeviceType = {
  HV_IDE: 0,
  HV_SCSI: 1,
  HV_FC: 2,
  HV_NIC: 3,
  HV_ND: 4,
  HV_PCIE: 5,
  HV_FB: 6,
  HV_KBD: 7,
  HV_MOUSE: 8,
  HV_KVP: 9,
  HV_TS: 10,
  HV_HB: 11,
  HV_SHUTDOWN: 12,
  HV_FCOPY: 13,
  HV_BACKUP: 14,
  HV_DM: 15,
  HV_UNKNOWN: 16,
} as const;

export interface VmbusDevice {
  devType: number;
  /** Short name for logs and reports. */
  name: string;
  guid: string;
  perfDevice: boolean;
  allowedInIsolated: boolean;
  /** pref_ring_size (0 = the driver's own). */
  prefRingSize: number;
}

const T = VmbusDeviceType;
const G = DeviceGuid;

function dev(
  devType: number,
  name: string,
  guid: string,
  perf: boolean,
  iso: boolean,
  ring = 0,
): VmbusDevice {
  return { devType, name, guid, perfDevice: perf, allowedInIsolated: iso, prefRingSize: ring };
}

/** drivers/hv/channel_mgmt.c: vmbus_devs[] (index = dev_type). */
export const VMBUS_DEVS: readonly VmbusDevice[] = [
  dev(T.HV_IDE, "ide", G.HV_IDE_GUID, true, false),
  dev(T.HV_SCSI, "scsi", G.HV_SCSI_GUID, true, true),
  dev(T.HV_FC, "fc", G.HV_SYNTHFC_GUID, true, false),
  dev(T.HV_NIC, "nic", G.HV_NIC_GUID, true, true),
  dev(T.HV_ND, "nd", G.HV_ND_GUID, true, false),
  dev(T.HV_PCIE, "pcie", G.HV_PCIE_GUID, false, true),
  dev(T.HV_FB, "video", G.HV_SYNTHVID_GUID, false, false),
  dev(T.HV_KBD, "keyboard", G.HV_KBD_GUID, false, false),
  dev(T.HV_MOUSE, "mouse", G.HV_MOUSE_GUID, false, false),
  dev(T.HV_KVP, "kvp", G.HV_KVP_GUID, false, false),
  dev(T.HV_TS, "timesync", G.HV_TS_GUID, false, true),
  dev(T.HV_HB, "heartbeat", G.HV_HEART_BEAT_GUID, false, true),
  dev(T.HV_SHUTDOWN, "shutdown", G.HV_SHUTDOWN_GUID, false, true),
  dev(T.HV_FCOPY, "fcopy", G.HV_FCOPY_GUID, false, false, 0x4000),
  dev(T.HV_BACKUP, "vss", G.HV_VSS_GUID, false, false),
  dev(T.HV_DM, "balloon", G.HV_DM_GUID, false, false),
  dev(T.HV_UNKNOWN, "unknown", NULL_GUID, false, false, 0x11000),
];

/** vmbus_unsupported_devs[]: classes Linux never drives (they map to HV_UNKNOWN). */
const UNSUPPORTED = new Set<string>([G.HV_AVMA1_GUID, G.HV_AVMA2_GUID, G.HV_RDV_GUID, G.HV_IMC_GUID]);

export function isHvsockOffer(chnFlags: number): boolean {
  return (chnFlags & OfferFlag.VMBUS_CHANNEL_TLNPI_PROVIDER_OFFER) !== 0;
}

/** hv_get_dev_type(): the class of an offer (HV_UNKNOWN for hv_sock, unsupported and unknown GUIDs). */
export function hvGetDevType(ifType: string, chnFlags: number): number {
  if (isHvsockOffer(chnFlags) || UNSUPPORTED.has(ifType)) return T.HV_UNKNOWN;
  for (let i = T.HV_IDE; i < T.HV_UNKNOWN; i++) if (VMBUS_DEVS[i]!.guid === ifType) return i;
  return T.HV_UNKNOWN;
}

/**
 * vmbus_is_valid_offer(): every offer is valid outside an isolated VM; inside one,
 * hv_sock offers are, and otherwise the allowed_in_isolated bit of the class whose
 * GUID matches (the zero-GUID HV_UNKNOWN entry included); no match is invalid.
 */
export function isValidOffer(isolated: boolean, ifType: string, chnFlags: number): boolean {
  if (!isolated) return true;
  if (isHvsockOffer(chnFlags)) return true;
  for (const d of VMBUS_DEVS) if (d.guid === ifType) return d.allowedInIsolated;
  return false;
}
