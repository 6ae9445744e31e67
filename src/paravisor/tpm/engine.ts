// The paravisor's TPM 2.0 command engine: a small, byte-exact subset of a TPM.
//
// Commands: SelfTest, Startup, Shutdown, GetCapability, GetRandom, PCR_Read,
// PCR_Extend, with password authorization. The order of checks and the response
// codes follow the Microsoft reference implementation (ms-tpm-20-ref:
// ExecCommand.c ExecuteCommand(), SessionProcess.c ParseSessionBuffer(),
// CommandDispatcher.c, PCR.c, PropertyCap.c, Startup.c), on which the Hyper-V and
// OpenHCL vTPMs are built, so a malformed command gets the code a real vTPM would
// return:
//
//   1. tag (2 bytes, else INSUFFICIENT) not NO_SESSIONS/SESSIONS   -> BAD_TAG (response tag 0x00C4)
//   2. commandSize (4 bytes) != bytes received or > 4096            -> COMMAND_SIZE
//   3. commandCode (4 bytes) not implemented                        -> COMMAND_CODE
//   4. not started and not Startup, or Startup when started         -> INITIALIZE
//   5. handles: short -> INSUFFICIENT+H+n, out of range -> VALUE+H+n
//   6. SESSIONS: authorizationSize < 9 or > rest -> SIZE; sessions not allowed -> AUTH_CONTEXT;
//      each session parsed (errors +S+n); fewer sessions than auth handles -> AUTH_MISSING;
//      password checked (PCRs are DA-exempt: a wrong password is BAD_AUTH+S+n)
//      NO_SESSIONS with an authorization handle -> AUTH_MISSING
//   7. parameters: errors +P+n; bytes left over -> SIZE
//   8. the action (e.g. LOCALITY for a PCR the current locality may not extend)
//
// Errors answer with a 10-byte header. Randomness comes from an injected filler,
// so a run replays exactly from its seed.

import { digest, type HashName } from "../measurement.ts";
import {
  TPM_ALG,
  TPM_CAP,
  TPM_CC,
  TPM_HANDLE,
  TPM_HT,
  TPM_LIMITS,
  TPM_PT,
  TPM_RC,
  TPM_RC_MOD,
  TPM_ST,
  TPM_SU,
  TPMA_ALGORITHM,
  TPMA_CC,
  TPMA_SESSION,
  type TpmHashAlg,
} from "./constants.ts";
import { locate, TpmAbort, TpmReader, TpmWriter } from "./marshal.ts";

const { H, P, S, N1 } = TPM_RC_MOD;

/** Digest sizes and node hash names of the implemented hash algorithms, in TPM_ALG_ID order. */
const HASHES: ReadonlyMap<number, { size: number; name: HashName }> = new Map([
  [TPM_ALG.SHA1, { size: 20, name: "sha1" as const }],
  [TPM_ALG.SHA256, { size: 32, name: "sha256" as const }],
  [TPM_ALG.SHA384, { size: 48, name: "sha384" as const }],
]);

/**
 * Per-PCR attributes of the PC Client platform (ms-tpm-20-ref PCR.c s_initAttributes):
 * stateSave, the localities whose TPM2_Startup resets the PCR to all ones (bit 4 of
 * resetLocality), and the localities allowed to extend it.
 */
function pcrStateSaved(pcr: number): boolean {
  return pcr <= 15;
}
function pcrResetsToOnes(pcr: number): boolean {
  return pcr >= 17 && pcr <= 22;
}
const EXTEND_LOCALITIES: readonly number[] = [
  ...Array<number>(17).fill(0x1f), // PCR 0-16
  0x1c, // 17: localities 2-4
  0x1c, // 18
  0x0c, // 19: localities 2-3
  0x0e, // 20: localities 1-3
  0x04, // 21: locality 2
  0x04, // 22
  0x1f, // 23
];
/** PCRs 20-22 are the TCB group: changing them does not bump pcrUpdateCounter (ENABLE_PCR_NO_INCREMENT). */
function pcrInTcbGroup(pcr: number): boolean {
  return pcr >= 20 && pcr <= 22;
}

