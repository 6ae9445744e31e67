// Golden bytes for every TPM command the vTPM implements: hand-built commands,
// hand-built expected responses (TCG TPM 2.0 Parts 2 and 3, big-endian).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { TPM_ALG } from "../../src/paravisor/tpm/constants.ts";
import { VirtualTpm } from "../../src/paravisor/tpm/engine.ts";
import { bytes, fixedFiller, hex, STARTUP_CLEAR, startedTpm } from "./tpm-helpers.ts";

test("TPM2_Startup(CLEAR): success, then a second Startup is TPM_RC_INITIALIZE", () => {
  const tpm = new VirtualTpm({ random: fixedFiller });
  assert.equal(tpm.started, false);
  assert.equal(hex(tpm.execute(STARTUP_CLEAR)), "8001" + "0000000a" + "00000000");
  assert.equal(tpm.started, true);
  assert.equal(hex(tpm.execute(STARTUP_CLEAR)), "8001" + "0000000a" + "00000100");
});

test("a command before TPM2_Startup is TPM_RC_INITIALIZE (0x100)", () => {
  const tpm = new VirtualTpm({ random: fixedFiller });
  const getRandom8 = bytes("8001 0000000c 0000017b 0008");
  assert.equal(hex(tpm.execute(getRandom8)), "8001" + "0000000a" + "00000100");
});

test("TPM2_SelfTest(fullTest=YES) answers success once started", () => {
  const tpm = new VirtualTpm({ random: fixedFiller });
  const selfTest = bytes("8001 0000000b 00000143 01");
  // Linux's tpm2_auto_startup() sends SelfTest first and starts the TPM on TPM_RC_INITIALIZE.
  assert.equal(hex(tpm.execute(selfTest)), "8001" + "0000000a" + "00000100");
  tpm.execute(STARTUP_CLEAR);
  assert.equal(hex(tpm.execute(selfTest)), "8001" + "0000000a" + "00000000");
});

test("TPM2_GetRandom(8) returns a TPM2B_DIGEST of 8 bytes from the injected filler", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(bytes("8001 0000000c 0000017b 0008"));
  assert.equal(hex(rsp), "8001" + "00000014" + "00000000" + "0008" + "a0a1a2a3a4a5a6a7");
});

test("TPM2_GetRandom caps the request at sizeof(TPMU_HA) = 48 bytes", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(bytes("8001 0000000c 0000017b 0100"));
  const expectedRandom = Array.from({ length: 48 }, (_, i) => (0xa0 + i) & 0xff);
  assert.deepEqual(
    rsp,
    Uint8Array.from([0x80, 0x01, 0, 0, 0, 0x3c, 0, 0, 0, 0, 0x00, 0x30, ...expectedRandom]),
  );
});

test("TPM2_GetRandom draws from the run's seeded generator: same seed, same bytes", async () => {
  const { Prng } = await import("../../src/util/prng.ts");
  const a = new VirtualTpm({ random: (d) => Prng.fromSeed(7).fill(d) });
  const b = new VirtualTpm({ random: (d) => Prng.fromSeed(7).fill(d) });
  a.execute(STARTUP_CLEAR);
  b.execute(STARTUP_CLEAR);
  const cmd = bytes("8001 0000000c 0000017b 0020");
  assert.deepEqual(a.execute(cmd), b.execute(cmd));
});

test("TPM2_GetCapability(TPM_PROPERTIES, TPM_PT_MANUFACTURER, 1) reports 'MSFT' with moreData", () => {
  const tpm = startedTpm();
  const cmd = bytes("8001 00000016 0000017a 00000006 00000105 00000001");
  const rsp = tpm.execute(cmd);
  assert.equal(
    hex(rsp),
    "8001" + "0000001b" + "00000000" + "01" + "00000006" + "00000001" + "00000105" + "4d534654",
  );
});

