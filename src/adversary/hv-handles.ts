// The hypervisor handles the attack API adds beyond its interposer: the SynIC's
// pages and slots written raw, SINT interrupts, raw event injection, and the
// paravisor's untrusted hypercall path. All of it is the hypervisor's own state
// (its per-VP SynIC MSRs, its view of the shared SynIC pages) or its own exits.
import { HV_MESSAGE, HV_MESSAGE_SIZE, HV_SYNIC_SINT_COUNT } from "../hyperv/synic-abi.ts";
import type { Hypervisor } from "../hypervisor/hypervisor.ts";
import { Synic } from "../hypervisor/synic.ts";
import type { SynicHandles } from "./api-vmbus.ts";

/** `touch` hears the channel message of each slot written (for the auditor's record of what was touched). */
export function synicHandles(hv: Hypervisor, touch: (payload: Uint8Array) => void = () => {}): SynicHandles {
  const pages = (vp: number) => {
    const m = hv.vps[vp];
    if (!m) return undefined;
    const message = Synic.pageGpa(m.simp);
    const event = Synic.pageGpa(m.siefp);
    return message === undefined || event === undefined ? undefined : { message, event };
  };
  const raise = (vp: number, sint: number) => {
    const m = hv.vps[vp];
    if (!m || sint < 0 || sint >= HV_SYNIC_SINT_COUNT) return;
    hv.injectInterrupt(vp, Number(m.sint[sint]! & 0xffn), sint);
  };
  return {
    pages,
    writeSlot(vp, sint, message, interrupt = true) {
      const p = pages(vp);
      if (!p || sint < 0 || sint >= HV_SYNIC_SINT_COUNT) return false;
      const slot = new Uint8Array(HV_MESSAGE_SIZE);
      slot.set(message.subarray(0, HV_MESSAGE_SIZE));
      touch(
        slot.subarray(
          HV_MESSAGE.off.payload,
          HV_MESSAGE.off.payload + Math.min(slot[HV_MESSAGE.off.payload_size]!, 240),
        ),
      );
      if (!hv.view.write(p.message + sint * HV_MESSAGE_SIZE, slot)) return false;
      if (interrupt) raise(vp, sint);
      return true;
    },
    raise,
    queued: (vp, sint) => hv.synic.pendingCount(vp, sint),
  };
}
