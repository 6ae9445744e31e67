// The honest host: the workload with no attack. With a hardening the guest needs
// just to boot switched off (the CPUID filter, ReflectVC), even this must be reported.
import { defineAttack } from "../api.ts";

export const honestHost = defineAttack({
  name: "honest-host",
  description: "no attack: the host only reads what it may, to set the baseline",
  klass: "baseline",
  defeatedBy: ["cpuid-filter", "reflect-vc"],
  honest: true,
});