test("TPM2_GetCapability(TPM_PROPERTIES, TPM_PT_FAMILY_INDICATOR, 3): '2.0', level 0, revision 138", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(bytes("8001 00000016 0000017a 00000006 00000100 00000003"));
  assert.equal(
    hex(rsp),
    "8001" +
      "0000002b" +
      "00000000" +
      "01" +
      "00000006" +
      "00000003" +
      "00000100" +
      "322e3000" +
      "00000101" +
      "00000000" +
      "00000102" +
      "0000008a",
  );
});

test("TPM2_GetCapability(TPM_PROPERTIES, TPM_PT_TOTAL_COMMANDS, 1): 7 commands (Linux's tpm2_probe query)", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(bytes("8001 00000016 0000017a 00000006 00000129 00000001"));
  assert.equal(
    hex(rsp),
    "8001" + "0000001b" + "00000000" + "01" + "00000006" + "00000001" + "00000129" + "00000007",
  );
});

test("TPM2_GetCapability(TPM_CAP_PCRS): SHA-1 and SHA-256 banks allocated, SHA-384 implemented but empty", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(bytes("8001 00000016 0000017a 00000005 00000000 00000001"));
  assert.equal(
    hex(rsp),
    "8001" +
      "00000025" +
      "00000000" +
      "00" +
      "00000005" +
      "00000003" +
      "0004" +
      "03" +
      "ffffff" +
      "000b" +
      "03" +
      "ffffff" +
      "000c" +
      "03" +
      "000000",
  );
});

test("TPM2_GetCapability(TPM_CAP_COMMANDS, TPM_CC_FIRST, 7): TPMA_CC of each command", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(bytes("8001 00000016 0000017a 00000002 0000011f 00000007"));
  assert.equal(
    hex(rsp),
    "8001" +
      "0000002f" +
      "00000000" +
      "00" +
      "00000002" +
      "00000007" +
      "00400143" + // SelfTest: nv
      "00400144" + // Startup: nv
      "00400145" + // Shutdown: nv
      "0000017a" + // GetCapability
      "0000017b" + // GetRandom
      "0000017e" + // PCR_Read
      "02400182", // PCR_Extend: nv, cHandles = 1
  );
});

test("TPM2_GetCapability(TPM_CAP_ALGS, 0, 16): the three hash algorithms", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(bytes("8001 00000016 0000017a 00000000 00000000 00000010"));
  assert.equal(
    hex(rsp),
    "8001" +
      "00000025" +
      "00000000" +
      "00" +
      "00000000" +
      "00000003" +
      "0004" +
      "00000004" +
      "000b" +
      "00000004" +
      "000c" +
      "00000004",
  );
});

const DIGEST = createHash("sha256").update("hvcoco measured boot event").digest();

/** PCR_Extend(PCR 0, {SHA-256: DIGEST}) with an empty password session, byte by byte. */
// biome-ignore format: one line per wire field
const EXTEND_PCR0 = Uint8Array.from([
  0x80, 0x02, // TPM_ST_SESSIONS
  0x00, 0x00, 0x00, 0x41, // commandSize 65
  0x00, 0x00, 0x01, 0x82, // TPM_CC_PCR_Extend
  0x00, 0x00, 0x00, 0x00, // pcrHandle: PCR 0
  0x00, 0x00, 0x00, 0x09, // authorizationSize
  0x40, 0x00, 0x00, 0x09, // TPM_RS_PW
  0x00, 0x00, // nonce: empty
  0x00, // sessionAttributes
  0x00, 0x00, // hmac (password): empty
  0x00, 0x00, 0x00, 0x01, // TPML_DIGEST_VALUES.count
  0x00, 0x0b, // TPM_ALG_SHA256
  ...DIGEST,
]);

/** PCR_Read({SHA-256: PCR 0}). */
// biome-ignore format: one line per wire field
const READ_PCR0_SHA256 = Uint8Array.from([
  0x80, 0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x01, 0x7e, // header, 20 bytes, TPM_CC_PCR_Read
  0x00, 0x00, 0x00, 0x01, // TPML_PCR_SELECTION.count
  0x00, 0x0b, 0x03, 0x01, 0x00, 0x00, // SHA-256, sizeofSelect 3, PCR 0
]);

