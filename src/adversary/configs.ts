// The configurations attacks run on by default: the five isolation/mode
// combinations and the Confidential VMBus variants `hvcoco run` covers, plus the
// paravisor's disk on a device without encrypted-memory support (its data bounced
// through pages outside the host's SLAT, C27), which only an attack needs.
import { STANDARD_CONFIGS } from "../vm/config.ts";

export const ATTACK_CONFIGS: readonly Record<string, unknown>[] = [
  ...STANDARD_CONFIGS,
  { isolation: "snp", mode: "paravisor", vmbus: "confidential", paravisorStorage: "bounce" },
];
