// TPM 2.0 wire constants and fixed-shape layouts used by the paravisor's vTPM.
//
// Values are from the TCG TPM 2.0 Library specification, Part 2 "Structures"
// (TPM_ST 6.9, TPM_CC 6.5.2, TPM_RC 6.6, TPM_SU 6.10, TPM_CAP 6.12, TPM_PT 6.13,
// TPM_HT 7.2, permanent handles 7.4, TPMA_SESSION 8.4, TPMA_CC 8.9,
// TPMA_ALGORITHM 8.2) and the TCG Algorithm Registry (TPM_ALG_ID). Behaviour
// that Part 3 leaves to the implementation follows the Microsoft reference
// implementation (microsoft/ms-tpm-20-ref, TPMCmd/tpm/src), on which Hyper-V's and
// OpenHCL's vTPM are built. Everything on the TPM wire is big-endian.

/** VTPM_BASE_ADDRESS (include/asm-generic/mshyperv.h): the vTPM's MMIO page, mapped private by hv_is_private_mmio(); defined once, in hyperv/hvgdk.ts. */
import { VTPM_BASE_ADDRESS } from "../../hyperv/hvgdk.ts";
import { type ConstantEntry, constantsOf, defineStruct } from "../../layout/struct.ts";

export { VTPM_BASE_ADDRESS };
/** The vTPM occupies one page: [0xFED40000, 0xFED41000). */
export const VTPM_MMIO_SIZE = 0x1000;

/** TPM_ST: structure tags (Part 2, 6.9). */
export const TPM_ST = {
  RSP_COMMAND: 0x00c4,
  NULL: 0x8000,
  NO_SESSIONS: 0x8001,
  SESSIONS: 0x8002,
} as const;

/** TPM_CC: the command codes this vTPM implements (Part 2, 6.5.2). */
export const TPM_CC = {
  SelfTest: 0x0143,
  Startup: 0x0144,
  Shutdown: 0x0145,
  GetCapability: 0x017a,
  GetRandom: 0x017b,
  PCR_Read: 0x017e,
  PCR_Extend: 0x0182,
} as const;
export type TpmCommandCode = (typeof TPM_CC)[keyof typeof TPM_CC];

/** TPM_RC: response codes (Part 2, 6.6). Format-one codes get TPM_RC_H/P/S + TPM_RC_n added. */
export const TPM_RC = {
  SUCCESS: 0x000,
  BAD_TAG: 0x01e,
  // RC_VER1 (0x100) group
  INITIALIZE: 0x100,
  FAILURE: 0x101,
  SEQUENCE: 0x103,
  AUTH_TYPE: 0x124,
  AUTH_MISSING: 0x125,
  POLICY: 0x126,
  PCR: 0x127,
  PCR_CHANGED: 0x128,
  AUTH_UNAVAILABLE: 0x12f,
  COMMAND_SIZE: 0x142,
  COMMAND_CODE: 0x143,
  AUTHSIZE: 0x144,
  AUTH_CONTEXT: 0x145,
  NV_UNINITIALIZED: 0x14a,
  // RC_FMT1 (0x080) group
  ATTRIBUTES: 0x082,
  HASH: 0x083,
  VALUE: 0x084,
  HANDLE: 0x08b,
  AUTH_FAIL: 0x08e,
  NONCE: 0x08f,
  SIZE: 0x095,
  TAG: 0x097,
  INSUFFICIENT: 0x09a,
  RESERVED_BITS: 0x0a1,
  BAD_AUTH: 0x0a2,
  // RC_WARN (0x900) group
  LOCALITY: 0x907,
  CANCELED: 0x909,
  REFERENCE_S0: 0x918,
  RETRY: 0x922,
} as const;

/** Modifiers added to a format-one TPM_RC to say which handle, parameter or session was at fault. */
export const TPM_RC_MOD = {
  /** Bit 7: format-one response code. */
  FMT1: 0x080,
  /** RC_WARN: format-zero warning group. */
  WARN: 0x900,
  /** Handle number follows (bit 6 = 0, bit 11 = 0). */
  H: 0x000,
  /** Parameter number follows (bit 6). */
  P: 0x040,
  /** Session number follows (bit 11). */
  S: 0x800,
  /** TPM_RC_1: number 1 in bits 11:8 (TPM_RC_n = n << 8). */
  N1: 0x100,
} as const;

/** TPM_SU: startup/shutdown types (Part 2, 6.10). */
export const TPM_SU = {
  CLEAR: 0x0000,
  STATE: 0x0001,
} as const;

