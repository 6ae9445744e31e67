// The VMBus server's only ways out (a sans-I/O state machine, like OpenVMM's
// vmbus_server `channels::Server` driven through its `Notifier`; peers.md §2.1).
// The honest host binds it to the hypervisor's SynIC and the VM's scheduler
// (src/host/host.ts); a malicious host is another implementation of it, or wraps
// this one, and can then post, signal and touch shared memory as it likes.
import type { UntrustedView } from "../../platform/untrusted-view.ts";

export interface VmbusServerIo {
  /** Post a channel message (at most 240 bytes) to the guest's VMBus SINT on VP `vp`. */
  postToGuest(vp: number, payload: Uint8Array): void;
  /** Signal a channel: set event flag `relid` of the guest's VMBus SINT on VP `vp` and interrupt it. */
  signalGuest(vp: number, relid: number): void;
  /** The host's view of guest memory (plaintext only of shared, host-visible pages). */
  readonly memory: UntrustedView;
  /** Run `fn` later as a host task: the server never calls back into whoever called it. */
  schedule(what: string, fn: () => void): void;
}
