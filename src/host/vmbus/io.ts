// The VMBus server's only ways out (a sans-I/O state machine, like OpenVMM's
// vmbus_server `channels::Server` driven through its `Notifier`; peers.md §2.1).
// The honest host binds it to the hypervisor's SynIC and the VM's scheduler
// (src/host/host.ts); a malicious host is another implementation of it, or wraps
// this one, and can then post, signal and touch shared memory as it likes.
import type { RingMemory } from "../../vmbus/ring.ts";

/**
 * The server's access to the client's memory: the host's UntrustedView (plaintext
 * only of shared, host-visible pages), or, for the paravisor's instance of the same
 * state machine (src/paravisor/vmbus/local.ts), the paravisor's trusted CpuMemory.
 */
export interface ServerMemory {
  read(gpa: number, len: number, dst?: Uint8Array, dstOff?: number): Uint8Array;
  write(gpa: number, src: Uint8Array): boolean;
  window(gpa: number, size: number): RingMemory;
  readU64(gpa: number): bigint;
  /** Pages a GPADL may name. */
  readonly pages: number;
}

/** Where the client asked its messages to go (INITIATE_CONTACT msg_sint / msg_vtl, protocol >= 5.0). */
export interface MessageTarget {
  sint: number;
  vtl: number;
}

export interface VmbusServerIo {
  /**
   * Post a channel message (at most 240 bytes) to the client's message SINT on VP
   * `vp`: the guest's VMBus SINT, or, for a client at VTL2 (the paravisor's relay),
   * the SINT it named.
   */
  postToGuest(vp: number, payload: Uint8Array, target?: MessageTarget): void;
  /** Signal a channel: set event flag `relid` of the guest's VMBus SINT on VP `vp` and interrupt it. */
  signalGuest(vp: number, relid: number): void;
  /** The host's view of guest memory (plaintext only of shared, host-visible pages). */
  readonly memory: ServerMemory;
  /** Run `fn` later as a host task: the server never calls back into whoever called it. */
  schedule(what: string, fn: () => void): void;
}
