// The guest memory map the report draws: runs of pages (never one entry per page:
// a 1 GiB guest has 262144) with a colour category and, for shared ranges, why
// they are shared. Read-only over the platform's memory; an observer.
import { PAGE_SIZE, PageFlag, PageState, pageState } from "../platform/page.ts";
import type { Vm } from "../vm/vm.ts";
import type { MapCategory, MapSegment, MapSnapshot } from "./data.ts";

/** The colour of a page from its flag byte (paravisor-owned wins, then the hardware state). */
export function categoryOf(flags: number, isolated: boolean): MapCategory {
  if (flags & PageFlag.PARAVISOR) return "paravisor";
  const s = pageState(flags);
  if (s === PageState.TRANSITION) return "transition";
  // C36: Hyper-V keeps a converting range not-present until every step is done.
  if (isolated && !(flags & PageFlag.PRESENT)) return "transition";
  return s === PageState.SHARED ? "shared" : "private";
}

interface Labelled {
  start: number;
  end: number;
  purpose: string;
  /** Applies to shared pages only (a guest range), or to any page (a platform region). */
  sharedOnly: boolean;
}

/** Ranges with a known purpose: what the guest shared and why, and the platform's own regions. */
function labelledRanges(vm: Vm, pending?: { pfn: number; count: number; purpose: string }): Labelled[] {
  const p = vm.platform;
  const out: Labelled[] = [];
  for (const r of vm.guest.sharedRanges.values()) {
    const start = Math.floor(r.gpa / PAGE_SIZE);
    out.push({ start, end: start + r.pages, purpose: r.purpose, sharedOnly: false });
  }
  if (pending)
    out.push({
      start: pending.pfn,
      end: pending.pfn + pending.count,
      purpose: pending.purpose,
      sharedOnly: false,
    });
  if (p.paravisorPages > 0) {
    if (p.synicOverlayPfn < p.paravisorPfn)
      out.push({
        start: p.synicOverlayPfn,
        end: p.paravisorPfn,
        purpose: "SynIC message and event pages the paravisor supplies",
        sharedOnly: false,
      });
    out.push({
      start: p.paravisorPfn,
      end: p.paravisorPfn + p.paravisorPages,
      purpose: "shared by the paravisor with the hypervisor",
      sharedOnly: true,
    });
    out.push({
      start: p.paravisorPfn,
      end: p.paravisorPfn + p.paravisorPages,
      purpose: "paravisor memory (VTL2)",
      sharedOnly: false,
    });
  }
  if (!p.isolated)
    out.push({
      start: 0,
      end: p.memory.pages,
      purpose: "no isolation: the host maps every page",
      sharedOnly: true,
    });
  return out;
}

function purposeAt(ranges: readonly Labelled[], pfn: number, shared: boolean): string | undefined {
  // The guest's own ranges are listed first, so they win over a platform region.
  for (const r of ranges) if (pfn >= r.start && pfn < r.end && (!r.sharedOnly || shared)) return r.purpose;
  return undefined;
}

/** Take the memory map now. `pending` names a range whose conversion is under way. */
export function snapshotMemory(
  vm: Vm,
  label: string,
  pending?: { pfn: number; count: number; purpose: string },
): MapSnapshot {
  const mem = vm.platform.memory;
  const isolated = vm.platform.isolated;
  const ranges = labelledRanges(vm, pending);
  // Cut points: every run boundary and every labelled range's ends.
  const cuts = new Set<number>([0, mem.pages]);
  for (const r of mem.runs()) cuts.add(r.pfn);
  for (const r of ranges) {
    if (r.start > 0 && r.start < mem.pages) cuts.add(r.start);
    if (r.end > 0 && r.end < mem.pages) cuts.add(r.end);
  }
  const points = [...cuts].sort((a, b) => a - b);
  const segments: MapSegment[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const pfn = points[i]!;
    const pages = points[i + 1]! - pfn;
    const flags = mem.flags(pfn);
    const cat = categoryOf(flags, isolated);
    const purpose = purposeAt(ranges, pfn, pageState(flags) !== PageState.PRIVATE);
    const last = segments[segments.length - 1];
    if (last && last.cat === cat && last.flags === flags && last.purpose === purpose) {
      last.pages += pages;
      continue;
    }
    const seg: MapSegment = {
      pfn,
      pages,
      cat,
      flags,
      hostVisible: (flags & PageFlag.HOST_VISIBLE) !== 0,
    };
    if (purpose !== undefined) seg.purpose = purpose;
    segments.push(seg);
  }
  return { label, seq: vm.audit.boundary.seq, segments };
}
