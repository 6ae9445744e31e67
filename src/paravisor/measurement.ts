// What the guest trusts about the paravisor, and how it checks (C25).
//
// The paravisor image (its code, its measured configuration and its initial
// processor state) is loaded by the untrusted host but measured by the platform
// security processor as it is loaded (src/platform/attestation.ts): a running
// SHA-384 over one PAGE_INFO per page, exactly as SNP_LAUNCH_UPDATE does. The
// guest later asks for a report carrying 64 bytes of its own data, and checks here
// that (1) the platform signed it, (2) the measurement is the one it expects for a
// genuine paravisor image, and (3) the report data is what it asked for. A host
// that changed one byte of the image gets a different measurement, and the
// verdict says so.
//
// This module also holds the hash functions the vTPM uses for its PCR banks, so
// that node:crypto stays in the two modules allowed to import it.

import { createHash } from "node:crypto";
import {
  ATTESTATION_REPORT,
  computeLaunchDigest,
  type LaunchPage,
  MEASUREMENT_SIZE,
  parseAttestationReport,
  REPORT_DATA_SIZE,
  SNP_PAGE_TYPE,
  type SnpAttestationReport,
  VMSA_GPA,
  verifyReportSignature,
} from "../platform/attestation.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import { readonlyBytes } from "../util/snapshot-hints.ts";

export type HashName = "sha1" | "sha256" | "sha384";

