// Wiring Confidential VMBus into a VM (C24-C33): the host's server also takes
// the relay's redirect connection id and answers a VTL2 client through the
// hypervisor's VTL2 SynIC; the guest's HvPostMessage / HvSignalEvent to a port the
// paravisor registered go to the paravisor's untrusted dispatcher, everything else
// to the host; the paravisor gets the machine's scheduler for its tasks and waits.
import type { HostOptions, HostPartition } from "../host/host.ts";
import { HvCallCode } from "../hyperv/hvgdk.ts";
import { resultStatus } from "../hyperv/hypercall-abi.ts";
import { HvMessageType } from "../hyperv/synic-abi.ts";
import { encodePostMessageInput, encodeSignalEventInput } from "../hypervisor/direct.ts";
import type { Hypervisor } from "../hypervisor/hypervisor.ts";
import type { Paravisor } from "../paravisor/paravisor.ts";
import { VMBUS_MESSAGE_REDIRECT_CONNECTION_ID } from "../paravisor/vmbus/constants.ts";
import type { ParavisorVmbusOptions } from "../paravisor/vmbus/server.ts";
import type { ParavisorVmbusWiring } from "../paravisor/vmbus/setup.ts";
import { VmbusConnection as Conn } from "../vmbus/constants.ts";
import type { VmConfig } from "./config.ts";
import type { Scheduler } from "./scheduler.ts";

/** The host's options, plus the redirect connection id the paravisor's relay posts to. */
export function hostOptionsFor(config: VmConfig, host: HostOptions | undefined): HostOptions | undefined {
  if (config.vmbus !== "confidential") return host;
  const ids = host?.vmbus?.messageConnectionIds ?? [
    Conn.VMBUS_MESSAGE_CONNECTION_ID,
    Conn.VMBUS_MESSAGE_CONNECTION_ID_4,
  ];
  return {
    ...host,
    vmbus: { ...host?.vmbus, messageConnectionIds: [...ids, VMBUS_MESSAGE_REDIRECT_CONNECTION_ID] },
  };
}

/** The hypervisor's HvPostMessage / HvSignalEvent sinks: the paravisor's ports, else the host. */
export function routeVmbus(hv: Hypervisor, host: HostPartition): void {
  hv.postMessage = (vp, conn, type, payload) =>
    hv.paravisorPorts.has(conn)
      ? resultStatus(
          hv.toParavisor(
            vp,
            BigInt(HvCallCode.HVCALL_POST_MESSAGE),
            encodePostMessageInput(conn, type, payload),
          ),
        )
      : host.postMessage(vp, conn, type, payload);
  hv.signalEvent = (vp, conn, flag) =>
    hv.paravisorPorts.has(conn)
      ? resultStatus(
          hv.toParavisor(vp, BigInt(HvCallCode.HVCALL_SIGNAL_EVENT), encodeSignalEventInput(conn, flag)),
        )
      : host.signalEvent(vp, conn, flag);
}

/** A message the host's server sends its VTL2 client: through the hypervisor, to the paravisor's SynIC. */
export function postToVtl2(hv: Hypervisor): (vp: number, sint: number, payload: Uint8Array) => boolean {
  return (vp, sint, payload) => hv.postToParavisor(vp, sint, HvMessageType.HVMSG_VMBUS, payload);
}

/** What the paravisor's VMBus needs from the machine. */
export function paravisorVmbusWiring(
  config: VmConfig,
  scheduler: Scheduler,
  hv: Hypervisor,
  options: ParavisorVmbusOptions | undefined,
): ParavisorVmbusWiring {
  return {
    schedule: (what, fn) => scheduler.post("paravisor", what, fn),
    waitFor: (cond) => scheduler.waitFor(cond),
    registerPorts: (ids) => {
      for (const id of ids) hv.paravisorPorts.add(id);
    },
    ...(options ? { options } : {}),
    ...(config.paravisorStorage ? { storage: config.paravisorStorage } : {}),
  };
}

/** The hypervisor delivers VTL2 SynIC messages to the paravisor's relay, as tasks. */
export function attachRelay(hv: Hypervisor, scheduler: Scheduler, pv: Paravisor): void {
  const relay = pv.vmbus?.relay;
  if (!relay) return;
  hv.paravisorSynic = (vp, sint, _type, payload) =>
    scheduler.post("hypervisor", `VTL2 SINT${sint} message`, () => relay.onHostMessage(vp, payload));
}
