// The auditor's VMBus checks for a verdict. The auditor stands outside the model and
// may look at anything; the attack never sees these. They ask:
//  - did the guest act on a packet it had not validated (C19)? At the reader's
//    "before-commit" point the length it used must be the one it validated, and the
//    payload offset one that passed the check — a host that changed the descriptor
//    after validation must not have decided what the guest read;
//  - did an isolated guest accept an offer of a class not allowed in isolated VMs (C20)?
//  - did the machine settle once the attack stopped (a guest that never stops
//    working is hung), and what did the guest give up waiting for (it must time
//    out rather than hang)?
//  - (checks-devices.ts) did netvsc take a frame from outside the range it checked
//    (C22), the guest take a host channel for a confidential one (C30), or hv_pci
//    put a BAR outside the VMBus MMIO ranges (C23)?
//  - do the channels the attack did not touch still work: the host's heartbeat and
//    time sync each send one request and must get the right answer; and the ones no
//    host may touch (the paravisor's storage, where the guest stored its key page
//    once it booted) must work whatever it did.
import { isHvsockOffer, VMBUS_DEVS } from "../guest/vmbus/devices.ts";
import type { IcVsp } from "../host/vsp/ic.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import { HOST_TIME_NS } from "../vm/utilities.ts";
import type { Vm } from "../vm/vm.ts";
import { type Secret, storedSecretIntact } from "../vm/workload.ts";
import { DESC_SIZE } from "../vmbus/ring.ts";
import type { Touched } from "./touch.ts";

export const UNVALIDATED_USE = "HVCOCO_VIOLATION_UNVALIDATED_USE";
export const ISOLATED_OFFER = "HVCOCO_VIOLATION_ISOLATED_OFFER";

/** Before boot: check every packet the guest's readers hand out against what they validated. */
export function watchReaders(vm: Vm): void {
  vm.hooks.on("vmbus:read:before-commit", (_p, d) => {
    const rd = vm.guest.vmbus?.relid2channel(Number(d["relid"]))?.ring?.in;
    if (!rd) return;
    const used = rd.packetLength;
    const valid = rd.validatedLength;
    const off = rd.payloadOffset;
    if (used !== valid || off < DESC_SIZE || off > used)
      vm.audit.violation(
        UNVALIDATED_USE,
        `relid ${d["relid"]}: the guest used a packet of ${used} bytes with its payload at ${off}; it validated ${valid} bytes`,
      );
  });
}

/** An isolated guest holds only channels of classes allowed in isolated VMs (hv_sock aside). */
export function checkIsolatedOffers(vm: Vm): void {
  const conn = vm.guest.vmbus;
  if (!conn?.isolated) return;
  for (const primary of conn.chnList)
    for (const ch of [primary, ...primary.subChannels]) {
      const o = ch.offer.offer;
      if (isHvsockOffer(o.chnFlags) || VMBUS_DEVS[ch.devType]?.allowedInIsolated) continue;
      vm.audit.violation(
        ISOLATED_OFFER,
        `the isolated guest accepted relid ${ch.relid}, a ${ch.name} device (not allowed in isolated VMs)`,
      );
    }
}

/** Let the machine settle: false when it is still busy after several budgets of tasks (hung). */
export function settles(vm: Vm, budgets = 4): boolean {
  for (let i = 0; i < budgets && vm.scheduler.pending > 0; i++) vm.scheduler.runUntilIdle();
  return vm.scheduler.pending === 0;
}

/** What the guest gave up waiting for (each a bounded wait that timed out). */
export function timeouts(vm: Vm): string[] {
  const out: string[] = [];
  for (const l of vm.guest.dmesg) if (l.startsWith("timed out waiting for ")) out.push(l.slice(22));
  return out;
}

/**
 * Whether the guest should hold the paravisor's storage: it is on the paravisor's
 * confidential connection and the paravisor serves a disk. Asked once the guest
 * booted; the workload then stores its key page there.
 */
export function expectsParavisorStorage(vm: Vm): boolean {
  const pv = vm.paravisor;
  return vm.guest.confidentialVmbus && pv?.vmbus?.confidential === true && pv.storage !== undefined;
}

/** The name the probe gives the paravisor's storage channel. */
export const PARAVISOR_STORAGE = "paravisor storage";

export interface ChannelProbe {
  checked: string[];
  lost: string[];
}

/**
 * The heartbeat and time sync, unless the attack touched them: one request each,
 * answered right. And the channels no host may touch at all, whatever it did: with
 * Confidential VMBus the guest reads its key page back from the paravisor's disk.
 */
export function probeChannels(vm: Vm, touched: Touched, stored?: Secret): ChannelProbe {
  const out: ChannelProbe = { checked: [], lost: [] };
  if (stored) {
    out.checked.push(PARAVISOR_STORAGE);
    if (!storedSecretIntact(vm, stored)) out.lost.push(PARAVISOR_STORAGE);
  }
  const ics = vm.host.ics;
  const probes: [IcVsp, () => boolean][] = [
    [ics.heartbeat, () => ics.heartbeat.beat()],
    [ics.timesync, () => ics.timesync.sample(HOST_TIME_NS)],
  ];
  // Every request goes out before the guest runs: it answers them in one pass, as
  // it would requests that arrived together.
  const asked: [IcVsp, number, boolean][] = [];
  for (const [ic, ask] of probes) {
    const hc = ic.channel;
    if (!hc || hc.closed || !ic.negotiated) continue;
    const ring = vm.guest.vmbus?.relid2channel(hc.relid)?.ring;
    const pages: number[] = [];
    if (ring)
      for (let i = 0; i < (ring.sendSize + ring.recvSize) / PAGE_SIZE; i++)
        pages.push(ring.gpa / PAGE_SIZE + i);
    if (touched.affects(hc.relid, pages)) continue;
    out.checked.push(ic.name);
    const acks = ic.acks;
    asked.push([ic, acks, ask()]);
  }
  if (asked.length > 0) vm.scheduler.runUntilIdle();
  for (const [ic, acks, sent] of asked) if (!sent || ic.acks !== acks + 1) out.lost.push(ic.name);
  return out;
}
