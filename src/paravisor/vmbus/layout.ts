// The wire formats and constants of Confidential VMBus that are not the VMBus
// messages themselves (those are in src/vmbus/layout.ts): the hypercall inputs the
// paravisor uses to reach into the guest's hypervisor SynIC, and the ids and SINTs
// of the relay, as one section for `hvcoco layout`.
import { HV_INPUT_POST_MESSAGE_DIRECT, HV_INPUT_SIGNAL_EVENT_DIRECT } from "../../hypervisor/direct.ts";
import type { LayoutSection } from "../../layout/registry.ts";
import { constantsOf } from "../../layout/struct.ts";
import {
  CONFIDENTIAL_OFFER_FLAGS,
  REDIRECT_SINT,
  REDIRECT_VTL,
  VMBUS_MESSAGE_REDIRECT_CONNECTION_ID,
} from "./constants.ts";
import { BOUNCE_PAGES } from "./storage.ts";

export const CONFIDENTIAL_VMBUS_LAYOUT: LayoutSection = {
  section: "confidential-vmbus",
  structs: [HV_INPUT_POST_MESSAGE_DIRECT, HV_INPUT_SIGNAL_EVENT_DIRECT],
  constants: constantsOf(
    "ConfidentialVmbus",
    "OpenVMM vmbus_core / vmbus_server (the paravisor side of the protocol)",
    {
      VMBUS_MESSAGE_REDIRECT_CONNECTION_ID,
      REDIRECT_SINT,
      REDIRECT_VTL,
      CONFIDENTIAL_OFFER_FLAGS,
      PARAVISOR_BOUNCE_PAGES: BOUNCE_PAGES,
    },
    {
      VMBUS_MESSAGE_REDIRECT_CONNECTION_ID: "where the VTL2 relay posts to the host's VMBus server",
      REDIRECT_SINT: "the SINT the host answers the relay on (VTL2)",
      CONFIDENTIAL_OFFER_FLAGS:
        "0x2 confidential ring | 0x4 confidential external memory (stripped from relayed offers)",
      PARAVISOR_BOUNCE_PAGES: "hvcoco: VTL2 pages a device without encrypted-memory support bounces through",
    },
  ),
};
