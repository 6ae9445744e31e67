// What `hvcoco run` shows of Confidential VMBus (C24-C33): which connection the
// guest ended up on, what the paravisor's channels offer, and, for the disk
// workload, how many bytes of payload per MiB moved sat in memory the host's SLAT
// maps in plaintext — the bytes the host *could* read, whether or not it did: the
// guest's decrypted swiotlb pool, the guest's own buffers in a normal VM, and the
// paravisor's bounce pages when they are not kept out of the host's SLAT.
import type { DiskWorkloadResult } from "./disk-workload.ts";
import type { Vm } from "./vm.ts";

export interface CvmbusSnapshot {
  swiotlbBytes: number;
  paravisorBounced: number;
}

/** The counters the disk figure is a difference of. */
export function cvmbusSnapshot(vm: Vm): CvmbusSnapshot {
  const s = vm.guest.swiotlb?.stats;
  return {
    swiotlbBytes: (s?.bytesToDevice ?? 0) + (s?.bytesFromDevice ?? 0),
    paravisorBounced: vm.paravisor?.storage?.dma.stats.bouncedBytes ?? 0,
  };
}

export interface CvmbusFacts {
  /**
   * The guest's VMBus connection: "confidential" (to the paravisor), "host", "host
   * (fell back)" after a failed confidential attempt, "-" without one.
   */
  connection: string;
  /** The paravisor's channels and their offers: "scsi: ring+ext", "scsi: ring", or "-". */
  channels: string;
  /** Disk payload bytes per MiB moved that the host could read in plaintext (-1: no disk workload). */
  diskHostCouldReadPerMiB: number;
}

export function cvmbusFacts(
  vm: Vm,
  before: CvmbusSnapshot,
  disk: DiskWorkloadResult | undefined,
): CvmbusFacts {
  const k = vm.guest;
  const conn = k.vmbus;
  const connection =
    conn?.state !== "connected"
      ? "-"
      : k.confidentialVmbus
        ? "confidential"
        : conn.fallbacks > 0
          ? "host (fell back)"
          : "host";
  const pv = vm.paravisor?.vmbus;
  const channels =
    k.confidentialVmbus && pv
      ? (conn?.devices ?? [])
          .filter((d) => d.channel.coRingBuffer)
          .map((d) => `${d.name}: ${d.channel.coExternalMemory ? "ring+ext" : "ring"}`)
          .join(", ") || "-"
      : "-";
  return { connection, channels, diskHostCouldReadPerMiB: couldRead(vm, before, disk) };
}

function couldRead(vm: Vm, before: CvmbusSnapshot, disk: DiskWorkloadResult | undefined): number {
  if (!disk || disk.bytes === 0) return -1;
  const now = cvmbusSnapshot(vm);
  const pool = vm.guest.swiotlb;
  let bytes = 0;
  // The swiotlb pool of a CoCo guest is decrypted: the host maps it.
  if (pool?.decrypted) bytes += now.swiotlbBytes - before.swiotlbBytes;
  // A normal VM's buffers are the host's to read in place.
  if (vm.config.isolation === "none") bytes += disk.bytes;
  // The paravisor's bounce pages, unless kept out of the host's SLAT (C27).
  if (vm.paravisor?.bounce?.hostVisible) bytes += now.paravisorBounced - before.paravisorBounced;
  return Math.round(bytes / (disk.bytes / (1024 * 1024)));
}
