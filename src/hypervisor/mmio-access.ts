// MMIO the hypervisor carries out for a guest in two ways (C23):
//
//  - HvCallMmioRead / HvCallMmioWrite (0x0106 / 0x0107; include/hyperv/hvgdk_mini.h
//    hv_mmio_read_input / hv_mmio_write_input / hv_mmio_read_output): the guest
//    describes the access — GPA, size, data — in its hypercall input page, and the
//    hypervisor performs it on the device the host emulates there. This is what a
//    CoCo guest's vPCI driver does (pci-hyperv.c `use_calls`, kernel-facts.md §7).
//
//  - a trapped access: a load or store to a GPA the hypervisor maps to nothing and
//    intercepts without a #VC/#VE (an NPF / EPT-violation automatic exit), as Hyper-V
//    traps vPCI config space in a normal VM. The exit gives only the faulting GPA; to
//    emulate, the hypervisor fetches the instruction at RIP and reads or writes the
//    register operand itself. In a CoCo VM the instruction bytes sit in encrypted
//    memory and the registers in encrypted VP state: it gets ciphertext, cannot
//    decode the access, and the VP cannot go on.
//
//   hv_mmio_read_input  (16 B): +0 u64 gpa  +8 u32 size  +12 u32 reserved
//   hv_mmio_read_output (64 B): +0 u8 data[64]
//   hv_mmio_write_input (80 B): +0 u64 gpa  +8 u32 size  +12 u32 reserved  +16 u8 data[64]
import { HV_HYPERCALL_MMIO_MAX_DATA_LENGTH, HvCallCode, HvStatus } from "../hyperv/hvgdk.ts";
import { HV_MMIO_READ_INPUT, HV_MMIO_READ_OUTPUT, HV_MMIO_WRITE_INPUT } from "../hyperv/hypercall-abi.ts";
import type { MmioMap } from "../platform/mmio.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";

export interface MmioHypercallOutcome {
  status: number;
  /** Why the call was refused, when it was. */
  reject?: string;
  gpa: number;
  size: number;
  claimed: boolean;
}

/**
 * HvCallMmioRead / HvCallMmioWrite: read the input block through the hypervisor's
 * view, check it (size 1..64, an output page for a read), perform the access on the
 * host's MMIO map, and for a read write hv_mmio_read_output back to `outputGpa`.
 */
export function mmioHypercall(
  view: UntrustedView,
  devices: MmioMap,
  code: number,
  inputGpa: number,
  outputGpa: number,
  canonical: (gpa: number) => number,
): MmioHypercallOutcome {
  const write = code === HvCallCode.HVCALL_MMIO_WRITE;
  const input = view.read(inputGpa, write ? HV_MMIO_WRITE_INPUT.size : HV_MMIO_READ_INPUT.size);
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const gpaBig = dv.getBigUint64(HV_MMIO_READ_INPUT.off.gpa, true);
  const size = dv.getUint32(HV_MMIO_READ_INPUT.off.size, true);
  const gpa = gpaBig > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(gpaBig);
  const out = { gpa, size, claimed: false };
  if (size === 0 || size > HV_HYPERCALL_MMIO_MAX_DATA_LENGTH)
    return { ...out, status: HvStatus.HV_STATUS_INVALID_PARAMETER, reject: `MMIO access of ${size} bytes` };
  if (gpa < 0)
    return { ...out, status: HvStatus.HV_STATUS_INVALID_PARAMETER, reject: "MMIO GPA beyond 2^53" };
  if (!write && outputGpa === 0)
    return {
      ...out,
      status: HvStatus.HV_STATUS_INVALID_PARAMETER,
      reject: "MMIO read without an output page",
    };
  const at = canonical(gpa);
  if (write) {
    const data = input.slice(HV_MMIO_WRITE_INPUT.off.data, HV_MMIO_WRITE_INPUT.off.data + size);
    out.claimed = devices.access(at, true, data);
    return { ...out, status: HvStatus.HV_STATUS_SUCCESS };
  }
  const result = new Uint8Array(HV_MMIO_READ_OUTPUT.size);
  out.claimed = devices.access(at, false, result.subarray(0, size));
  view.write(outputGpa, result);
  return { ...out, status: HvStatus.HV_STATUS_SUCCESS };
}