/** Model values for the vendor-defined properties (the reference implementation's defaults, spec 1.38). */
const VENDOR = {
  MANUFACTURER: 0x4d534654, // "MSFT"
  VENDOR_STRING_1: 0x78434720, // "xCG "
  VENDOR_STRING_2: 0x6654504d, // "fTPM"
  FIRMWARE_V1: 0x20170619,
  FIRMWARE_V2: 0x00163636,
  SPEC_FAMILY: 0x322e3000, // "2.0\0"
  SPEC_LEVEL: 0,
  SPEC_VERSION: 138, // 1.38
  SPEC_DAY_OF_YEAR: 273,
  SPEC_YEAR: 2016,
} as const;

interface Session {
  handle: number;
  attributes: number;
  auth: Uint8Array;
  /** The handle this session authorizes, if any. */
  associated?: number;
}

interface CommandContext {
  handles: number[];
  params: TpmReader;
  out: TpmWriter;
}

interface CommandDef {
  cc: number;
  /** The TPMA_CC GetCapability(TPM_CAP_COMMANDS) reports (ms-tpm-20-ref CommandAttributeData.h). */
  attributes: number;
  /** Handles in the handle area and how to check each. */
  handles: readonly ((h: number) => boolean)[];
  /** How many of those handles need USER authorization (they come first). */
  authHandles: number;
  /** False for commands with the NO_SESSIONS attribute (Startup). */
  sessionsAllowed: boolean;
  run(tpm: VirtualTpm, ctx: CommandContext): void;
}

function tpmaCc(cc: number, nv: boolean, cHandles: number): number {
  return (cc | (nv ? TPMA_CC.NV : 0) | (cHandles << TPMA_CC.C_HANDLES_SHIFT)) >>> 0;
}

/** Parameters must all be consumed (CommandDispatcher: TPM_RC_SIZE, no locator). */
function done(r: TpmReader): void {
  if (r.remaining !== 0) throw new TpmAbort(TPM_RC.SIZE);
}

function param<T>(n: number, fn: () => T): T {
  return locate(P + n * N1, fn);
}

function readHashAlg(r: TpmReader): number {
  const alg = r.u16();
  if (!HASHES.has(alg)) throw new TpmAbort(TPM_RC.HASH);
  return alg;
}

interface PcrSelection {
  hash: number;
  select: Uint8Array;
}

function readPcrSelectionList(r: TpmReader): PcrSelection[] {
  const count = r.u32();
  if (count > TPM_LIMITS.HASH_COUNT) throw new TpmAbort(TPM_RC.SIZE);
  const list: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hash = readHashAlg(r);
    const sizeofSelect = r.u8();
    if (sizeofSelect < TPM_LIMITS.PCR_SELECT_MIN || sizeofSelect > TPM_LIMITS.PCR_SELECT_MAX) {
      throw new TpmAbort(TPM_RC.VALUE);
    }
    list.push({ hash, select: r.bytes(sizeofSelect) });
  }
  return list;
}

function writePcrSelectionList(w: TpmWriter, list: readonly PcrSelection[]): void {
  w.u32(list.length);
  for (const s of list) w.u16(s.hash).u8(s.select.length).bytes(s.select);
}

function readSu(r: TpmReader): number {
  const su = r.u16();
  if (su !== TPM_SU.CLEAR && su !== TPM_SU.STATE) throw new TpmAbort(TPM_RC.VALUE);
  return su;
}

function isPcrHandle(h: number): boolean {
  return h >= TPM_HANDLE.PCR_FIRST && h <= TPM_HANDLE.PCR_LAST;
}

