// Putting the paravisor's Confidential VMBus together (C24): its SynIC is the
// paravisor's own; its VMBus server relays the host's channels and serves its
// storage; what it sends the host or the guest's hypervisor SynIC goes through its
// shared input forwarding page and the hypervisor (HvPostMessage,
// HvCallPostMessageDirect, HvCallSignalEventDirect).
import { Label } from "../../audit/labels.ts";
import type { HypervisorExit } from "../../guest/hardware.ts";
import { HvCallCode } from "../../hyperv/hvgdk.ts";
import { resultStatus } from "../../hyperv/hypercall-abi.ts";
import { HvMessageType, VMBUS_MESSAGE_SINT } from "../../hyperv/synic-abi.ts";
import {
  encodePostMessageDirect,
  encodePostMessageInput,
  encodeSignalEventDirect,
} from "../../hypervisor/direct.ts";
import type { CpuMemory } from "../../platform/cpu-memory.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../platform/page.ts";
import type { Platform } from "../../platform/platform.ts";
import { hardened } from "../../vm/config.ts";
import { FORWARDING_PAGES } from "../forwarding.ts";
import type { BouncePool } from "./device.ts";
import { ParavisorVmbus, type ParavisorVmbusOptions } from "./server.ts";
import {
  BOUNCE_PAGES,
  type ParavisorStorage,
  type ParavisorStorageKind,
  paravisorStorage,
} from "./storage.ts";
import type { ParavisorSynic } from "./synic.ts";

export interface ParavisorVmbusWiring {
  schedule(what: string, fn: () => void): void;
  waitFor(cond: () => boolean, what: string): boolean;
  /** Register the paravisor's ports with the hypervisor (HvCallCreatePort / ConnectPort in OpenHCL). */
  registerPorts(ids: readonly number[]): void;
  /** Overrides (tests): its devices, refusing, relaying. */
  options?: ParavisorVmbusOptions;
  /** How its disk is backed (config "paravisorStorage"; default "tdisp"). */
  storage?: ParavisorStorageKind;
}

export interface ParavisorVmbusParts {
  readonly vmbus: ParavisorVmbus;
  readonly storage: ParavisorStorage | undefined;
  /** The pages a device without encrypted-memory support DMAs through (shared at boot). */
  readonly bounce: BouncePool;
}

/** The paravisor's VMBus, built when the configuration asks for Confidential VMBus. */
export function createParavisorVmbus(
  p: Platform,
  mem: CpuMemory,
  synic: ParavisorSynic,
  exit: HypervisorExit,
  forwardingPage: () => number,
  w: ParavisorVmbusWiring,
): ParavisorVmbusParts {
  // The bounce pool: VTL2 pages just below the forwarding pages.
  const bounce: BouncePool = {
    pfn: p.paravisorPfn + p.paravisorPages - FORWARDING_PAGES - BOUNCE_PAGES,
    pages: BOUNCE_PAGES,
    hostVisible: !hardened(p.config, "slat-exclusion"),
  };
  const storage =
    w.options?.devices === undefined
      ? paravisorStorage(
          w.storage ?? "tdisp",
          {
            mem,
            guestPages: p.guestPages,
            shared: (pfn) => (p.memory.flags(pfn) & PageFlag.STATE_MASK) === PageState.SHARED,
          },
          bounce,
        )
      : undefined;
  const hypercall = (code: number, input: Uint8Array): number => {
    const page = forwardingPage();
    mem.write(page, input, Label.PUBLIC);
    return resultStatus(exit.hypercall(0, BigInt(code), page, 0));
  };
  const vmbus = new ParavisorVmbus(
    {
      mem,
      audit: p.audit,
      config: p.config,
      guestPages: p.guestPages,
      synic,
      schedule: (what, fn) => w.schedule(what, fn),
      waitFor: (cond, what) => w.waitFor(cond, what),
      postToHost: (conn, payload) =>
        hypercall(
          HvCallCode.HVCALL_POST_MESSAGE,
          encodePostMessageInput(conn, HvMessageType.HVMSG_VMBUS, payload),
        ),
      postDirect: (vp, payload) =>
        hypercall(
          HvCallCode.HVCALL_POST_MESSAGE_DIRECT,
          encodePostMessageDirect(vp, VMBUS_MESSAGE_SINT, HvMessageType.HVMSG_VMBUS, payload),
        ),
      signalDirect: (vp, flag) =>
        hypercall(
          HvCallCode.HVCALL_SIGNAL_EVENT_DIRECT,
          encodeSignalEventDirect(vp, VMBUS_MESSAGE_SINT, flag),
        ),
      registerPorts: (ids) => w.registerPorts(ids),
    },
    {
      intercept: storage ? [storage.device.ifType] : [],
      ...w.options,
      devices: w.options?.devices ?? (storage ? [storage.device] : []),
    },
  );
  return { vmbus, storage, bounce };
}

/** GPA of the first bounce page (for the host's-eye checks of tests and `hvcoco run`). */
export function bounceGpa(b: BouncePool): number {
  return b.pfn * PAGE_SIZE;
}
