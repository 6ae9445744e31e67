// Malformed and unauthorized commands: each gets the response code the reference
// implementation returns (ExecuteCommand / ParseSessionBuffer / CommandDispatcher
// order), in a 10-byte error response, and nothing ever throws.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { TPM_ALG, TPM_RC } from "../../src/paravisor/tpm/constants.ts";
import { VirtualTpm } from "../../src/paravisor/tpm/engine.ts";
import {
  authArea,
  be16,
  be32,
  bytes,
  command,
  fixedFiller,
  hex,
  pwSession,
  rcOf,
  STARTUP_CLEAR,
  startedTpm,
} from "./tpm-helpers.ts";

const ST_NO = 0x8001;
const ST_S = 0x8002;
const CC = {
  SelfTest: 0x143,
  Startup: 0x144,
  GetCapability: 0x17a,
  GetRandom: 0x17b,
  PCR_Read: 0x17e,
  PCR_Extend: 0x182,
};
const SHA256_DIGEST = Array.from({ length: 32 }, (_, i) => i);
const ONE_SHA256 = [...be32(1), ...be16(TPM_ALG.SHA256), ...SHA256_DIGEST];

function errorOf(rc: number, tag = ST_NO): string {
  return hex(Uint8Array.from([...be16(tag), ...be32(10), ...be32(rc)]));
}

function extend(pcr: number, auth: number[], params: number[] = ONE_SHA256): Uint8Array {
  return command(ST_S, CC.PCR_Extend, [...be32(pcr), ...auth, ...params]);
}

