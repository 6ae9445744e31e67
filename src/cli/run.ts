// `hvcoco run`: every configuration side by side — one column per configuration,
// one row per measure, grouped in sections, so that nine configurations fit a
// terminal. `--json` has every field of every row.
import Table from "cli-table3";
import pc from "picocolors";
import type { RunRow } from "../vm/run.ts";

type Cell = string | number;

function kib(n: number): string {
  if (n < 0) return "-";
  return n >= 1024 ? `${Math.round(n / 1024)}K` : String(n);
}

/** A configuration's name broken on dashes, for a narrow column head. */
function head(name: string): string {
  return name
    .replace("enlightened", "enl")
    .replace("paravisor", "pv")
    .replace("ring-only", "ring")
    .split("-")
    .join("\n");
}

const bad = (cond: boolean, v: Cell): Cell => (cond ? pc.red(String(v)) : v);
const good = (cond: boolean, v: Cell): Cell => (cond ? pc.green(String(v)) : v);

interface Measure {
  label: string;
  cell: (r: RunRow) => Cell;
}

const SECTIONS: readonly [string, readonly Measure[]][] = [
  [
    "boot and placement",
    [
      { label: "boot", cell: (r) => (r.booted ? pc.green("ok") : pc.red("crashed")) },
      { label: "guest runs at", cell: (r) => r.guestLevel },
      { label: "paravisor runs at", cell: (r) => r.paravisorLevel },
      { label: "#VC/#VE handled by", cell: (r) => r.vcVeTo },
      {
        label: "exceptions: guest / paravisor",
        cell: (r) => `${r.exceptionsGuest}/${r.exceptionsParavisor}`,
      },
      {
        label: "paravisor attested",
        cell: (r) =>
          r.attestation === "yes" ? pc.green("yes") : r.attestation === "no" ? pc.red("no") : "-",
      },
    ],
  ],
  [
    "what the host could see",
    [
      { label: "pages shared", cell: (r) => r.pagesShared },
      { label: "host pages read", cell: (r) => r.hostPagesRead },
      {
        label: "secret bytes leaked",
        cell: (r) => bad(r.secretBytesLeaked > 0 && r.isolation !== "none", r.secretBytesLeaked),
      },
      { label: "host writes refused", cell: (r) => r.refusedHostWrites },
      {
        label: "illegal interrupts that reached the guest",
        cell: (r) => bad(r.illegalInterrupts > 0 && r.isolation !== "none", r.illegalInterrupts),
      },
      { label: "MMIO exits to the host", cell: (r) => r.mmioToHost },
    ],
  ],
  [
    "hypercalls",
    [
      { label: "guest → hypervisor directly", cell: (r) => r.hypercallsDirect },
      { label: "guest → paravisor", cell: (r) => r.hypercallsViaParavisor },
      { label: "paravisor → hypervisor", cell: (r) => r.hypercallsForwarded },
    ],
  ],
  [
    "VMBus",
    [
      { label: "version", cell: (r) => r.vmbusVersion },
      {
        label: "connection",
        cell: (r) =>
          r.vmbusConnection === "confidential"
            ? pc.green("confid.")
            : r.vmbusConnection.replace("host (fell back)", "host*"),
      },
      { label: "paravisor channels", cell: (r) => r.paravisorChannels.replace("scsi: ", "scsi ") },
      { label: "utilities working", cell: (r) => r.utilities.join(",") || "-" },
      { label: "offers refused (C20)", cell: (r) => r.offersRefused },
    ],
  ],
  [
    "disk: 1 MiB written, flushed, read back",
    [
      { label: "verified", cell: (r) => (r.disk === "ok" ? "ok" : r.disk === "-" ? "-" : pc.red(r.disk)) },
      { label: "MB/s (simulated)", cell: (r) => (r.disk === "-" ? "-" : r.diskMbPerSecond) },
      { label: "per MiB: bytes bounced", cell: (r) => kib(r.diskBytesBouncedPerMiB) },
      { label: "per MiB: copies", cell: (r) => r.diskCopiesPerMiB },
      { label: "per MiB: hypercalls", cell: (r) => r.diskHypercallsPerMiB },
      { label: "per MiB: interrupts", cell: (r) => r.diskInterruptsPerMiB },
      { label: "per MiB: bytes the host read", cell: (r) => kib(r.diskHostReadablePerMiB) },
      {
        label: "per MiB: bytes the host could read",
        cell: (r) => good(r.diskHostCouldReadPerMiB === 0, kib(r.diskHostCouldReadPerMiB)),
      },
    ],
  ],
  [
    "network: ARP, ICMP echoes, UDP echo",
    [
      {
        label: "echoes answered",
        cell: (r) => (r.netEchoes === "-" || r.netUdpKeepalive ? r.netEchoes : pc.red(`${r.netEchoes}!`)),
      },
      { label: "packets/s (simulated)", cell: (r) => (r.netEchoes === "-" ? "-" : r.netPacketsPerSecond) },
      { label: "per MiB: bytes bounced", cell: (r) => kib(r.netBytesBouncedPerMiB) },
      { label: "per MiB: copies", cell: (r) => r.netCopiesPerMiB },
      { label: "per MiB: hypercalls", cell: (r) => r.netHypercallsPerMiB },
      { label: "per MiB: interrupts", cell: (r) => r.netInterruptsPerMiB },
      { label: "per MiB: bytes the host read", cell: (r) => kib(r.netHostReadablePerMiB) },
    ],
  ],
];

export function runTable(rows: readonly RunRow[]): string {
  const t = new Table({
    head: ["", ...rows.map((r) => head(r.name))],
    style: { head: [], border: [], compact: true },
  });
  for (const [title, measures] of SECTIONS) {
    t.push([{ colSpan: rows.length + 1, content: pc.bold(title) }]);
    for (const m of measures) t.push([m.label, ...rows.map((r) => m.cell(r))]);
  }
  const probe = rows.some((r) => r.vmbusConnection === "host (fell back)")
    ? "\nhost*: the guest probed for Confidential VMBus and fell back to the host connection."
    : "";
  return `${t.toString()}${probe}`;
}
