// INQUIRY data (SPC-4 §6.6): the standard page and the vital product data pages
// 0x00 (supported pages), 0x80 (unit serial number) and 0x83 (device
// identification). Hyper-V's virtual disks say vendor "Msft", product "Virtual
// Disk" (storvsc_sdev_configure keys SPC-3 conformance and WRITE SAME off "Msft").
import type { Disk } from "../backends/disk.ts";
import { putAscii, putBe16 } from "./cdb.ts";

export const INQUIRY_VENDOR = "Msft";
export const INQUIRY_PRODUCT = "Virtual Disk";
export const INQUIRY_REVISION = "1.0";
/** IEEE company id in the NAA designator (Microsoft's OUI 00-22-48). */
export const NAA_COMPANY_ID = 0x002248;

/** The VPD pages the target supports, in ascending order (page 0x00 lists them). */
export const SUPPORTED_VPD_PAGES: readonly number[] = [0x00, 0x80, 0x83];

/** Peripheral qualifier 0 / direct-access device; 0x7f: no logical unit at this LUN. */
const DIRECT_ACCESS = 0x00;
const NO_LUN = 0x7f;

/** Standard INQUIRY data, 36 bytes, at buf[0]. */
export function standardInquiry(buf: Uint8Array, present: boolean): number {
  buf.fill(0, 0, 36);
  buf[0] = present ? DIRECT_ACCESS : NO_LUN;
  buf[1] = 0x00; // RMB 0: not removable
  buf[2] = 0x05; // VERSION: SPC-3
  buf[3] = 0x12; // HISUP, RESPONSE DATA FORMAT 2
  buf[4] = 36 - 5; // ADDITIONAL LENGTH
  buf[7] = 0x02; // CMDQUE
  putAscii(buf, 8, 8, INQUIRY_VENDOR);
  putAscii(buf, 16, 16, INQUIRY_PRODUCT);
  putAscii(buf, 32, 4, INQUIRY_REVISION);
  return 36;
}

/** FNV-1a over the serial, seeded: the vendor-specific bits of the NAA designator. */
function fnv(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The 16-byte NAA IEEE Registered Extended (type 6) identifier of a disk. */
export function naaIdentifier(serial: string, out: Uint8Array, at: number): void {
  const c = NAA_COMPANY_ID;
  const h = [fnv(serial, 1), fnv(serial, 2), fnv(serial, 3)];
  out[at] = 0x60 | ((c >>> 20) & 0x0f);
  out[at + 1] = (c >>> 12) & 0xff;
  out[at + 2] = (c >>> 4) & 0xff;
  out[at + 3] = ((c & 0x0f) << 4) | ((h[0]! >>> 28) & 0x0f);
  for (let i = 0; i < 12; i++) out[at + 4 + i] = (h[Math.floor(i / 4)]! >>> (8 * (3 - (i % 4)))) & 0xff;
}

/**
 * A VPD page at buf[0]; returns its length, or undefined for a page the target
 * does not support (the caller answers INVALID FIELD IN CDB).
 */
export function vpdPage(buf: Uint8Array, page: number, disk: Disk): number | undefined {
  buf[0] = DIRECT_ACCESS;
  buf[1] = page;
  let len: number;
  switch (page) {
    case 0x00:
      SUPPORTED_VPD_PAGES.forEach((p, i) => {
        buf[4 + i] = p;
      });
      len = SUPPORTED_VPD_PAGES.length;
      break;
    case 0x80:
      putAscii(buf, 4, disk.serial.length, disk.serial);
      len = disk.serial.length;
      break;
    case 0x83: {
      let at = 4;
      // Designator 1: NAA (binary code set, logical-unit association).
      buf[at] = 0x01;
      buf[at + 1] = 0x03;
      buf[at + 2] = 0;
      buf[at + 3] = 16;
      naaIdentifier(disk.serial, buf, at + 4);
      at += 4 + 16;
      // Designator 2: T10 vendor ID (ASCII): vendor, then the serial.
      const t10 = 8 + disk.serial.length;
      buf[at] = 0x02;
      buf[at + 1] = 0x01;
      buf[at + 2] = 0;
      buf[at + 3] = t10;
      putAscii(buf, at + 4, 8, INQUIRY_VENDOR);
      putAscii(buf, at + 12, disk.serial.length, disk.serial);
      at += 4 + t10;
      len = at - 4;
      break;
    }
    default:
      return undefined;
  }
  putBe16(buf, 2, len);
  return 4 + len;
}
