// `hvcoco run --disk FILE` and the `disk` key of a configuration: the raw image
// behind the guest's synthetic SCSI disk. Every image named is opened once before
// anything runs; one that cannot be used is one line and exit 2, and nothing is
// written to it (openFileDisk refuses before any write).
import { openFileDisk } from "../host/backends/file-disk.ts";
import { configInput, parseConfig, type VmConfig } from "../vm/config.ts";
import { UsageError } from "./errors.ts";

export function withDisk(configs: readonly VmConfig[], disk: string | undefined): VmConfig[] {
  const out =
    disk === undefined
      ? [...configs]
      : configs.map((c) => {
          const r = parseConfig({ ...configInput(c), disk });
          if (!r.ok) throw new UsageError(r.error.message);
          return r.config;
        });
  const paths = new Set(out.flatMap((c) => (c.disk === undefined ? [] : [c.disk])));
  for (const path of paths) {
    const r = openFileDisk(path);
    if (!r.ok) throw new UsageError(r.error.message);
    r.disk.close();
  }
  return out;
}