/** The implemented commands, in command-code order. */
const COMMANDS: readonly CommandDef[] = [
  {
    cc: TPM_CC.SelfTest,
    attributes: tpmaCc(TPM_CC.SelfTest, true, 0),
    handles: [],
    authHandles: 0,
    sessionsAllowed: true,
    run(_tpm, { params }) {
      param(1, () => {
        if (params.u8() > 1) throw new TpmAbort(TPM_RC.VALUE); // TPMI_YES_NO fullTest
      });
      done(params);
    },
  },
  {
    cc: TPM_CC.Startup,
    attributes: tpmaCc(TPM_CC.Startup, true, 0),
    handles: [],
    authHandles: 0,
    sessionsAllowed: false,
    run(tpm, { params }) {
      const su = param(1, () => readSu(params));
      done(params);
      tpm.startup(su);
    },
  },
  {
    cc: TPM_CC.Shutdown,
    attributes: tpmaCc(TPM_CC.Shutdown, true, 0),
    handles: [],
    authHandles: 0,
    sessionsAllowed: true,
    run(tpm, { params }) {
      const su = param(1, () => readSu(params));
      done(params);
      tpm.shutdown(su);
    },
  },
  {
    cc: TPM_CC.GetCapability,
    attributes: tpmaCc(TPM_CC.GetCapability, false, 0),
    handles: [],
    authHandles: 0,
    sessionsAllowed: true,
    run(tpm, { params, out }) {
      const capability = param(1, () => params.u32());
      const property = param(2, () => params.u32());
      const propertyCount = param(3, () => params.u32());
      done(params);
      tpm.getCapability(capability, property, propertyCount, out);
    },
  },
  {
    cc: TPM_CC.GetRandom,
    attributes: tpmaCc(TPM_CC.GetRandom, false, 0),
    handles: [],
    authHandles: 0,
    sessionsAllowed: true,
    run(tpm, { params, out }) {
      const requested = param(1, () => params.u16());
      done(params);
      out.sized(tpm.random(Math.min(requested, TPM_LIMITS.MAX_DIGEST)));
    },
  },
  {
    cc: TPM_CC.PCR_Read,
    attributes: tpmaCc(TPM_CC.PCR_Read, false, 0),
    handles: [],
    authHandles: 0,
    sessionsAllowed: true,
    run(tpm, { params, out }) {
      const selection = param(1, () => readPcrSelectionList(params));
      done(params);
      tpm.pcrRead(selection, out);
    },
  },
  {
    cc: TPM_CC.PCR_Extend,
    attributes: tpmaCc(TPM_CC.PCR_Extend, true, 1),
    // TPMI_DH_PCR+: a PCR, or TPM_RH_NULL (extending it does nothing).
    handles: [(h) => isPcrHandle(h) || h === TPM_HANDLE.RH_NULL],
    authHandles: 1,
    sessionsAllowed: true,
    run(tpm, { handles, params }) {
      const digests = param(1, () => {
        const count = params.u32();
        if (count > TPM_LIMITS.HASH_COUNT) throw new TpmAbort(TPM_RC.SIZE);
        const list: { alg: number; digest: Uint8Array }[] = [];
        for (let i = 0; i < count; i++) {
          const alg = readHashAlg(params);
          list.push({ alg, digest: params.bytes(HASHES.get(alg)!.size) });
        }
        return list;
      });
      done(params);
      tpm.pcrExtend(handles[0]!, digests);
    },
  },
];

const BY_CODE: ReadonlyMap<number, CommandDef> = new Map(COMMANDS.map((c) => [c.cc, c]));

export interface VirtualTpmOptions {
  /** Fills `dst` with random bytes: the run's seeded generator (e.g. `(d) => prng.fill(d)`). */
  random: (dst: Uint8Array) => void;
  /** Allocated PCR banks. Default SHA-1 and SHA-256 (SHA-384 is implemented but not allocated). */
  banks?: readonly TpmHashAlg[];
}

type OrderlyState = "none" | "clear" | "state";

/** Counters a report or the auditor can read. */
export interface TpmStats {
  commands: number;
  errors: number;
  lastResponseCode: number;
}

/**
 * A TPM 2.0 behind the paravisor. `execute()` takes any bytes and returns a
 * response; it throws only on a simulator bug.
 */
