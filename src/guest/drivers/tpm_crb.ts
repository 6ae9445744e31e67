// The guest's TPM 2.0 driver over the Command Response Buffer interface, as
// drivers/char/tpm/tpm_crb.c drives it (crb_request_locality, crb_cmd_ready,
// crb_send, crb_status, crb_recv, crb_go_idle, crb_relinquish_locality), on a
// mapping from ioremap(): private with a paravisor (hv_is_private_mmio, C12), so the
// commands reach the paravisor's vTPM and never the host.
//
// At boot the guest does what tpm2_auto_startup() and an IMA-style measurement do:
// TPM2_Startup(CLEAR), TPM2_GetRandom (the hwrng), TPM2_PCR_Extend of PCR 10 with a
// SHA-256 digest, TPM2_PCR_Read of PCR 10 to check the extend. Every register value
// and response is host input if the mapping is shared: the driver validates each
// (bounded polls, buffer addresses inside the page, response sizes and tags) and
// gives up with a reason rather than act on a bad one.
import { Label } from "../../audit/labels.ts";
import { VTPM_BASE_ADDRESS } from "../../hyperv/hvgdk.ts";
import { digest } from "../../paravisor/measurement.ts";
import { TPM_CC, TPM_RC } from "../../paravisor/tpm/constants.ts";
import { CRB, TPM_CRB_REGS } from "../../paravisor/tpm/crb.ts";
import { PAGE_SIZE } from "../../platform/page.ts";
import type { GuestKernel } from "../kernel.ts";
import { type IoMapping, ioremap } from "../mm/ioremap.ts";

const R = TPM_CRB_REGS.off;
/** Polls of a status register before the driver times out (TPM2_TIMEOUT_* as a count). */
const POLLS = 8;
/** The PCR the guest's measurements go to (IMA's CONFIG_IMA_MEASURE_PCR_IDX). */
export const MEASURE_PCR = 10;

export interface GuestTpmState {
  present: boolean;
  /** Why the driver gave up, when it did. */
  error?: string;
  /** Whether the mapping was private (the paravisor's vTPM) or shared (whatever the host answers). */
  encrypted: boolean;
  commands: number;
  random?: Uint8Array;
  /** The digest extended into PCR 10, and the PCR's value read back. */
  measured?: Uint8Array;
  pcr10?: Uint8Array;
}

function be16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}
function be32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

class TpmError extends Error {}

function pollFor(read: () => number, mask: number, want: number, what: string): void {
  for (let i = 0; i < POLLS; i++) if ((read() & mask) === want) return;
  throw new TpmError(`timed out waiting for ${what}`);
}

/** The command and response buffer, checked to lie inside the CRB page (crb_map_io). */
function mapBuffers(m: IoMapping): { at: number; size: number } {
  if ((m.readl(R.intf_id) & 0xf) !== 1) throw new TpmError("interface is not CRB");
  const cmdSize = m.readl(R.ctrl_cmd_size);
  const cmdPa = m.readl(R.ctrl_cmd_laddr) + m.readl(R.ctrl_cmd_haddr) * 2 ** 32;
  const rspSize = m.readl(R.ctrl_rsp_size);
  const rspPa = m.readl(R.ctrl_rsp_addr) + m.readl(R.ctrl_rsp_addr + 4) * 2 ** 32;
  const at = cmdPa - m.phys;
  if (cmdPa !== rspPa || cmdSize !== rspSize) throw new TpmError("separate command and response buffers");
  if (at < R.data_buffer || cmdSize < 10 || at + cmdSize > PAGE_SIZE)
    throw new TpmError(`buffer 0x${cmdPa.toString(16)}+${cmdSize} is not inside the CRB page`);
  return { at, size: cmdSize };
}

/** One command through the CRB: cmdReady, write, start, wait, read, goIdle. */
function transmit(m: IoMapping, buf: { at: number; size: number }, cmd: Uint8Array): Uint8Array {
  if (cmd.length > buf.size) throw new TpmError("command larger than the buffer");
  m.writel(R.ctrl_req, CRB.CTRL_REQ_CMD_READY, Label.PUBLIC);
  pollFor(() => m.readl(R.ctrl_req), CRB.CTRL_REQ_CMD_READY, 0, "cmdReady");
  m.write(buf.at, cmd, Label.SECRET);
  m.writel(R.ctrl_start, CRB.START_INVOKE, Label.PUBLIC);
  pollFor(() => m.readl(R.ctrl_start), CRB.START_INVOKE, 0, "command completion");
  if (m.readl(R.ctrl_sts) & CRB.CTRL_STS_ERROR) throw new TpmError("CRB reports a fatal error");
  const head = m.read(buf.at, 8);
  const expected = be32(head, 2);
  if (expected < 10 || expected > buf.size) throw new TpmError(`response size ${expected} out of range`);
  const rsp = new Uint8Array(expected);
  rsp.set(head);
  rsp.set(m.read(buf.at + 8, expected - 8), 8);
  m.writel(R.ctrl_req, CRB.CTRL_REQ_GO_IDLE, Label.PUBLIC);
  pollFor(() => m.readl(R.ctrl_req), CRB.CTRL_REQ_GO_IDLE, 0, "goIdle");
  const tag = be16(rsp, 0);
  if (tag !== 0x8001 && tag !== 0x8002) throw new TpmError(`response tag 0x${tag.toString(16)}`);
  return rsp;
}

function rcOf(rsp: Uint8Array): number {
  return be32(rsp, 6);
}

