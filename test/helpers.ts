// Shared helpers for tests: build and boot a VM from a partial configuration.
import { parseConfig, type VmConfig } from "../src/vm/config.ts";
import { Vm } from "../src/vm/vm.ts";

export function config(c: Record<string, unknown>): VmConfig {
  const r = parseConfig({ memory: "128M", vcpus: 2, ...c });
  if (!r.ok) throw new Error(r.error.message);
  return r.config;
}

export function bootVm(c: Record<string, unknown>): Vm {
  const vm = new Vm(config(c));
  vm.boot();
  return vm;
}

export const COCO_CONFIGS = [
  { isolation: "snp", mode: "enlightened" },
  { isolation: "snp", mode: "paravisor" },
  { isolation: "tdx", mode: "enlightened" },
  { isolation: "tdx", mode: "paravisor" },
] as const;
