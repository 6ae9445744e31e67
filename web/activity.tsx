// Crossings over the run, per kind (uPlot): how many of each kind had happened by
// each point of the run. Both axes are logarithmic (y: arcsinh, so 0 stays 0), so
// the boot's few crossings and the host's long scan both show.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { ConfigReport } from "../src/report/data.ts";
import { kindColor } from "./colors.ts";

export function ActivityChart({
  cfg,
  kinds,
  allKinds,
}: {
  cfg: ConfigReport;
  kinds: readonly string[];
  allKinds: readonly string[];
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const a = cfg.crossings.activity;
    const shown = kinds.filter((k) => a.byKind[k]);
    const data: uPlot.AlignedData = [a.at, ...shown.map((k) => a.byKind[k]!)];
    const opts: uPlot.Options = {
      width: Math.max(320, host.clientWidth),
      height: 220,
      title: `crossings so far, by kind (${cfg.name}); both axes logarithmic`,
      scales: { x: { time: false, distr: 3, log: 10 }, y: { distr: 4, log: 10 } },
      axes: [{ label: "sequence number (log)" }, { label: "crossings so far", size: 60 }],
      legend: { show: true, live: false },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: "seq" },
        ...shown.map((k) => ({
          label: k,
          stroke: kindColor(allKinds, k),
          width: 1.5,
          points: { show: false },
        })),
      ],
    };
    const plot = new uPlot(opts, data, host);
    return () => plot.destroy();
  }, [cfg, kinds, allKinds]);
  return <div class="activity" data-testid="activity-chart" ref={el} />;
}
