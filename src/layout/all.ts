// Every LayoutSection `hvcoco layout` prints, gathered in one place.
import { HYPERV_LAYOUT } from "../hyperv/layout.ts";
import { PARAVISOR_DEVICES_LAYOUT } from "../paravisor/devices-layout.ts";
import { CONFIDENTIAL_VMBUS_LAYOUT } from "../paravisor/vmbus/layout.ts";
import { PLATFORM_LAYOUT } from "../platform/layout.ts";
import { HV_PCI_LAYOUT } from "../vmbus/hv-pci-proto.ts";
import { VMBUS_IC_LAYOUT } from "../vmbus/ic.ts";
import { VMBUS_LAYOUT } from "../vmbus/layout.ts";
import { NETVSC_LAYOUT } from "../vmbus/netvsc-proto.ts";
import { RNDIS_LAYOUT } from "../vmbus/rndis.ts";
import { STORVSC_LAYOUT } from "../vmbus/storvsc-proto.ts";
import type { LayoutSection } from "./registry.ts";

export const ALL_LAYOUTS: readonly LayoutSection[] = [
  HYPERV_LAYOUT,
  PLATFORM_LAYOUT,
  PARAVISOR_DEVICES_LAYOUT,
  CONFIDENTIAL_VMBUS_LAYOUT,
  VMBUS_LAYOUT,
  VMBUS_IC_LAYOUT,
  STORVSC_LAYOUT,
  NETVSC_LAYOUT,
  RNDIS_LAYOUT,
  HV_PCI_LAYOUT,
];
