// The auditor: outside the model. It sees every crossing (through the Boundary)
// and every host access to guest memory, and keeps the verdict: secret bytes the
// host read in plaintext (leaks), bytes exposed on purpose, refused host accesses,
// invariant violations and guest crashes.

import { appendOnly } from "../util/snapshot-hints.ts";
import { Boundary } from "./crossings.ts";
import { countLabel, Label, uniformLabels } from "./labels.ts";

export interface Violation {
  seq: number;
  /** A stable code: "HVCOCO_VIOLATION_..." */
  code: string;
  message: string;
}

export class Auditor {
  readonly boundary = new Boundary();
  /** Secret bytes the host or hypervisor read in plaintext. Must be 0. */
  secretBytesLeaked = 0;
  /** Payload bytes the guest sent in the clear on purpose that the host read. */
  exposedBytesRead = 0;
  /** Protocol bytes the guest wrote for the host (fields, zeroed padding) that the host read. */
  publicBytesRead = 0;
  /** Bytes of private pages the host read (it got ciphertext). */
  ciphertextBytesRead = 0;
  /** Host/hypervisor reads and writes refused by the platform (each recorded). */
  refusedReads = 0;
  refusedWrites = 0;
  /** Bytes the guest stored to MMIO or I/O ports that reached the host or hypervisor (C12). */
  deviceBytesToHost = 0;
  readonly violations: Violation[] = appendOnly([]);
  /** The guest's logged reasons for rejecting host input. */
  readonly rejections: { seq: number; code: string; message: string }[] = appendOnly([]);

  /**
   * plaintextRead() of labels[off, off + len): a short read (a ring index, a
   * descriptor) is counted byte by byte, with no view made of it.
   */
  plaintextReadAt(labels: Uint8Array, off: number, len: number): void {
    if (len > 32) {
      this.plaintextRead(labels.subarray(off, off + len));
      return;
    }
    for (let i = off; i < off + len; i++) {
      const l = labels[i];
      if (l === Label.SECRET) this.secretBytesLeaked++;
      else if (l === Label.EXPOSED) this.exposedBytesRead++;
      else if (l === Label.PUBLIC) this.publicBytesRead++;
    }
  }

  /** Account a plaintext host read of bytes with these labels. */
  plaintextRead(labels: Uint8Array): void {
    // Most reads are of one label throughout (a page, an I/O buffer): three searches settle it.
    const len = labels.length;
    const first = labels[0];
    if (first !== undefined && labels[len - 1] === first && uniformLabels(labels, first)) {
      if (first === Label.SECRET) this.secretBytesLeaked += len;
      else if (first === Label.EXPOSED) this.exposedBytesRead += len;
      else if (first === Label.PUBLIC) this.publicBytesRead += len;
      return;
    }
    const secret = countLabel(labels, Label.SECRET);
    if (secret > 0) this.secretBytesLeaked += secret;
    this.exposedBytesRead += countLabel(labels, Label.EXPOSED);
    this.publicBytesRead += countLabel(labels, Label.PUBLIC);
  }

  /** Account bytes of a guest MMIO or port write the host or hypervisor received in the clear. */
  deviceWriteToHost(labels: Uint8Array): void {
    this.deviceBytesToHost += labels.length;
    this.plaintextRead(labels);
  }

  violation(code: string, message: string): void {
    this.violations.push({ seq: this.boundary.seq, code, message });
  }

  rejection(code: string, message: string): void {
    this.rejections.push({ seq: this.boundary.seq, code, message });
  }

  /** True when nothing the auditor watches for happened. */
  get clean(): boolean {
    return this.secretBytesLeaked === 0 && this.violations.length === 0;
  }
}