export class VirtualTpm {
  /** The locality commands arrive at (the CRB interface sets it; 0 for the OS). */
  locality = 0;
  readonly stats: TpmStats = { commands: 0, errors: 0, lastResponseCode: 0 };
  readonly #fill: (dst: Uint8Array) => void;
  readonly #allocated: ReadonlySet<number>;
  /** PCR values per allocated bank. */
  readonly #pcrs = new Map<number, Uint8Array[]>();
  #started = false;
  #orderly: OrderlyState = "none";
  #pcrCounter = 0;
  #saved: { pcrs: Map<number, Uint8Array[]>; counter: number } | undefined;

  constructor(opts: VirtualTpmOptions) {
    this.#fill = opts.random;
    const banks = opts.banks ?? [TPM_ALG.SHA1, TPM_ALG.SHA256];
    for (const b of banks)
      if (!HASHES.has(b)) throw new Error(`PCR bank 0x${b.toString(16)} is not implemented`);
    this.#allocated = new Set(banks);
    for (const [alg, { size }] of HASHES) {
      if (!this.#allocated.has(alg)) continue;
      this.#pcrs.set(
        alg,
        Array.from({ length: TPM_LIMITS.IMPLEMENTATION_PCR }, () => new Uint8Array(size)),
      );
    }
  }

  /** TPM2_Startup has been accepted since the last _TPM_Init. */
  get started(): boolean {
    return this.#started;
  }

  /** _TPM_Init: the platform reset line. The TPM then accepts only TPM2_Startup. */
  init(): void {
    this.#started = false;
  }

  /** A copy of a PCR's value in an allocated bank (for the trusted side and tests). */
  pcrValue(alg: TpmHashAlg, index: number): Uint8Array | undefined {
    return this.#pcrs.get(alg)?.[index]?.slice();
  }

  /** Execute one command; any input bytes give a well-formed response. */
  execute(command: Uint8Array): Uint8Array {
    this.stats.commands++;
    let rsp: Uint8Array;
    try {
      rsp = this.#execute(command);
    } catch (e) {
      if (!(e instanceof TpmAbort)) throw e;
      rsp = errorResponse(e.rc);
    }
    const rc = ((rsp[6]! << 24) | (rsp[7]! << 16) | (rsp[8]! << 8) | rsp[9]!) >>> 0;
    this.stats.lastResponseCode = rc;
    if (rc !== TPM_RC.SUCCESS) this.stats.errors++;
    return rsp;
  }

  #execute(command: Uint8Array): Uint8Array {
    const r = new TpmReader(command);
    const tag = r.u16();
    if (tag !== TPM_ST.NO_SESSIONS && tag !== TPM_ST.SESSIONS) throw new TpmAbort(TPM_RC.BAD_TAG);
    const commandSize = r.u32();
    if (commandSize !== command.length || commandSize > TPM_LIMITS.MAX_COMMAND_SIZE) {
      throw new TpmAbort(TPM_RC.COMMAND_SIZE);
    }
    const cc = r.u32();
    const def = BY_CODE.get(cc);
    if (def === undefined) throw new TpmAbort(TPM_RC.COMMAND_CODE);
    if (this.#started === (cc === TPM_CC.Startup)) throw new TpmAbort(TPM_RC.INITIALIZE);

    const handles: number[] = [];
    def.handles.forEach((valid, i) => {
      handles.push(
        locate(H + (i + 1) * N1, () => {
          const h = r.u32();
          if (!valid(h)) throw new TpmAbort(TPM_RC.VALUE);
          return h;
        }),
      );
    });

    let sessions: Session[] = [];
    if (tag === TPM_ST.SESSIONS) {
      const authSize = r.u32();
      if (authSize < TPM_LIMITS.MIN_SESSION_SIZE || authSize > r.remaining) throw new TpmAbort(TPM_RC.SIZE);
      const area = r.sub(authSize);
      if (!def.sessionsAllowed) throw new TpmAbort(TPM_RC.AUTH_CONTEXT);
      sessions = this.#parseSessions(area, def, handles);
    } else if (def.authHandles > 0) {
      throw new TpmAbort(TPM_RC.AUTH_MISSING);
    }

    const out = new TpmWriter();
    def.run(this, { handles, params: r, out });
    const params = out.finish();

    const body = new TpmWriter();
    if (tag === TPM_ST.SESSIONS) body.u32(params.length);
    body.bytes(params);
    for (const s of sessions) {
      // A password session answers with an empty nonce, its attributes with
      // continueSession SET, and an empty HMAC (BuildResponseSession()).
      body
        .u16(0)
        .u8(s.attributes | TPMA_SESSION.CONTINUE_SESSION)
        .u16(0);
    }
    const b = body.finish();
    return new TpmWriter()
      .u16(tag)
      .u32(10 + b.length)
      .u32(TPM_RC.SUCCESS)
      .bytes(b)
      .finish();
  }

