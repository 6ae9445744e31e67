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
    ]);
  }
  return t.toString();
}
