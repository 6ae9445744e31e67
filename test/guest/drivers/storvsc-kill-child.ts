// Child process of storvsc-kill.test.ts (not a test itself): a CoCo VM whose SCSI
// disk is the image file given, as `hvcoco run --disk FILE` builds it; the guest
// writes the workload's pattern through storvsc, SYNCHRONIZE CACHE, and the child
// says "flushed" once the flush completed; it then writes more without a flush and
// waits to be killed.
import { openFileDisk } from "../../../src/host/backends/file-disk.ts";
import { parseConfig } from "../../../src/vm/config.ts";
import { runDiskWorkload } from "../../../src/vm/disk-workload.ts";
import { Vm } from "../../../src/vm/vm.ts";

const [path, lbaText] = process.argv.slice(2);
if (path !== undefined && lbaText !== undefined) {
  const c = parseConfig({ isolation: "snp", mode: "paravisor", memory: "128M", disk: path });
  if (!c.ok) process.exit(2);
  const d = openFileDisk(path);
  if (!d.ok) {
    console.error(d.error.message);
    process.exit(2);
  }
  const vm = new Vm(c.config, { host: { disk: d.disk } });
  if (!vm.boot().ok) process.exit(3);
  const lba = Number(lbaText);
  const r = runDiskWorkload(vm, {
    bytes: 512 * 1024,
    lba,
    onFlushed: () => {
      process.stdout.write("flushed\n");
    },
  });
  if (!r.ok) {
    console.error(r.reason);
    process.exit(4);
  }
  // More writes after the acknowledged flush, never flushed.
  runDiskWorkload(vm, { bytes: 512 * 1024, lba: lba + 4096, writeOnly: true });
  setInterval(() => {}, 60_000);
}