function command(tag: number, cc: number, body: readonly number[]): Uint8Array {
  const n = 10 + body.length;
  return Uint8Array.from([
    tag >>> 8,
    tag & 0xff,
    n >>> 24,
    (n >>> 16) & 0xff,
    (n >>> 8) & 0xff,
    n & 0xff,
    cc >>> 24,
    (cc >>> 16) & 0xff,
    (cc >>> 8) & 0xff,
    cc & 0xff,
    ...body,
  ]);
}

/** TPM2_Startup(TPM_SU_CLEAR). */
export const TPM2_STARTUP_CLEAR = command(0x8001, TPM_CC.Startup, [0x00, 0x00]);
/** TPM2_GetRandom(32). */
export const TPM2_GET_RANDOM_32 = command(0x8001, TPM_CC.GetRandom, [0x00, 0x20]);
/** TPM2_PCR_Read({SHA-256: PCR 10}). */
export const TPM2_PCR_READ_10 = command(
  0x8001,
  TPM_CC.PCR_Read,
  [0, 0, 0, 1, 0x00, 0x0b, 3, 0x00, 0x04, 0x00],
);

/** TPM2_PCR_Extend(PCR 10, {SHA-256: digest}) with an empty password session. */
export function pcrExtendCommand(pcr: number, sha256: Uint8Array): Uint8Array {
  return command(0x8002, TPM_CC.PCR_Extend, [
    0,
    0,
    0,
    pcr & 0xff,
    0,
    0,
    0,
    9, // authorizationSize
    0x40,
    0,
    0,
    0x09, // TPM_RS_PW
    0,
    0, // nonce
    0, // attributes
    0,
    0, // hmac (empty password)
    0,
    0,
    0,
    1, // TPML_DIGEST_VALUES.count
    0x00,
    0x0b, // TPM_ALG_SHA256
    ...sha256,
  ]);
}

/** Probe the vTPM and do the boot-time commands. */
export function tpmCrbInit(k: GuestKernel, measurement: Uint8Array): GuestTpmState {
  const m = ioremap(k, VTPM_BASE_ADDRESS, PAGE_SIZE);
  const st: GuestTpmState = { present: false, encrypted: m.encrypted, commands: 0 };
  const run = (cmd: Uint8Array): Uint8Array => {
    st.commands++;
    return transmit(m, buf, cmd);
  };
  let buf = { at: 0, size: 0 };
  try {
    // crb_request_locality(0).
    m.writel(R.loc_ctrl, CRB.LOC_CTRL_REQUEST_ACCESS, Label.PUBLIC);
    const want = CRB.LOC_STATE_LOC_ASSIGNED | CRB.LOC_STATE_TPM_REG_VALID_STS;
    pollFor(() => m.readl(R.loc_state), want, want, "locality 0");
    buf = mapBuffers(m);
    const su = rcOf(run(TPM2_STARTUP_CLEAR));
    if (su !== TPM_RC.SUCCESS && su !== TPM_RC.INITIALIZE)
      throw new TpmError(`TPM2_Startup: rc 0x${su.toString(16)}`);
    const rnd = run(TPM2_GET_RANDOM_32);
    if (rcOf(rnd) !== TPM_RC.SUCCESS || rnd.length < 12) throw new TpmError("TPM2_GetRandom failed");
    const n = be16(rnd, 10);
    if (n === 0 || n > 32 || 12 + n > rnd.length) throw new TpmError(`TPM2_GetRandom returned ${n} bytes`);
    st.random = rnd.slice(12, 12 + n);
    const ext = run(pcrExtendCommand(MEASURE_PCR, measurement));
    if (rcOf(ext) !== TPM_RC.SUCCESS) throw new TpmError(`TPM2_PCR_Extend: rc 0x${rcOf(ext).toString(16)}`);
    st.measured = measurement.slice();
    const rd = run(TPM2_PCR_READ_10);
    // header, pcrUpdateCounter, one selection {SHA-256, 3, 00 04 00}, one digest of 32 bytes.
    if (rcOf(rd) !== TPM_RC.SUCCESS || rd.length !== 62)
      throw new TpmError("TPM2_PCR_Read: unexpected response");
    if (
      be32(rd, 14) !== 1 ||
      be16(rd, 18) !== 0x000b ||
      rd[20] !== 3 ||
      rd[22] !== 0x04 ||
      be32(rd, 24) !== 1
    )
      throw new TpmError("TPM2_PCR_Read: the selection is not PCR 10 of SHA-256");
    if (be16(rd, 28) !== 32) throw new TpmError("TPM2_PCR_Read: digest size");
    st.pcr10 = rd.slice(30, 62);
    const expect = digest("sha256", new Uint8Array(32), measurement);
    if (!st.pcr10.every((b, i) => b === expect[i]))
      throw new TpmError("PCR 10 does not hold the extended measurement");
    // crb_relinquish_locality(0).
    m.writel(R.loc_ctrl, CRB.LOC_CTRL_RELINQUISH, Label.PUBLIC);
    st.present = true;
    k.log(
      `tpm_crb: TPM 2.0 at 0x${VTPM_BASE_ADDRESS.toString(16)} (${m.encrypted ? "private" : "shared"} MMIO), PCR ${MEASURE_PCR} extended`,
    );
  } catch (e) {
    if (!(e instanceof TpmError)) throw e;
    st.error = e.message;
    k.reject("HVCOCO_REJECT_TPM", `tpm_crb: ${e.message}`);
  }
  return st;
}