  /** RetrieveSessionData() and ParseSessionBuffer(): password sessions only (no session is ever loaded). */
  #parseSessions(area: TpmReader, def: CommandDef, handles: readonly number[]): Session[] {
    const sessions: Session[] = [];
    while (area.remaining > 0) {
      const index = sessions.length;
      const at = S + (index + 1) * N1;
      if (index === TPM_LIMITS.MAX_SESSION_NUM) throw new TpmAbort(TPM_RC.SIZE + at);
      const handle = locate(at, () => {
        const h = area.u32();
        const type = h >>> 24;
        const inRange =
          (type === TPM_HT.HMAC_SESSION || type === TPM_HT.POLICY_SESSION) &&
          (h & 0x00ffffff) < TPM_LIMITS.MAX_ACTIVE_SESSIONS;
        if (h !== TPM_HANDLE.RS_PW && !inRange) throw new TpmAbort(TPM_RC.VALUE);
        return h;
      });
      const nonce = locate(at, () => area.sized(TPM_LIMITS.MAX_DIGEST));
      const attributes = locate(at, () => {
        const a = area.u8();
        if ((a & TPMA_SESSION.RESERVED) !== 0) throw new TpmAbort(TPM_RC.RESERVED_BITS);
        return a;
      });
      const auth = locate(at, () => area.sized(TPM_LIMITS.MAX_DIGEST));
      if (handle !== TPM_HANDLE.RS_PW) {
        // A well-formed HMAC or policy session handle, but this TPM holds no loaded sessions.
        throw new TpmAbort(TPM_RC.REFERENCE_S0 + index);
      }
      const notForPassword =
        TPMA_SESSION.ENCRYPT |
        TPMA_SESSION.DECRYPT |
        TPMA_SESSION.AUDIT |
        TPMA_SESSION.AUDIT_EXCLUSIVE |
        TPMA_SESSION.AUDIT_RESET;
      if ((attributes & notForPassword) !== 0) throw new TpmAbort(TPM_RC.ATTRIBUTES + at);
      if (nonce.length !== 0) throw new TpmAbort(TPM_RC.NONCE + at);
      sessions.push({ handle, attributes, auth });
    }
    for (let i = 0; i < def.authHandles; i++) {
      const s = sessions[i];
      if (s === undefined) throw new TpmAbort(TPM_RC.AUTH_MISSING);
      s.associated = handles[i]!;
    }
    sessions.forEach((s, i) => {
      const at = S + (i + 1) * N1;
      // A password session must authorize a handle.
      if (s.associated === undefined) throw new TpmAbort(TPM_RC.HANDLE + at);
      // CheckPWAuthSession(): trailing zeros of the password are not significant;
      // the authValue of every PCR here is the empty buffer. PCRs are DA-exempt, so a
      // mismatch is BAD_AUTH (IncrementLockout() for a DA-exempt handle).
      let n = s.auth.length;
      while (n > 0 && s.auth[n - 1] === 0) n--;
      if (n !== 0) throw new TpmAbort(TPM_RC.BAD_AUTH + at);
    });
    return sessions;
  }

  // ---- command actions (called by the command table) ----

  /** n random bytes from the injected source. */
  random(n: number): Uint8Array {
    const b = new Uint8Array(n);
    this.#fill(b);
    return b;
  }

  #pcrChanged(pcr: number): void {
    if (pcr === 0 || !pcrInTcbGroup(pcr)) this.#pcrCounter = (this.#pcrCounter + 1) >>> 0;
  }

  /** TPM2_Startup (Startup.c, PCRStartup()). */
  startup(su: number): void {
    const prev = this.#orderly;
    if (su === TPM_SU.STATE && prev !== "state") throw new TpmAbort(TPM_RC.VALUE + P + N1);
    // TPM Reset (no orderly Shutdown(STATE)), TPM Restart (STATE then CLEAR), TPM Resume (STATE then STATE).
    const kind = prev === "state" ? (su === TPM_SU.STATE ? "resume" : "restart") : "reset";
    const saved = this.#saved;
    this.#pcrCounter = kind === "reset" || saved === undefined ? 0 : saved.counter;
    for (let pcr = 0; pcr < TPM_LIMITS.IMPLEMENTATION_PCR; pcr++) {
      const restore = kind === "resume" && pcrStateSaved(pcr) && saved !== undefined;
      if (!restore) this.#pcrChanged(pcr);
      for (const [alg, bank] of this.#pcrs) {
        const v = bank[pcr]!;
        if (restore) v.set(saved.pcrs.get(alg)![pcr]!);
        else v.fill(pcrResetsToOnes(pcr) ? 0xff : 0x00);
      }
    }
    this.#orderly = "none";
    this.#started = true;
  }

  /** TPM2_Shutdown: records the orderly state; STATE saves PCRs 0-15 and the counter. */
  shutdown(su: number): void {
    if (su === TPM_SU.STATE) {
      const pcrs = new Map<number, Uint8Array[]>();
      for (const [alg, bank] of this.#pcrs)
        pcrs.set(
          alg,
          bank.map((v) => v.slice()),
        );
      this.#saved = { pcrs, counter: this.#pcrCounter };
      this.#orderly = "state";
    } else {
      this.#saved = undefined;
      this.#orderly = "clear";
    }
  }

  /** TPM2_PCR_Extend (PCR_Extend.c, PCRExtend()). */
  pcrExtend(handle: number, digests: readonly { alg: number; digest: Uint8Array }[]): void {
    if (handle === TPM_HANDLE.RH_NULL) return;
    if (((1 << this.locality) & EXTEND_LOCALITIES[handle]!) === 0) throw new TpmAbort(TPM_RC.LOCALITY);
    // RETURN_IF_ORDERLY: changing a state-saved PCR ends the orderly state.
    if (pcrStateSaved(handle)) this.#orderly = "none";
    for (const { alg, digest: d } of digests) {
      const bank = this.#pcrs.get(alg);
      if (bank === undefined) continue; // implemented but not allocated: ignored
      const name = HASHES.get(alg)!.name;
      bank[handle] = digest(name, bank[handle]!, d);
      this.#pcrChanged(handle);
    }
  }

  /** TPM2_PCR_Read (PCRRead(), FilterPcr()): at most 8 digests; the selection out shows which. */
  pcrRead(selection: PcrSelection[], out: TpmWriter): void {
    const values: Uint8Array[] = [];
    let full = false;
    for (const sel of selection) {
      const bank = this.#pcrs.get(sel.hash);
      if (bank === undefined) sel.select.fill(0); // bank not allocated
      for (let pcr = 0; pcr < TPM_LIMITS.IMPLEMENTATION_PCR; pcr++) {
        const byte = pcr >>> 3;
        const bit = 1 << (pcr & 7);
        if (byte >= sel.select.length || (sel.select[byte]! & bit) === 0) continue;
        if (full || values.length >= TPM_LIMITS.MAX_PCR_READ_DIGESTS) {
          full = true;
          sel.select[byte] = sel.select[byte]! & ~bit;
          continue;
        }
        values.push(bank![pcr]!.slice());
      }
    }
    out.u32(this.#pcrCounter);
    writePcrSelectionList(out, selection);
    out.u32(values.length);
    for (const v of values) out.sized(v);
  }

  /** TPM2_GetCapability for the groups this TPM has. */
  getCapability(capability: number, property: number, requested: number, out: TpmWriter): void {
    const head = (more: boolean): TpmWriter => out.u8(more ? 1 : 0).u32(capability);
    /** Take entries >= start up to `max`; moreData when one more exists. */
    const page = <T>(all: readonly T[], key: (t: T) => number, start: number, max: number) => {
      const from = all.filter((t) => key(t) >= start);
      const n = Math.min(requested, max);
      return { items: from.slice(0, n), more: from.length > n };
    };
    switch (capability) {
      case TPM_CAP.ALGS: {
        const algs = [...HASHES.keys()].map((alg) => ({ alg, attrs: TPMA_ALGORITHM.HASH }));
        const { items, more } = page(algs, (a) => a.alg, property & 0xffff, TPM_LIMITS.MAX_CAP_ALGS);
        head(more).u32(items.length);
        for (const a of items) out.u16(a.alg).u32(a.attrs);
        return;
      }
      case TPM_CAP.HANDLES: {
        const type = property >>> 24;
        if (type === TPM_HT.PCR) {
          const pcrs = Array.from({ length: TPM_LIMITS.IMPLEMENTATION_PCR }, (_, i) => i);
          const { items, more } = page(pcrs, (h) => h, property, TPM_LIMITS.MAX_CAP_HANDLES);
          head(more).u32(items.length);
          for (const h of items) out.u32(h);
          return;
        }
        const known: readonly number[] = [
          TPM_HT.NV_INDEX,
          TPM_HT.HMAC_SESSION,
          TPM_HT.POLICY_SESSION,
          TPM_HT.PERMANENT,
          TPM_HT.TRANSIENT,
          TPM_HT.PERSISTENT,
        ];
        if (!known.includes(type)) throw new TpmAbort(TPM_RC.HANDLE + P + 2 * N1);
        head(false).u32(0); // this model holds no objects, NV indexes or sessions
        return;
      }
      case TPM_CAP.COMMANDS: {
        const { items, more } = page(COMMANDS, (c) => c.cc, property, TPM_LIMITS.MAX_CAP_CC);
        head(more).u32(items.length);
        for (const c of items) out.u32(c.attributes);
        return;
      }
      case TPM_CAP.PCRS: {
        if (property !== 0) throw new TpmAbort(TPM_RC.VALUE + P + 2 * N1);
        // PCRCapGetAllocation(): every implemented bank, unallocated ones with an empty selection.
        if (requested === 0) {
          head(true).u32(0);
          return;
        }
        head(false);
        writePcrSelectionList(
          out,
          [...HASHES.keys()].map((hash) => ({
            hash,
            select: new Uint8Array(TPM_LIMITS.PCR_SELECT_MAX).fill(this.#allocated.has(hash) ? 0xff : 0),
          })),
        );
        return;
      }
      case TPM_CAP.TPM_PROPERTIES: {
        // TPMCapGetProperties(): start at max(property, PT_FIXED), stay within its group.
        const start = Math.max(property, TPM_PT.PT_FIXED);
        const n = Math.min(requested, TPM_LIMITS.MAX_TPM_PROPERTIES);
        const groupEnd = Math.floor(start / TPM_PT.PT_GROUP) * TPM_PT.PT_GROUP + TPM_PT.PT_GROUP;
        const props = this.#properties().filter(([p]) => p >= start && p < groupEnd);
        const items = props.slice(0, n);
        head(props.length > n).u32(items.length);
        for (const [p, v] of items) out.u32(p).u32(v);
        return;
      }
      case TPM_CAP.PP_COMMANDS:
      case TPM_CAP.AUDIT_COMMANDS:
      case TPM_CAP.PCR_PROPERTIES:
        head(false).u32(0);
        return;
      case TPM_CAP.AUTH_POLICIES:
        if (property >>> 24 !== TPM_HT.PERMANENT) throw new TpmAbort(TPM_RC.VALUE + P + 2 * N1);
        head(false).u32(0);
        return;
      default:
        // TPM_CAP_ECC_CURVES (no ECC here), TPM_CAP_VENDOR_PROPERTY and unknown groups.
        throw new TpmAbort(TPM_RC.VALUE + P + N1);
    }
  }

  /** The TPM_PT values this TPM reports, ascending. */
  #properties(): [number, number][] {
    return [
      [TPM_PT.FAMILY_INDICATOR, VENDOR.SPEC_FAMILY],
      [TPM_PT.LEVEL, VENDOR.SPEC_LEVEL],
      [TPM_PT.REVISION, VENDOR.SPEC_VERSION],
      [TPM_PT.DAY_OF_YEAR, VENDOR.SPEC_DAY_OF_YEAR],
      [TPM_PT.YEAR, VENDOR.SPEC_YEAR],
      [TPM_PT.MANUFACTURER, VENDOR.MANUFACTURER],
      [TPM_PT.VENDOR_STRING_1, VENDOR.VENDOR_STRING_1],
      [TPM_PT.VENDOR_STRING_2, VENDOR.VENDOR_STRING_2],
      [TPM_PT.VENDOR_STRING_3, 0],
      [TPM_PT.VENDOR_STRING_4, 0],
      [TPM_PT.VENDOR_TPM_TYPE, 1],
      [TPM_PT.FIRMWARE_VERSION_1, VENDOR.FIRMWARE_V1],
      [TPM_PT.FIRMWARE_VERSION_2, VENDOR.FIRMWARE_V2],
      [TPM_PT.INPUT_BUFFER, 1024],
      [TPM_PT.ACTIVE_SESSIONS_MAX, TPM_LIMITS.MAX_ACTIVE_SESSIONS],
      [TPM_PT.PCR_COUNT, TPM_LIMITS.IMPLEMENTATION_PCR],
      [TPM_PT.PCR_SELECT_MIN, TPM_LIMITS.PCR_SELECT_MIN],
      [TPM_PT.MAX_COMMAND_SIZE, TPM_LIMITS.MAX_COMMAND_SIZE],
      [TPM_PT.MAX_RESPONSE_SIZE, TPM_LIMITS.MAX_RESPONSE_SIZE],
      [TPM_PT.MAX_DIGEST, TPM_LIMITS.MAX_DIGEST],
      [TPM_PT.TOTAL_COMMANDS, COMMANDS.length],
      [TPM_PT.LIBRARY_COMMANDS, COMMANDS.length],
      [TPM_PT.VENDOR_COMMANDS, 0],
      [TPM_PT.MAX_CAP_BUFFER, TPM_LIMITS.MAX_CAP_BUFFER],
      [TPM_PT.PERMANENT, 0],
      // TPMA_STARTUP_CLEAR: phEnable, shEnable, ehEnable, phEnableNV.
      [TPM_PT.STARTUP_CLEAR, 0x0000000f],
    ];
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [
      this.#fill,
      this.#allocated,
      this.#pcrs,
      this.#started,
      this.#orderly,
      this.#pcrCounter,
      this.#saved,
    ];
  }
  load(s: unknown[]): void {
    this.#started = s[3] as never;
    this.#orderly = s[4] as never;
    this.#pcrCounter = s[5] as never;
    this.#saved = s[6] as never;
  }
}

/** A 10-byte error response (BuildResponseHeader(): tag 0x00C4 for BAD_TAG, else NO_SESSIONS). */
function errorResponse(rc: number): Uint8Array {
  return new TpmWriter()
    .u16(rc === TPM_RC.BAD_TAG ? TPM_ST.RSP_COMMAND : TPM_ST.NO_SESSIONS)
    .u32(10)
    .u32(rc)
    .finish();
}

/** Command codes this engine implements, ascending. */
export const IMPLEMENTED_COMMANDS: readonly number[] = COMMANDS.map((c) => c.cc);
