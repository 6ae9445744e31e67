// The paravisor's own channels run on the same control-plane state machine as the
// host's (src/host/vmbus/server.ts, driven through its VmbusServerIo), given the
// paravisor's trusted view of guest memory instead of an UntrustedView: a channel
// whose offer says "confidential ring" has its ring in private guest memory, which
// only the paravisor (in the guest's security domain) can map. The server's own
// relids and messages stay inside the paravisor; server.ts translates them for the
// guest and sends them through the paravisor's SynIC.
import { Label } from "../../audit/labels.ts";
import type { ServerMemory, VmbusServerIo } from "../../host/vmbus/io.ts";
import { VmbusServer } from "../../host/vmbus/server.ts";
import type { HostDevice } from "../../host/vmbus/vsp.ts";
import type { CpuMemory, CpuWindow } from "../../platform/cpu-memory.ts";

/** The paravisor's access to guest memory as a VMBus server sees it: trusted, private pages included. */
export class ParavisorGuestMemory implements ServerMemory {
  readonly #mem: CpuMemory;
  readonly pages: number;

  constructor(mem: CpuMemory, guestPages: number) {
    this.#mem = mem;
    this.pages = guestPages;
  }

  read(gpa: number, len: number, dst?: Uint8Array, dstOff?: number): Uint8Array {
    return this.#mem.read(gpa, len, dst, dstOff);
  }

  write(gpa: number, src: Uint8Array): boolean {
    // What the paravisor writes for the guest is not the guest's secret.
    this.#mem.write(gpa, src, Label.HOST);
    return true;
  }

  window(gpa: number, size: number): CpuWindow {
    return this.#mem.window(gpa, size);
  }

  readU64(gpa: number): bigint {
    return this.#mem.readU64(gpa);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#mem];
  }
}

export interface LocalServerPort {
  /** A message the local server sends its client (its own relids). */
  post(payload: Uint8Array): void;
  /** The local server signals one of its channels (its own relid). */
  signal(vp: number, localRelid: number): void;
  schedule(what: string, fn: () => void): void;
}

/** The paravisor's VMBus server for its own devices (relids 1..n in its own numbering). */
export function localServer(
  mem: CpuMemory,
  guestPages: number,
  devices: readonly HostDevice[],
  port: LocalServerPort,
): VmbusServer {
  const io: VmbusServerIo = {
    memory: new ParavisorGuestMemory(mem, guestPages),
    postToGuest: (_vp, payload) => port.post(payload),
    signalGuest: (vp, relid) => port.signal(vp, relid),
    schedule: (what, fn) => port.schedule(what, fn),
  };
  return new VmbusServer(io, devices);
}
