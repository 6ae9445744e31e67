// The platform security processor's side of attestation (C25): it measures the
// paravisor image as the host loads it, and later signs reports that carry that
// measurement and 64 bytes chosen by the guest.
//
// Modelled on AMD SEV-SNP (SEV Secure Nested Paging Firmware ABI Specification,
// #56860): the launch digest is the SNP_LAUNCH_UPDATE running hash over PAGE_INFO
// structures (section 8.17, "PAGE_INFO structure"), and the report is the
// ATTESTATION_REPORT structure (section 7.3, "ATTESTATION_REPORT Structure", report
// version 2) signed with ECDSA P-384 / SHA-384 (Chapter 10 "Signature Formats":
// R and S little-endian, zero-extended to 72 bytes). The same model stands in for
// TDX's MRTD and quote: the guest-visible contract (measurement, report data,
// platform signature) is the same.
//
// Where SNP uses a per-chip key (VCEK) certified by AMD, the model keeps one key per
// platform instance, generated or derived from the run's seed when the platform is
// created; the verifier gets its public key out of band.

import {
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { type ConstantEntry, constantsOf, defineStruct } from "../layout/struct.ts";
import { PAGE_SIZE } from "./page.ts";

/** SNP page types for SNP_LAUNCH_UPDATE (ABI spec Table "PAGE_TYPE"; as sev-snp-measure encodes them). */
export const SNP_PAGE_TYPE = {
  NORMAL: 0x01,
  VMSA: 0x02,
  ZERO: 0x03,
  UNMEASURED: 0x04,
  SECRETS: 0x05,
  CPUID: 0x06,
} as const;
export type SnpPageType = (typeof SNP_PAGE_TYPE)[keyof typeof SNP_PAGE_TYPE];

/** A VMSA page is recorded with GPA (u64)-1, page aligned, bits above 51 cleared. */
export const VMSA_GPA = 0xfffffffff000;

/** SEV firmware status codes used here (include/uapi/linux/psp-sev.h, sev_ret_code). */
export const SEV_RET = {
  SUCCESS: 0x0000,
  INVALID_PLATFORM_STATE: 0x0001,
  INVALID_GUEST_STATE: 0x0002,
  INVALID_LEN: 0x0004,
  INVALID_ADDRESS: 0x0009,
  INVALID_PARAM: 0x0016,
} as const;
export type SevStatus = (typeof SEV_RET)[keyof typeof SEV_RET];

export const MEASUREMENT_SIZE = 48;
export const REPORT_DATA_SIZE = 64;
/** ATTESTATION_REPORT.SIGNATURE_ALGO: 1 = ECDSA P-384 with SHA-384. */
export const SIG_ALGO_ECDSA_P384_SHA384 = 1;
/** The report version this platform produces. */
export const ATTESTATION_REPORT_VERSION = 2;
/** Default guest policy: bit 16 (must be one) and bit 17 (SMT allowed); debug (bit 19) off. */
export const DEFAULT_GUEST_POLICY = 0x30000n;

/** PAGE_INFO: what each SNP_LAUNCH_UPDATE page contributes; digest_new = SHA-384(PAGE_INFO). */
export const PAGE_INFO = defineStruct(
  "PAGE_INFO",
  "AMD SEV-SNP Firmware ABI #56860, 8.17 SNP_LAUNCH_UPDATE, PAGE_INFO (little-endian)",
  [
    { name: "digest_cur", size: 48, note: "the launch digest so far (48 zero bytes at LAUNCH_START)" },
    { name: "contents", size: 48, note: "SHA-384 of the page for NORMAL and VMSA pages, zero otherwise" },
    { name: "length", size: 2, note: "0x70: size of this structure" },
    { name: "page_type", size: 1, note: "SNP_PAGE_TYPE" },
    { name: "imi_page", size: 1, note: "bit 0: page from the migration agent (0)" },
    { name: "vmpl3_perms", size: 1 },
    { name: "vmpl2_perms", size: 1 },
    { name: "vmpl1_perms", size: 1 },
    { name: "reserved", size: 1 },
    { name: "gpa", size: 8, note: "guest physical address of the page (VMSA_GPA for a VMSA)" },
  ] as const,
);

/** ATTESTATION_REPORT, version 2 layout; bytes [0, 0x2A0) are signed. */
export const ATTESTATION_REPORT = defineStruct(
  "ATTESTATION_REPORT",
  "AMD SEV-SNP Firmware ABI #56860, 7.3 ATTESTATION_REPORT Structure (little-endian)",
  [
    { name: "version", size: 4, note: "2" },
    { name: "guest_svn", size: 4, note: "from the ID block at LAUNCH_FINISH" },
    { name: "policy", size: 8, note: "guest policy given at LAUNCH_START" },
    { name: "family_id", size: 16 },
    { name: "image_id", size: 16 },
    { name: "vmpl", size: 4, note: "VMPL the report was requested for" },
    { name: "signature_algo", size: 4, note: "1 = ECDSA P-384 with SHA-384" },
    { name: "platform_version", size: 8, note: "current TCB" },
    { name: "platform_info", size: 8, note: "bit 0 SMT_EN, bit 1 TSME_EN" },
    {
      name: "flags",
      size: 4,
      note: "bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY (0 = VCEK)",
    },
    { name: "reserved0", size: 4 },
    { name: "report_data", size: 64, note: "guest-supplied (MSG_REPORT_REQ.REPORT_DATA)" },
    { name: "measurement", size: 48, note: "launch digest of the image" },
    { name: "host_data", size: 32, note: "host-supplied at LAUNCH_FINISH" },
    { name: "id_key_digest", size: 48 },
    { name: "author_key_digest", size: 48 },
    { name: "report_id", size: 32 },
    { name: "report_id_ma", size: 32, note: "all ones: no migration agent" },
    { name: "reported_tcb", size: 8 },
    { name: "reserved1", size: 24 },
    { name: "chip_id", size: 64 },
    { name: "reserved2", size: 192, note: "committed/launch TCB fields of later report versions" },
    { name: "signature", size: 512, note: "SNP_SIGNATURE over bytes [0x000, 0x2A0)" },
  ] as const,
);

/** The ECDSA P-384 signature inside a report. */
export const SNP_SIGNATURE = defineStruct(
  "SNP_SIGNATURE (ECDSA P-384)",
  "AMD SEV-SNP Firmware ABI #56860, Chapter 10 Signature Formats (little-endian, zero-extended)",
  [
    { name: "r", size: 72, note: "R, little-endian; bytes 48..71 zero" },
    { name: "s", size: 72, note: "S, little-endian; bytes 48..71 zero" },
    { name: "reserved", size: 368, note: "zero" },
  ] as const,
);

/** Bytes of a report covered by its signature. */
export const REPORT_SIGNED_SIZE = ATTESTATION_REPORT.off.signature;

/** MSG_REPORT_REQ: the guest's request, sent through the guest-message channel. */
export const MSG_REPORT_REQ = defineStruct(
  "MSG_REPORT_REQ",
  "AMD SEV-SNP Firmware ABI #56860, 7.3 MSG_REPORT_REQ (little-endian)",
  [
    { name: "report_data", size: 64, note: "guest data placed in the report" },
    { name: "vmpl", size: 4, note: "must be >= the requester's VMPL and <= 3" },
    { name: "key_sel", size: 4, note: "bits 1:0 key selection (0: either); rest reserved" },
    { name: "reserved", size: 24, note: "must be zero" },
  ] as const,
);

/** MSG_REPORT_RSP: status, report size and the report. */
export const MSG_REPORT_RSP = defineStruct(
  "MSG_REPORT_RSP",
  "AMD SEV-SNP Firmware ABI #56860, 7.3 MSG_REPORT_RSP (little-endian)",
  [
    { name: "status", size: 4, note: "0 success, 0x16 INVALID_PARAM" },
    { name: "report_size", size: 4, note: "0x4A0 on success, 0 otherwise" },
    { name: "reserved", size: 24 },
    { name: "report", size: 0x4a0, note: "ATTESTATION_REPORT" },
  ] as const,
);

export const ATTESTATION_CONSTANTS: readonly ConstantEntry[] = [
  ...constantsOf("SNP_PAGE_TYPE", "AMD SEV-SNP Firmware ABI #56860, SNP_LAUNCH_UPDATE", SNP_PAGE_TYPE),
  ...constantsOf("SEV_RET", "include/uapi/linux/psp-sev.h", SEV_RET),
  ...constantsOf("SNP attestation", "AMD SEV-SNP Firmware ABI #56860", {
    VMSA_GPA,
    MEASUREMENT_SIZE,
    REPORT_DATA_SIZE,
    SIG_ALGO_ECDSA_P384_SHA384,
    ATTESTATION_REPORT_VERSION,
    ATTESTATION_REPORT_SIZE: ATTESTATION_REPORT.size,
    REPORT_SIGNED_SIZE,
    DEFAULT_GUEST_POLICY,
  }),
];

/** One page handed to SNP_LAUNCH_UPDATE. NORMAL and VMSA pages carry their 4 KiB of contents. */
export interface LaunchPage {
  readonly type: SnpPageType;
  readonly gpa: number;
  readonly contents?: Uint8Array;
}

function sha384(...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash("sha384");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** The running launch digest: starts at 48 zero bytes; each page folds in one PAGE_INFO. */
export class LaunchDigest {
  #ld: Uint8Array = new Uint8Array(MEASUREMENT_SIZE);
  #pages = 0;

  get pages(): number {
    return this.#pages;
  }

  /** The digest so far (a copy). */
  value(): Uint8Array {
    return this.#ld.slice();
  }

  /** Fold one page in. `contents` is hashed for NORMAL and VMSA pages and ignored for the other types. */
  update(type: SnpPageType, gpa: number, contents?: Uint8Array): void {
    const info = new Uint8Array(PAGE_INFO.size);
    const dv = new DataView(info.buffer);
    info.set(this.#ld, PAGE_INFO.off.digest_cur);
    if (type === SNP_PAGE_TYPE.NORMAL || type === SNP_PAGE_TYPE.VMSA) {
      if (contents === undefined || contents.length !== PAGE_SIZE) {
        throw new Error(`launch page at 0x${gpa.toString(16)}: a measured page needs ${PAGE_SIZE} bytes`);
      }
      info.set(sha384(contents), PAGE_INFO.off.contents);
    }
    dv.setUint16(PAGE_INFO.off.length, PAGE_INFO.size, true);
    dv.setUint8(PAGE_INFO.off.page_type, type);
    dv.setBigUint64(PAGE_INFO.off.gpa, BigInt(gpa), true);
    this.#ld = sha384(info);
    this.#pages++;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#ld, this.#pages];
  }
  load(s: unknown[]): void {
    this.#ld = s[0] as never;
    this.#pages = s[1] as never;
  }
}

/** The launch digest of pages loaded in this order (what the platform will report as MEASUREMENT). */
export function computeLaunchDigest(pages: readonly LaunchPage[]): Uint8Array {
  const ld = new LaunchDigest();
  for (const p of pages) ld.update(p.type, p.gpa, p.contents);
  return ld.value();
}

/** A parsed report. Byte fields are copies; 64-bit fields are bigints. */
export interface SnpAttestationReport {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  platformVersion: bigint;
  platformInfo: bigint;
  flags: number;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: bigint;
  chipId: Uint8Array;
}

export type ReportParse = { ok: true; report: SnpAttestationReport } | { ok: false; detail: string };

/** Parse the fixed fields of a report. Any input: never throws. */
export function parseAttestationReport(bytes: Uint8Array): ReportParse {
  const L = ATTESTATION_REPORT;
  if (bytes.length !== L.size) {
    return { ok: false, detail: `a report is ${L.size} bytes; this one is ${bytes.length}` };
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const field = (name: keyof typeof L.off, size: number): Uint8Array =>
    bytes.slice(L.off[name], L.off[name] + size);
  const version = dv.getUint32(L.off.version, true);
  if (version < ATTESTATION_REPORT_VERSION)
    return { ok: false, detail: `report version ${version} is not supported` };
  const signatureAlgo = dv.getUint32(L.off.signature_algo, true);
  if (signatureAlgo !== SIG_ALGO_ECDSA_P384_SHA384) {
    return { ok: false, detail: `signature algorithm ${signatureAlgo} is not ECDSA P-384/SHA-384` };
  }
  const vmpl = dv.getUint32(L.off.vmpl, true);
  if (vmpl > 3) return { ok: false, detail: `VMPL ${vmpl} is out of range` };
  return {
    ok: true,
    report: {
      version,
      guestSvn: dv.getUint32(L.off.guest_svn, true),
      policy: dv.getBigUint64(L.off.policy, true),
      familyId: field("family_id", 16),
      imageId: field("image_id", 16),
      vmpl,
      signatureAlgo,
      platformVersion: dv.getBigUint64(L.off.platform_version, true),
      platformInfo: dv.getBigUint64(L.off.platform_info, true),
      flags: dv.getUint32(L.off.flags, true),
      reportData: field("report_data", REPORT_DATA_SIZE),
      measurement: field("measurement", MEASUREMENT_SIZE),
      hostData: field("host_data", 32),
      idKeyDigest: field("id_key_digest", 48),
      authorKeyDigest: field("author_key_digest", 48),
      reportId: field("report_id", 32),
      reportIdMa: field("report_id_ma", 32),
      reportedTcb: dv.getBigUint64(L.off.reported_tcb, true),
      chipId: field("chip_id", 64),
    },
  };
}

const P384_COMPONENT = 48;

/** R and S (little-endian, 72 bytes each) to IEEE P1363 r||s (big-endian, 48 bytes each); undefined if not canonical. */
function p1363FromReport(report: Uint8Array): Uint8Array | undefined {
  const sigAt = ATTESTATION_REPORT.off.signature;
  const sig = report.subarray(sigAt, sigAt + SNP_SIGNATURE.size);
  for (let i = SNP_SIGNATURE.off.reserved; i < SNP_SIGNATURE.size; i++) if (sig[i] !== 0) return undefined;
  const out = new Uint8Array(2 * P384_COMPONENT);
  for (const [k, at] of [
    [0, SNP_SIGNATURE.off.r],
    [1, SNP_SIGNATURE.off.s],
  ] as const) {
    for (let i = P384_COMPONENT; i < 72; i++) if (sig[at + i] !== 0) return undefined;
    for (let i = 0; i < P384_COMPONENT; i++)
      out[k * P384_COMPONENT + (P384_COMPONENT - 1 - i)] = sig[at + i]!;
  }
  return out;
}

/** Check a report's signature against a platform key (SubjectPublicKeyInfo DER). Any report bytes: never throws. */
export function verifyReportSignature(report: Uint8Array, platformKeySpki: Uint8Array): boolean {
  if (report.length !== ATTESTATION_REPORT.size) return false;
  const key = createPublicKey({ key: Buffer.from(platformKeySpki), format: "der", type: "spki" });
  const sig = p1363FromReport(report);
  if (sig === undefined) return false;
  try {
    return verify("sha384", report.subarray(0, REPORT_SIGNED_SIZE), { key, dsaEncoding: "ieee-p1363" }, sig);
  } catch {
    // OpenSSL rejects some out-of-range (r, s) by raising instead of returning false.
    return false;
  }
}

/** The order n of the P-384 group: a private scalar must lie in [1, n-1]. */
const P384_N =
  0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;

function bigFromBytes(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** A P-384 key pair derived deterministically from a seed (so a replayed run has the same platform key). */
/**
 * Keys derived so far, by seed: the derivation is a pure function of the seed, so
 * a VM booted again from the same seed (a fuzzer's fresh VM) reuses the key objects
 * instead of repeating the EC arithmetic. Bounded.
 */
const derived = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();

function deriveKeyPair(seed: Uint8Array): { privateKey: KeyObject; publicKey: KeyObject } {
  const key = Buffer.from(seed).toString("hex");
  const hit = derived.get(key);
  if (hit) return hit;
  const pair = deriveKeyPairUncached(seed);
  if (derived.size >= 256) derived.delete(derived.keys().next().value!);
  derived.set(key, pair);
  return pair;
}

function deriveKeyPairUncached(seed: Uint8Array): { privateKey: KeyObject; publicKey: KeyObject } {
  const label = new TextEncoder().encode("hvcoco platform report-signing key");
  for (let counter = 0; ; counter++) {
    const d = sha384(label, seed, Uint8Array.of(counter));
    const dv = bigFromBytes(d);
    if (dv === 0n || dv >= P384_N) continue;
    const ecdh = createECDH("secp384r1");
    ecdh.setPrivateKey(Buffer.from(d));
    const pub = ecdh.getPublicKey(); // 0x04 || X || Y
    const jwk = {
      kty: "EC",
      crv: "P-384",
      d: Buffer.from(d).toString("base64url"),
      x: pub.subarray(1, 1 + P384_COMPONENT).toString("base64url"),
      y: pub.subarray(1 + P384_COMPONENT).toString("base64url"),
    };
    const privateKey = createPrivateKey({ key: jwk, format: "jwk" });
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
}

export interface PlatformSecurityProcessorOptions {
  /** Derive the report-signing key from this seed (deterministic); without it a fresh key is generated. */
  seed?: number | Uint8Array;
  /** Current TCB version (platform_version / reported_tcb). */
  tcb?: bigint;
  /** PLATFORM_INFO. */
  platformInfo?: bigint;
}

export interface LaunchStartParams {
  /** Guest policy (default 0x30000: SMT allowed, debug off). */
  policy?: bigint;
}

export interface LaunchFinishParams {
  /** 32 bytes the host binds to the guest (HOST_DATA). */
  hostData?: Uint8Array;
  /** Fields of the ID block, if the owner supplied one. */
  familyId?: Uint8Array;
  imageId?: Uint8Array;
  guestSvn?: number;
}

export type GuestLaunchState = "none" | "launching" | "running";

export type ReportResult = { status: typeof SEV_RET.SUCCESS; report: Uint8Array } | { status: SevStatus };

/** Model TCB: boot loader 3, TEE 0, SNP 8, microcode 0x73 (bytes 0, 1, 6, 7 of the TCB_VERSION). */
const DEFAULT_TCB = 0x7308000000000003n;

/**
 * The platform security processor of one VM's platform: it owns the report-signing
 * key, measures the launch, and answers report requests. The host drives the
 * launch (it is the host that loads the image), which is why what is measured is
 * what the host actually loaded.
 */
export class PlatformSecurityProcessor {
  readonly #privateKey: KeyObject;
  /** The report-signing public key, SubjectPublicKeyInfo DER: what a verifier is given out of band. */
  readonly publicKeySpki: Uint8Array;
  readonly #tcb: bigint;
  readonly #platformInfo: bigint;
  readonly #chipId: Uint8Array;
  readonly #reportId: Uint8Array;
  #state: GuestLaunchState = "none";
  #digest = new LaunchDigest();
  #policy = DEFAULT_GUEST_POLICY;
  #finish: Required<LaunchFinishParams> = {
    hostData: new Uint8Array(32),
    familyId: new Uint8Array(16),
    imageId: new Uint8Array(16),
    guestSvn: 0,
  };
  #measurement: Uint8Array | undefined;
  /** Reports signed so far. */
  reportsIssued = 0;

  constructor(opts: PlatformSecurityProcessorOptions = {}) {
    let pair: { privateKey: KeyObject; publicKey: KeyObject };
    if (opts.seed === undefined) {
      pair = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
    } else {
      const seed =
        typeof opts.seed === "number" ? new TextEncoder().encode(`seed:${opts.seed}`) : opts.seed.slice();
      pair = deriveKeyPair(seed);
    }
    this.#privateKey = pair.privateKey;
    this.publicKeySpki = new Uint8Array(pair.publicKey.export({ format: "der", type: "spki" }));
    this.#tcb = opts.tcb ?? DEFAULT_TCB;
    this.#platformInfo = opts.platformInfo ?? 0x1n;
    const idLabel = new TextEncoder().encode("hvcoco chip id");
    this.#chipId = new Uint8Array(64);
    this.#chipId.set(sha384(idLabel, this.publicKeySpki));
    this.#chipId.set(sha384(idLabel, this.#chipId.subarray(0, 48)).subarray(0, 16), 48);
    this.#reportId = sha384(new TextEncoder().encode("hvcoco report id"), this.publicKeySpki).slice(0, 32);
  }

  get state(): GuestLaunchState {
    return this.#state;
  }

  /** The launch digest once the launch has finished. */
  get measurement(): Uint8Array | undefined {
    return this.#measurement?.slice();
  }

  /** SNP_LAUNCH_START: begin measuring a guest. */
  launchStart(params: LaunchStartParams = {}): SevStatus {
    if (this.#state !== "none") return SEV_RET.INVALID_GUEST_STATE;
    this.#policy = params.policy ?? DEFAULT_GUEST_POLICY;
    this.#digest = new LaunchDigest();
    this.#state = "launching";
    return SEV_RET.SUCCESS;
  }

  /** SNP_LAUNCH_UPDATE: load and measure one page. */
  launchUpdate(page: LaunchPage): SevStatus {
    if (this.#state !== "launching") return SEV_RET.INVALID_GUEST_STATE;
    if (!Number.isSafeInteger(page.gpa) || page.gpa < 0 || page.gpa % PAGE_SIZE !== 0) {
      return SEV_RET.INVALID_ADDRESS;
    }
    const measured = page.type === SNP_PAGE_TYPE.NORMAL || page.type === SNP_PAGE_TYPE.VMSA;
    if (measured && page.contents?.length !== PAGE_SIZE) return SEV_RET.INVALID_LEN;
    this.#digest.update(page.type, page.gpa, page.contents);
    return SEV_RET.SUCCESS;
  }

  /** SNP_LAUNCH_FINISH: the measurement is fixed from here on. */
  launchFinish(params: LaunchFinishParams = {}): SevStatus {
    if (this.#state !== "launching") return SEV_RET.INVALID_GUEST_STATE;
    if (params.hostData !== undefined && params.hostData.length !== 32) return SEV_RET.INVALID_LEN;
    if (params.familyId !== undefined && params.familyId.length !== 16) return SEV_RET.INVALID_LEN;
    if (params.imageId !== undefined && params.imageId.length !== 16) return SEV_RET.INVALID_LEN;
    this.#finish = {
      hostData: params.hostData?.slice() ?? new Uint8Array(32),
      familyId: params.familyId?.slice() ?? new Uint8Array(16),
      imageId: params.imageId?.slice() ?? new Uint8Array(16),
      guestSvn: (params.guestSvn ?? 0) >>> 0,
    };
    this.#measurement = this.#digest.value();
    this.#state = "running";
    return SEV_RET.SUCCESS;
  }

  /** LAUNCH_START, one LAUNCH_UPDATE per page in order, LAUNCH_FINISH; the first failing status stops it. */
  launch(
    pages: readonly LaunchPage[],
    start: LaunchStartParams = {},
    finish: LaunchFinishParams = {},
  ): SevStatus {
    let st = this.launchStart(start);
    for (const p of pages) {
      if (st !== SEV_RET.SUCCESS) return st;
      st = this.launchUpdate(p);
    }
    if (st !== SEV_RET.SUCCESS) return st;
    return this.launchFinish(finish);
  }

  /** Build and sign a report for `reportData` (64 bytes) at `vmpl`. */
  getReport(reportData: Uint8Array, vmpl: number): ReportResult {
    if (this.#state !== "running" || this.#measurement === undefined)
      return { status: SEV_RET.INVALID_GUEST_STATE };
    if (reportData.length !== REPORT_DATA_SIZE) return { status: SEV_RET.INVALID_PARAM };
    if (!Number.isInteger(vmpl) || vmpl < 0 || vmpl > 3) return { status: SEV_RET.INVALID_PARAM };
    const L = ATTESTATION_REPORT;
    const report = new Uint8Array(L.size);
    const dv = new DataView(report.buffer);
    dv.setUint32(L.off.version, ATTESTATION_REPORT_VERSION, true);
    dv.setUint32(L.off.guest_svn, this.#finish.guestSvn, true);
    dv.setBigUint64(L.off.policy, this.#policy, true);
    report.set(this.#finish.familyId, L.off.family_id);
    report.set(this.#finish.imageId, L.off.image_id);
    dv.setUint32(L.off.vmpl, vmpl, true);
    dv.setUint32(L.off.signature_algo, SIG_ALGO_ECDSA_P384_SHA384, true);
    dv.setBigUint64(L.off.platform_version, this.#tcb, true);
    dv.setBigUint64(L.off.platform_info, this.#platformInfo, true);
    dv.setUint32(L.off.flags, 0, true);
    report.set(reportData, L.off.report_data);
    report.set(this.#measurement, L.off.measurement);
    report.set(this.#finish.hostData, L.off.host_data);
    report.set(this.#reportId, L.off.report_id);
    report.fill(0xff, L.off.report_id_ma, L.off.report_id_ma + 32);
    dv.setBigUint64(L.off.reported_tcb, this.#tcb, true);
    report.set(this.#chipId, L.off.chip_id);
    const rs = sign("sha384", report.subarray(0, REPORT_SIGNED_SIZE), {
      key: this.#privateKey,
      dsaEncoding: "ieee-p1363",
    });
    const sigAt = L.off.signature;
    for (let i = 0; i < P384_COMPONENT; i++) {
      report[sigAt + SNP_SIGNATURE.off.r + i] = rs[P384_COMPONENT - 1 - i]!;
      report[sigAt + SNP_SIGNATURE.off.s + i] = rs[2 * P384_COMPONENT - 1 - i]!;
    }
    this.reportsIssued++;
    return { status: SEV_RET.SUCCESS, report };
  }

  /**
   * MSG_REPORT_REQ in, MSG_REPORT_RSP out (byte level). `requesterVmpl` is the VMPL
   * the request came from: a report may not claim a more privileged VMPL.
   */
  handleReportRequest(request: Uint8Array, requesterVmpl: number): Uint8Array {
    const rsp = new Uint8Array(MSG_REPORT_RSP.size);
    const out = new DataView(rsp.buffer);
    const fail = (status: SevStatus): Uint8Array => {
      out.setUint32(MSG_REPORT_RSP.off.status, status, true);
      return rsp;
    };
    if (request.length !== MSG_REPORT_REQ.size) return fail(SEV_RET.INVALID_PARAM);
    const dv = new DataView(request.buffer, request.byteOffset, request.byteLength);
    const vmpl = dv.getUint32(MSG_REPORT_REQ.off.vmpl, true);
    const keySel = dv.getUint32(MSG_REPORT_REQ.off.key_sel, true);
    if (vmpl < requesterVmpl || vmpl > 3 || (keySel & ~0x3) !== 0 || keySel === 3)
      return fail(SEV_RET.INVALID_PARAM);
    for (let i = MSG_REPORT_REQ.off.reserved; i < MSG_REPORT_REQ.size; i++) {
      if (request[i] !== 0) return fail(SEV_RET.INVALID_PARAM);
    }
    const got = this.getReport(
      request.slice(MSG_REPORT_REQ.off.report_data, MSG_REPORT_REQ.off.report_data + REPORT_DATA_SIZE),
      vmpl,
    );
    if (!("report" in got)) return fail(got.status);
    out.setUint32(MSG_REPORT_RSP.off.report_size, got.report.length, true);
    rsp.set(got.report, MSG_REPORT_RSP.off.report);
    return rsp;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [
      this.#privateKey,
      this.#tcb,
      this.#platformInfo,
      this.#chipId,
      this.#reportId,
      this.#state,
      this.#digest,
      this.#policy,
      this.#finish,
      this.#measurement,
    ];
  }
  load(s: unknown[]): void {
    this.#state = s[5] as never;
    this.#digest = s[6] as never;
    this.#policy = s[7] as never;
    this.#finish = s[8] as never;
    this.#measurement = s[9] as never;
  }
}
