// C25: the platform measures the paravisor image at launch and signs reports that
// the guest checks: signature, measurement, report data.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import {
  buildParavisorImage,
  expectedMeasurement,
  type ParavisorImage,
  referenceParavisorImage,
  verifyParavisorReport,
} from "../../src/paravisor/measurement.ts";
import {
  ATTESTATION_REPORT,
  MSG_REPORT_REQ,
  MSG_REPORT_RSP,
  PAGE_INFO,
  PlatformSecurityProcessor,
  SEV_RET,
  SNP_PAGE_TYPE,
  VMSA_GPA,
} from "../../src/platform/attestation.ts";

const NONCE = Uint8Array.from({ length: 64 }, (_, i) => (i * 7 + 3) & 0xff);

function launched(image: ParavisorImage, seed = 42): PlatformSecurityProcessor {
  const psp = new PlatformSecurityProcessor({ seed });
  assert.equal(psp.launch(image.pages), SEV_RET.SUCCESS);
  return psp;
}

function reportFor(psp: PlatformSecurityProcessor, data = NONCE, vmpl = 0): Uint8Array {
  const r = psp.getReport(data, vmpl);
  assert.equal(r.status, SEV_RET.SUCCESS);
  assert.ok("report" in r);
  return r.report;
}

function tamperedCopy(image: ParavisorImage, pageIndex: number, byte: number): ParavisorImage {
  return {
    pages: image.pages.map((p, i) => {
      if (i !== pageIndex || p.contents === undefined) return p;
      const contents = p.contents.slice();
      contents[byte] = contents[byte]! ^ 0x01;
      return { ...p, contents };
    }),
  };
}

test("ATTESTATION_REPORT offsets follow the SNP ABI: report_data 0x50, measurement 0x90, signature 0x2A0", () => {
  const o = ATTESTATION_REPORT.off;
  assert.equal(o.version, 0x00);
  assert.equal(o.guest_svn, 0x04);
  assert.equal(o.policy, 0x08);
  assert.equal(o.family_id, 0x10);
  assert.equal(o.image_id, 0x20);
  assert.equal(o.vmpl, 0x30);
  assert.equal(o.signature_algo, 0x34);
  assert.equal(o.platform_version, 0x38);
  assert.equal(o.platform_info, 0x40);
  assert.equal(o.flags, 0x48);
  assert.equal(o.report_data, 0x50);
  assert.equal(o.measurement, 0x90);
  assert.equal(o.host_data, 0xc0);
  assert.equal(o.id_key_digest, 0xe0);
  assert.equal(o.author_key_digest, 0x110);
  assert.equal(o.report_id, 0x140);
  assert.equal(o.report_id_ma, 0x160);
  assert.equal(o.reported_tcb, 0x180);
  assert.equal(o.chip_id, 0x1a0);
  assert.equal(o.signature, 0x2a0);
  assert.equal(ATTESTATION_REPORT.size, 0x4a0);
  assert.equal(PAGE_INFO.size, 0x70);
  assert.equal(PAGE_INFO.off.gpa, 0x68);
  assert.equal(MSG_REPORT_REQ.size, 0x60);
  assert.equal(MSG_REPORT_RSP.off.report, 0x20);
});

test("the launch digest is SHA-384 over PAGE_INFO per page, computed independently here", () => {
  const code = new Uint8Array(4096).fill(0x90);
  const vmsa = new Uint8Array(4096);
  vmsa[0x178] = 0x10;
  const image = buildParavisorImage({ baseGpa: 0x100000, code, zeroPages: 1, bootVmsa: vmsa });
  assert.deepEqual(
    image.pages.map((p) => [p.type, p.gpa]),
    [
      [SNP_PAGE_TYPE.NORMAL, 0x100000],
      [SNP_PAGE_TYPE.ZERO, 0x101000],
      [SNP_PAGE_TYPE.VMSA, VMSA_GPA],
    ],
  );
  const sha384 = (b: Uint8Array) => createHash("sha384").update(b).digest();
  const pageInfo = (ld: Uint8Array, contents: Uint8Array, type: number, gpa: bigint): Uint8Array => {
    const info = Buffer.alloc(0x70);
    info.set(ld, 0);
    info.set(contents, 0x30);
    info.writeUInt16LE(0x70, 0x60);
    info[0x62] = type;
    info.writeBigUInt64LE(gpa, 0x68);
    return info;
  };
  let ld: Uint8Array = Buffer.alloc(48);
  ld = sha384(pageInfo(ld, sha384(code), 1, 0x100000n));
  ld = sha384(pageInfo(ld, Buffer.alloc(48), 3, 0x101000n));
  ld = sha384(pageInfo(ld, sha384(vmsa), 2, 0xfffffffff000n));
  assert.equal(Buffer.from(expectedMeasurement(image)).toString("hex"), Buffer.from(ld).toString("hex"));
  const psp = launched(image);
  assert.deepEqual(psp.measurement, new Uint8Array(ld));
});

