// The VMBus monitor pages (drivers/hv/hyperv_vmbus.h struct hv_monitor_page;
// kernel-facts.md §3.11, §6.6, §6.9). The guest hands the host two zeroed,
// decrypted pages in INITIATE_CONTACT: page 1 parent→child, page 2 child→parent.
// A channel offered with monitor_allocated signals the host by setting bit
// monitorid % 32 of trigger_group[monitorid / 32].pending in page 2, which the
// host polls instead of taking a hypercall.
import { defineStruct } from "../layout/struct.ts";

const VH = "drivers/hv/hyperv_vmbus.h (Linux 6.19)";

// drivers/hv/hyperv_vmbus.h: struct hv_monitor_page (4096 bytes)
export const HV_MONITOR_PAGE = defineStruct(
  "hv_monitor_page",
  VH,
  [
    { name: "trigger_state", size: 4, note: "bits 0-3 group_enable" },
    { name: "rsvdz1", size: 4 },
    { name: "trigger_group", size: 8, count: 4, note: "{ u32 pending; u32 armed }" },
    { name: "rsvdz2", size: 8, count: 3 },
    { name: "next_checktime", size: 4, count: 128, note: "s32 [4][32]" },
    { name: "latency", size: 2, count: 128, note: "u16 [4][32]" },
    { name: "rsvdz3", size: 8, count: 32 },
    {
      name: "parameter",
      size: 8,
      count: 128,
      note: "[4][32] { u32 connectionid; u16 flagnumber; u16 rsvdz }",
    },
    { name: "rsvdz4", size: 1, count: 1984 },
  ],
  { size: 4096 },
);

/** Byte offset of trigger_group[group].pending. */
export function monitorPendingOffset(group: number): number {
  return HV_MONITOR_PAGE.off.trigger_group + 8 * group;
}

/** monitor_grp / monitor_bit of a monitor id (channel_mgmt.c). */
export function monitorGroupBit(monitorId: number): { group: number; bit: number } {
  return { group: monitorId >>> 5, bit: monitorId & 31 };
}
