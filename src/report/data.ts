// The data the HTML report is drawn from: plain JSON, built in Node by
// collect.ts, embedded in the page, and read by the browser code in web/. This
// file holds only types and constants (no Node or DOM imports), so both sides can
// use it.
import type { Crossing } from "../audit/crossings.ts";

/** Bumped when the shape below changes incompatibly. */
export const REPORT_FORMAT = 1;

/** How the memory map colours a page. */
export type MapCategory = "private" | "shared" | "transition" | "paravisor";
export const MAP_CATEGORIES: readonly MapCategory[] = ["private", "shared", "transition", "paravisor"];

/** A run of pages that look the same on the map (same category, same flags, same purpose). */
export interface MapSegment {
  pfn: number;
  pages: number;
  cat: MapCategory;
  /** The platform's flag byte of these pages (src/platform/page.ts PageFlag). */
  flags: number;
  /** Mapped in the host's SLAT. */
  hostVisible: boolean;
  /** Why the range is shared (from the guest's sharedRanges, or the platform's layout). */
  purpose?: string;
}

/** The memory map at one moment of the run. */
export interface MapSnapshot {
  /** "after the run", or "during decrypt of pfn 0x1007+15360 (swiotlb bounce buffers)". */
  label: string;
  /** Boundary sequence number when it was taken. */
  seq: number;
  segments: MapSegment[];
}

/** The facts of `hvcoco run`'s table row for one configuration (a copy of RunRow's fields). */
export interface RowFacts {
  booted: boolean;
  crash?: string;
  guestLevel: string;
  paravisorLevel: string;
  vcVeTo: string;
  exceptionsGuest: number;
  exceptionsParavisor: number;
  bootSteps: string[];
  ccAttrs: string[];
  pagesShared: number;
  hypercallsDirect: number;
  hypercallsViaParavisor: number;
  hypercallsForwarded: number;
  hostPagesRead: number;
  secretBytesLeaked: number;
  ciphertextBytesRead: number;
  refusedHostWrites: number;
  crossings: number;
}

export interface CrossingLog {
  /** The crossings kept for the timeline, in order (at most `capPerKind` of each kind). */
  stored: Crossing[];
  /** Every crossing of the run. */
  total: number;
  /** Every crossing of the run by kind (including those not stored). */
  byKind: Record<string, number>;
  /** Crossings not stored because their kind reached the cap. */
  droppedByKind: Record<string, number>;
  capPerKind: number;
  /**
   * Crossings so far, per kind, at sequence numbers `at` (spaced evenly on a log
   * scale and on a linear one, so both the boot and the long tail show).
   */
  activity: { at: number[]; byKind: Record<string, number[]> };
}

export interface ConfigReport {
  name: string;
  isolation: string;
  mode: string;
  vmbus: string;
  vcpus: number;
  memoryBytes: number;
  pages: number;
  facts: RowFacts;
  memory: {
    /** The map after the run (the default view). */
    final: MapSnapshot;
    /** Snapshots taken in the middle of encryption transitions (pages in transition). */
    during: MapSnapshot[];
  };
  crossings: CrossingLog;
  /** Hypercalls by route: "guest → hypervisor (ghcb)", "guest → paravisor", ... */
  hypercallsByRoute: Record<string, number>;
  exposure: {
    pagesShared: number;
    secretBytesLeaked: number;
    exposedBytesRead: number;
    publicBytesRead: number;
    ciphertextBytesRead: number;
    refusedWrites: number;
  };
}

export interface ReportData {
  format: typeof REPORT_FORMAT;
  title: string;
  seed: number;
  /** Crossing kinds and actors in display order. */
  kinds: string[];
  actors: string[];
  configs: ConfigReport[];
}
