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
  /** GHCB NAE events the #VC handler sends for MMIO (arch/x86/include/uapi/asm/svm.h). */
  SVM_VMGEXIT_MMIO_READ: 0x80000001,
  SVM_VMGEXIT_MMIO_WRITE: 0x80000002,
  /** Register / query the #HV doorbell page (Restricted Injection; GHCB spec 2.x, Linux RFC "x86/sev: Add #HV"). */
  SVM_VMGEXIT_HV_DOORBELL_PAGE: 0x80000014,
} as const;

/** SVM_VMGEXIT_HV_DOORBELL_PAGE sub-functions (exit_info_1). */
export const HvDoorbellOp = {
  SVM_VMGEXIT_GET_PREFERRED_HV_DOORBELL_PAGE: 0,
  SVM_VMGEXIT_SET_HV_DOORBELL_PAGE: 1,
  SVM_VMGEXIT_QUERY_HV_DOORBELL_PAGE: 2,
} as const;

/** x86 exception vectors the model names (arch/x86/include/asm/trapnr.h). */
export const X86Trap = {
  X86_TRAP_PF: 14,
  /** #HV: the hypervisor injection exception of SEV-SNP Restricted Injection. */
  X86_TRAP_HV: 28,
  X86_TRAP_VC: 29,
} as const;

/** The first vector an external interrupt may use: 0..31 are exceptions (arch/x86/include/asm/irq_vectors.h). */
export const FIRST_EXTERNAL_VECTOR = 0x20;

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
  | { kind: "vmmcall"; control: bigint; rdx: bigint; r8: bigint; result?: bigint }
  | MmioInstr
  | IoInstr
  | { kind: "hlt"; done?: boolean };

/**
 * A load or store to an address no RAM backs (an NPF on SNP, an EPT violation on
 * TDX). `gpa` is the address as it leaves the CPU: with a shared-GPA boundary
 * (vTOM, the TDX shared bit) a decrypted mapping goes out above it; `encrypted`
 * is the PTE's encryption bit (the C-bit on SNP without vTOM). A read's handler
 * fills `data`; a write carries the stored bytes and, for the auditor, their labels.
 */
export interface MmioInstr {
  kind: "mmio";
  gpa: number;
  encrypted: boolean;
  write: boolean;
  data: Uint8Array;
  labels?: Uint8Array;
  done?: boolean;
}

/** IN / OUT of 1, 2 or 4 bytes. An IN's handler sets `value`; an OUT's label is for the auditor. */
export interface IoInstr {
  kind: "io";
  port: number;
  size: 1 | 2 | 4;
  write: boolean;
  value: number;
  label?: number;
  done?: boolean;
}

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
