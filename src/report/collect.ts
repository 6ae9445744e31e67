// What the report needs from a run, gathered by observing it: the crossings (by
// subscribing to the VM's boundary before boot), memory-map snapshots (the final
// map, and the map in the middle of each encryption transition, through the
// named interleaving points), and the run's counters. The core never imports this.
import { type Boundary, CROSSING_KINDS, type Crossing } from "../audit/crossings.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import type { VmConfig } from "../vm/config.ts";
import { type RunRow, runConfiguration } from "../vm/run.ts";
import type { Vm } from "../vm/vm.ts";
import {
  type ConfigReport,
  type CrossingLog,
  type MapSnapshot,
  REPORT_FORMAT,
  type ReportData,
} from "./data.ts";
import { snapshotMemory } from "./memory-map.ts";

/** Crossings of one kind kept for the timeline, per configuration. The counts cover all of them. */
export const DEFAULT_CAP_PER_KIND = 500;
/** Mid-transition memory-map snapshots kept per configuration. */
export const MAX_TRANSITION_SNAPSHOTS = 16;
/** Sample points of the activity chart (on each of a log and a linear spacing). */
const ACTIVITY_POINTS = 150;

export const ACTORS = ["guest", "paravisor", "hypervisor", "host", "platform"] as const;

/** The route of a hypercall crossing: "guest → paravisor", "paravisor → hypervisor (ghcb)". */
export function hypercallRoute(c: Crossing): string {
  const path = c.detail?.["path"];
  return `${c.from} → ${c.to}${typeof path === "string" ? ` (${path})` : ""}`;
}

/**
 * Records a run's crossings: every one is counted (by kind, by route for
 * hypercalls, over the run for the activity chart); the first `capPerKind` of
 * each kind are kept for the timeline.
 */
export class CrossingRecorder {
  readonly capPerKind: number;
  readonly stored: Crossing[] = [];
  readonly byKind = new Map<string, number>();
  readonly dropped = new Map<string, number>();
  readonly routes = new Map<string, number>();
  /** Kind index (into `kinds`) of each crossing by sequence number, for the activity chart. */
  #kindAt = new Uint8Array(1024);
  #maxSeq = 0;
  #total = 0;
  readonly kinds: string[] = [...CROSSING_KINDS];

  constructor(capPerKind = DEFAULT_CAP_PER_KIND) {
    this.capPerKind = capPerKind;
  }

  attach(boundary: Boundary): () => void {
    return boundary.subscribe((c) => this.record(c));
  }