/** One-shot digest of `parts` concatenated. */
export function digest(alg: HashName, ...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** The paravisor image as the host hands it to the platform: pages in load order. */
export interface ParavisorImage {
  readonly pages: readonly LaunchPage[];
}

export interface ParavisorImageSpec {
  /** GPA of the first code page (page aligned). Default 0x0080_0000. */
  baseGpa?: number;
  /** The paravisor's code and read-only data; padded with zeros to whole pages. */
  code: Uint8Array;
  /** The measured configuration page(s) (isolation type, vTOM bit, device set...), padded to a page. */
  config?: Uint8Array;
  /** Zero-filled pages after the code (its heap/stack), measured as ZERO pages. */
  zeroPages?: number;
  /** Initial state of the boot processor (the VMSA on SNP), one page; measured as a VMSA page. */
  bootVmsa?: Uint8Array;
  /** GPA of the page the platform fills with secrets (measured as SECRETS, contents not hashed). */
  secretsGpa?: number;
  /** GPA of the CPUID page (measured as CPUID, contents not hashed). */
  cpuidGpa?: number;
}

/**
 * Lay out a paravisor image: code pages (NORMAL), config pages (NORMAL), zero pages
 * (ZERO), the secrets and CPUID pages if given, then the boot VMSA (VMSA, at the
 * VMSA GPA the RMP records for it). The order is the load order and is part of what
 * is measured.
 */
export function buildParavisorImage(spec: ParavisorImageSpec): ParavisorImage {
  const base = spec.baseGpa ?? 0x0080_0000;
  if (base % PAGE_SIZE !== 0)
    throw new Error(`paravisor base GPA 0x${base.toString(16)} is not page aligned`);
  const pages: LaunchPage[] = [];
  let gpa = base;
  const addNormal = (bytes: Uint8Array): void => {
    for (let off = 0; off < bytes.length; off += PAGE_SIZE) {
      const page = new Uint8Array(PAGE_SIZE);
      page.set(bytes.subarray(off, Math.min(off + PAGE_SIZE, bytes.length)));
      pages.push(Object.freeze({ type: SNP_PAGE_TYPE.NORMAL, gpa, contents: readonlyBytes(page) }));
      gpa += PAGE_SIZE;
    }
  };
  addNormal(spec.code);
  if (spec.config !== undefined) addNormal(spec.config);
  for (let i = 0; i < (spec.zeroPages ?? 0); i++) {
    pages.push({ type: SNP_PAGE_TYPE.ZERO, gpa });
    gpa += PAGE_SIZE;
  }
  if (spec.secretsGpa !== undefined) pages.push({ type: SNP_PAGE_TYPE.SECRETS, gpa: spec.secretsGpa });
  if (spec.cpuidGpa !== undefined) pages.push({ type: SNP_PAGE_TYPE.CPUID, gpa: spec.cpuidGpa });
  if (spec.bootVmsa !== undefined) {
    if (spec.bootVmsa.length !== PAGE_SIZE) throw new Error("the boot VMSA must be exactly one page");
    pages.push(
      Object.freeze({
        type: SNP_PAGE_TYPE.VMSA,
        gpa: VMSA_GPA,
        contents: readonlyBytes(spec.bootVmsa.slice()),
      }),
    );
  }
  return { pages };
}

/**
 * The measurement a verifier expects for an image it trusts, computed the way the
 * platform computes it at launch. A relying party gets this from the published
 * image (as `sev-snp-measure` or `igvmmeasure` do for real images), not from the host.
 */
export function expectedMeasurement(image: ParavisorImage): Uint8Array {
  return computeLaunchDigest(image.pages);
}

/** A deterministic stand-in for the paravisor's code, for tests and the default VM. */
export function referenceParavisorImage(
  opts: { isolation?: "snp" | "tdx"; vtomBit?: number } = {},
): ParavisorImage {
  const code = new Uint8Array(3 * PAGE_SIZE);
  const text = new TextEncoder().encode("hvcoco paravisor (OpenHCL-like) image v1\0");
  for (let i = 0; i < code.length; i++) code[i] = text[i % text.length]! ^ (i >>> 8);
  const config = new Uint8Array(64);
  const dv = new DataView(config.buffer);
  dv.setUint32(0, 0x4c435648, true); // "HVCL": config page signature
  dv.setUint32(4, opts.isolation === "tdx" ? 3 : 2, true); // HvIsolationType: 2 SNP, 3 TDX
  dv.setUint32(8, opts.vtomBit ?? 46, true); // shared GPA boundary bit
  const vmsa = new Uint8Array(PAGE_SIZE);
  new DataView(vmsa.buffer).setBigUint64(0x178, 0x0080_0000n, true); // RIP: the paravisor's entry point
  return buildParavisorImage({ code, config, zeroPages: 2, bootVmsa: vmsa });
}

/** Why a report was not accepted. */
export const ATTESTATION_REASONS = [
  "bad-signature",
  "measurement-mismatch",
  "report-data-mismatch",
  "malformed",
] as const;
export type AttestationFailure = (typeof ATTESTATION_REASONS)[number];

export type AttestationVerdict =
  | { ok: true; reason: "ok"; report: SnpAttestationReport }
  | { ok: false; reason: AttestationFailure; detail: string };

export interface AttestationExpectations {
  /** The platform's report-signing public key (SubjectPublicKeyInfo DER), obtained out of band. */
  platformKey: Uint8Array;
  /** The measurement of the paravisor image the guest trusts (48 bytes). */
  measurement: Uint8Array;
  /** The 64 bytes the guest put in its request (a fresh nonce, a key hash...). */
  reportData: Uint8Array;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function hex(b: Uint8Array, n = 8): string {
  return Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The guest's check of a report about its paravisor. Order: shape first (a report
 * that cannot be parsed says nothing), then the platform's signature (nothing in an
 * unsigned report can be believed), then the measurement, then the report data.
 * The verdict depends only on the bytes and the expectations.
 */
export function verifyParavisorReport(
  report: Uint8Array,
  expect: AttestationExpectations,
): AttestationVerdict {
  if (expect.measurement.length !== MEASUREMENT_SIZE) {
    throw new Error(
      `expected measurement must be ${MEASUREMENT_SIZE} bytes, got ${expect.measurement.length}`,
    );
  }
  if (expect.reportData.length !== REPORT_DATA_SIZE) {
    throw new Error(
      `expected report data must be ${REPORT_DATA_SIZE} bytes, got ${expect.reportData.length}`,
    );
  }
  const parsed = parseAttestationReport(report);
  if (!parsed.ok) return { ok: false, reason: "malformed", detail: parsed.detail };
  if (!verifyReportSignature(report, expect.platformKey)) {
    return { ok: false, reason: "bad-signature", detail: "the report is not signed by the platform's key" };
  }
  const r = parsed.report;
  if (!sameBytes(r.measurement, expect.measurement)) {
    return {
      ok: false,
      reason: "measurement-mismatch",
      detail: `measurement ${hex(r.measurement)}… is not the expected ${hex(expect.measurement)}…`,
    };
  }
  if (!sameBytes(r.reportData, expect.reportData)) {
    return {
      ok: false,
      reason: "report-data-mismatch",
      detail: `report data ${hex(r.reportData)}… is not what the guest asked for (${hex(expect.reportData)}…)`,
    };
  }
  return { ok: true, reason: "ok", report: r };
}

/** Offsets the verifier relies on, re-exported for callers that build or tamper with reports. */
export const REPORT_OFFSETS = {
  reportData: ATTESTATION_REPORT.off.report_data,
  measurement: ATTESTATION_REPORT.off.measurement,
  signature: ATTESTATION_REPORT.off.signature,
} as const;
