// The vTPM's MMIO face: the Command Response Buffer (CRB) interface of the TCG PC
// Client Platform TPM Profile (PTP) Specification for TPM 2.0, section 6.5.3
// ("CRB Interface"), locality 0 register block at VTPM_BASE_ADDRESS. The guest maps
// this page private (hv_is_private_mmio()), so the accesses reach the paravisor and
// never the host (C12).
//
// Register offsets are those of PTP Table "CRB Interface Registers" and of Linux's
// struct crb_regs_head / crb_regs_tail (drivers/char/tpm/tpm_crb.c); the bits used
// are the CRB_* bits of tpm_crb.c. The command and response buffers are the PTP
// TPM_CRB_DATA_BUFFER at offset 0x80 of the same page (3968 bytes): the address and
// size registers point there and are read-only. (OpenVMM's vTPM instead lets
// firmware place the buffers in guest memory; this model keeps them in the page.)
//
// Flow, as tpm_crb.c drives it: LOC_CTRL.requestAccess -> LOC_STATE.locAssigned;
// CTRL_REQ.cmdReady -> CTRL_STS.tpmIdle clears; write the command into the data
// buffer; CTRL_START = 1; the command executes (synchronously here) and START reads
// 0 again; read the response from the data buffer; CTRL_REQ.goIdle.

import { defineStruct } from "../../layout/struct.ts";
import { VTPM_BASE_ADDRESS, VTPM_MMIO_SIZE } from "./constants.ts";
import type { VirtualTpm } from "./engine.ts";

/** Locality-0 CRB register block (little-endian MMIO registers). */
export const TPM_CRB_REGS = defineStruct(
  "TPM_CRB locality 0 registers",
  "TCG PC Client Platform TPM Profile (PTP) for TPM 2.0, 6.5.3; drivers/char/tpm/tpm_crb.c crb_regs_head/tail",
  [
    {
      name: "loc_state",
      size: 4,
      note: "TPM_LOC_STATE_0: 0 tpmEstablished, 1 locAssigned, 4:2 activeLocality, 7 tpmRegValidSts",
    },
    { name: "reserved1", size: 4 },
    {
      name: "loc_ctrl",
      size: 4,
      note: "TPM_LOC_CTRL_0 (write): 0 requestAccess, 1 relinquish, 2 seize, 3 resetEstablishmentBit",
    },
    { name: "loc_sts", size: 4, note: "TPM_LOC_STS_0: 0 granted, 1 beenSeized" },
    { name: "reserved2", size: 32 },
    {
      name: "intf_id",
      size: 8,
      note: "TPM_CRB_INTF_ID_0: 3:0 type (1 CRB), 7:4 version (1 CRB), 14 CapCRB, 63:32 VID/DID",
    },
    { name: "ctrl_ext", size: 8, note: "TPM_CRB_CTRL_EXT_0" },
    { name: "ctrl_req", size: 4, note: "TPM_CRB_CTRL_REQ_0: 0 cmdReady, 1 goIdle (self-clearing)" },
    { name: "ctrl_sts", size: 4, note: "TPM_CRB_CTRL_STS_0: 0 tpmSts (fatal error), 1 tpmIdle" },
    { name: "ctrl_cancel", size: 4, note: "TPM_CRB_CTRL_CANCEL_0: 0 cancel" },
    { name: "ctrl_start", size: 4, note: "TPM_CRB_CTRL_START_0: 0 start; reads 1 while the command runs" },
    {
      name: "ctrl_int_enable",
      size: 4,
      note: "0 start, 1 cmdReady, 2 establishmentClear, 3 localityChange, 31 global",
    },
    { name: "ctrl_int_sts", size: 4, note: "same bits as int_enable 3:0; write 1 to clear" },
    { name: "ctrl_cmd_size", size: 4, note: "command buffer size (0xF80)" },
    { name: "ctrl_cmd_laddr", size: 4, note: "command buffer physical address, low (0xFED40080)" },
    { name: "ctrl_cmd_haddr", size: 4, note: "command buffer physical address, high (0)" },
    { name: "ctrl_rsp_size", size: 4, note: "response buffer size (0xF80)" },
    { name: "ctrl_rsp_addr", size: 8, note: "response buffer physical address (0xFED40080)" },
    { name: "reserved3", size: 16 },
    { name: "data_buffer", size: 0xf80, note: "TPM_CRB_DATA_BUFFER_0: command in, response out" },
  ] as const,
);

