// The guest's check of its paravisor (C25). The paravisor image was measured by the
// platform security processor as the host loaded it (SNP_LAUNCH_UPDATE's launch
// digest); the guest asks the platform for a report carrying a fresh nonce of its
// own (RDRAND) as REPORT_DATA (MSG_REPORT_REQ through SNP_GUEST_REQUEST), and checks
// the platform's signature, the measurement against the one it expects for the
// published paravisor image, and the nonce (verifyParavisorReport).
//
// What the guest does when the check fails is the model's policy (Linux has no
// such step): it logs the reason, records the rejection, marks itself not attested
// and boots on — a relying party that asks later gets "not attested" and keeps its
// secrets. `hvcoco run` shows the verdict.
import {
  type AttestationFailure,
  expectedMeasurement,
  referenceParavisorImage,
  verifyParavisorReport,
} from "../paravisor/measurement.ts";
import {
  ATTESTATION_REPORT,
  MSG_REPORT_REQ,
  MSG_REPORT_RSP,
  REPORT_DATA_SIZE,
} from "../platform/attestation.ts";
import type { GuestKernel } from "./kernel.ts";

export type GuestAttestationState =
  | { state: "none" }
  | { state: "verified"; measurement: Uint8Array; nonce: Uint8Array }
  | { state: "failed"; reason: AttestationFailure | "request-failed"; detail: string };

/** The measurement the guest trusts: that of the published paravisor image for this isolation. */
export function trustedParavisorMeasurement(k: GuestKernel): Uint8Array {
  const info = k.info!;
  return expectedMeasurement(
    referenceParavisorImage({
      isolation: info.isolationType === "tdx" ? "tdx" : "snp",
      vtomBit: info.sharedGpaBoundaryBits,
    }),
  );
}

export function attestParavisor(k: GuestKernel): GuestAttestationState {
  const a = k.hw.attestation;
  if (!k.paravisor || !a) return { state: "none" };
  const nonce = new Uint8Array(REPORT_DATA_SIZE);
  k.hw.random(nonce);
  const req = new Uint8Array(MSG_REPORT_REQ.size);
  req.set(nonce, MSG_REPORT_REQ.off.report_data);
  // The report is for the guest's own privilege level: VMPL2 under an SNP paravisor.
  new DataView(req.buffer).setUint32(MSG_REPORT_REQ.off.vmpl, k.isolation === "snp" ? 2 : 0, true);
  const rsp = a.guestRequest(req);
  const fail = (reason: AttestationFailure | "request-failed", detail: string): GuestAttestationState => {
    k.log(`attestation: paravisor NOT attested (${reason}): ${detail}`);
    k.reject("HVCOCO_REJECT_ATTESTATION", `paravisor attestation failed (${reason}): ${detail}`);
    return { state: "failed", reason, detail };
  };
  if (rsp.length !== MSG_REPORT_RSP.size) return fail("request-failed", `response of ${rsp.length} bytes`);
  const dv = new DataView(rsp.buffer, rsp.byteOffset, rsp.byteLength);
  const status = dv.getUint32(MSG_REPORT_RSP.off.status, true);
  const size = dv.getUint32(MSG_REPORT_RSP.off.report_size, true);
  if (status !== 0 || size !== ATTESTATION_REPORT.size)
    return fail("request-failed", `status 0x${status.toString(16)}, report of ${size} bytes`);
  const report = rsp.slice(MSG_REPORT_RSP.off.report, MSG_REPORT_RSP.off.report + size);
  const expected = trustedParavisorMeasurement(k);
  const v = verifyParavisorReport(report, {
    platformKey: a.platformKey,
    measurement: expected,
    reportData: nonce,
  });
  if (!v.ok) return fail(v.reason, v.detail);
  k.log("attestation: paravisor measurement verified");
  return { state: "verified", measurement: v.report.measurement, nonce };
}
