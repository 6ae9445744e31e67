// The storage device assigned to the paravisor, and how its data moves (coco.rst
// "Confidential VMBus"; C26, C27). The paravisor's storage VSP is storvsp itself
// (src/host/vsp/storvsp.ts), handed one of these as its memory view:
//  - "tdisp": a device that supports encrypted memory (TDISP-like, in the TCB)
//    DMAs straight to and from the guest's buffers, private pages included: neither
//    the host nor the hypervisor can reach the data;
//  - "plain": a device that reaches only unencrypted memory. The paravisor
//    bounce-buffers through its own pages, shared (unencrypted) but left out of the
//    host's SLAT (BouncePool), so the device reaches them and the host does not.
// Either way only the guest's own pages are touched: a buffer naming anything else
// (the paravisor's memory above all) is refused and counted.
import { Label } from "../../audit/labels.ts";
import type { DmaMemory } from "../../host/vsp/storvsp-dma.ts";
import type { CpuMemory } from "../../platform/cpu-memory.ts";
import { PAGE_SIZE } from "../../platform/page.ts";

export type DeviceKind = "tdisp" | "plain";

export interface DmaPort {
  /** The paravisor's trusted access to memory (its copies, and the TDISP device's DMA). */
  readonly mem: CpuMemory;
  readonly guestPages: number;
  /** The hardware holds the page unencrypted: what a device without encrypted-memory support reaches. */
  shared(pfn: number): boolean;
}

/** The paravisor's bounce pages: in its own (VTL2) memory, shared, and (hardened) outside the host's SLAT. */
export interface BouncePool {
  readonly pfn: number;
  readonly pages: number;
  /** The host's SLAT maps them (only with the "slat-exclusion" hardening off). */
  readonly hostVisible: boolean;
}

export interface DeviceStats {
  /** Bytes the device moved by DMA, either way. */
  dmaBytes: number;
  /** Bytes the paravisor copied through its bounce pages, either way. */
  bouncedBytes: number;
  /** Accesses refused: a page that is not the guest's, or a private page for a device that cannot reach one. */
  refused: number;
}

export class DeviceDma implements DmaMemory {
  readonly kind: DeviceKind;
  readonly stats: DeviceStats = { dmaBytes: 0, bouncedBytes: 0, refused: 0 };
  readonly bounce: BouncePool | undefined;
  readonly #port: DmaPort;

  constructor(kind: DeviceKind, port: DmaPort, bounce?: BouncePool) {
    if (kind === "plain" && !bounce)
      throw new Error("a device without encrypted-memory support needs a bounce pool");
    this.kind = kind;
    this.#port = port;
    this.bounce = bounce;
  }

  /** Every page of [gpa, gpa + len) is the guest's (canonical GPA below the paravisor's memory). */
  #guests(gpa: number, len: number): boolean {
    const at = this.#port.mem.canonical(gpa);
    const first = Math.floor(at / PAGE_SIZE);
    const last = Math.floor((at + Math.max(len, 1) - 1) / PAGE_SIZE);
    return Number.isSafeInteger(first) && first >= 0 && last < this.#port.guestPages;
  }

  /** Label for data the device returns into a guest page: exposed on purpose where the guest chose a shared buffer. */
  #labelFor(gpa: number): Label {
    const pfn = Math.floor(this.#port.mem.canonical(gpa) / PAGE_SIZE);
    return this.#port.shared(pfn) ? Label.EXPOSED : Label.SECRET;
  }

  /** The device reads `n` bytes (DMA); a device without encrypted-memory support reaches only shared pages. */
  #dmaRead(gpa: number, n: number, dst: Uint8Array, at: number): boolean {
    if (this.kind === "plain" && !this.#sharedRange(gpa, n)) return this.#refused();
    this.#port.mem.read(gpa, n, dst, at);
    this.stats.dmaBytes += n;
    return true;
  }

  #dmaWrite(gpa: number, src: Uint8Array, label: Label): boolean {
    if (this.kind === "plain" && !this.#sharedRange(gpa, src.length)) return this.#refused();
    this.#port.mem.write(gpa, src, label);
    this.stats.dmaBytes += src.length;
    return true;
  }

  #sharedRange(gpa: number, n: number): boolean {
    const at = this.#port.mem.canonical(gpa);
    for (let p = Math.floor(at / PAGE_SIZE); p * PAGE_SIZE < at + n; p++)
      if (!this.#port.shared(p)) return false;
    return true;
  }

  #refused(): false {
    this.stats.refused++;
    return false;
  }

  /** Gather for a WRITE: `len` bytes of the guest's buffer at `gpa` into dst. */
  read(gpa: number, len: number, dst: Uint8Array, dstOff: number): void {
    if (!this.#guests(gpa, len)) {
      this.#refused();
      dst.fill(0, dstOff, dstOff + len);
      return;
    }
    if (this.kind === "tdisp") {
      this.#dmaRead(gpa, len, dst, dstOff);
      return;
    }
    // The paravisor copies into its bounce pages (labels travel), then the device reads them.
    const pool = this.bounce!;
    const base = pool.pfn * PAGE_SIZE;
    const chunk = pool.pages * PAGE_SIZE;
    for (let done = 0; done < len; ) {
      const n = Math.min(chunk, len - done);
      this.#port.mem.copy(base, gpa + done, n);
      this.stats.bouncedBytes += n;
      if (!this.#dmaRead(base, n, dst, dstOff + done)) dst.fill(0, dstOff + done, dstOff + done + n);
      done += n;
    }
  }

  /** Scatter for a READ: `src` into the guest's buffer at `gpa`. */
  write(gpa: number, src: Uint8Array): boolean {
    if (!this.#guests(gpa, src.length)) return this.#refused();
    const label = this.#labelFor(gpa);
    if (this.kind === "tdisp") return this.#dmaWrite(gpa, src, label);
    const pool = this.bounce!;
    const base = pool.pfn * PAGE_SIZE;
    const chunk = pool.pages * PAGE_SIZE;
    const mem = this.#port.mem;
    for (let done = 0; done < src.length; ) {
      const n = Math.min(chunk, src.length - done);
      // The device writes into the bounce pages: the guest's data, never meant for the host.
      if (!this.#dmaWrite(base, src.subarray(done, done + n), Label.SECRET)) return false;
      mem.write(gpa + done, mem.read(base, n), label);
      this.stats.bouncedBytes += n;
      done += n;
    }
    return true;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#port];
  }
}