test("TPM2_PCR_Extend then TPM2_PCR_Read: PCR0 = SHA-256(zeros || digest), counter 21 -> 22", () => {
  const tpm = startedTpm();
  assert.equal(EXTEND_PCR0.length, 65);
  assert.equal(
    hex(tpm.execute(EXTEND_PCR0)),
    "8002" + "00000013" + "00000000" + "00000000" + "0000" + "01" + "0000",
  );

  const expected = createHash("sha256").update(Buffer.alloc(32)).update(DIGEST).digest();
  const rsp = tpm.execute(READ_PCR0_SHA256);
  // biome-ignore format: one line per wire field
  const golden = Uint8Array.from([
    0x80, 0x01, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x00, 0x00, 0x00, // 62 bytes, success
    0x00, 0x00, 0x00, 0x16, // pcrUpdateCounter: 21 after Startup(CLEAR), +1 for this extend
    0x00, 0x00, 0x00, 0x01, 0x00, 0x0b, 0x03, 0x01, 0x00, 0x00, // pcrSelectionOut
    0x00, 0x00, 0x00, 0x01, 0x00, 0x20, // one TPM2B_DIGEST of 32 bytes
    ...expected,
  ]);
  assert.deepEqual(rsp, golden);
  // The SHA-1 bank got no digest, so it is unchanged.
  assert.deepEqual(tpm.pcrValue(TPM_ALG.SHA1, 0), new Uint8Array(20));
});

test("TPM2_PCR_Extend twice chains: SHA-256(SHA-256(0 || d) || d)", () => {
  const tpm = startedTpm();
  tpm.execute(EXTEND_PCR0);
  tpm.execute(EXTEND_PCR0);
  const once = createHash("sha256").update(Buffer.alloc(32)).update(DIGEST).digest();
  const twice = createHash("sha256").update(once).update(DIGEST).digest();
  const rsp = tpm.execute(READ_PCR0_SHA256);
  assert.equal(hex(rsp.subarray(rsp.length - 32)), twice.toString("hex"));
});

test("TPM2_PCR_Extend with SHA-1 and SHA-256 digests extends both banks", () => {
  const tpm = startedTpm();
  const d1 = createHash("sha1").update("event").digest();
  // biome-ignore format: one line per wire field
  const cmd = Uint8Array.from([
    0x80, 0x02, 0x00, 0x00, 0x00, 0x57, 0x00, 0x00, 0x01, 0x82, // 87 bytes, TPM_CC_PCR_Extend
    0x00, 0x00, 0x00, 0x07, // PCR 7
    0x00, 0x00, 0x00, 0x09, 0x40, 0x00, 0x00, 0x09, 0x00, 0x00, 0x01, 0x00, 0x00, // TPM_RS_PW, continueSession
    0x00, 0x00, 0x00, 0x02, // two digests
    0x00, 0x04, ...d1, // SHA-1
    0x00, 0x0b, ...DIGEST, // SHA-256
  ]);
  assert.equal(cmd.length, 87);
  assert.equal(hex(tpm.execute(cmd)), "8002" + "00000013" + "00000000" + "00000000" + "0000" + "01" + "0000");
  const e1 = createHash("sha1").update(Buffer.alloc(20)).update(d1).digest();
  const e256 = createHash("sha256").update(Buffer.alloc(32)).update(DIGEST).digest();
  assert.equal(hex(tpm.pcrValue(TPM_ALG.SHA1, 7)!), e1.toString("hex"));
  assert.equal(hex(tpm.pcrValue(TPM_ALG.SHA256, 7)!), e256.toString("hex"));
});

