// The boundary crossings of one run, in order, filterable by kind and by actor.
import { useMemo, useState } from "preact/hooks";
import type { ReportData } from "../src/report/data.ts";
import { ActivityChart } from "./activity.tsx";
import { kindColor } from "./colors.ts";
import { detailText, int } from "./format.ts";

/** Rows drawn at once (the rest are a "show more" away). */
const PAGE = 1000;

function toggle(set: ReadonlySet<string>, v: string): Set<string> {
  const s = new Set(set);
  if (s.has(v)) s.delete(v);
  else s.add(v);
  return s;
}

export function Timeline({ data }: { data: ReportData }) {
  const initial = Math.max(
    0,
    data.configs.findIndex((c) => c.name === "snp-paravisor"),
  );
  const [ci, setCi] = useState(initial);
  const [kinds, setKinds] = useState<ReadonlySet<string>>(() => new Set(data.kinds));
  const [actors, setActors] = useState<ReadonlySet<string>>(() => new Set(data.actors));
  const [limit, setLimit] = useState(PAGE);
  const cfg = data.configs[ci] ?? data.configs[0];
  const rows = useMemo(
    () =>
      (cfg?.crossings.stored ?? []).filter(
        (c) => kinds.has(c.kind) && (actors.has(c.from) || actors.has(c.to)),
      ),
    [cfg, kinds, actors],
  );
  const kindList = useMemo(() => data.kinds.filter((k) => kinds.has(k)), [data.kinds, kinds]);
  if (!cfg) return null;
  const log = cfg.crossings;
  const dropped = Object.entries(log.droppedByKind).filter(([, n]) => n > 0);
  return (
    <section id="timeline">
      <h2>Boundary crossings</h2>
      <p class="note">
        Every crossing between actors (CPUID, MSRs, hypercalls, exceptions, interrupts, SynIC messages and
        events, host reads and writes of guest pages, visibility changes, boot steps) in the order it
        happened. Pick a configuration, then filter by kind and by actor (a crossing shows when its source or
        its destination is checked).
      </p>
      <div class="tabs" role="tablist">
        {data.configs.map((c, i) => (
          <button
            type="button"
            role="tab"
            key={`${i}:${c.name}`}
            data-config={c.name}
            aria-selected={i === ci}
            class={i === ci ? "tab on" : "tab"}
            onClick={() => {
              setCi(i);
              setLimit(PAGE);
            }}
          >
            {c.name}
          </button>
        ))}
      </div>
      <p class="note cap" data-testid="cap-note">
        {int(log.total)} crossings in this run; the page keeps at most {int(log.capPerKind)} of each kind (
        {int(log.stored.length)} kept).{" "}
        {dropped.length > 0
          ? `Not kept: ${dropped.map(([k, n]) => `${int(n)} ${k}`).join(", ")}. The counts and charts include them.`
          : "Nothing was left out."}{" "}
        The full trace: <code>hvcoco trace --out FILE.jsonl</code>.
      </p>
      <ActivityChart cfg={cfg} kinds={kindList} allKinds={data.kinds} />
      <div class="filters">
        <fieldset data-testid="kind-filter">
          <legend>kind</legend>
          {data.kinds.map((k) => (
            <label key={k} class="check">
              <input
                type="checkbox"
                data-kind={k}
                checked={kinds.has(k)}
                onChange={() => setKinds((s) => toggle(s, k))}
              />
              <span class="swatch" style={{ background: kindColor(data.kinds, k) }} /> {k}{" "}
              <small>{int(log.byKind[k] ?? 0)}</small>
            </label>
          ))}
          <button type="button" onClick={() => setKinds(new Set(data.kinds))}>
            all
          </button>
          <button type="button" onClick={() => setKinds(new Set())}>
            none
          </button>
        </fieldset>
        <fieldset data-testid="actor-filter">
          <legend>actor</legend>
          {data.actors.map((a) => (
            <label key={a} class="check">
              <input
                type="checkbox"
                data-actor={a}
                checked={actors.has(a)}
                onChange={() => setActors((s) => toggle(s, a))}
              />{" "}
              {a}
            </label>
          ))}
          <button type="button" onClick={() => setActors(new Set(data.actors))}>
            all
          </button>
          <button type="button" onClick={() => setActors(new Set())}>
            none
          </button>
        </fieldset>
      </div>
      <p class="note" data-testid="timeline-count" data-matching={rows.length}>
        {int(rows.length)} of {int(log.stored.length)} kept crossings match
        {rows.length > limit ? `; showing the first ${int(limit)}` : ""}.
      </p>
      <div class="rows">
        <table class="crossings">
          <thead>
            <tr>
              <th>seq</th>
              <th>kind</th>
              <th>from → to</th>
              <th>what</th>
              <th>detail</th>
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, limit).map((c) => (
              <tr key={c.seq} data-testid="timeline-row" data-kind={c.kind} data-from={c.from} data-to={c.to}>
                <td class="num">{c.seq}</td>
                <td>
                  <span class="chip" style={{ borderColor: kindColor(data.kinds, c.kind) }}>
                    {c.kind}
                  </span>
                </td>
                <td>
                  {c.from} → {c.to}
                </td>
                <td>{c.what}</td>
                <td class="detail">{detailText(c.detail)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rows.length > limit ? (
        <button type="button" class="more" onClick={() => setLimit((l) => l + PAGE)}>
          show {int(Math.min(PAGE, rows.length - limit))} more
        </button>
      ) : null}
    </section>
  );
}
