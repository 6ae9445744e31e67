// Child process of file-disk.test.ts (not a test itself): write a pattern to an
// image through the SCSI target, SYNCHRONIZE CACHE, acknowledge on stdout, then
// write more without a flush and wait to be killed.
import { openFileDisk } from "../../../src/host/backends/file-disk.ts";
import { ScsiTarget } from "../../../src/host/scsi/target.ts";
import { pattern } from "./pattern.ts";

const [path, lbaText] = process.argv.slice(2);
if (path !== undefined && lbaText !== undefined) {
  const r = openFileDisk(path);
  if (!r.ok) {
    console.error(r.error.message);
    process.exit(2);
  }
  const t = new ScsiTarget([r.disk]);
  const lba = Number(lbaText);
  const blocks = 128;
  const cdb = (op: number) =>
    new Uint8Array([op, 0, lba >>> 24, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0, blocks, 0]);
  const w = t.execute({ lun: 0, cdb: cdb(0x2a), dataOut: pattern(blocks * 512, 1) });
  const s = t.execute({ lun: 0, cdb: new Uint8Array([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]) });
  if (w.status !== 0 || s.status !== 0) process.exit(3);
  process.stdout.write("flushed\n");
  setInterval(() => {}, 60_000);
}
