// Replay lines: everything that decides a run (the attack or script, the
// configuration, the seed) in one token, so `hvcoco attack --replay TOKEN`
// reproduces a finding exactly.

export interface ReplaySpec {
  /** A library attack's name, or absent when `script` is given. */
  attack?: string;
  /** Path of a user's attack script. */
  script?: string;
  /** A fuzz case (as caseToJson writes it). */
  case?: unknown;
  config: Record<string, unknown>;
}

export function encodeReplay(s: ReplaySpec): string {
  return Buffer.from(JSON.stringify(s), "utf8").toString("base64url");
}

export function replayLine(s: ReplaySpec): string {
  return `hvcoco attack --replay ${encodeReplay(s)}`;
}

export type DecodedReplay = { ok: true; spec: ReplaySpec } | { ok: false; message: string };

export function decodeReplay(token: string): DecodedReplay {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return { ok: false, message: "replay token is not base64url" };
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    return { ok: false, message: "replay token does not decode to JSON" };
  }
  if (typeof v !== "object" || v === null) return { ok: false, message: "replay token is not an object" };
  const o = v as Record<string, unknown>;
  if (typeof o["config"] !== "object" || o["config"] === null)
    return { ok: false, message: "replay token has no config" };
  if (o["attack"] === undefined && o["script"] === undefined && o["case"] === undefined)
    return { ok: false, message: "replay token names no attack, script or fuzz case" };
  if (o["attack"] !== undefined && typeof o["attack"] !== "string")
    return { ok: false, message: "replay attack is not a name" };
  if (o["script"] !== undefined && typeof o["script"] !== "string")
    return { ok: false, message: "replay script is not a path" };
  return { ok: true, spec: o as unknown as ReplaySpec };
}
