// The hv_pci driver (drivers/pci/controller/pci-hyperv.c hv_pci_probe; id table:
// HV_PCIE_GUID, allowed in an isolated VM): opens the channel with 16 KiB rings and
// a requestor of HV_PCI_RQSTOR_SIZE, then enumerates the bus (hv_pci/bus.ts); config
// space goes by HvCallMmioRead/Write when Hyper-V says HV_X64_USE_MMIO_HYPERCALLS
// (a CoCo VM, C23), by trapped MMIO otherwise (hv_pci/config.ts).
import { DeviceGuid } from "../../vmbus/constants.ts";
import { HvPciConst } from "../../vmbus/hv-pci-proto.ts";
import type { GuestKernel } from "../kernel.ts";
import { vmbusClose, vmbusOpen } from "../vmbus/channel_open.ts";
import type { HvDevice, HvDriver } from "../vmbus/driver.ts";
import { HvPciBus } from "./hv_pci/bus.ts";

export const HV_PCI: HvDriver = {
  name: "hv_pci",
  ids: [DeviceGuid.HV_PCIE_GUID],
  probe(d: HvDevice): number {
    const bus = new HvPciBus(d.channel.conn.k, d.channel);
    d.data = bus;
    const ret = vmbusOpen(d.channel, {
      sendSize: HvPciBus.ringBytes,
      recvSize: HvPciBus.ringBytes,
      rqstorSize: HvPciConst.HV_PCI_RQSTOR_SIZE,
      callback: (ch) => bus.onChannelCallback(ch),
    });
    if (ret !== 0) {
      bus.state = "failed";
      return ret;
    }
    const r = bus.probe();
    if (r !== 0) vmbusClose(d.channel);
    return r;
  },
  remove(d: HvDevice): void {
    const bus = d.data as HvPciBus | undefined;
    if (bus) bus.state = "failed";
    vmbusClose(d.channel);
  },
  ready(d: HvDevice): boolean {
    const bus = d.data as HvPciBus | undefined;
    return bus?.state !== "probing";
  },
};

/** The guest's vPCI bus, once hv_pci probed it. */
export function hvPciBusOf(k: GuestKernel): HvPciBus | undefined {
  for (const d of k.vmbus?.devices ?? []) if (d.driver === HV_PCI) return d.data as HvPciBus;
  return undefined;
}
