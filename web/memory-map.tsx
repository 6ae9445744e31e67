// The guest memory map of each configuration: one bar per guest, one rectangle
// per run of like pages (never one per page), coloured private / shared / in
// transition / paravisor-owned; hover or focus a run for its range and purpose.
import { useMemo, useState } from "preact/hooks";
import type { ConfigReport, MapCategory, MapSegment, ReportData } from "../src/report/data.ts";
import { MAP_CATEGORIES } from "../src/report/data.ts";
import { CATEGORY_COLORS, CATEGORY_LABELS } from "./colors.ts";
import { bytes, gpaRange, hex, int } from "./format.ts";

const WIDTH = 1000;
/** The narrowest a run is drawn, so that a one-page range in a 1 GiB guest still shows. */
const MIN_WIDTH = 5;

export interface Placed {
  seg: MapSegment;
  x: number;
  w: number;
}

/** Widths follow page counts, except that every run gets at least MIN_WIDTH (not to scale). */
export function placeSegments(segments: readonly MapSegment[], totalPages: number): Placed[] {
  const n = segments.length;
  const min = Math.min(MIN_WIDTH, WIDTH / Math.max(1, 2 * n));
  const spare = WIDTH - n * min;
  let x = 0;
  return segments.map((seg) => {
    const w = min + (spare * seg.pages) / Math.max(1, totalPages);
    const p = { seg, x, w };
    x += w;
    return p;
  });
}

const FLAG_NAMES: [number, string][] = [
  [0x04, "present"],
  [0x08, "enc-mapped"],
  [0x10, "validated"],
  [0x20, "paravisor"],
  [0x40, "host-visible"],
];

function flagText(f: number): string {
  const state = ["private", "shared", "transition", "?"][f & 3];
  return [state, ...FLAG_NAMES.filter(([b]) => f & b).map(([, n]) => n)].join(" ");
}

interface Tip {
  x: number;
  y: number;
  cfg: string;
  seg: MapSegment;
}

function Tooltip({ tip }: { tip: Tip }) {
  const s = tip.seg;
  const left = Math.min(tip.x + 14, window.innerWidth - 380);
  return (
    <div id="map-tooltip" data-testid="map-tooltip" role="tooltip" style={{ left, top: tip.y + 14 }}>
      <div class="tip-head">
        <span class="swatch" style={{ background: CATEGORY_COLORS[s.cat] }} /> {CATEGORY_LABELS[s.cat]}
        {s.hostVisible ? ", host-visible" : ""}
      </div>
      <div>
        {tip.cfg}: GPA {gpaRange(s.pfn, s.pages)}
      </div>
      <div>
        {int(s.pages)} page{s.pages === 1 ? "" : "s"} ({bytes(s.pages * 4096)}) from pfn {hex(s.pfn)}
      </div>
      {s.purpose ? (
        <div class="tip-purpose" data-testid="tip-purpose">
          purpose: {s.purpose}
        </div>
      ) : null}
      <div class="tip-flags">
        flags {hex(s.flags)}: {flagText(s.flags)}
      </div>
    </div>
  );
}

function counts(segments: readonly MapSegment[]): Record<MapCategory, number> {
  const c: Record<MapCategory, number> = { private: 0, shared: 0, transition: 0, paravisor: 0 };
  for (const s of segments) c[s.cat] += s.pages;
  return c;
}

