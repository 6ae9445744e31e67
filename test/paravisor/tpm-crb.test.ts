// The CRB register interface: reset values, locality, the request/ready/start
// flow that Linux's tpm_crb driver performs, interrupts, and read-only registers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TPM_CRB_REGS, TpmCrb } from "../../src/paravisor/tpm/crb.ts";
import { VirtualTpm } from "../../src/paravisor/tpm/engine.ts";
import { bytes, fixedFiller, hex, STARTUP_CLEAR } from "./tpm-helpers.ts";

const R = TPM_CRB_REGS.off;
const DATA = R.data_buffer;

function newCrb(onInterrupt?: () => void): TpmCrb {
  return new TpmCrb(new VirtualTpm({ random: fixedFiller }), onInterrupt ? { onInterrupt } : {});
}

/** Write bytes into the data buffer the way memcpy_toio does on x86: 32-bit stores, then bytes. */
function writeBuffer(crb: TpmCrb, b: Uint8Array): void {
  let i = 0;
  for (; i + 4 <= b.length; i += 4) {
    crb.mmioWrite(DATA + i, 4, b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
  }
  for (; i < b.length; i++) crb.mmioWrite(DATA + i, 1, b[i]!);
}

function readBuffer(crb: TpmCrb, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = crb.mmioRead(DATA + i, 1);
  return out;
}

/** One command through the registers, as tpm_crb.c does it. */
function transact(crb: TpmCrb, cmd: Uint8Array): Uint8Array {
  crb.mmioWrite(R.ctrl_req, 4, 0x1); // cmdReady
  assert.equal(crb.mmioRead(R.ctrl_req, 4), 0, "cmdReady completes");
  assert.equal(crb.mmioRead(R.ctrl_sts, 4) & 0x2, 0, "not idle");
  writeBuffer(crb, cmd);
  crb.mmioWrite(R.ctrl_start, 4, 1);
  assert.equal(crb.mmioRead(R.ctrl_start, 4), 0, "start clears when the command completes");
  const header = readBuffer(crb, 10);
  const size = (header[2]! << 24) | (header[3]! << 16) | (header[4]! << 8) | header[5]!;
  const rsp = readBuffer(crb, size);
  crb.mmioWrite(R.ctrl_req, 4, 0x2); // goIdle
  return rsp;
}

test("CRB register offsets are those of the PTP / tpm_crb.c layout", () => {
  assert.equal(R.loc_state, 0x00);
  assert.equal(R.loc_ctrl, 0x08);
  assert.equal(R.loc_sts, 0x0c);
  assert.equal(R.intf_id, 0x30);
  assert.equal(R.ctrl_ext, 0x38);
  assert.equal(R.ctrl_req, 0x40);
  assert.equal(R.ctrl_sts, 0x44);
  assert.equal(R.ctrl_cancel, 0x48);
  assert.equal(R.ctrl_start, 0x4c);
  assert.equal(R.ctrl_int_enable, 0x50);
  assert.equal(R.ctrl_int_sts, 0x54);
  assert.equal(R.ctrl_cmd_size, 0x58);
  assert.equal(R.ctrl_cmd_laddr, 0x5c);
  assert.equal(R.ctrl_cmd_haddr, 0x60);
  assert.equal(R.ctrl_rsp_size, 0x64);
  assert.equal(R.ctrl_rsp_addr, 0x68);
  assert.equal(R.data_buffer, 0x80);
  assert.equal(TPM_CRB_REGS.size, 0x1000);
});

test("CRB reset values: valid, established, idle, CRB interface, buffers at 0xFED40080", () => {
  const crb = newCrb();
  assert.equal(crb.mmioRead(R.loc_state, 4), 0x81);
  assert.equal(crb.mmioRead(R.loc_sts, 4), 0);
  assert.equal(crb.mmioRead(R.intf_id, 4), 0x4011);
  assert.equal(crb.mmioRead(R.intf_id + 4, 4), 0);
  assert.equal(crb.mmioRead(R.ctrl_sts, 4), 0x2);
  assert.equal(crb.mmioRead(R.ctrl_cmd_size, 4), 0xf80);
  assert.equal(crb.mmioRead(R.ctrl_cmd_laddr, 4), 0xfed40080);
  assert.equal(crb.mmioRead(R.ctrl_cmd_haddr, 4), 0);
  assert.equal(crb.mmioRead(R.ctrl_rsp_size, 4), 0xf80);
  assert.equal(crb.mmioRead(R.ctrl_rsp_addr, 4), 0xfed40080);
  assert.equal(crb.mmioRead(R.ctrl_rsp_addr + 4, 4), 0);
  // An 8-byte read of INTF_ID goes through readBytes.
  const b = new Uint8Array(8);
  crb.readBytes(R.intf_id, b);
  assert.equal(hex(b), "1140000000000000");
  // Byte reads of a register see its little-endian bytes.
  assert.equal(crb.mmioRead(R.intf_id + 1, 1), 0x40);
});

test("CRB locality: requestAccess assigns locality 0, relinquish releases it", () => {
  const crb = newCrb();
  crb.mmioWrite(R.loc_ctrl, 4, 0x1);
  assert.equal(crb.mmioRead(R.loc_state, 4), 0x83);
  assert.equal(crb.mmioRead(R.loc_sts, 4), 0x1);
  assert.equal(crb.mmioRead(R.ctrl_int_sts, 4) & 0x8, 0x8, "localityChange status");
  crb.mmioWrite(R.loc_ctrl, 4, 0x2);
  assert.equal(crb.mmioRead(R.loc_state, 4), 0x81);
  assert.equal(crb.mmioRead(R.loc_sts, 4), 0);
});

test("CRB flow: cmdReady, command into the buffer, start, response out of the buffer, goIdle", () => {
  const crb = newCrb();
  crb.mmioWrite(R.loc_ctrl, 4, 0x1);
  assert.equal(hex(transact(crb, STARTUP_CLEAR)), "80010000000a00000000");
  assert.equal(crb.mmioRead(R.ctrl_sts, 4), 0x2, "idle again after goIdle");
  const rsp = transact(crb, bytes("8001 0000000c 0000017b 0004"));
  assert.equal(hex(rsp), "8001" + "00000010" + "00000000" + "0004" + "a0a1a2a3");
  assert.equal(crb.stats.starts, 2);
  assert.equal(crb.tpm.stats.commands, 2);
});

test("CRB: a start while the TPM is idle is ignored (no cmdReady first)", () => {
  const crb = newCrb();
  writeBuffer(crb, STARTUP_CLEAR);
  crb.mmioWrite(R.ctrl_start, 4, 1);
  assert.equal(crb.stats.ignoredStarts, 1);
  assert.equal(crb.tpm.started, false);
  assert.equal(hex(readBuffer(crb, 12)), hex(STARTUP_CLEAR), "the buffer still holds the command");
});

test("CRB: a command whose header claims more than the buffer gets TPM_RC_COMMAND_SIZE", () => {
  const crb = newCrb();
  const rsp = transact(crb, bytes("8001 00010000 00000144 0000"));
  assert.equal(hex(rsp), "80010000000a00000142");
});

test("CRB interrupts: start and cmdReady raise only when enabled, status is write-1-to-clear", () => {
  let raised = 0;
  const crb = newCrb(() => raised++);
  transact(crb, STARTUP_CLEAR);
  assert.equal(raised, 0, "interrupts disabled");
  assert.equal(crb.mmioRead(R.ctrl_int_sts, 4) & 0x3, 0x3, "start and cmdReady pending in the status");
  crb.mmioWrite(R.ctrl_int_sts, 4, 0x3);
  assert.equal(crb.mmioRead(R.ctrl_int_sts, 4), 0);
  crb.mmioWrite(R.ctrl_int_enable, 4, 0x80000001); // global + start
  assert.equal(crb.mmioRead(R.ctrl_int_enable, 4), 0x80000001);
  transact(crb, bytes("8001 0000000c 0000017b 0001"));
  assert.equal(raised, 1, "only the start interrupt is enabled");
  // A byte write to the top byte keeps the low bits (read-modify-write of the other bytes).
  crb.mmioWrite(R.ctrl_int_enable + 3, 1, 0);
  assert.equal(crb.mmioRead(R.ctrl_int_enable, 4), 0x00000001);
});

test("CRB: read-only registers ignore writes; cancel reads back; unknown offsets read 0", () => {
  const crb = newCrb();
  crb.mmioWrite(R.ctrl_cmd_size, 4, 0x10);
  crb.mmioWrite(R.ctrl_cmd_laddr, 4, 0x1000);
  crb.mmioWrite(R.intf_id, 4, 0);
  crb.mmioWrite(R.ctrl_sts, 4, 0);
  assert.equal(crb.mmioRead(R.ctrl_cmd_size, 4), 0xf80);
  assert.equal(crb.mmioRead(R.ctrl_cmd_laddr, 4), 0xfed40080);
  assert.equal(crb.mmioRead(R.intf_id, 4), 0x4011);
  assert.equal(crb.mmioRead(R.ctrl_sts, 4), 0x2);
  crb.mmioWrite(R.ctrl_cancel, 4, 1);
  assert.equal(crb.mmioRead(R.ctrl_cancel, 4), 1);
  crb.mmioWrite(R.ctrl_cancel, 4, 0);
  assert.equal(crb.mmioRead(R.ctrl_cancel, 4), 0);
  assert.equal(crb.mmioRead(0x20, 4), 0);
  assert.equal(crb.mmioRead(0x74, 4), 0);
});

test("CRB: accesses outside the page or of odd sizes are simulator bugs", () => {
  const crb = newCrb();
  assert.throws(() => crb.mmioRead(0xffe, 4));
  assert.throws(() => crb.mmioRead(0, 3));
  assert.throws(() => crb.mmioWrite(0x1000, 1, 0));
});
