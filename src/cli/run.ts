// `hvcoco run`: every configuration side by side.
import Table from "cli-table3";
import pc from "picocolors";
import type { RunRow } from "../vm/run.ts";

export function runTable(rows: readonly RunRow[]): string {
  const t = new Table({
    head: [
      "configuration",
      "boot",
      "guest at",
      "paravisor at",
      "#VC/#VE to",
      "exceptions guest/pv",
      "pages shared",
      "hypercalls direct/via pv/fwd",
      "host pages read",
      "secret bytes leaked",
      "host writes refused",
      "illegal interrupts reached guest",
      "paravisor attested",
      "VMBus: version, utilities, offers refused",
      "net: echoes, pkts/s; per MiB: bounced, copies, hypercalls, irqs, host-read",
      "disk: verified, MB/s; per MiB: bounced, copies, hypercalls, irqs, host-read",
      "Confidential VMBus: connection; paravisor channels; disk bytes/MiB the host could read",
    ],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    t.push([
      r.name,
      r.booted ? pc.green("ok") : pc.red("crashed"),
      r.guestLevel,
      r.paravisorLevel,
      r.vcVeTo,
      `${r.exceptionsGuest}/${r.exceptionsParavisor}`,
      r.pagesShared,
      `${r.hypercallsDirect}/${r.hypercallsViaParavisor}/${r.hypercallsForwarded}`,
      r.hostPagesRead,
      r.secretBytesLeaked > 0 && r.isolation !== "none"
        ? pc.red(String(r.secretBytesLeaked))
        : r.secretBytesLeaked,
      r.refusedHostWrites,
      r.illegalInterrupts > 0 && r.isolation !== "none"
        ? pc.red(String(r.illegalInterrupts))
        : r.illegalInterrupts,
      r.attestation === "yes" ? pc.green("yes") : r.attestation === "no" ? pc.red("no") : "-",
      `${r.vmbusVersion} ${r.utilities.join(",") || "-"} ${r.offersRefused}`,
      netCell(r),
      diskCell(r),
      cvmbusCell(r),
    ]);
  }
  return t.toString();
}

function kib(n: number): string {
  return n >= 1024 ? `${Math.round(n / 1024)}K` : String(n);
}

/** The network column (C22): echoes answered, frames/s, then the cost per MiB of frames moved. */
function netCell(r: RunRow): string {
  if (r.netEchoes === "-") return "-";
  const ok = r.netUdpKeepalive ? r.netEchoes : pc.red(`${r.netEchoes}!`);
  return `${ok} ${r.netPacketsPerSecond}/s; ${kib(r.netBytesBouncedPerMiB)} ${r.netCopiesPerMiB} ${r.netHypercallsPerMiB} ${r.netInterruptsPerMiB} ${kib(r.netHostReadablePerMiB)}`;
}

/** The disk column (C21): the workload's verdict, MB/s, then the cost per MiB moved. */
function diskCell(r: RunRow): string {
  if (r.disk === "-") return "-";
  const ok = r.disk === "ok" ? "ok" : pc.red(r.disk);
  return `${ok} ${r.diskMbPerSecond}; ${kib(r.diskBytesBouncedPerMiB)} ${r.diskCopiesPerMiB} ${r.diskHypercallsPerMiB} ${r.diskInterruptsPerMiB} ${kib(r.diskHostReadablePerMiB)}`;
}

/** The Confidential VMBus column (C24-C33): the connection, the paravisor's channels, the disk exposure. */
function cvmbusCell(r: RunRow): string {
  if (r.vmbusConnection === "-") return "-";
  const could = r.diskHostCouldReadPerMiB < 0 ? "-" : kib(r.diskHostCouldReadPerMiB);
  const shown = r.diskHostCouldReadPerMiB === 0 ? pc.green(could) : could;
  return `${r.vmbusConnection}; ${r.paravisorChannels}; ${shown}`;
}