function MapRow({ cfg, onTip }: { cfg: ConfigReport; onTip: (t: Tip | null) => void }) {
  const [at, setAt] = useState(-1);
  const snap = at < 0 ? cfg.memory.final : (cfg.memory.during[at] ?? cfg.memory.final);
  const placed = useMemo(() => placeSegments(snap.segments, cfg.pages), [snap, cfg.pages]);
  const c = counts(snap.segments);
  const shared = snap.segments.filter((s) => s.cat !== "private" && s.purpose);
  const show = (seg: MapSegment, x: number, y: number) => onTip({ x, y, cfg: cfg.name, seg });
  return (
    <div class="map" data-testid="memory-map" data-config={cfg.name}>
      <div class="map-head">
        <strong>{cfg.name}</strong>
        <span class="note">
          {bytes(cfg.memoryBytes)} · {int(cfg.pages)} pages · {snap.segments.length} run
          {snap.segments.length === 1 ? "" : "s"}
        </span>
        {cfg.memory.during.length > 0 ? (
          <label class="snap">
            moment:{" "}
            <select
              data-testid="map-moment"
              value={String(at)}
              onChange={(e) => setAt(Number((e.currentTarget as HTMLSelectElement).value))}
            >
              <option value="-1">after the run</option>
              {cfg.memory.during.map((d, i) => (
                <option key={d.label} value={String(i)}>
                  {d.label}
                </option>
              ))}
            </select>
          </label>
        ) : null}
      </div>
      <svg
        class="map-bar"
        viewBox={`0 0 ${WIDTH} 30`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`memory map of ${cfg.name}`}
      >
        <title>memory map of {cfg.name}</title>
        {placed.map(({ seg, x, w }) => (
          // biome-ignore lint/a11y/noStaticElementInteractions: the runs are focusable for the tooltip
          <rect
            key={seg.pfn}
            class="seg"
            data-cat={seg.cat}
            data-pfn={seg.pfn}
            data-pages={seg.pages}
            data-purpose={seg.purpose ?? ""}
            x={x}
            y={0}
            width={Math.max(w - 0.6, 0.4)}
            height={30}
            fill={CATEGORY_COLORS[seg.cat]}
            tabIndex={0}
            onMouseMove={(e) => show(seg, e.clientX, e.clientY)}
            onMouseLeave={() => onTip(null)}
            onFocus={(e) => {
              const r = (e.currentTarget as SVGRectElement).getBoundingClientRect();
              show(seg, r.left, r.bottom);
            }}
            onBlur={() => onTip(null)}
          />
        ))}
      </svg>
      <div class="map-axis">
        <span>{hex(0)}</span>
        <span>{hex(cfg.memoryBytes)}</span>
      </div>
      <div class="map-counts">
        {MAP_CATEGORIES.filter((k) => c[k] > 0).map((k) => (
          <span key={k} data-testid={`count-${k}`}>
            <span class="swatch" style={{ background: CATEGORY_COLORS[k] }} /> {CATEGORY_LABELS[k]}{" "}
            {int(c[k])}
          </span>
        ))}
      </div>
      {shared.length > 0 ? (
        <details class="ranges">
          <summary>
            {shared.length} labelled range{shared.length === 1 ? "" : "s"} outside private memory
          </summary>
          <table>
            <thead>
              <tr>
                <th>GPA</th>
                <th>pages</th>
                <th>state</th>
                <th>purpose</th>
              </tr>
            </thead>
            <tbody>
              {shared.map((s) => (
                <tr key={s.pfn}>
                  <td>
                    <code>{gpaRange(s.pfn, s.pages)}</code>
                  </td>
                  <td class="num">{int(s.pages)}</td>
                  <td>
                    {CATEGORY_LABELS[s.cat]}
                    {s.hostVisible ? ", host-visible" : ""}
                  </td>
                  <td>{s.purpose}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : null}
    </div>
  );
}

export function MemoryMaps({ data }: { data: ReportData }) {
  const [tip, setTip] = useState<Tip | null>(null);
  return (
    <section id="memory">
      <h2>Guest memory map</h2>
      <p class="note">
        One bar per configuration, from GPA 0 to the top of guest memory; each rectangle is a run of pages
        with the same state. Widths follow page counts, except that every run is drawn at least {MIN_WIDTH}/
        {WIDTH} of the bar wide so a one-page range shows: the bar is not to scale. Hover (or focus) a run for
        its range and, where the guest shared it, why. Where a configuration has moments in the middle of an
        encryption transition, pick one to see pages in transition.
      </p>
      <div class="legend">
        {MAP_CATEGORIES.map((k) => (
          <span key={k}>
            <span class="swatch" style={{ background: CATEGORY_COLORS[k] }} /> {CATEGORY_LABELS[k]}
          </span>
        ))}
      </div>
      {data.configs.map((c, i) => (
        <MapRow key={`${i}:${c.name}`} cfg={c} onTip={setTip} />
      ))}
      {tip ? <Tooltip tip={tip} /> : null}
    </section>
  );
}
