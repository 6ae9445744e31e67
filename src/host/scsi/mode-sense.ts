// MODE SENSE(6) and (10) (SPC-4 §6.11/§6.12): the header, an optional block
// descriptor, and the caching (0x08) and control (0x0a) pages; 0x3f asks for all.
// The caching page reports WCE=1: the disk has a volatile cache that SYNCHRONIZE
// CACHE flushes, which is what makes Linux's sd issue the flush.
import type { Disk } from "../backends/disk.ts";
import { putBe16, putBe24, putBe32, putBe64 } from "./cdb.ts";

export const ModePage = {
  CACHING: 0x08,
  CONTROL: 0x0a,
  ALL: 0x3f,
} as const;

/** Page control (CDB byte 2 bits 7:6). */
const PC_CURRENT = 0;
const PC_CHANGEABLE = 1;
const PC_DEFAULT = 2;

function cachingPage(buf: Uint8Array, at: number, pc: number): number {
  buf.fill(0, at, at + 20);
  buf[at] = ModePage.CACHING;
  buf[at + 1] = 0x12;
  if (pc !== PC_CHANGEABLE) buf[at + 2] = 0x04; // WCE
  return 20;
}

function controlPage(buf: Uint8Array, at: number, _pc: number): number {
  buf.fill(0, at, at + 12);
  buf[at] = ModePage.CONTROL;
  buf[at + 1] = 0x0a;
  return 12;
}

export type ModeSenseOutcome = number | "invalid-field" | "saving-not-supported";

/**
 * Build the mode parameter data for `cdb` at buf[0]; its length, or why the
 * command is refused. `ten`: MODE SENSE(10) (8-byte header, LLBAA honoured).
 */
export function modeSense(buf: Uint8Array, cdb: Uint8Array, ten: boolean, disk: Disk): ModeSenseOutcome {
  const dbd = ((cdb[1] ?? 0) & 0x08) !== 0;
  const llbaa = ten && ((cdb[1] ?? 0) & 0x10) !== 0;
  const pc = (cdb[2] ?? 0) >>> 6;
  const page = (cdb[2] ?? 0) & 0x3f;
  const subpage = cdb[3] ?? 0;
  if (pc === 3) return "saving-not-supported";
  if (page !== ModePage.CACHING && page !== ModePage.CONTROL && page !== ModePage.ALL) return "invalid-field";
  if (subpage !== 0 && !(page === ModePage.ALL && subpage === 0xff)) return "invalid-field";
  const hdr = ten ? 8 : 4;
  const descLen = dbd ? 0 : llbaa ? 16 : 8;
  buf.fill(0, 0, hdr + descLen);
  let at = hdr;
  if (!dbd) {
    if (llbaa) {
      putBe64(buf, at, disk.blocks);
      putBe32(buf, at + 12, disk.blockSize);
    } else {
      // SBC-3 short LBA mode parameter block descriptor: 32-bit block count.
      putBe32(buf, at, Math.min(disk.blocks, 0xffffffff));
      putBe24(buf, at + 5, disk.blockSize);
    }
    at += descLen;
  }
  const pcx = pc === PC_DEFAULT ? PC_CURRENT : pc;
  if (page === ModePage.CACHING || page === ModePage.ALL) at += cachingPage(buf, at, pcx);
  if (page === ModePage.CONTROL || page === ModePage.ALL) at += controlPage(buf, at, pcx);
  // Device-specific parameter: WP (bit 7) and DPOFUA (bit 4).
  const dsp = (disk.readOnly ? 0x80 : 0) | 0x10;
  if (ten) {
    putBe16(buf, 0, at - 2);
    buf[3] = dsp;
    buf[4] = llbaa ? 1 : 0;
    putBe16(buf, 6, descLen);
  } else {
    buf[0] = at - 1;
    buf[2] = dsp;
    buf[3] = descLen;
  }
  return at;
}
