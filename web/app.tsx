// The page: the runs side by side, the memory maps, the crossings timeline, and
// the exposure and cost charts.
import type { ReportData } from "../src/report/data.ts";
import { Charts } from "./charts.tsx";
import { int } from "./format.ts";
import { MemoryMaps } from "./memory-map.tsx";
import { Timeline } from "./timeline.tsx";

function Summary({ data }: { data: ReportData }) {
  return (
    <table class="summary" data-testid="summary">
      <thead>
        <tr>
          <th>configuration</th>
          <th>boot</th>
          <th>guest at</th>
          <th>paravisor at</th>
          <th>#VC/#VE to</th>
          <th>pages shared</th>
          <th>hypercalls direct / via pv / fwd</th>
          <th>secret bytes leaked</th>
          <th>crossings</th>
        </tr>
      </thead>
      <tbody>
        {data.configs.map((c) => {
          const f = c.facts;
          const leak = f.secretBytesLeaked > 0 && c.isolation !== "none";
          return (
            <tr key={c.name}>
              <td>{c.name}</td>
              <td class={f.booted ? "ok" : "bad"} title={f.crash ?? ""}>
                {f.booted ? "ok" : "crashed"}
              </td>
              <td>{f.guestLevel}</td>
              <td>{f.paravisorLevel}</td>
              <td>{f.vcVeTo}</td>
              <td class="num">{int(f.pagesShared)}</td>
              <td class="num">
                {f.hypercallsDirect} / {f.hypercallsViaParavisor} / {f.hypercallsForwarded}
              </td>
              <td class={`num ${leak ? "bad" : ""}`}>{int(f.secretBytesLeaked)}</td>
              <td class="num">{int(c.crossings.total)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function App({ data }: { data: ReportData }) {
  return (
    <main>
      <header>
        <h1>{data.title}</h1>
        <p class="note">
          Seed {data.seed} · {data.configs.length} configuration{data.configs.length === 1 ? "" : "s"}. Each
          was booted, given a page of secret key material in private memory, and then its host read every page
          its SLAT maps (and the secret's page). Regenerate with{" "}
          <code>hvcoco report --seed {data.seed} --out FILE.html</code>.
        </p>
        <nav>
          <a href="#memory">memory map</a> · <a href="#timeline">boundary crossings</a> ·{" "}
          <a href="#charts">exposure and cost</a>
        </nav>
      </header>
      <Summary data={data} />
      <MemoryMaps data={data} />
      <Timeline data={data} />
      <Charts data={data} />
    </main>
  );
}
