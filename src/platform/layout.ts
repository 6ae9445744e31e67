// The CoCo platform ABI as `hvcoco layout` prints it: the GHCB fields and the #HV
// doorbell page the model uses, the exit codes a #VC / #VE carries, the exception
// vectors it names.
import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf } from "../layout/struct.ts";
import { FIRST_EXTERNAL_VECTOR, HvDoorbellOp, SvmExit, VmxExit, X86Trap } from "./exceptions.ts";
import { GHCB_CONSTANTS, HV_DOORBELL_PAGE } from "./ghcb.ts";

export const PLATFORM_LAYOUT: LayoutSection = {
  section: "platform",
  structs: [HV_DOORBELL_PAGE],
  constants: [
    ...GHCB_CONSTANTS,
    ...constantsOf("SVM exit code", "arch/x86/include/uapi/asm/svm.h", SvmExit),
    ...constantsOf("SVM_VMGEXIT_HV_DOORBELL_PAGE op", "Linux RFC x86/sev #HV doorbell", HvDoorbellOp),
    ...constantsOf("VMX exit reason", "arch/x86/include/uapi/asm/vmx.h", VmxExit),
    ...constantsOf("x86 vector", "arch/x86/include/asm/trapnr.h; asm/irq_vectors.h", {
      ...X86Trap,
      FIRST_EXTERNAL_VECTOR,
    }),
  ],
};
