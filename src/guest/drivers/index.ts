// The VMBus drivers the guest image carries, in the order vmbus_probe tries them:
// the utilities, storage, network and vPCI, then the drivers a CoCo VM must refuse.
import type { HvDriver } from "../vmbus/driver.ts";
import { HV_PCI } from "./hv_pci.ts";
import { HV_UTILS } from "./hv_utils/index.ts";
import { NETVSC } from "./netvsc.ts";
import { STORVSC } from "./storvsc.ts";
import { UNHARDENED_DRIVERS } from "./unhardened.ts";

export const GUEST_DRIVERS: readonly HvDriver[] = [HV_UTILS, STORVSC, NETVSC, HV_PCI, ...UNHARDENED_DRIVERS];