test("a genuine paravisor image: the report verifies", () => {
  const image = referenceParavisorImage();
  const psp = launched(image);
  const report = reportFor(psp);
  const verdict = verifyParavisorReport(report, {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(referenceParavisorImage()),
    reportData: NONCE,
  });
  assert.equal(verdict.reason, "ok");
  assert.ok(verdict.ok);
  assert.equal(verdict.report.version, 2);
  assert.equal(verdict.report.signatureAlgo, 1);
  assert.equal(verdict.report.policy, 0x30000n);
  assert.deepEqual(verdict.report.reportData, NONCE);
  assert.deepEqual(verdict.report.reportIdMa, new Uint8Array(32).fill(0xff));
});

test("a paravisor image with one byte changed by the host fails with measurement-mismatch", () => {
  const genuine = referenceParavisorImage();
  const tampered = tamperedCopy(genuine, 1, 0x123);
  const psp = launched(tampered);
  const verdict = verifyParavisorReport(reportFor(psp), {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(genuine),
    reportData: NONCE,
  });
  assert.equal(verdict.reason, "measurement-mismatch");
  assert.equal(verdict.ok, false);
});

test("a changed initial processor state (the boot VMSA) also fails with measurement-mismatch", () => {
  const genuine = referenceParavisorImage();
  const vmsaIndex = genuine.pages.findIndex((p) => p.type === SNP_PAGE_TYPE.VMSA);
  const psp = launched(tamperedCopy(genuine, vmsaIndex, 0x178));
  const verdict = verifyParavisorReport(reportFor(psp), {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(genuine),
    reportData: NONCE,
  });
  assert.equal(verdict.reason, "measurement-mismatch");
});

test("loading the same pages at another GPA or in another order changes the measurement", () => {
  const genuine = referenceParavisorImage();
  const moved = { pages: genuine.pages.map((p, i) => (i === 0 ? { ...p, gpa: p.gpa + 0x1000000 } : p)) };
  const swapped = { pages: [genuine.pages[1]!, genuine.pages[0]!, ...genuine.pages.slice(2)] };
  const m = Buffer.from(expectedMeasurement(genuine)).toString("hex");
  assert.notEqual(Buffer.from(expectedMeasurement(moved)).toString("hex"), m);
  assert.notEqual(Buffer.from(expectedMeasurement(swapped)).toString("hex"), m);
});

test("a report made for other report data (a replayed report) fails with report-data-mismatch", () => {
  const image = referenceParavisorImage();
  const psp = launched(image);
  const old = reportFor(psp, new Uint8Array(64).fill(0x11));
  const verdict = verifyParavisorReport(old, {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(image),
    reportData: NONCE,
  });
  assert.equal(verdict.reason, "report-data-mismatch");
});

test("report data edited inside a signed report fails with bad-signature", () => {
  const image = referenceParavisorImage();
  const psp = launched(image);
  const report = reportFor(psp, new Uint8Array(64).fill(0x11));
  report.set(NONCE, ATTESTATION_REPORT.off.report_data);
  const verdict = verifyParavisorReport(report, {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(image),
    reportData: NONCE,
  });
  assert.equal(verdict.reason, "bad-signature");
});

test("a measurement edited inside a signed report fails with bad-signature", () => {
  const genuine = referenceParavisorImage();
  const psp = launched(tamperedCopy(genuine, 0, 0));
  const report = reportFor(psp);
  report.set(expectedMeasurement(genuine), ATTESTATION_REPORT.off.measurement);
  const verdict = verifyParavisorReport(report, {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(genuine),
    reportData: NONCE,
  });
  assert.equal(verdict.reason, "bad-signature");
});