const cases: { name: string; cmd: () => Uint8Array; rc: number; tag?: number; started?: boolean }[] = [
  { name: "empty command -> INSUFFICIENT", cmd: () => new Uint8Array(0), rc: 0x09a },
  { name: "one byte -> INSUFFICIENT", cmd: () => Uint8Array.of(0x80), rc: 0x09a },
  {
    name: "TPM 1.2 tag 0x00C1 -> BAD_TAG in a TPM_ST_RSP_COMMAND response",
    cmd: () => bytes("00c1 0000000a 00000099"),
    rc: TPM_RC.BAD_TAG,
    tag: 0x00c4,
  },
  { name: "tag 0x8000 -> BAD_TAG", cmd: () => bytes("8000 0000000c 00000144 0000"), rc: 0x01e, tag: 0x00c4 },
  {
    name: "commandSize below the bytes sent -> COMMAND_SIZE",
    cmd: () => bytes("8001 0000000c 0000017b 0008 00"),
    rc: 0x142,
  },
  {
    name: "commandSize above the bytes sent -> COMMAND_SIZE",
    cmd: () => bytes("8001 0000000d 0000017b 0008"),
    rc: 0x142,
  },
  {
    name: "commandSize 4097 (consistent but above MAX_COMMAND_SIZE) -> COMMAND_SIZE",
    cmd: () => {
      const c = new Uint8Array(4097);
      c.set([0x80, 0x01, 0x00, 0x00, 0x10, 0x01, 0x00, 0x00, 0x01, 0x7b]);
      return c;
    },
    rc: 0x142,
  },
  {
    name: "8-byte command whose size says 8 -> INSUFFICIENT (no command code)",
    cmd: () => bytes("8001 00000008 0000"),
    rc: 0x09a,
  },
  {
    name: "unimplemented command code (PolicyPCR 0x17F) -> COMMAND_CODE",
    cmd: () => command(ST_NO, 0x17f, []),
    rc: 0x143,
  },
  { name: "vendor command code -> COMMAND_CODE", cmd: () => command(ST_NO, 0x20000001, []), rc: 0x143 },
  {
    name: "GetRandom before Startup -> INITIALIZE",
    cmd: () => command(ST_NO, CC.GetRandom, be16(8)),
    rc: 0x100,
    started: false,
  },
  {
    name: "GetRandom without bytesRequested -> INSUFFICIENT + P + 1",
    cmd: () => command(ST_NO, CC.GetRandom, []),
    rc: 0x1da,
  },
  {
    name: "GetRandom with a trailing byte -> SIZE",
    cmd: () => command(ST_NO, CC.GetRandom, [0, 8, 0]),
    rc: 0x095,
  },
  {
    name: "GetRandom with a password session (no handle to authorize) -> HANDLE + S + 1",
    cmd: () => command(ST_S, CC.GetRandom, [...authArea(pwSession()), ...be16(8)]),
    rc: 0x98b,
  },
  {
    name: "Startup(2) -> VALUE + P + 1",
    cmd: () => command(ST_NO, CC.Startup, be16(2)),
    rc: 0x1c4,
    started: false,
  },
  {
    name: "Startup(STATE) without a prior Shutdown(STATE) -> VALUE + P + 1",
    cmd: () => command(ST_NO, CC.Startup, be16(1)),
    rc: 0x1c4,
    started: false,
  },
  {
    name: "Startup with a session area (NO_SESSIONS command) -> AUTH_CONTEXT",
    cmd: () => command(ST_S, CC.Startup, [...authArea(pwSession()), ...be16(0)]),
    rc: 0x145,
    started: false,
  },
  { name: "SelfTest(fullTest = 2) -> VALUE + P + 1", cmd: () => command(ST_NO, CC.SelfTest, [2]), rc: 0x1c4 },
  {
    name: "PCR_Extend without sessions -> AUTH_MISSING",
    cmd: () => command(ST_NO, CC.PCR_Extend, [...be32(0), ...ONE_SHA256]),
    rc: 0x125,
  },
  { name: "PCR_Extend of PCR 24 -> VALUE + H + 1", cmd: () => extend(24, authArea(pwSession())), rc: 0x184 },
  {
    name: "PCR_Extend with the handle cut short -> INSUFFICIENT + H + 1",
    cmd: () => command(ST_S, CC.PCR_Extend, [0, 0]),
    rc: 0x19a,
  },
  {
    name: "PCR_Extend with a wrong password (PCRs are DA-exempt) -> BAD_AUTH + S + 1",
    cmd: () => extend(0, authArea(pwSession({ password: [0x41] }))),
    rc: 0x9a2,
  },
  {
    name: "PCR_Extend with a nonce in a password session -> NONCE + S + 1",
    cmd: () => extend(0, authArea(pwSession({ nonce: [1, 2, 3, 4] }))),
    rc: 0x98f,
  },
  {
    name: "PCR_Extend with an audit password session -> ATTRIBUTES + S + 1",
    cmd: () => extend(0, authArea(pwSession({ attrs: 0x80 }))),
    rc: 0x982,
  },
  {
    name: "PCR_Extend with a reserved session attribute bit -> RESERVED_BITS + S + 1",
    cmd: () => extend(0, authArea(pwSession({ attrs: 0x08 }))),
    rc: 0x9a1,
  },
  {
    name: "PCR_Extend with authorizationSize 8 -> SIZE",
    cmd: () => extend(0, [...be32(8), ...pwSession()]),
    rc: 0x095,
  },
  {
    name: "PCR_Extend with authorizationSize beyond the command -> SIZE",
    cmd: () => extend(0, [...be32(500), ...pwSession()]),
    rc: 0x095,
  },
  {
    name: "PCR_Extend with a session handle outside every session range -> VALUE + S + 1",
    cmd: () => extend(0, authArea(pwSession({ handle: 0x01000000 }))),
    rc: 0x984,
  },
  {
    name: "PCR_Extend with an HMAC session that is not loaded -> REFERENCE_S0",
    cmd: () => extend(0, authArea(pwSession({ handle: 0x02000000 }))),
    rc: 0x918,
  },
  {
    name: "PCR_Extend with a session whose hmac overruns the area -> INSUFFICIENT + S + 1",
    cmd: () => extend(0, [...be32(9), ...be32(0x40000009), 0, 0, 0, 0, 5]),
    rc: 0x99a,
  },
  {
    name: "PCR_Extend with four sessions (MAX_SESSION_NUM is 3) -> SIZE + S + 4",
    cmd: () => extend(0, authArea(pwSession(), pwSession(), pwSession(), pwSession())),
    rc: 0xc95,
  },
  {
    name: "PCR_Extend with two password sessions (the second authorizes nothing) -> HANDLE + S + 2",
    cmd: () => extend(0, authArea(pwSession(), pwSession())),
    rc: 0xa8b,
  },
  {
    name: "PCR_Extend with an unknown hash algorithm -> HASH + P + 1",
    cmd: () => extend(0, authArea(pwSession()), [...be32(1), ...be16(0x0005), ...SHA256_DIGEST]),
    rc: 0x1c3,
  },
  {
    name: "PCR_Extend with TPM_ALG_NULL -> HASH + P + 1",
    cmd: () => extend(0, authArea(pwSession()), [...be32(1), ...be16(0x0010)]),
    rc: 0x1c3,
  },
  {
    name: "PCR_Extend with 4 digests (HASH_COUNT is 3) -> SIZE + P + 1",
    cmd: () => extend(0, authArea(pwSession()), [...be32(4)]),
    rc: 0x1d5,
  },
  {
    name: "PCR_Extend with a short digest -> INSUFFICIENT + P + 1",
    cmd: () => extend(0, authArea(pwSession()), [...be32(1), ...be16(TPM_ALG.SHA256), 1, 2, 3]),
    rc: 0x1da,
  },
  {
    name: "PCR_Extend with bytes after the digests -> SIZE",
    cmd: () => extend(0, authArea(pwSession()), [...ONE_SHA256, 0]),
    rc: 0x095,
  },
  {
    name: "PCR_Extend of PCR 17 (DRTM, localities 2-4) at locality 0 -> LOCALITY",
    cmd: () => extend(17, authArea(pwSession())),
    rc: 0x907,
  },
  {
    name: "PCR_Read with sizeofSelect 2 -> VALUE + P + 1",
    cmd: () => command(ST_NO, CC.PCR_Read, [...be32(1), ...be16(TPM_ALG.SHA256), 2, 0xff, 0xff]),
    rc: 0x1c4,
  },
  {
    name: "PCR_Read with sizeofSelect 4 -> VALUE + P + 1",
    cmd: () => command(ST_NO, CC.PCR_Read, [...be32(1), ...be16(TPM_ALG.SHA256), 4, 1, 0, 0, 0]),
    rc: 0x1c4,
  },
  {
    name: "PCR_Read with a selection count of 4 -> SIZE + P + 1",
    cmd: () => command(ST_NO, CC.PCR_Read, be32(4)),
    rc: 0x1d5,
  },
  {
    name: "PCR_Read of the NULL algorithm -> HASH + P + 1",
    cmd: () => command(ST_NO, CC.PCR_Read, [...be32(1), ...be16(0x0010), 3, 1, 0, 0]),
    rc: 0x1c3,
  },
  {
    name: "GetCapability of an unknown capability -> VALUE + P + 1",
    cmd: () => command(ST_NO, CC.GetCapability, [...be32(0x55), ...be32(0), ...be32(1)]),
    rc: 0x1c4,
  },
  {
    name: "GetCapability(TPM_CAP_PCRS) with a non-zero property -> VALUE + P + 2",
    cmd: () => command(ST_NO, CC.GetCapability, [...be32(5), ...be32(1), ...be32(1)]),
    rc: 0x2c4,
  },
  {
    name: "GetCapability(TPM_CAP_HANDLES) of handle type 0x7F -> HANDLE + P + 2",
    cmd: () => command(ST_NO, CC.GetCapability, [...be32(1), ...be32(0x7f000000), ...be32(1)]),
    rc: 0x2cb,
  },
  {
    name: "GetCapability missing propertyCount -> INSUFFICIENT + P + 3",
    cmd: () => command(ST_NO, CC.GetCapability, [...be32(6), ...be32(0x100)]),
    rc: 0x1da + 0x200,
  },
];

