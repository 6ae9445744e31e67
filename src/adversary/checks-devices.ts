// The auditor's device checks for a verdict (the attack never sees these):
//  - did netvsc take a frame from outside the data range it checked in its shared
//    receive buffer (C22, C19)?
//  - with Confidential VMBus, is every channel the guest holds as confidential one
//    the paravisor serves (C30)?
//  - did hv_pci put a BAR it enabled outside the VMBus MMIO ranges, or over another
//    BAR (C23): a host's config space must not decide where a device decodes?

import { VMBUS_HIGH_MMIO_BASE, VMBUS_HIGH_MMIO_END, VMBUS_LOW_MMIO } from "../guest/drivers/hv_pci/bus.ts";
import { hvPciBusOf } from "../guest/drivers/hv_pci.ts";
import { NETVSC_RX_DELIVER_HOOK } from "../guest/drivers/netvsc/receive.ts";
import type { Vm } from "../vm/vm.ts";
import { PciReg } from "../vmbus/hv-pci-proto.ts";
import { UNVALIDATED_USE } from "./checks.ts";

export const CONFIDENTIAL_OFFER = "HVCOCO_VIOLATION_CONFIDENTIAL_OFFER";
export const VPCI_BAR = "HVCOCO_VIOLATION_VPCI_BAR";

/**
 * Before boot: check every frame netvsc takes from its receive buffer against the
 * data range it checked (C22, C19): a host that rewrites data_offset / data_len in
 * the shared receive buffer after the checks must not decide what the guest takes.
 */
export function watchNetvsc(vm: Vm): void {
  vm.hooks.on(NETVSC_RX_DELIVER_HOOK, (_p, d) => {
    const [ca, cl, ua, ul] = [d["checkedAt"], d["checkedLen"], d["usedAt"], d["usedLen"]];
    if (ca !== ua || cl !== ul)
      vm.audit.violation(
        UNVALIDATED_USE,
        `netvsc: the guest took ${ul} bytes at ${ua} of the RNDIS message at ${d["offset"]} of its receive buffer; it checked ${cl} bytes at ${ca}`,
      );
  });
}

/**
 * With Confidential VMBus only the paravisor's own channels may be confidential
 * (C30): a channel the guest holds with an encrypted ring or external memory must
 * be one the paravisor serves, never a host channel it relayed.
 */
export function checkConfidentialChannels(vm: Vm): void {
  const conn = vm.guest.vmbus;
  if (!conn) return;
  const local = new Set(vm.paravisor?.vmbus?.localRelids ?? []);
  for (const primary of conn.chnList)
    for (const ch of [primary, ...primary.subChannels]) {
      if (!ch.coRingBuffer && !ch.coExternalMemory) continue;
      if (local.has(ch.relid) && vm.paravisor?.vmbus?.routes.get(ch.relid)?.kind === "local") continue;
      vm.audit.violation(
        CONFIDENTIAL_OFFER,
        `the guest holds relid ${ch.relid} (${ch.name}) as a confidential channel, but the paravisor does not serve it`,
      );
    }
}

/** Every BAR hv_pci enabled lies in a VMBus MMIO range and overlaps no other. */
export function checkVpciBars(vm: Vm): void {
  const bus = hvPciBusOf(vm.guest);
  if (!bus) return;
  const ranges = [
    [VMBUS_LOW_MMIO.base, VMBUS_LOW_MMIO.end],
    [VMBUS_HIGH_MMIO_BASE, VMBUS_HIGH_MMIO_END],
  ];
  const taken: [number, number][] = [];
  for (const f of bus.functions) {
    if ((f.command & PciReg.PCI_COMMAND_MEMORY) === 0) continue;
    for (const b of f.bars) {
      const [lo, hi] = [b.address, b.address + b.size];
      const inside = ranges.some(([s, e]) => lo >= s! && hi <= e!);
      const overlap = taken.some(([s, e]) => lo < e && s < hi);
      taken.push([lo, hi]);
      if (inside && !overlap) continue;
      vm.audit.violation(
        VPCI_BAR,
        `hv_pci slot ${f.desc.winSlot}: BAR${b.index} decodes [0x${lo.toString(16)}, 0x${hi.toString(16)}), ${inside ? "over another BAR" : "outside the VMBus MMIO ranges"}`,
      );
    }
  }
}