test("a flipped signature byte (in R, in S, in the zero extension or the reserved area) fails with bad-signature", () => {
  const image = referenceParavisorImage();
  const psp = launched(image);
  const report = reportFor(psp);
  const sig = ATTESTATION_REPORT.off.signature;
  for (const at of [sig + 0, sig + 47, sig + 0x48, sig + 0x48 + 20, sig + 60, sig + 0x100]) {
    const bad = report.slice();
    bad[at] = bad[at]! ^ 0x80;
    const verdict = verifyParavisorReport(bad, {
      platformKey: psp.publicKeySpki,
      measurement: expectedMeasurement(image),
      reportData: NONCE,
    });
    assert.equal(verdict.reason, "bad-signature", `byte 0x${at.toString(16)}`);
  }
});

test("a report signed by another platform's key fails with bad-signature", () => {
  const image = referenceParavisorImage();
  const psp = launched(image, 1);
  const other = new PlatformSecurityProcessor({ seed: 2 });
  const verdict = verifyParavisorReport(reportFor(psp), {
    platformKey: other.publicKeySpki,
    measurement: expectedMeasurement(image),
    reportData: NONCE,
  });
  assert.equal(verdict.reason, "bad-signature");
});

test("a truncated, extended or unsupported report is malformed", () => {
  const image = referenceParavisorImage();
  const psp = launched(image);
  const report = reportFor(psp);
  const expect = {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(image),
    reportData: NONCE,
  };
  assert.equal(verifyParavisorReport(report.subarray(0, 0x2a0), expect).reason, "malformed");
  assert.equal(verifyParavisorReport(report.subarray(0, 0x49f), expect).reason, "malformed");
  assert.equal(verifyParavisorReport(new Uint8Array(0), expect).reason, "malformed");
  const longer = new Uint8Array(report.length + 1);
  longer.set(report);
  assert.equal(verifyParavisorReport(longer, expect).reason, "malformed");
  const v1 = report.slice();
  v1[0] = 1;
  assert.equal(verifyParavisorReport(v1, expect).reason, "malformed");
  const algo = report.slice();
  algo[ATTESTATION_REPORT.off.signature_algo] = 2;
  assert.equal(verifyParavisorReport(algo, expect).reason, "malformed");
});

test("the verdict is deterministic although ECDSA signatures are randomized", () => {
  const image = referenceParavisorImage();
  const psp = launched(image);
  const a = reportFor(psp);
  const b = reportFor(psp);
  assert.deepEqual(a.subarray(0, 0x2a0), b.subarray(0, 0x2a0), "signed bytes are identical");
  const expect = {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(image),
    reportData: NONCE,
  };
  assert.equal(verifyParavisorReport(a, expect).reason, "ok");
  assert.equal(verifyParavisorReport(b, expect).reason, "ok");
});

test("the platform key derives from the run's seed: same seed, same key; other seed, other key", () => {
  const a = new PlatformSecurityProcessor({ seed: 9 });
  const b = new PlatformSecurityProcessor({ seed: 9 });
  const c = new PlatformSecurityProcessor({ seed: 10 });
  assert.deepEqual(a.publicKeySpki, b.publicKeySpki);
  assert.notDeepEqual(a.publicKeySpki, c.publicKeySpki);
  assert.equal(a.publicKeySpki.length, 120, "SubjectPublicKeyInfo of a P-384 key");
});