/** Register bits (PTP 6.5.3; the CRB_* names of drivers/char/tpm/tpm_crb.c). */
export const CRB = {
  LOC_STATE_TPM_ESTABLISHED: 0x01,
  LOC_STATE_LOC_ASSIGNED: 0x02,
  LOC_STATE_TPM_REG_VALID_STS: 0x80,
  LOC_CTRL_REQUEST_ACCESS: 0x01,
  LOC_CTRL_RELINQUISH: 0x02,
  LOC_CTRL_SEIZE: 0x04,
  LOC_CTRL_RESET_ESTABLISHMENT_BIT: 0x08,
  LOC_STS_GRANTED: 0x01,
  LOC_STS_BEEN_SEIZED: 0x02,
  /** InterfaceType 1 (CRB active), InterfaceVersion 1 (CRB), CapCRB (bit 14); locality 0 only. */
  INTF_ID: 0x4011,
  CTRL_REQ_CMD_READY: 0x01,
  CTRL_REQ_GO_IDLE: 0x02,
  CTRL_STS_ERROR: 0x01,
  CTRL_STS_TPM_IDLE: 0x02,
  CANCEL_INVOKE: 0x01,
  START_INVOKE: 0x01,
  INT_START: 0x01,
  INT_CMD_READY: 0x02,
  INT_ESTABLISHMENT_CLEAR: 0x04,
  INT_LOCALITY_CHANGE: 0x08,
  INT_GLOBAL_ENABLE: 0x80000000,
  DATA_BUFFER_OFFSET: 0x80,
  DATA_BUFFER_SIZE: 0xf80,
} as const;

const R = TPM_CRB_REGS.off;
const DATA_AT = CRB.DATA_BUFFER_OFFSET;
const BUFFER_ADDRESS = VTPM_BASE_ADDRESS + DATA_AT;

export interface TpmCrbOptions {
  /** Called when an enabled CRB interrupt becomes pending (the lead routes it to an IO-APIC pin). */
  onInterrupt?: () => void;
}

export interface TpmCrbStats {
  /** Commands executed through CTRL_START. */
  starts: number;
  /** CTRL_START writes ignored because the TPM was idle (no cmdReady first). */
  ignoredStarts: number;
}

/** The CRB register page in front of a VirtualTpm. Offsets are relative to VTPM_BASE_ADDRESS. */
export class TpmCrb {
  static readonly BASE = VTPM_BASE_ADDRESS;
  static readonly SIZE = VTPM_MMIO_SIZE;
  readonly tpm: VirtualTpm;
  readonly stats: TpmCrbStats = { starts: 0, ignoredStarts: 0 };
  readonly #onInterrupt: (() => void) | undefined;
  #locAssigned = false;
  #idle = true;
  #cancel = 0;
  #intEnable = 0;
  #intSts = 0;
  readonly #data = new Uint8Array(CRB.DATA_BUFFER_SIZE);

  constructor(tpm: VirtualTpm, opts: TpmCrbOptions = {}) {
    this.tpm = tpm;
    this.tpm.locality = 0;
    this.#onInterrupt = opts.onInterrupt;
  }

  /** Read 1, 2 or 4 bytes (little-endian) at `offset` within the page. */
  mmioRead(offset: number, size: number): number {
    checkSize(size);
    const b = new Uint8Array(size);
    this.readBytes(offset, b);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | b[i]!;
    return v >>> 0;
  }

  /** Write 1, 2 or 4 bytes (little-endian) at `offset` within the page. */
  mmioWrite(offset: number, size: number, value: number): void {
    checkSize(size);
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (value >>> (8 * i)) & 0xff;
    this.writeBytes(offset, b);
  }

  /** Any-length read (for 8-byte or string MMIO): register bytes and data-buffer bytes alike. */
  readBytes(offset: number, dst: Uint8Array): void {
    checkRange(offset, dst.length);
    for (let i = 0; i < dst.length; i++) {
      const o = offset + i;
      dst[i] = o >= DATA_AT ? this.#data[o - DATA_AT]! : (this.#reg(o & ~3) >>> (8 * (o & 3))) & 0xff;
    }
  }

  /** Any-length write. Register bytes are gathered per 32-bit register, each register written once. */
  writeBytes(offset: number, src: Uint8Array): void {
    checkRange(offset, src.length);
    let i = 0;
    while (i < src.length) {
      const o = offset + i;
      if (o >= DATA_AT) {
        this.#data[o - DATA_AT] = src[i]!;
        i++;
        continue;
      }
      const reg = o & ~3;
      let value = 0;
      let mask = 0;
      while (i < src.length && ((offset + i) & ~3) === reg && offset + i < DATA_AT) {
        const shift = 8 * ((offset + i) & 3);
        value |= src[i]! << shift;
        mask |= 0xff << shift;
        i++;
      }
      this.#writeReg(reg, value >>> 0, mask >>> 0);
    }
  }

