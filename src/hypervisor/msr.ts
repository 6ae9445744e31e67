// The synthetic MSRs Hyper-V implements per virtual processor (kernel-facts.md
// §3.6-§3.7). The hypervisor keeps its own copy of each; a paravisor that
// intercepts some of them keeps another (paravisor/vmbus/synic.ts). Unknown MSRs fault (#GP).
import { HvMsr } from "../hyperv/hvgdk.ts";

export type MsrResult = { ok: true; value: bigint } | { ok: false; fault: "GP" };

/** HV_SYNIC_VERSION_1. */
export const HV_SYNIC_VERSION_1 = 1n;
/** Reference TSC frequency the model reports (10 MHz, the unit of TIME_REF_COUNT). */
export const HV_TSC_FREQUENCY = 2_500_000_000n;

export class VpMsrs {
  readonly vp: number;
  guestOsId = 0n;
  hypercall = 0n;
  scontrol = 0n;
  simp = 0n;
  siefp = 0n;
  readonly sint: bigint[] = new Array(16).fill(1n << 16n); // masked at reset
  eomCount = 0;
  vpAssist = 0n;
  referenceTsc = 0n;

  constructor(vp: number) {
    this.vp = vp;
  }

  read(msr: number): MsrResult {
    switch (msr) {
      case HvMsr.HV_X64_MSR_GUEST_OS_ID:
        return { ok: true, value: this.guestOsId };
      case HvMsr.HV_X64_MSR_HYPERCALL:
        return { ok: true, value: this.hypercall };
      case HvMsr.HV_X64_MSR_VP_INDEX:
        return { ok: true, value: BigInt(this.vp) };
      case HvMsr.HV_X64_MSR_TSC_FREQUENCY:
        return { ok: true, value: HV_TSC_FREQUENCY };
      case HvMsr.HV_X64_MSR_SCONTROL:
        return { ok: true, value: this.scontrol };
      case HvMsr.HV_X64_MSR_SVERSION:
        return { ok: true, value: HV_SYNIC_VERSION_1 };
      case HvMsr.HV_X64_MSR_SIMP:
        return { ok: true, value: this.simp };
      case HvMsr.HV_X64_MSR_SIEFP:
        return { ok: true, value: this.siefp };
      case HvMsr.HV_X64_MSR_EOM:
        return { ok: true, value: 0n };
      case HvMsr.HV_X64_MSR_VP_ASSIST_PAGE:
        return { ok: true, value: this.vpAssist };
      case HvMsr.HV_X64_MSR_REFERENCE_TSC:
        return { ok: true, value: this.referenceTsc };
    }
    if (msr >= HvMsr.HV_X64_MSR_SINT0 && msr <= HvMsr.HV_X64_MSR_SINT15)
      return { ok: true, value: this.sint[msr - HvMsr.HV_X64_MSR_SINT0]! };
    return { ok: false, fault: "GP" };
  }

  write(msr: number, value: bigint): MsrResult {
    const v = BigInt.asUintN(64, value);
    switch (msr) {
      case HvMsr.HV_X64_MSR_GUEST_OS_ID:
        this.guestOsId = v;
        return { ok: true, value: v };
      case HvMsr.HV_X64_MSR_HYPERCALL:
        // bit 0 enable, bits 63:12 the page's GPA page number; 11:1 reserved.
        this.hypercall = v & ~0xffen;
        return { ok: true, value: this.hypercall };
      case HvMsr.HV_X64_MSR_SCONTROL:
        this.scontrol = v & 1n;
        return { ok: true, value: this.scontrol };
      case HvMsr.HV_X64_MSR_SIMP:
        this.simp = v;
        return { ok: true, value: v };
      case HvMsr.HV_X64_MSR_SIEFP:
        this.siefp = v;
        return { ok: true, value: v };
      case HvMsr.HV_X64_MSR_EOM:
        this.eomCount++;
        return { ok: true, value: 0n };
      case HvMsr.HV_X64_MSR_VP_ASSIST_PAGE:
        this.vpAssist = v;
        return { ok: true, value: v };
      case HvMsr.HV_X64_MSR_REFERENCE_TSC:
        this.referenceTsc = v;
        return { ok: true, value: v };
      case HvMsr.HV_X64_MSR_VP_INDEX:
      case HvMsr.HV_X64_MSR_SVERSION:
      case HvMsr.HV_X64_MSR_TSC_FREQUENCY:
        return { ok: false, fault: "GP" };
    }
    if (msr >= HvMsr.HV_X64_MSR_SINT0 && msr <= HvMsr.HV_X64_MSR_SINT15) {
      this.sint[msr - HvMsr.HV_X64_MSR_SINT0] = v;
      return { ok: true, value: v };
    }
    return { ok: false, fault: "GP" };
  }
}