/** A MOV between EAX/AX/AL and [reg] that the hypervisor's instruction emulator can decode. */
export interface DecodedMov {
  write: boolean;
  size: 1 | 2 | 4;
  /** Bytes of the instruction. */
  length: number;
}

/**
 * Decode the few MMIO MOVs readl/writel & co. compile to (ModRM mod 00, reg EAX,
 * register-indirect address): 8B /r (load 32), 89 /r (store 32), 0F B6 /r and
 * 0F B7 /r (zero-extending loads of 8 and 16), 88 /r (store 8), 66 89 /r (store 16).
 * Anything else is undecodable: undefined.
 */
export function decodeMov(b: Uint8Array): DecodedMov | undefined {
  const modrmOk = (m: number | undefined) =>
    m !== undefined && m >> 6 === 0 && ((m >> 3) & 7) === 0 && (m & 7) !== 4 && (m & 7) !== 5;
  const [b0, b1, b2] = [b[0], b[1], b[2]];
  if (b0 === 0x8b && modrmOk(b1)) return { write: false, size: 4, length: 2 };
  if (b0 === 0x89 && modrmOk(b1)) return { write: true, size: 4, length: 2 };
  if (b0 === 0x88 && modrmOk(b1)) return { write: true, size: 1, length: 2 };
  if (b0 === 0x0f && b1 === 0xb6 && modrmOk(b2)) return { write: false, size: 1, length: 3 };
  if (b0 === 0x0f && b1 === 0xb7 && modrmOk(b2)) return { write: false, size: 2, length: 3 };
  if (b0 === 0x66 && b1 === 0x89 && modrmOk(b2)) return { write: true, size: 2, length: 3 };
  return undefined;
}

/** What an NPF / EPT-violation automatic exit hands the hypervisor. */
export interface NpfExit {
  /** The faulting GPA (as it left the CPU). */
  gpa: number;
  /** Where the instruction is (the hypervisor walks the guest's page tables for RIP; given here). */
  ripGpa: number;
  /** The register file, when it is not encrypted (no isolation); undefined in a CoCo VM. */
  regs: { rax: number } | undefined;
}

export type NpfOutcome =
  | { emulated: true; rax: number; instruction: Uint8Array }
  | { emulated: false; reason: string; instruction: Uint8Array };

/**
 * The hypervisor's instruction emulator on a trapped MMIO access: fetch 15 bytes
 * at RIP through its view, decode, then load or store EAX on the device at `gpa`.
 */
export function emulateNpf(
  view: UntrustedView,
  devices: MmioMap,
  e: NpfExit,
  canonical: (gpa: number) => number,
): NpfOutcome {
  const instruction = view.read(e.ripGpa, 15);
  const mov = decodeMov(instruction);
  if (!mov)
    return {
      emulated: false,
      reason: `cannot decode the instruction at RIP (bytes ${hex(instruction.subarray(0, 4))}...)`,
      instruction,
    };
  if (!e.regs)
    return { emulated: false, reason: "the register operand is in encrypted VP state", instruction };
  const data = new Uint8Array(mov.size);
  const at = canonical(e.gpa);
  if (mov.write) {
    for (let i = 0; i < mov.size; i++) data[i] = (e.regs.rax >>> (8 * i)) & 0xff;
    devices.access(at, true, data);
    return { emulated: true, rax: e.regs.rax, instruction };
  }
  devices.access(at, false, data);
  let v = 0;
  for (let i = mov.size - 1; i >= 0; i--) v = (v * 256 + data[i]!) >>> 0;
  return { emulated: true, rax: v, instruction };
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}