  #reg(off: number): number {
    switch (off) {
      case R.loc_state:
        return (
          CRB.LOC_STATE_TPM_REG_VALID_STS |
          CRB.LOC_STATE_TPM_ESTABLISHED |
          (this.#locAssigned ? CRB.LOC_STATE_LOC_ASSIGNED : 0)
        );
      case R.loc_sts:
        return this.#locAssigned ? CRB.LOC_STS_GRANTED : 0;
      case R.intf_id:
        return CRB.INTF_ID;
      case R.ctrl_sts:
        return this.#idle ? CRB.CTRL_STS_TPM_IDLE : 0;
      case R.ctrl_cancel:
        return this.#cancel;
      case R.ctrl_int_enable:
        return this.#intEnable >>> 0;
      case R.ctrl_int_sts:
        return this.#intSts;
      case R.ctrl_cmd_size:
      case R.ctrl_rsp_size:
        return CRB.DATA_BUFFER_SIZE;
      case R.ctrl_cmd_laddr:
      case R.ctrl_rsp_addr:
        return BUFFER_ADDRESS;
      default:
        // loc_ctrl and ctrl_req are write-only (completed requests read 0); ctrl_start
        // reads 0 because commands complete before the write returns; the high halves
        // of the buffer addresses are 0; reserved space reads 0.
        return 0;
    }
  }

  #writeReg(off: number, value: number, mask: number): void {
    const v = value & mask;
    switch (off) {
      case R.loc_ctrl:
        if ((v & CRB.LOC_CTRL_REQUEST_ACCESS) !== 0 && !this.#locAssigned) {
          this.#locAssigned = true;
          this.#raise(CRB.INT_LOCALITY_CHANGE);
        } else if ((v & CRB.LOC_CTRL_RELINQUISH) !== 0 && this.#locAssigned) {
          this.#locAssigned = false;
          this.#raise(CRB.INT_LOCALITY_CHANGE);
        }
        // Seize and resetEstablishmentBit belong to localities 3-4; ignored at locality 0.
        return;
      case R.ctrl_req: {
        const ready = (v & CRB.CTRL_REQ_CMD_READY) !== 0;
        const idle = (v & CRB.CTRL_REQ_GO_IDLE) !== 0;
        if (ready && idle) return; // both at once: undefined by the PTP; ignored
        if (ready) {
          this.#idle = false;
          this.#raise(CRB.INT_CMD_READY);
        } else if (idle) {
          this.#idle = true;
        }
        return;
      }
      case R.ctrl_cancel:
        if ((mask & 0xff) !== 0) this.#cancel = v & CRB.CANCEL_INVOKE;
        return;
      case R.ctrl_start:
        if ((v & CRB.START_INVOKE) !== 0) this.#start();
        return;
      case R.ctrl_int_enable:
        this.#intEnable = ((this.#intEnable & ~mask) | v) & (CRB.INT_GLOBAL_ENABLE | 0x0f);
        return;
      case R.ctrl_int_sts:
        this.#intSts &= ~v;
        return;
      default:
        // Read-only or reserved registers: writes ignored.
        return;
    }
  }

  #start(): void {
    if (this.#idle) {
      this.stats.ignoredStarts++;
      return;
    }
    this.stats.starts++;
    // The TPM takes commandSize bytes from the buffer (the header's own count); a
    // count beyond the buffer hands over the whole buffer, and the TPM's size check
    // answers TPM_RC_COMMAND_SIZE.
    const d = this.#data;
    const declared = ((d[2]! << 24) | (d[3]! << 16) | (d[4]! << 8) | d[5]!) >>> 0;
    const n = Math.min(declared, d.length);
    const rsp = this.tpm.execute(d.slice(0, n));
    if (rsp.length > d.length)
      throw new Error(`TPM response of ${rsp.length} bytes overflows the CRB buffer`);
    d.set(rsp, 0);
    this.#raise(CRB.INT_START);
  }

  #raise(bit: number): void {
    this.#intSts |= bit;
    if ((this.#intEnable & CRB.INT_GLOBAL_ENABLE) !== 0 && (this.#intEnable & bit) !== 0)
      this.#onInterrupt?.();
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [
      this.#onInterrupt,
      this.#locAssigned,
      this.#idle,
      this.#cancel,
      this.#intEnable,
      this.#intSts,
      this.#data,
    ];
  }
  load(s: unknown[]): void {
    this.#locAssigned = s[1] as never;
    this.#idle = s[2] as never;
    this.#cancel = s[3] as never;
    this.#intEnable = s[4] as never;
    this.#intSts = s[5] as never;
  }
}

function checkSize(size: number): void {
  if (size !== 1 && size !== 2 && size !== 4) {
    throw new Error(`CRB MMIO access of ${size} bytes: use readBytes/writeBytes for other sizes`);
  }
}

function checkRange(offset: number, len: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + len > VTPM_MMIO_SIZE) {
    throw new Error(`CRB MMIO access [0x${offset.toString(16)}, +${len}) is outside the vTPM page`);
  }
}
