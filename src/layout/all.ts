// Every LayoutSection `hvcoco layout` prints, gathered in one place.
import { HYPERV_LAYOUT } from "../hyperv/layout.ts";
import { PARAVISOR_DEVICES_LAYOUT } from "../paravisor/devices-layout.ts";
import { VMBUS_LAYOUT } from "../vmbus/layout.ts";
import type { LayoutSection } from "./registry.ts";

export const ALL_LAYOUTS: readonly LayoutSection[] = [HYPERV_LAYOUT, PARAVISOR_DEVICES_LAYOUT, VMBUS_LAYOUT];
