// Architectural exceptions the platform raises, as typed values: #VC (SEV-ES/SNP
// VMM communication exception), #VE (TDX virtualization exception) and #PF. The
// platform delivers each to its owner in the configuration (C10): #PF always to the
// guest; #VC/#VE to the guest when enlightened, to the paravisor in paravisor mode.

export type Vector = "VC" | "VE" | "PF";

/** What made the exception. */
export type ExceptionCause =
  | "cpuid"
  | "msr-read"
  | "msr-write"
  | "mmio"
  | "ioio"
  | "hlt"
  | "vmmcall"
  | "not-present"
  | "not-validated"
  | "enc-mismatch"
  | "transition"
  | "permission";

/** SVM exit codes carried in a #VC's error code (arch/x86/include/uapi/asm/svm.h). */
export const SvmExit = {
  SVM_EXIT_CPUID: 0x72,
  SVM_EXIT_HLT: 0x78,
  SVM_EXIT_IOIO: 0x7b,
  SVM_EXIT_MSR: 0x7c,
  SVM_EXIT_VMMCALL: 0x81,
  SVM_EXIT_NPF: 0x400,
  /** SVM_EXIT_VMGEXIT-range code for an access to a page that is not validated. */
  SVM_EXIT_NOT_VALIDATED: 0x404,
} as const;

/** VMX exit reasons carried in a #VE (arch/x86/include/uapi/asm/vmx.h). */
export const VmxExit = {
  EXIT_REASON_CPUID: 10,
  EXIT_REASON_HLT: 12,
  EXIT_REASON_VMCALL: 18,
  EXIT_REASON_IO_INSTRUCTION: 30,
  EXIT_REASON_MSR_READ: 31,
  EXIT_REASON_MSR_WRITE: 32,
  EXIT_REASON_EPT_VIOLATION: 48,
} as const;

export interface CocoException {
  vector: Vector;
  cause: ExceptionCause;
  vp: number;
  /** Faulting guest physical address, for memory causes. */
  gpa?: number;
  /** SVM exit code (#VC), VMX exit reason (#VE) or x86 #PF error code. */
  errorCode: number;
  /** True when raised by a load_unaligned_zeropad() read (its exception-table entry allows a fixup). */
  zeropad?: boolean;
  /** The intercepted instruction, for CPUID/MSR/VMMCALL causes; the handler fills in its result. */
  instr?: Instr;
}

/** An intercepted instruction and, once emulated, its result. */
export type Instr =
  | { kind: "cpuid"; leaf: number; result?: { eax: number; ebx: number; ecx: number; edx: number } }
  | { kind: "rdmsr"; msr: number; result?: bigint; gp?: boolean }
  | { kind: "wrmsr"; msr: number; value: bigint; gp?: boolean }
  | { kind: "vmmcall"; control: bigint; rdx: bigint; r8: bigint; result?: bigint };

/** What an exception handler did. */
export type Resolution =
  | { handled: true; how: "emulated" | "fixup" | "retry" }
  | { handled: false; reason: string };

export type ExceptionHandler = (e: CocoException) => Resolution;

/** The guest could not recover (an unhandled exception): the VM is dead. */
export class GuestCrash extends Error {
  readonly exception: CocoException | undefined;
  constructor(message: string, exception?: CocoException) {
    super(message);
    this.name = "GuestCrash";
    this.exception = exception;
  }
}

export function vcErrorCode(cause: ExceptionCause): number {
  switch (cause) {
    case "cpuid":
      return SvmExit.SVM_EXIT_CPUID;
    case "msr-read":
    case "msr-write":
      return SvmExit.SVM_EXIT_MSR;
    case "ioio":
      return SvmExit.SVM_EXIT_IOIO;
    case "hlt":
      return SvmExit.SVM_EXIT_HLT;
    case "vmmcall":
      return SvmExit.SVM_EXIT_VMMCALL;
    case "not-validated":
      return SvmExit.SVM_EXIT_NOT_VALIDATED;
    default:
      return SvmExit.SVM_EXIT_NPF;
  }
}

export function veExitReason(cause: ExceptionCause): number {
  switch (cause) {
    case "cpuid":
      return VmxExit.EXIT_REASON_CPUID;
    case "msr-read":
      return VmxExit.EXIT_REASON_MSR_READ;
    case "msr-write":
      return VmxExit.EXIT_REASON_MSR_WRITE;
    case "ioio":
      return VmxExit.EXIT_REASON_IO_INSTRUCTION;
    case "hlt":
      return VmxExit.EXIT_REASON_HLT;
    case "vmmcall":
      return VmxExit.EXIT_REASON_VMCALL;
    default:
      return VmxExit.EXIT_REASON_EPT_VIOLATION;
  }
}