/** TPM_CAP: GetCapability groups (Part 2, 6.12). */
export const TPM_CAP = {
  ALGS: 0x00000000,
  HANDLES: 0x00000001,
  COMMANDS: 0x00000002,
  PP_COMMANDS: 0x00000003,
  AUDIT_COMMANDS: 0x00000004,
  PCRS: 0x00000005,
  TPM_PROPERTIES: 0x00000006,
  PCR_PROPERTIES: 0x00000007,
  ECC_CURVES: 0x00000008,
  AUTH_POLICIES: 0x00000009,
  ACT: 0x0000000a,
  VENDOR_PROPERTY: 0x00000100,
} as const;

/** TPM_PT: TPM properties (Part 2, 6.13). PT_FIXED = 0x100, PT_VAR = 0x200, PT_GROUP = 0x100. */
export const TPM_PT = {
  PT_GROUP: 0x100,
  PT_FIXED: 0x100,
  FAMILY_INDICATOR: 0x100,
  LEVEL: 0x101,
  REVISION: 0x102,
  DAY_OF_YEAR: 0x103,
  YEAR: 0x104,
  MANUFACTURER: 0x105,
  VENDOR_STRING_1: 0x106,
  VENDOR_STRING_2: 0x107,
  VENDOR_STRING_3: 0x108,
  VENDOR_STRING_4: 0x109,
  VENDOR_TPM_TYPE: 0x10a,
  FIRMWARE_VERSION_1: 0x10b,
  FIRMWARE_VERSION_2: 0x10c,
  INPUT_BUFFER: 0x10d,
  HR_TRANSIENT_MIN: 0x10e,
  HR_PERSISTENT_MIN: 0x10f,
  HR_LOADED_MIN: 0x110,
  ACTIVE_SESSIONS_MAX: 0x111,
  PCR_COUNT: 0x112,
  PCR_SELECT_MIN: 0x113,
  MAX_COMMAND_SIZE: 0x11e,
  MAX_RESPONSE_SIZE: 0x11f,
  MAX_DIGEST: 0x120,
  TOTAL_COMMANDS: 0x129,
  LIBRARY_COMMANDS: 0x12a,
  VENDOR_COMMANDS: 0x12b,
  MAX_CAP_BUFFER: 0x12f,
  PT_VAR: 0x200,
  PERMANENT: 0x200,
  STARTUP_CLEAR: 0x201,
} as const;

/** TPM_ALG_ID values used here (TCG Algorithm Registry). */
export const TPM_ALG = {
  SHA1: 0x0004,
  SHA256: 0x000b,
  SHA384: 0x000c,
  NULL: 0x0010,
} as const;
export type TpmHashAlg = typeof TPM_ALG.SHA1 | typeof TPM_ALG.SHA256 | typeof TPM_ALG.SHA384;

/** Handles and handle ranges (Part 2, 7.2 TPM_HT and 7.4 TPM_RH / TPM_RS). */
export const TPM_HANDLE = {
  PCR_FIRST: 0x00000000,
  PCR_LAST: 0x00000017,
  HMAC_SESSION_FIRST: 0x02000000,
  POLICY_SESSION_FIRST: 0x03000000,
  RH_NULL: 0x40000007,
  RS_PW: 0x40000009,
} as const;

/** TPM_HT: the top byte of a handle (Part 2, 7.2). */
export const TPM_HT = {
  PCR: 0x00,
  NV_INDEX: 0x01,
  HMAC_SESSION: 0x02,
  POLICY_SESSION: 0x03,
  PERMANENT: 0x40,
  TRANSIENT: 0x80,
  PERSISTENT: 0x81,
} as const;

/** TPMA_SESSION bits (Part 2, 8.4). Bits 4:3 are reserved. */
export const TPMA_SESSION = {
  CONTINUE_SESSION: 0x01,
  AUDIT_EXCLUSIVE: 0x02,
  AUDIT_RESET: 0x04,
  RESERVED: 0x18,
  DECRYPT: 0x20,
  ENCRYPT: 0x40,
  AUDIT: 0x80,
} as const;

/** TPMA_CC fields (Part 2, 8.9): commandIndex 15:0, nv 22, extensive 23, flushed 24, cHandles 27:25, rHandle 28, V 29. */
export const TPMA_CC = {
  NV: 1 << 22,
  EXTENSIVE: 1 << 23,
  FLUSHED: 1 << 24,
  C_HANDLES_SHIFT: 25,
  R_HANDLE: 1 << 28,
  V: 1 << 29,
} as const;