for (const c of cases) {
  test(`malformed: ${c.name}`, () => {
    const tpm = c.started === false ? new VirtualTpm({ random: fixedFiller }) : startedTpm();
    const rsp = tpm.execute(c.cmd());
    assert.equal(hex(rsp), errorOf(c.rc, c.tag), `rc 0x${rcOf(rsp).toString(16)}`);
  });
}

test("a password of all zero bytes equals the PCR's empty authValue (trailing zeros are not significant)", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(extend(3, authArea(pwSession({ password: [0, 0, 0] }))));
  assert.equal(rcOf(rsp), 0);
});

test("a failed command changes no PCR", () => {
  const tpm = startedTpm();
  tpm.execute(extend(0, authArea(pwSession({ password: [1] }))));
  tpm.execute(extend(0, authArea(pwSession()), [...ONE_SHA256, 0]));
  assert.deepEqual(tpm.pcrValue(TPM_ALG.SHA256, 0), new Uint8Array(32));
  assert.equal(tpm.stats.errors, 2);
});

test("Shutdown(STATE) then extending a state-saved PCR ends the orderly state: Startup(STATE) fails", () => {
  const tpm = startedTpm();
  assert.equal(rcOf(tpm.execute(command(ST_NO, 0x145, be16(1)))), 0);
  assert.equal(rcOf(tpm.execute(extend(1, authArea(pwSession())))), 0);
  tpm.init();
  assert.equal(rcOf(tpm.execute(command(ST_NO, CC.Startup, be16(1)))), 0x1c4);
  assert.equal(rcOf(tpm.execute(STARTUP_CLEAR)), 0);
});