test("the platform enforces the launch sequence and parameters", () => {
  const psp = new PlatformSecurityProcessor({ seed: 3 });
  assert.equal(psp.getReport(NONCE, 0).status, SEV_RET.INVALID_GUEST_STATE, "no report before launch");
  assert.equal(psp.launchUpdate({ type: SNP_PAGE_TYPE.ZERO, gpa: 0 }), SEV_RET.INVALID_GUEST_STATE);
  assert.equal(psp.launchStart(), SEV_RET.SUCCESS);
  assert.equal(psp.launchStart(), SEV_RET.INVALID_GUEST_STATE);
  assert.equal(psp.launchUpdate({ type: SNP_PAGE_TYPE.ZERO, gpa: 0x1001 }), SEV_RET.INVALID_ADDRESS);
  assert.equal(psp.launchUpdate({ type: SNP_PAGE_TYPE.NORMAL, gpa: 0x1000 }), SEV_RET.INVALID_LEN);
  assert.equal(
    psp.launchUpdate({ type: SNP_PAGE_TYPE.NORMAL, gpa: 0x1000, contents: new Uint8Array(100) }),
    SEV_RET.INVALID_LEN,
  );
  assert.equal(psp.launchUpdate({ type: SNP_PAGE_TYPE.ZERO, gpa: 0x2000 }), SEV_RET.SUCCESS);
  assert.equal(psp.getReport(NONCE, 0).status, SEV_RET.INVALID_GUEST_STATE, "no report before LAUNCH_FINISH");
  assert.equal(psp.launchFinish(), SEV_RET.SUCCESS);
  assert.equal(psp.state, "running");
  assert.equal(
    psp.launchUpdate({ type: SNP_PAGE_TYPE.ZERO, gpa: 0x3000 }),
    SEV_RET.INVALID_GUEST_STATE,
    "the measurement is fixed after LAUNCH_FINISH",
  );
  assert.equal(psp.getReport(NONCE, 4).status, SEV_RET.INVALID_PARAM);
  assert.equal(psp.getReport(new Uint8Array(32), 0).status, SEV_RET.INVALID_PARAM);
});

test("MSG_REPORT_REQ/MSG_REPORT_RSP: a request below the requester's VMPL is refused; a good one verifies", () => {
  const image = referenceParavisorImage();
  const psp = launched(image);
  const req = new Uint8Array(MSG_REPORT_REQ.size);
  req.set(NONCE, MSG_REPORT_REQ.off.report_data);
  new DataView(req.buffer).setUint32(MSG_REPORT_REQ.off.vmpl, 0, true);
  const refused = psp.handleReportRequest(req, 2);
  assert.equal(
    new DataView(refused.buffer).getUint32(MSG_REPORT_RSP.off.status, true),
    SEV_RET.INVALID_PARAM,
  );
  assert.equal(new DataView(refused.buffer).getUint32(MSG_REPORT_RSP.off.report_size, true), 0);

  new DataView(req.buffer).setUint32(MSG_REPORT_REQ.off.vmpl, 2, true);
  const rsp = psp.handleReportRequest(req, 2);
  const dv = new DataView(rsp.buffer);
  assert.equal(dv.getUint32(MSG_REPORT_RSP.off.status, true), 0);
  assert.equal(dv.getUint32(MSG_REPORT_RSP.off.report_size, true), 0x4a0);
  const report = rsp.subarray(MSG_REPORT_RSP.off.report);
  const verdict = verifyParavisorReport(report, {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(image),
    reportData: NONCE,
  });
  assert.ok(verdict.ok);
  assert.equal(verdict.report.vmpl, 2);

  const reserved = req.slice();
  reserved[MSG_REPORT_REQ.off.reserved] = 1;
  assert.equal(
    new DataView(psp.handleReportRequest(reserved, 2).buffer).getUint32(0, true),
    SEV_RET.INVALID_PARAM,
  );
  assert.equal(
    new DataView(psp.handleReportRequest(req.subarray(0, 10), 2).buffer).getUint32(0, true),
    SEV_RET.INVALID_PARAM,
  );
});

test("host data and ID-block fields given at LAUNCH_FINISH appear in the report", () => {
  const image = referenceParavisorImage();
  const psp = new PlatformSecurityProcessor({ seed: 5 });
  const hostData = new Uint8Array(32).fill(0x5a);
  const imageId = new Uint8Array(16).fill(0x17);
  assert.equal(
    psp.launch(image.pages, { policy: 0x30000n }, { hostData, imageId, guestSvn: 3 }),
    SEV_RET.SUCCESS,
  );
  const verdict = verifyParavisorReport(reportFor(psp), {
    platformKey: psp.publicKeySpki,
    measurement: expectedMeasurement(image),
    reportData: NONCE,
  });
  assert.ok(verdict.ok);
  assert.deepEqual(verdict.report.hostData, hostData);
  assert.deepEqual(verdict.report.imageId, imageId);
  assert.equal(verdict.report.guestSvn, 3);
});
