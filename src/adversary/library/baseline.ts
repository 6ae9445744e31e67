// The honest host: the workload with no attack. With a hardening the guest needs
// just to boot switched off (the CPUID filter, ReflectVC), or to do its I/O at all
// (swiotlb bouncing: without it a CoCo guest hands the host private buffers, whose
// ciphertext even an honest host cannot serve), even this must be reported.
import { defineAttack } from "../api.ts";

export const honestHost = defineAttack({
  name: "honest-host",
  description: "no attack: the host only reads what it may, to set the baseline",
  klass: "baseline",
  defeatedBy: ["cpuid-filter", "reflect-vc", "swiotlb-bounce"],
  honest: true,
});
