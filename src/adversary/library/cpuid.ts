// CPUID lies about isolation: the hypervisor misdescribes the VM. The enlightened
// guest cross-checks the hardware's SNP/TDX flags and refuses to run on a lie; the
// paravisor supplies the isolation leaf itself.
import { CpuidBit, HvCpuidLeaf, HvIsolationType } from "../../hyperv/hvgdk.ts";
import { defineAttack } from "../api.ts";

const coco = (c: { isolation: string }) => c.isolation !== "none";

export const cpuidHideIsolation = defineAttack({
  name: "cpuid-hide-isolation",
  description: "the hypervisor clears HV_ISOLATION so the guest would think it is a normal VM",
  klass: "CPUID and MSR lies about isolation",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.hypervisor.interpose({
      cpuid: (_vp, leaf, r) =>
        leaf === HvCpuidLeaf.HYPERV_CPUID_FEATURES ? { ...r, ebx: r.ebx & ~CpuidBit.HV_ISOLATION } : r,
    });
  },
});

export const cpuidFlipParavisor = defineAttack({
  name: "cpuid-flip-paravisor",
  description: "the hypervisor inverts the paravisor-present bit of the isolation configuration",
  klass: "CPUID and MSR lies about isolation",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.hypervisor.interpose({
      cpuid: (_vp, leaf, r) =>
        leaf === HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG
          ? { ...r, eax: r.eax ^ CpuidBit.HV_PARAVISOR_PRESENT }
          : r,
    });
  },
});

export const cpuidWrongType = defineAttack({
  name: "cpuid-wrong-isolation-type",
  description: "the hypervisor reports TDX on SNP hardware and SNP on TDX hardware",
  klass: "CPUID and MSR lies about isolation",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.hypervisor.interpose({
      cpuid: (_vp, leaf, r) => {
        if (leaf !== HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG) return r;
        const t = r.ebx & 0xf;
        const other =
          t === HvIsolationType.HV_ISOLATION_TYPE_SNP
            ? HvIsolationType.HV_ISOLATION_TYPE_TDX
            : HvIsolationType.HV_ISOLATION_TYPE_SNP;
        return { ...r, ebx: (r.ebx & ~0xf) | other };
      },
    });
  },
});

export const cpuidShrinkBoundary = defineAttack({
  name: "cpuid-shrink-shared-boundary",
  description: "the hypervisor moves the shared-GPA boundary inside guest memory (1 MiB)",
  klass: "CPUID and MSR lies about isolation",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.hypervisor.interpose({
      cpuid: (_vp, leaf, r) =>
        leaf === HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG
          ? { ...r, ebx: (r.ebx & ~(0x3f << 6)) | CpuidBit.HV_SHARED_GPA_BOUNDARY_ACTIVE | (20 << 6) }
          : r,
    });
  },
});