/** TPMA_ALGORITHM bits (Part 2, 8.2). */
export const TPMA_ALGORITHM = {
  ASYMMETRIC: 0x001,
  SYMMETRIC: 0x002,
  HASH: 0x004,
  OBJECT: 0x008,
  SIGNING: 0x100,
  ENCRYPTING: 0x200,
  METHOD: 0x400,
} as const;

/**
 * Implementation limits. The sizes follow the reference implementation's defaults
 * (TpmProfile.h / Implementation.h) for the algorithm set modelled here: SHA-1,
 * SHA-256 and SHA-384 implemented (HASH_COUNT 3, sizeof(TPMU_HA) 48), 24 PCRs.
 */
export const TPM_LIMITS = {
  MAX_COMMAND_SIZE: 4096,
  MAX_RESPONSE_SIZE: 4096,
  MAX_CAP_BUFFER: 1024,
  /** MAX_CAP_DATA = MAX_CAP_BUFFER - sizeof(TPM_CAP) - sizeof(UINT32). */
  MAX_CAP_DATA: 1016,
  /** MAX_CAP_DATA / sizeof(TPMS_TAGGED_PROPERTY). */
  MAX_TPM_PROPERTIES: 127,
  /** MAX_CAP_DATA / sizeof(TPM_CC). */
  MAX_CAP_CC: 254,
  /** MAX_CAP_DATA / sizeof(TPMS_ALG_PROPERTY). */
  MAX_CAP_ALGS: 169,
  /** MAX_CAP_DATA / sizeof(TPM_HANDLE). */
  MAX_CAP_HANDLES: 254,
  IMPLEMENTATION_PCR: 24,
  PCR_SELECT_MIN: 3,
  PCR_SELECT_MAX: 3,
  HASH_COUNT: 3,
  /** sizeof(TPMU_HA): the largest implemented digest (SHA-384). */
  MAX_DIGEST: 48,
  /** MAX_SESSION_NUM: sessions in one command. */
  MAX_SESSION_NUM: 3,
  MAX_ACTIVE_SESSIONS: 64,
  /** TPML_DIGEST holds at most 8 digests (PCR_Read returns at most 8). */
  MAX_PCR_READ_DIGESTS: 8,
  /** The smallest session in an authorization area: handle 4 + nonce size 2 + attributes 1 + hmac size 2. */
  MIN_SESSION_SIZE: 9,
} as const;

/** Header of every command: tag, commandSize, commandCode (Part 1, 18.2; Part 3, 5.1). */
export const TPM_COMMAND_HEADER = defineStruct(
  "TPM2_COMMAND_HEADER",
  "TCG TPM 2.0 Part 1 18.2 (big-endian)",
  [
    {
      name: "tag",
      size: 2,
      note: "TPMI_ST_COMMAND_TAG: TPM_ST_NO_SESSIONS 0x8001 or TPM_ST_SESSIONS 0x8002",
    },
    { name: "commandSize", size: 4, note: "total bytes including this header" },
    { name: "commandCode", size: 4, note: "TPM_CC" },
  ] as const,
);

/** Header of every response: tag, responseSize, responseCode. */
export const TPM_RESPONSE_HEADER = defineStruct(
  "TPM2_RESPONSE_HEADER",
  "TCG TPM 2.0 Part 1 18.3 (big-endian)",
  [
    {
      name: "tag",
      size: 2,
      note: "TPM_ST_NO_SESSIONS on any error; TPM_ST_RSP_COMMAND 0x00C4 for TPM_RC_BAD_TAG",
    },
    { name: "responseSize", size: 4, note: "total bytes including this header" },
    { name: "responseCode", size: 4, note: "TPM_RC" },
  ] as const,
);

/** TPM2_Startup command (Part 3, 9.3): 12 bytes. */
export const TPM2_STARTUP_COMMAND = defineStruct("TPM2_Startup", "TCG TPM 2.0 Part 3 9.3 (big-endian)", [
  { name: "tag", size: 2, note: "TPM_ST_NO_SESSIONS (sessions are not allowed)" },
  { name: "commandSize", size: 4 },
  { name: "commandCode", size: 4, note: "TPM_CC_Startup 0x144" },
  { name: "startupType", size: 2, note: "TPM_SU_CLEAR 0 | TPM_SU_STATE 1" },
] as const);

