// The shape of what `hvcoco layout` prints. Each module that owns a wire format or
// an ABI exports one LayoutSection; src/layout/all.ts gathers them (and only it).
import type { ConstantEntry, StructLayout } from "./struct.ts";

export interface LayoutSection {
  /** A short name: "hypervisor", "vmbus", "storvsc", ... */
  section: string;
  structs: readonly StructLayout[];
  constants: readonly ConstantEntry[];
}
