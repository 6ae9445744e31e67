// Shared helpers for the vTPM tests: a fixed random filler, hex, and a small
// command builder used for the malformed-command variants (the golden tests spell
// their bytes out by hand).
import { VirtualTpm } from "../../src/paravisor/tpm/engine.ts";

/** A deterministic filler: byte i of every request is 0xA0 + i. */
export function fixedFiller(dst: Uint8Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] = (0xa0 + i) & 0xff;
}

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function bytes(h: string): Uint8Array {
  const clean = h.replace(/[^0-9a-fA-F]/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function be16(v: number): number[] {
  return [(v >>> 8) & 0xff, v & 0xff];
}

export function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/** tag, size (computed), code, then the body. */
export function command(tag: number, cc: number, body: readonly number[]): Uint8Array {
  return Uint8Array.from([...be16(tag), ...be32(10 + body.length), ...be32(cc), ...body]);
}

/** A password session: handle TPM_RS_PW, nonce, attributes, password. */
export function pwSession(
  opts: { attrs?: number; nonce?: number[]; password?: number[]; handle?: number } = {},
): number[] {
  const nonce = opts.nonce ?? [];
  const pw = opts.password ?? [];
  return [
    ...be32(opts.handle ?? 0x40000009),
    ...be16(nonce.length),
    ...nonce,
    opts.attrs ?? 0,
    ...be16(pw.length),
    ...pw,
  ];
}

/** An authorization area: u32 size then the sessions. */
export function authArea(...sessions: number[][]): number[] {
  const flat = sessions.flat();
  return [...be32(flat.length), ...flat];
}

/** The response code of a response. */
export function rcOf(rsp: Uint8Array): number {
  return ((rsp[6]! << 24) | (rsp[7]! << 16) | (rsp[8]! << 8) | rsp[9]!) >>> 0;
}

export const STARTUP_CLEAR = Uint8Array.from([0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x44, 0, 0]);

/** A TPM after _TPM_Init and TPM2_Startup(CLEAR). */
export function startedTpm(): VirtualTpm {
  const tpm = new VirtualTpm({ random: fixedFiller });
  const rsp = tpm.execute(STARTUP_CLEAR);
  if (rcOf(rsp) !== 0) throw new Error("startup failed");
  return tpm;
}