/** TPM2_GetRandom command (Part 3, 16.1): 12 bytes. */
export const TPM2_GETRANDOM_COMMAND = defineStruct("TPM2_GetRandom", "TCG TPM 2.0 Part 3 16.1 (big-endian)", [
  { name: "tag", size: 2 },
  { name: "commandSize", size: 4 },
  { name: "commandCode", size: 4, note: "TPM_CC_GetRandom 0x17B" },
  { name: "bytesRequested", size: 2, note: "capped at sizeof(TPMU_HA) = 48" },
] as const);

/** TPM2_GetRandom response: header, TPM2B_DIGEST randomBytes. */
export const TPM2_GETRANDOM_RESPONSE = defineStruct(
  "TPM2_GetRandom response",
  "TCG TPM 2.0 Part 3 16.1 (big-endian)",
  [
    { name: "tag", size: 2 },
    { name: "responseSize", size: 4 },
    { name: "responseCode", size: 4 },
    { name: "randomBytes.size", size: 2 },
    { name: "randomBytes.buffer", size: 1, count: 0, note: "size bytes" },
  ] as const,
);

/** TPM2_GetCapability command (Part 3, 30.2): 22 bytes. */
export const TPM2_GETCAPABILITY_COMMAND = defineStruct(
  "TPM2_GetCapability",
  "TCG TPM 2.0 Part 3 30.2 (big-endian)",
  [
    { name: "tag", size: 2 },
    { name: "commandSize", size: 4 },
    { name: "commandCode", size: 4, note: "TPM_CC_GetCapability 0x17A" },
    { name: "capability", size: 4, note: "TPM_CAP" },
    { name: "property", size: 4, note: "first property/handle/command to report" },
    { name: "propertyCount", size: 4, note: "most entries to return (capped per group)" },
  ] as const,
);

/** TPM2_GetCapability response head: moreData then TPMS_CAPABILITY_DATA. */
export const TPM2_GETCAPABILITY_RESPONSE = defineStruct(
  "TPM2_GetCapability response",
  "TCG TPM 2.0 Part 3 30.2; Part 2 10.10.2 TPMS_CAPABILITY_DATA (big-endian)",
  [
    { name: "tag", size: 2 },
    { name: "responseSize", size: 4 },
    { name: "responseCode", size: 4 },
    { name: "moreData", size: 1, note: "TPMI_YES_NO" },
    { name: "capability", size: 4, note: "TPM_CAP echoed" },
    { name: "count", size: 4, note: "entries in the TPML_* that follows" },
    { name: "entries", size: 1, count: 0, note: "TPMS_TAGGED_PROPERTY {u32 property, u32 value} etc." },
  ] as const,
);

/** TPM2_PCR_Extend with one SHA-256 digest and an empty password session (Part 3, 22.2): 65 bytes. */
export const TPM2_PCR_EXTEND_SHA256_COMMAND = defineStruct(
  "TPM2_PCR_Extend (1 x SHA-256, password session)",
  "TCG TPM 2.0 Part 3 22.2; Part 1 19.8.4 password authorization (big-endian)",
  [
    { name: "tag", size: 2, note: "TPM_ST_SESSIONS (the PCR handle needs USER authorization)" },
    { name: "commandSize", size: 4, note: "65" },
    { name: "commandCode", size: 4, note: "TPM_CC_PCR_Extend 0x182" },
    { name: "pcrHandle", size: 4, note: "TPMI_DH_PCR+: 0..23 or TPM_RH_NULL" },
    { name: "authorizationSize", size: 4, note: "9 for one empty password session" },
    { name: "sessionHandle", size: 4, note: "TPM_RS_PW 0x40000009" },
    { name: "nonce.size", size: 2, note: "must be 0 for a password session" },
    { name: "sessionAttributes", size: 1, note: "TPMA_SESSION; only continueSession allowed" },
    { name: "hmac.size", size: 2, note: "password length (0: the PCR's empty authValue)" },
    { name: "digests.count", size: 4, note: "TPML_DIGEST_VALUES" },
    { name: "digests[0].hashAlg", size: 2, note: "TPM_ALG_SHA256 0x000B" },
    { name: "digests[0].digest", size: 32 },
  ] as const,
);