/** Well-formed commands, to be mutated by the fuzzer. */
const SEEDS: readonly Uint8Array[] = [
  STARTUP_CLEAR,
  command(ST_NO, CC.GetRandom, be16(16)),
  command(ST_NO, CC.GetCapability, [...be32(6), ...be32(0x100), ...be32(200)]),
  command(ST_NO, CC.PCR_Read, [
    ...be32(2),
    ...be16(TPM_ALG.SHA1),
    3,
    0xff,
    0xff,
    0xff,
    ...be16(TPM_ALG.SHA256),
    3,
    1,
    0,
    0,
  ]),
  extend(4, authArea(pwSession())),
];

function checkResponse(rsp: Uint8Array): void {
  assert.ok(rsp.length >= 10);
  const tag = (rsp[0]! << 8) | rsp[1]!;
  assert.ok(tag === 0x8001 || tag === 0x8002 || tag === 0x00c4, `tag 0x${tag.toString(16)}`);
  const size = ((rsp[2]! << 24) | (rsp[3]! << 16) | (rsp[4]! << 8) | rsp[5]!) >>> 0;
  assert.equal(size, rsp.length);
  if (rcOf(rsp) !== 0) assert.equal(rsp.length, 10);
}

test("fuzz: random bytes never make the TPM throw, and every response is well formed", () => {
  const tpm = startedTpm();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      checkResponse(tpm.execute(b));
    }),
    { seed: 1, numRuns: 2000 },
  );
});

test("fuzz: mutated well-formed commands (with a consistent size) never make the TPM throw", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...SEEDS),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      (seed, edits, started) => {
        const tpm = new VirtualTpm({ random: fixedFiller });
        if (started) tpm.execute(STARTUP_CLEAR);
        const c = seed.slice();
        for (const [at, v] of edits) {
          const i = 6 + (at % Math.max(1, c.length - 6)); // leave tag and size alone
          if (i < c.length) c[i] = v;
        }
        checkResponse(tpm.execute(c));
      },
    ),
    { seed: 2, numRuns: 3000 },
  );
});

test("TPM_RC constants hold the values of TCG Part 2", () => {
  assert.equal(TPM_RC.SUCCESS, 0);
  assert.equal(TPM_RC.INITIALIZE, 0x100);
  assert.equal(TPM_RC.COMMAND_CODE, 0x143);
  assert.equal(TPM_RC.COMMAND_SIZE, 0x142);
  assert.equal(TPM_RC.BAD_TAG, 0x01e);
  assert.equal(TPM_RC.VALUE, 0x084);
});
