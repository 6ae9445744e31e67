// The devices the host offers by default: the full set a Hyper-V host offers a
// Linux guest, including the classes an isolated guest must refuse (C20). The ICs
// storage and network devices are served by their VSPs; the classes the model has no
// device for are placeholders that accept their channel.
import { DeviceGuid } from "../../vmbus/constants.ts";
import { HeartbeatIc, ShutdownIc, TimeSyncIc } from "../vsp/ic.ts";
import { type HostDevice, NullVsp, type Vsp } from "./vsp.ts";

/** The instance GUID the model gives the n-th default device (stable across runs). */
export function instanceGuid(n: number): string {
  return `5ec0c0c0-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

export interface HostIcs {
  heartbeat: HeartbeatIc;
  timesync: TimeSyncIc;
  shutdown: ShutdownIc;
}

export function defaultIcs(): HostIcs {
  return { heartbeat: new HeartbeatIc(), timesync: new TimeSyncIc(), shutdown: new ShutdownIc() };
}

/** The PCIe offer of a vPCI bus (after the default list: relid 14). */
export function vpciDevice(vsp: Vsp): HostDevice {
  return Object.freeze({ name: "pcie", ifType: DeviceGuid.HV_PCIE_GUID, ifInstance: instanceGuid(14), vsp });
}

/** The default offer list, in offer order (relid = position + 1). `replace` swaps in VSPs by device name. */
export function defaultDevices(ics: HostIcs, replace: Readonly<Record<string, Vsp>> = {}): HostDevice[] {
  const G = DeviceGuid;
  const list: [string, string, Vsp][] = [
    ["heartbeat", G.HV_HEART_BEAT_GUID, ics.heartbeat],
    ["timesync", G.HV_TS_GUID, ics.timesync],
    ["shutdown", G.HV_SHUTDOWN_GUID, ics.shutdown],
    ["kvp", G.HV_KVP_GUID, new NullVsp()],
    ["vss", G.HV_VSS_GUID, new NullVsp()],
    ["fcopy", G.HV_FCOPY_GUID, new NullVsp()],
    ["balloon", G.HV_DM_GUID, new NullVsp()],
    ["keyboard", G.HV_KBD_GUID, new NullVsp()],
    ["mouse", G.HV_MOUSE_GUID, new NullVsp()],
    ["video", G.HV_SYNTHVID_GUID, new NullVsp()],
    ["ide", G.HV_IDE_GUID, new NullVsp()],
    ["scsi", G.HV_SCSI_GUID, new NullVsp()],
    ["nic", G.HV_NIC_GUID, new NullVsp()],
  ];
  return list.map(([name, ifType, vsp], i) =>
    Object.freeze({ name, ifType, ifInstance: instanceGuid(i + 1), vsp: replace[name] ?? vsp }),
  );
}
