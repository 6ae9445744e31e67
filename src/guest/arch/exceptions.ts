// The guest's own #VC (SEV-SNP, arch/x86/coco/sev) and #VE (TDX, arch/x86/coco/tdx)
// handlers, which run only when the guest is fully enlightened (C10). Intercepted
// CPUID/MSR/VMMCALL, MMIO (vc_handle_mmio / handle_mmio), port I/O (vc_handle_ioio
// / handle_io) and, on TDX, HLT (handle_halt) are forwarded to the hypervisor
// through the GHCB or a TDG.VP.VMCALL. TDX's handler refuses an EPT violation on a
// private GPA ("Unexpected EPT-violation on private memory"): MMIO there cannot be
// emulated by the host. A fault taken by load_unaligned_zeropad() is fixed up through the
// exception table (C35); any other memory fault is fatal. #PF (C36) is handled
// here too, for every configuration: only the zeropad fixup recovers one.
import type { CocoException, Resolution } from "../../platform/exceptions.ts";
import type { HypervisorExit } from "../hardware.ts";
import type { GuestKernel } from "../kernel.ts";

function emulate(exit: HypervisorExit, e: CocoException): Resolution {
  const i = e.instr;
  if (!i) return { handled: false, reason: "no instruction to emulate" };
  switch (i.kind) {
    case "cpuid":
      i.result = exit.cpuid(e.vp, i.leaf);
      return { handled: true, how: "emulated" };
    case "rdmsr": {
      const r = exit.rdmsr(e.vp, i.msr);
      if (r.ok) i.result = r.value;
      else i.gp = true;
      return { handled: true, how: "emulated" };
    }
    case "wrmsr": {
      const r = exit.wrmsr(e.vp, i.msr, i.value);
      if (!r.ok) i.gp = true;
      return { handled: true, how: "emulated" };
    }
    case "vmmcall":
      // sev_es_hcall_prepare(): RCX, RDX, R8 go into the GHCB; the result comes back in RAX.
      i.result = exit.hypercall(e.vp, i.control, Number(i.rdx), Number(i.r8));
      return { handled: true, how: "emulated" };
    case "mmio":
      if (e.vector === "VE" && i.encrypted)
        return {
          handled: false,
          reason: `Unexpected EPT-violation on private memory at 0x${i.gpa.toString(16)}`,
        };
      exit.mmio(e.vp, i.gpa, i.write, i.data, i.labels);
      i.done = true;
      return { handled: true, how: "emulated" };
    case "io":
      i.value = exit.io(e.vp, i.port, i.size, i.write, i.value, i.label);
      i.done = true;
      return { handled: true, how: "emulated" };
    case "hlt":
      exit.hlt(e.vp);
      i.done = true;
      return { handled: true, how: "emulated" };
  }
}

/** The handler the guest installs for #VC/#VE (enlightened) and #PF (always). */
export function guestExceptionHandler(k: GuestKernel): (e: CocoException) => Resolution {
  return (e) => {
    if (e.zeropad) {
      // ex_handler_zeropad(): the exception table entry of load_unaligned_zeropad().
      k.zeropadFixups++;
      return { handled: true, how: "fixup" };
    }
    if (e.vector === "PF") return { handled: false, reason: `page fault at 0x${(e.gpa ?? 0).toString(16)}` };
    const exit = e.vector === "VC" ? k.hw.ghcb : k.hw.tdvmcall;
    if (!exit) return { handled: false, reason: `#${e.vector} without a way to reach the hypervisor` };
    if (e.instr) return emulate(exit, e);
    return { handled: false, reason: `#${e.vector} ${e.cause} at 0x${(e.gpa ?? 0).toString(16)}` };
  };
}
