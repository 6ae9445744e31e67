// MSR lies: the synthetic MSRs the hypervisor answers (kernel-facts.md §3.6). With a
// paravisor the guest reads SIMP and SIEFP through the GHCB / TDVMCALL from the
// hypervisor, which could point its SynIC at a page of the guest's private memory;
// the guest must not map such a page decrypted. Junk in the other MSRs must not
// crash it.
import { HvMsr } from "../../hyperv/hvgdk.ts";
import { type AttackContext, defineAttack } from "../api.ts";
import { coco } from "./util.ts";

const klass = "CPUID and MSR lies about isolation";

export const msrSynicPagesLie = defineAttack({
  name: "msr-synic-pages-lie",
  description:
    "the hypervisor reports SIMP at a private page of the guest's own memory and SIEFP beyond the partition",
  klass,
  defeatedBy: [],
  appliesTo: (c) => c.isolation !== "none" && c.mode === "paravisor",
  setup(ctx) {
    const lie: Record<number, bigint> = {
      [HvMsr.HV_X64_MSR_SIMP]: (0x2000n << 12n) | 1n,
      [HvMsr.HV_X64_MSR_SIEFP]: (0xfffffffn << 12n) | 1n,
    };
    ctx.hypervisor.interpose({
      rdmsr: (_vp, msr, honest) => (lie[msr] !== undefined ? { ok: true, value: lie[msr]! } : honest),
    });
  },
});

/** How many reads each run's lie answered (setup and after share the run's context). */
const lies = new WeakMap<AttackContext, () => number>();

export const msrJunk = defineAttack({
  name: "msr-junk-values",
  description: "every synthetic MSR read returns seeded random 64-bit values, or #GP",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    let n = 0;
    lies.set(ctx, () => n);
    ctx.hypervisor.interpose({
      rdmsr: (_vp, msr, honest) => {
        if (
          msr < 0x40000000 ||
          msr > 0x400000ff ||
          msr === HvMsr.HV_X64_MSR_SIMP ||
          msr === HvMsr.HV_X64_MSR_SIEFP
        )
          return honest;
        n++;
        if (n % 5 === 0) return { ok: false, fault: "GP" };
        return { ok: true, value: (BigInt(ctx.rng.u32()) << 32n) | BigInt(ctx.rng.u32()) };
      },
    });
  },
  after(ctx) {
    ctx.note(`${lies.get(ctx)?.() ?? 0} synthetic MSR reads got junk`);
  },
});
