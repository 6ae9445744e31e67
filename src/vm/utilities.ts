// The utility devices at work, as `hvcoco run` shows them: the host's heartbeat,
// time sync and shutdown ICs each send one request, the machine runs until idle,
// and a service counts as working when both ends agree — the host got the answer
// it expects, and the guest did what was asked (answered seq + 1, set its clock
// to the host's time, recorded the shutdown request).
import { utilService } from "../guest/drivers/hv_utils/index.ts";
import { Heartbeat, Shutdown, TimeSync } from "../guest/drivers/hv_utils/services.ts";
import type { VmbusConnection } from "../guest/vmbus/connection.ts";
import { IcStatus } from "../vmbus/ic.ts";
import type { Vm } from "./vm.ts";

/** The host's wall clock the model's time sync sends: 2025-01-01T00:00:00Z. */
export const HOST_TIME_NS = 1_735_689_600_000_000_000n;

function guestHandler<T>(
  conn: VmbusConnection | undefined,
  kind: abstract new (...a: never[]) => T,
): T | undefined {
  for (const d of conn?.devices ?? []) {
    const h = utilService(d)?.handler;
    if (h instanceof kind) return h;
  }
  return undefined;
}

/** Exercise heartbeat, time sync and shutdown once; the names of those that worked ("hb", "ts", "sd"). */
export function exerciseUtilities(vm: Vm): string[] {
  const { heartbeat, timesync, shutdown } = vm.host.ics;
  const conn = vm.guest.vmbus;
  const acks = [heartbeat.acks, timesync.acks, shutdown.acks];
  heartbeat.beat();
  timesync.sample(HOST_TIME_NS);
  shutdown.requestShutdown();
  vm.scheduler.runUntilIdle();
  const out: string[] = [];
  const hb = guestHandler(conn, Heartbeat);
  if (heartbeat.acks > acks[0]! && hb && hb.lastSeq === heartbeat.lastSeq) out.push("hb");
  const ts = guestHandler(conn, TimeSync);
  if (timesync.acks > acks[1]! && ts?.clockNs === HOST_TIME_NS) out.push("ts");
  const sd = guestHandler(conn, Shutdown);
  if (
    shutdown.acks > acks[2]! &&
    shutdown.lastStatus === IcStatus.HV_S_OK &&
    sd?.requested?.action === "shutdown"
  )
    out.push("sd");
  return out;
}