test("TPM2_PCR_Read of PCRs 17-22 shows their reset value of all ones; PCR 16 and 23 read zero", () => {
  const tpm = startedTpm();
  // SHA-1 bank, PCRs 16..23 (byte 2 = 0xff).
  const rsp = tpm.execute(bytes("8001 00000014 0000017e 00000001 0004 03 0000ff"));
  const ones = "ff".repeat(20);
  const zeros = "00".repeat(20);
  assert.equal(
    hex(rsp),
    "8001" +
      "000000cc" +
      "00000000" +
      "00000015" +
      "00000001" +
      "0004" +
      "03" +
      "0000ff" +
      "00000008" +
      [`0014${zeros}`, ...Array(6).fill(`0014${ones}`), `0014${zeros}`].join(""),
  );
});

test("TPM2_PCR_Read returns at most 8 digests and clears the selection bits it did not return", () => {
  const tpm = startedTpm();
  // SHA-256 PCRs 0..11 and SHA-1 PCR 0: only SHA-256 PCRs 0..7 come back.
  const rsp = tpm.execute(bytes("8001 0000001a 0000017e 00000002 000b 03 ff0f00 0004 03 010000"));
  const head = hex(rsp.subarray(0, 34));
  assert.equal(
    head,
    "8001" + "00000132" + "00000000" + "00000015" + "00000002" + "000b03ff0000" + "000403000000" + "00000008",
  );
  assert.equal(rsp.length, 0x132);
});

test("TPM2_PCR_Read of a bank that is not allocated returns an empty selection for it", () => {
  const tpm = startedTpm();
  const rsp = tpm.execute(bytes("8001 00000014 0000017e 00000001 000c 03 010000"));
  assert.equal(
    hex(rsp),
    "8001" + "0000001c" + "00000000" + "00000015" + "00000001" + "000c03000000" + "00000000",
  );
});

test("TPM2_PCR_Extend of TPM_RH_NULL succeeds and changes nothing", () => {
  const tpm = startedTpm();
  const cmd = EXTEND_PCR0.slice();
  cmd.set([0x40, 0x00, 0x00, 0x07], 10); // TPM_RH_NULL
  assert.equal(hex(tpm.execute(cmd)), "8002" + "00000013" + "00000000" + "00000000" + "0000" + "01" + "0000");
  assert.deepEqual(tpm.pcrValue(TPM_ALG.SHA256, 0), new Uint8Array(32));
});

test("TPM2_Shutdown(STATE) then _TPM_Init and TPM2_Startup(STATE) restores PCRs 0-15 (TPM Resume)", () => {
  const tpm = startedTpm();
  tpm.execute(EXTEND_PCR0);
  const before = tpm.pcrValue(TPM_ALG.SHA256, 0)!;
  assert.equal(hex(tpm.execute(bytes("8001 0000000c 00000145 0001"))), "8001" + "0000000a" + "00000000");
  tpm.init();
  assert.equal(hex(tpm.execute(bytes("8001 0000000c 00000144 0001"))), "8001" + "0000000a" + "00000000");
  assert.deepEqual(tpm.pcrValue(TPM_ALG.SHA256, 0), before);
  // Counter: 22 saved, +5 for PCRs 16-19 and 23 re-initialised (20-22 are the no-increment group).
  const rsp = tpm.execute(READ_PCR0_SHA256);
  assert.equal(hex(rsp.subarray(10, 14)), "0000001b");
});

test("TPM2_Startup(CLEAR) after Shutdown(STATE) is a TPM Restart: PCRs reset, counter kept", () => {
  const tpm = startedTpm();
  tpm.execute(EXTEND_PCR0);
  tpm.execute(bytes("8001 0000000c 00000145 0001"));
  tpm.init();
  tpm.execute(STARTUP_CLEAR);
  assert.deepEqual(tpm.pcrValue(TPM_ALG.SHA256, 0), new Uint8Array(32));
  const rsp = tpm.execute(READ_PCR0_SHA256);
  assert.equal(hex(rsp.subarray(10, 14)), (22 + 21).toString(16).padStart(8, "0"));
});
