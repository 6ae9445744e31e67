// Illegal interrupts and interrupt storms (C14). A malicious hypervisor injects
// exception vectors (a forged #VC, as in "WeSee"), the system-call gate 0x80 ("Heckler")
// and vectors the guest never set up; the hardware or the paravisor must keep the
// x86 rules, and the auditor records every interrupt that reaches the guest breaking
// one. A storm must not hang the guest: every wait is bounded by the scheduler's
// budget, and afterwards the channels still answer.
import { HYPERVISOR_CALLBACK_VECTOR, VMBUS_MESSAGE_SINT } from "../../hyperv/synic-abi.ts";
import { X86Trap } from "../../platform/exceptions.ts";
import { defineAttack } from "../api.ts";
import { coco } from "./util.ts";

const klass = "illegal interrupts and interrupt storms";

/**
 * Where the hardware or a paravisor stands between the hypervisor's injection and
 * the guest: a paravisor (it mediates), SNP with Restricted Injection (only #HV). An
 * enlightened SNP guest without it takes raw event injection, and the TDX module's
 * posted interrupts keep the APIC rules but not the guest's choice of vectors: those
 * configurations are open to these attacks by design (`hvcoco run` shows them).
 */
const mediated = (c: { isolation: string; mode: string; restrictedInjection?: boolean }) =>
  c.isolation !== "none" && (c.mode === "paravisor" || c.restrictedInjection === true);

export const illegalExceptionVectors = defineAttack({
  name: "interrupt-exception-vectors",
  description: "the hypervisor injects exception vectors as interrupts: NMI, #PF, #HV and a forged #VC",
  klass,
  defeatedBy: ["interrupt-mediation"],
  appliesTo: (c) => mediated(c) || (c.isolation === "tdx" && c.mode === "enlightened"),
  after(ctx) {
    for (const v of [2, 14, X86Trap.X86_TRAP_HV, X86Trap.X86_TRAP_VC]) ctx.hypervisor.injectRaw(0, v);
  },
});

export const illegalUnsetVectors = defineAttack({
  name: "interrupt-unset-vectors",
  description: "the hypervisor injects vector 0x80 (the int 0x80 gate) and vectors the guest never set up",
  klass,
  defeatedBy: ["interrupt-mediation"],
  appliesTo: mediated,
  after(ctx) {
    for (let vp = 0; vp < ctx.config.vcpus; vp++)
      for (const v of [0x80, 0x2f, 0xee, 0xff]) ctx.hypervisor.injectRaw(vp, v);
  },
});

export const interruptStorm = defineAttack({
  name: "interrupt-storm",
  description: "20,000 VMBus interrupts and 2,048 channel signals at once; the channels must still answer",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  after(ctx) {
    for (let i = 0; i < 20_000; i++)
      ctx.hypervisor.injectInterrupt(i % ctx.config.vcpus, HYPERVISOR_CALLBACK_VECTOR);
    for (let flag = 0; flag < 2048; flag++) ctx.hypervisor.signalEvent(0, VMBUS_MESSAGE_SINT, flag);
  },
});

export const stormDuringBoot = defineAttack({
  name: "interrupt-storm-during-wait",
  description:
    "whenever the guest posts a channel message, the hypervisor queues 4,000 spurious interrupts first",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    let storms = 0;
    ctx.host.vmbus.interpose({
      fromGuest() {
        if (storms++ >= 12) return undefined;
        for (let i = 0; i < 4000; i++) ctx.hypervisor.injectInterrupt(0, HYPERVISOR_CALLBACK_VECTOR);
        return undefined;
      },
    });
  },
});
