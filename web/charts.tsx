// Exposure and cost per configuration, as SVG charts: bars, stacked bars and a
// heat map (the uPlot chart of the run's activity is in activity.tsx).
import type { ComponentChildren } from "preact";
import type { ReportData } from "../src/report/data.ts";
import { kindColor, SERIES_PALETTE } from "./colors.ts";
import { bytes, int } from "./format.ts";

const LABEL_W = 150;
const BAR_W = 380;
const ROW_H = 24;

function Figure({
  id,
  title,
  note,
  children,
}: {
  id: string;
  title: string;
  note?: string;
  children: ComponentChildren;
}) {
  return (
    <figure class="chart" data-testid={`chart-${id}`}>
      <figcaption>
        <strong>{title}</strong>
        {note ? <span class="note"> {note}</span> : null}
      </figcaption>
      {children}
    </figure>
  );
}

interface BarItem {
  label: string;
  value: number;
  color: string;
}

function Bars({ items, fmt }: { items: readonly BarItem[]; fmt: (n: number) => string }) {
  const max = Math.max(1, ...items.map((i) => i.value));
  const h = items.length * ROW_H + 4;
  return (
    <svg viewBox={`0 0 ${LABEL_W + BAR_W + 110} ${h}`} class="bars" role="img">
      <title>{items.map((i) => `${i.label}: ${fmt(i.value)}`).join("; ")}</title>
      {items.map((it, r) => {
        const w = (BAR_W * it.value) / max;
        const y = r * ROW_H + 2;
        return (
          <g key={`${r}:${it.label}`}>
            <text x={LABEL_W - 8} y={y + 15} text-anchor="end" class="lbl">
              {it.label}
            </text>
            <rect
              class="bar"
              x={LABEL_W}
              y={y + 3}
              width={Math.max(w, it.value > 0 ? 1.5 : 0)}
              height={ROW_H - 8}
              fill={it.color}
            >
              <title>{`${it.label}: ${fmt(it.value)}`}</title>
            </rect>
            <text x={LABEL_W + Math.max(w, 0) + 6} y={y + 15} class="val">
              {fmt(it.value)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

interface StackRow {
  label: string;
  parts: Record<string, number>;
}

function Stacked({
  rows,
  keys,
  colors,
  fmt,
}: {
  rows: readonly StackRow[];
  keys: readonly string[];
  colors: (k: string, i: number) => string;
  fmt: (n: number) => string;
}) {
  const totals = rows.map((r) => keys.reduce((n, k) => n + (r.parts[k] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const h = rows.length * ROW_H + 4;
  return (
    <div>
      <svg viewBox={`0 0 ${LABEL_W + BAR_W + 110} ${h}`} class="bars" role="img">
        <title>{rows.map((r, i) => `${r.label}: ${fmt(totals[i]!)}`).join("; ")}</title>
        {rows.map((row, r) => {
          const y = r * ROW_H + 2;
          let x = LABEL_W;
          return (
            <g key={`${r}:${row.label}`}>
              <text x={LABEL_W - 8} y={y + 15} text-anchor="end" class="lbl">
                {row.label}
              </text>
              {keys.map((k, i) => {
                const v = row.parts[k] ?? 0;
                if (v <= 0) return null;
                const w = Math.max((BAR_W * v) / max, 1.5);
                const rect = (
                  <rect
                    key={k}
                    class="bar"
                    data-key={k}
                    x={x}
                    y={y + 3}
                    width={w}
                    height={ROW_H - 8}
                    fill={colors(k, i)}
                  >
                    <title>{`${row.label}, ${k}: ${fmt(v)}`}</title>
                  </rect>
                );
                x += w;
                return rect;
              })}
              <text x={x + 6} y={y + 15} class="val">
                {fmt(totals[r]!)}
              </text>
            </g>
          );
        })}
      </svg>
      <div class="legend small">
        {keys.map((k, i) => (
          <span key={k}>
            <span class="swatch" style={{ background: colors(k, i) }} /> {k}
          </span>
        ))}
      </div>
    </div>
  );
}

function Heatmap({ data }: { data: ReportData }) {
  const kinds = data.kinds;
  const cell = 62;
  const top = 86;
  const max = Math.max(1, ...data.configs.flatMap((c) => kinds.map((k) => c.crossings.byKind[k] ?? 0)));
  // Room on the right for the last column's slanted label.
  const w = LABEL_W + kinds.length * cell + 70;
  const h = top + data.configs.length * ROW_H + 4;
  return (
    <svg viewBox={`0 0 ${w} ${h}`} class="heat" role="img">
      <title>crossings by kind and configuration</title>
      {kinds.map((k, j) => (
        <text
          key={k}
          x={LABEL_W + j * cell + cell / 2}
          y={top - 6}
          class="lbl"
          transform={`rotate(-40 ${LABEL_W + j * cell + cell / 2} ${top - 6})`}
        >
          {k}
        </text>
      ))}
      {data.configs.map((c, r) => (
        <g key={`${r}:${c.name}`}>
          <text x={LABEL_W - 8} y={top + r * ROW_H + 16} text-anchor="end" class="lbl">
            {c.name}
          </text>
          {kinds.map((k, j) => {
            const v = c.crossings.byKind[k] ?? 0;
            const t = v === 0 ? 0 : Math.log1p(v) / Math.log1p(max);
            return (
              <g key={k}>
                <rect
                  class="cell"
                  x={LABEL_W + j * cell + 1}
                  y={top + r * ROW_H + 1}
                  width={cell - 2}
                  height={ROW_H - 2}
                  fill={v === 0 ? "#f3f4f6" : kindColor(kinds, k)}
                  fill-opacity={v === 0 ? 1 : 0.15 + 0.85 * t}
                >
                  <title>{`${c.name}, ${k}: ${int(v)}`}</title>
                </rect>
                <text
                  x={LABEL_W + j * cell + cell / 2}
                  y={top + r * ROW_H + 16}
                  class="cellv"
                  text-anchor="middle"
                >
                  {v === 0 ? "·" : v >= 100000 ? `${Math.round(v / 1000)}k` : int(v)}
                </text>
              </g>
            );
          })}
        </g>
      ))}
    </svg>
  );
}

export function Charts({ data }: { data: ReportData }) {
  const cs = data.configs;
  const routes = [...new Set(cs.flatMap((c) => Object.keys(c.hypercallsByRoute)))].sort();
  return (
    <section id="charts">
      <h2>Exposure and cost</h2>
      <div class="grid">
        <Figure id="pages-shared" title="Pages shared with the host" note="(4 KiB pages held decrypted)">
          <Bars
            items={cs.map((c) => ({ label: c.name, value: c.exposure.pagesShared, color: "#e8833a" }))}
            fmt={int}
          />
        </Figure>
        <Figure
          id="secret-leaked"
          title="Secret bytes the host read in plaintext"
          note="(0 for a CoCo VM; a normal VM's host reads everything)"
        >
          <Bars
            items={cs.map((c) => ({
              label: c.name,
              value: c.exposure.secretBytesLeaked,
              color: c.isolation === "none" ? "#9ca3af" : "#dc2626",
            }))}
            fmt={int}
          />
        </Figure>
        <Figure
          id="host-reads"
          title="What the host's reads returned"
          note="(bytes of guest data, by label; pages the guest never wrote are left out)"
        >
          <Stacked
            rows={cs.map((c) => ({
              label: c.name,
              parts: {
                "secret (plaintext)": c.exposure.secretBytesLeaked,
                "exposed on purpose": c.exposure.exposedBytesRead,
                "public protocol bytes": c.exposure.publicBytesRead,
                ciphertext: c.exposure.ciphertextBytesRead,
              },
            }))}
            keys={["secret (plaintext)", "exposed on purpose", "public protocol bytes", "ciphertext"]}
            colors={(_k, i) => ["#dc2626", "#f59e0b", "#10b981", "#2f6db5"][i] ?? "#999"}
            fmt={bytes}
          />
        </Figure>
        <Figure id="hypercalls" title="Hypercalls by route" note="(source → destination, and the path taken)">
          <Stacked
            rows={cs.map((c) => ({ label: c.name, parts: c.hypercallsByRoute }))}
            keys={routes}
            colors={(_k, i) => SERIES_PALETTE[i % SERIES_PALETTE.length]!}
            fmt={int}
          />
        </Figure>
        <Figure id="exceptions" title="#VC / #VE / #PF handled, by handler">
          <Stacked
            rows={cs.map((c) => ({
              label: c.name,
              parts: { guest: c.facts.exceptionsGuest, paravisor: c.facts.exceptionsParavisor },
            }))}
            keys={["guest", "paravisor"]}
            colors={(_k, i) => ["#2f6db5", "#7b5cc4"][i] ?? "#999"}
            fmt={int}
          />
        </Figure>
      </div>
      <Figure
        id="crossings-by-kind"
        title="Crossings by kind"
        note="(colour is log-scaled; hover a cell for its count)"
      >
        <Heatmap data={data} />
      </Figure>
    </section>
  );
}