/** TPM2_PCR_Extend response with one password session: 19 bytes. */
export const TPM2_PCR_EXTEND_RESPONSE = defineStruct(
  "TPM2_PCR_Extend response (password session)",
  "TCG TPM 2.0 Part 3 22.2; Part 1 19.8.4 (big-endian)",
  [
    { name: "tag", size: 2, note: "TPM_ST_SESSIONS" },
    { name: "responseSize", size: 4, note: "19" },
    { name: "responseCode", size: 4 },
    { name: "parameterSize", size: 4, note: "0: PCR_Extend returns no parameters" },
    { name: "nonceTPM.size", size: 2, note: "0 for a password session" },
    { name: "sessionAttributes", size: 1, note: "command's attributes with continueSession SET" },
    { name: "hmac.size", size: 2, note: "0" },
  ] as const,
);

/** TPM2_PCR_Read command with one TPMS_PCR_SELECTION (Part 3, 22.4): 20 bytes. */
export const TPM2_PCR_READ_COMMAND = defineStruct(
  "TPM2_PCR_Read (one bank)",
  "TCG TPM 2.0 Part 3 22.4; Part 2 10.6.2 TPMS_PCR_SELECTION (big-endian)",
  [
    { name: "tag", size: 2 },
    { name: "commandSize", size: 4, note: "20" },
    { name: "commandCode", size: 4, note: "TPM_CC_PCR_Read 0x17E" },
    { name: "pcrSelectionIn.count", size: 4 },
    { name: "pcrSelections[0].hash", size: 2, note: "TPMI_ALG_HASH" },
    { name: "pcrSelections[0].sizeofSelect", size: 1, note: "PCR_SELECT_MIN..PCR_SELECT_MAX = 3" },
    { name: "pcrSelections[0].pcrSelect", size: 3, note: "bit n of byte n/8 selects PCR n" },
  ] as const,
);

/** TPM2_PCR_Read response head: pcrUpdateCounter, pcrSelectionOut, then TPML_DIGEST pcrValues. */
export const TPM2_PCR_READ_RESPONSE = defineStruct(
  "TPM2_PCR_Read response (one bank)",
  "TCG TPM 2.0 Part 3 22.4 (big-endian)",
  [
    { name: "tag", size: 2 },
    { name: "responseSize", size: 4 },
    { name: "responseCode", size: 4 },
    { name: "pcrUpdateCounter", size: 4 },
    { name: "pcrSelectionOut.count", size: 4 },
    { name: "pcrSelections[0].hash", size: 2 },
    { name: "pcrSelections[0].sizeofSelect", size: 1 },
    { name: "pcrSelections[0].pcrSelect", size: 3, note: "only the PCRs actually returned stay set" },
    { name: "pcrValues.count", size: 4, note: "at most 8" },
    { name: "pcrValues.digests", size: 1, count: 0, note: "TPM2B_DIGEST each: u16 size + bytes" },
  ] as const,
);

export const TPM_CONSTANTS: readonly ConstantEntry[] = [
  ...constantsOf("VTPM", "include/asm-generic/mshyperv.h", {
    VTPM_BASE_ADDRESS,
    VTPM_MMIO_SIZE,
  }),
  ...constantsOf("TPM_ST", "TCG TPM 2.0 Part 2 6.9", TPM_ST),
  ...constantsOf("TPM_CC", "TCG TPM 2.0 Part 2 6.5.2", TPM_CC),
  ...constantsOf("TPM_RC", "TCG TPM 2.0 Part 2 6.6", TPM_RC),
  ...constantsOf("TPM_RC modifiers", "TCG TPM 2.0 Part 2 6.6.3", TPM_RC_MOD),
  ...constantsOf("TPM_SU", "TCG TPM 2.0 Part 2 6.10", TPM_SU),
  ...constantsOf("TPM_CAP", "TCG TPM 2.0 Part 2 6.12", TPM_CAP),
  ...constantsOf("TPM_PT", "TCG TPM 2.0 Part 2 6.13", TPM_PT),
  ...constantsOf("TPM_ALG_ID", "TCG Algorithm Registry", TPM_ALG),
  ...constantsOf("TPM handles", "TCG TPM 2.0 Part 2 7.2, 7.4", TPM_HANDLE),
  ...constantsOf("TPM_HT", "TCG TPM 2.0 Part 2 7.2", TPM_HT),
  ...constantsOf("TPMA_SESSION", "TCG TPM 2.0 Part 2 8.4", TPMA_SESSION),
  ...constantsOf("TPMA_CC", "TCG TPM 2.0 Part 2 8.9", TPMA_CC),
  ...constantsOf("TPMA_ALGORITHM", "TCG TPM 2.0 Part 2 8.2", TPMA_ALGORITHM),
  ...constantsOf("TPM limits", "ms-tpm-20-ref TpmProfile.h defaults for this algorithm set", TPM_LIMITS),
];
