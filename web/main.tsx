// The report page: reads the data the generator embedded and draws it. Bundled by
// esbuild at report time (src/report/html.ts) and inlined: the page loads nothing.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import type { ReportData } from "../src/report/data.ts";
import { App } from "./app.tsx";

const holder = document.getElementById("hvcoco-data");
const root = document.getElementById("app");
if (holder && root) {
  const data = JSON.parse(holder.textContent ?? "null") as ReportData;
  root.textContent = "";
  render(<App data={data} />, root);
}