  record(c: Crossing): void {
    this.#total++;
    const n = (this.byKind.get(c.kind) ?? 0) + 1;
    this.byKind.set(c.kind, n);
    if (n <= this.capPerKind) this.stored.push(c);
    else this.dropped.set(c.kind, (this.dropped.get(c.kind) ?? 0) + 1);
    if (c.kind === "hypercall") {
      const r = hypercallRoute(c);
      this.routes.set(r, (this.routes.get(r) ?? 0) + 1);
    }
    let k = this.kinds.indexOf(c.kind);
    if (k < 0) {
      // A kind added to the model after this was written: it gets its own column.
      k = this.kinds.length;
      this.kinds.push(c.kind);
    }
    if (c.seq >= this.#kindAt.length) {
      const grown = new Uint8Array(Math.max(c.seq + 1, this.#kindAt.length * 2));
      grown.set(this.#kindAt);
      this.#kindAt = grown;
    }
    this.#kindAt[c.seq] = Math.min(k, 254) + 1;
    if (c.seq > this.#maxSeq) this.#maxSeq = c.seq;
  }

  log(): CrossingLog {
    const max = this.#maxSeq;
    // Sample points: ACTIVITY_POINTS spaced on a log scale plus as many on a linear one.
    const at = new Set<number>();
    for (let i = 0; i <= ACTIVITY_POINTS && max > 0; i++) {
      at.add(Math.max(1, Math.round(max ** (i / ACTIVITY_POINTS))));
      at.add(Math.max(1, Math.round((max * i) / ACTIVITY_POINTS)));
    }
    const points = [...at].sort((x, y) => x - y);
    const byKindActivity: Record<string, number[]> = {};
    const running = new Array<number>(this.kinds.length).fill(0);
    let next = 0;
    for (let seq = 1; seq <= max && next < points.length; seq++) {
      const k = this.#kindAt[seq]!;
      if (k > 0) running[k - 1]!++;
      if (seq === points[next]) {
        for (let i = 0; i < running.length; i++) {
          if (running[i] === 0) continue;
          const kind = this.kinds[i]!;
          byKindActivity[kind] ??= new Array<number>(next).fill(0);
          byKindActivity[kind].push(running[i]!);
        }
        next++;
      }
    }
    return {
      stored: this.stored,
      total: this.#total,
      byKind: Object.fromEntries(this.byKind),
      droppedByKind: Object.fromEntries(this.dropped),
      capPerKind: this.capPerKind,
      activity: { at: points, byKind: byKindActivity },
    };
  }
}

export interface CollectOptions {
  capPerKind?: number;
  /** Another observer of the VM before it boots (`run --pcap`'s frame capture). */
  beforeBoot?: (vm: Vm) => void;
}

/** Run one configuration as `hvcoco run` does, observing it for the report. */
export function collectConfiguration(
  config: VmConfig,
  opts: CollectOptions = {},
): { row: RunRow; report: ConfigReport; vm: Vm } {
  const rec = new CrossingRecorder(opts.capPerKind);
  const during: { snap: MapSnapshot; pfn: number; count: number; enc: boolean }[] = [];
  let detach = () => {};
  const { vm, row } = runConfiguration(config, {
    beforeBoot: (v) => {
      opts.beforeBoot?.(v);
      const off = rec.attach(v.audit.boundary);
      // The middle of an encryption transition (C34/C36): the pages are in transition.
      const offHook = v.hooks.on("set_memory:pte-changed", (_point, d) => {
        if (during.length >= MAX_TRANSITION_SNAPSHOTS) return;
        const pfn = Number(d["pfn"]);
        const count = Number(d["count"]);
        const enc = Number(d["enc"]) === 1;
        const pending = { pfn, count, purpose: enc ? "being encrypted" : "being decrypted" };
        during.push({ snap: snapshotMemory(v, "", pending), pfn, count, enc });
      });
      detach = () => {
        off();
        offHook();
      };
    },
  });
  detach();
  // Name each transition snapshot after the range it converts, now that the guest recorded why.
  const purposes = new Map([...vm.guest.sharedRanges.values()].map((r) => [r.gpa / PAGE_SIZE, r.purpose]));
  for (const d of during) {
    const why = purposes.get(d.pfn);
    d.snap.label = `during ${d.enc ? "encrypt" : "decrypt"} of pfn 0x${d.pfn.toString(16)}+${d.count}${why ? ` (${why})` : ""}`;
    if (why)
      for (const s of d.snap.segments)
        if (s.pfn >= d.pfn && s.pfn < d.pfn + d.count && s.purpose?.startsWith("being ")) s.purpose = why;
  }
  const a = vm.audit;
  const { name, isolation, mode, ...all } = row;
  // Rates (…PerSecond) are timings, different on every run: the page stays the same bytes for a seed.
  const facts = Object.fromEntries(
    Object.entries(all).filter(([k]) => !k.endsWith("PerSecond")),
  ) as typeof all;
  const report: ConfigReport = {
    name: config.name,
    isolation: config.isolation,
    mode: config.isolation === "none" ? "-" : config.mode,
    vmbus: config.vmbus,
    vcpus: config.vcpus,
    memoryBytes: config.memoryBytes,
    pages: vm.platform.memory.pages,
    facts,
    memory: { final: snapshotMemory(vm, "after the run"), during: during.map((d) => d.snap) },
    crossings: rec.log(),
    hypercallsByRoute: Object.fromEntries([...rec.routes].sort((x, y) => (x[0] < y[0] ? -1 : 1))),
    exposure: {
      pagesShared: row.pagesShared,
      secretBytesLeaked: a.secretBytesLeaked,
      exposedBytesRead: a.exposedBytesRead,
      publicBytesRead: a.publicBytesRead,
      ciphertextBytesRead: a.ciphertextBytesRead,
      refusedWrites: a.refusedWrites,
    },
  };
  return { row, report, vm };
}

export interface BuildOptions extends CollectOptions {
  title?: string;
  /** Called before each configuration runs (progress on a terminal). */
  onConfig?: (c: VmConfig, index: number) => void;
}

/** Gathers the report of several runs, one configuration at a time (for `hvcoco run --report`). */
export class ReportBuilder {
  readonly #opts: CollectOptions;
  readonly #reports: ConfigReport[] = [];
  #seed: number | undefined;

  constructor(opts: CollectOptions = {}) {
    this.#opts = opts;
  }

  /** Run one configuration as `hvcoco run` does, observed; returns its table row. */
  add(config: VmConfig, beforeBoot?: (vm: Vm) => void): RunRow {
    const { row, report } = collectConfiguration(
      config,
      beforeBoot ? { ...this.#opts, beforeBoot } : this.#opts,
    );
    this.#seed ??= config.seed;
    this.#reports.push(report);
    return row;
  }

  data(title = "hvcoco report"): ReportData {
    const kinds = new Set<string>(CROSSING_KINDS);
    for (const r of this.#reports) for (const k of Object.keys(r.crossings.byKind)) kinds.add(k);
    return {
      format: REPORT_FORMAT,
      title,
      seed: this.#seed ?? 1,
      kinds: [...kinds],
      actors: [...ACTORS],
      configs: [...this.#reports],
    };
  }
}

/** Run every configuration and gather the report's data (and the rows `hvcoco run` prints). */
export function buildReportData(
  configs: readonly VmConfig[],
  opts: BuildOptions = {},
): { rows: RunRow[]; data: ReportData } {
  const b = new ReportBuilder(opts);
  const rows = configs.map((c, i) => {
    opts.onConfig?.(c, i);
    return b.add(c);
  });
  return { rows, data: b.data(opts.title) };
}
