// The data side of a storage VSP: the one gpa_range of an EXECUTE_SRB that
// arrives as a GPA-direct packet (vmbus_sendpacket_mpb_desc, kernel-facts.md
// §8.1), parsed in place from the packet the VSP was handed, and the bytes it
// names moved between the guest's pages and the VSP's private buffer through
// whatever memory view the VSP was given: the host's UntrustedView (plaintext of
// shared pages only), or a paravisor's trusted view (Confidential VMBus). Nothing here trusts the guest:
// a range that does not fit the packet or asks for more than the VSP moves is a
// refusal with a reason, never an access.
//
//   vmdata_gpa_direct: +0 descriptor (16) +16 reserved +20 range_cnt +24 gpa_range[]
//   gpa_range:         +0 byte_count  +4 byte_offset  +8 u64 pfn_array[]
import { VmbusSize } from "../../vmbus/constants.ts";
import { GPA_RANGE, VMDATA_GPA_DIRECT } from "../../vmbus/layout.ts";

const PAGE = VmbusSize.HV_HYP_PAGE_SIZE;

/** What a VSP needs of guest memory: the host's UntrustedView has this shape. */
export interface DmaMemory {
  read(gpa: number, len: number, dst: Uint8Array, dstOff: number): unknown;
  write(gpa: number, src: Uint8Array): unknown;
}

/** One parsed gpa_range, reused from packet to packet (no allocation per packet). */
export class DmaRange {
  byteCount = 0;
  byteOffset = 0;
  pages = 0;
  readonly pfns: Float64Array;

  constructor(maxPages: number) {
    this.pfns = new Float64Array(maxPages);
  }

  /**
   * Parse the GPA-direct header of the packet `view` holds (length `len`, payload at
   * `payloadOffset`): exactly one range, its PFNs inside the header. Returns a
   * reason when the header is not one the VSP accepts.
   */
  parse(view: DataView, len: number, payloadOffset: number): string | undefined {
    const base = VMDATA_GPA_DIRECT.off.range;
    if (payloadOffset > len || base + GPA_RANGE.off.pfn_array > payloadOffset)
      return `GPA-direct header of ${payloadOffset} bytes cannot hold a range`;
    const count = view.getUint32(VMDATA_GPA_DIRECT.off.range_cnt, true);
    if (count !== 1) return `range_cnt ${count} (storvsc sends one range)`;
    const byteCount = view.getUint32(base + GPA_RANGE.off.byte_count, true);
    const byteOffset = view.getUint32(base + GPA_RANGE.off.byte_offset, true);
    if (byteOffset >= PAGE) return `byte_offset ${byteOffset} >= ${PAGE}`;
    const pages = Math.ceil((byteOffset + byteCount) / PAGE);
    if (pages > this.pfns.length)
      return `range of ${byteCount} bytes needs ${pages} pages > ${this.pfns.length}`;
    let at = base + GPA_RANGE.off.pfn_array;
    if (at + 8 * pages > payloadOffset) return `${pages} PFNs do not fit the ${payloadOffset}-byte header`;
    for (let i = 0; i < pages; i++) {
      const lo = view.getUint32(at, true);
      const hi = view.getUint32(at + 4, true);
      if (hi > 0x1fffff) return `PFN 0x${hi.toString(16)}_${lo.toString(16).padStart(8, "0")} out of range`;
      this.pfns[i] = hi * 0x100000000 + lo;
      at += 8;
    }
    this.byteCount = byteCount;
    this.byteOffset = byteOffset;
    this.pages = pages;
    return undefined;
  }

  /**
   * Move the first `len` bytes the range names between the guest's pages and
   * buf[0..len) through `mem`, one access per run of physically contiguous pages.
   */
  copy(mem: DmaMemory, buf: Uint8Array, len: number, toGuest: boolean): void {
    let at = 0;
    let i = 0;
    let inPage = this.byteOffset;
    while (at < len && i < this.pages) {
      const start = this.pfns[i]! * PAGE + inPage;
      let n = Math.min(PAGE - inPage, len - at);
      // Merge the following pages while they are the next PFNs.
      while (at + n < len && i + 1 < this.pages && this.pfns[i + 1] === this.pfns[i]! + 1) {
        i++;
        n += Math.min(PAGE, len - at - n);
      }
      if (toGuest) mem.write(start, at === 0 && n === buf.length ? buf : buf.subarray(at, at + n));
      else mem.read(start, n, buf, at);
      at += n;
      i++;
      inPage = 0;
    }
  }
}
