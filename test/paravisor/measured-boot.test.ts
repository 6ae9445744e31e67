// C25 at boot: the platform measures the paravisor image as the host loads it; the
// guest asks for a report with a nonce of its own and checks signature, measurement
// and nonce. A host that changes one byte of the image is caught.
import assert from "node:assert/strict";
import { test } from "node:test";
import { trustedParavisorMeasurement } from "../../src/guest/attest.ts";
import {
  expectedMeasurement,
  referenceParavisorImage,
  verifyParavisorReport,
} from "../../src/paravisor/measurement.ts";
import { MEASUREMENT_SIZE } from "../../src/platform/attestation.ts";
import { paravisorImageFor, tamperImage } from "../../src/vm/launch.ts";
import { runConfiguration } from "../../src/vm/run.ts";
import { Vm } from "../../src/vm/vm.ts";
import { bootVm, config } from "../helpers.ts";

test("C25: at paravisor boot the platform measures the image and the guest verifies a report carrying its own nonce", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "paravisor" });
    const a = vm.guest.attestation;
    assert.equal(a.state, "verified", iso);
    if (a.state !== "verified") continue;
    // The measurement is the launch digest of the reference image, as a verifier computes it.
    const published = expectedMeasurement(
      referenceParavisorImage({ isolation: iso, vtomBit: vm.platform.sharedBoundaryBits }),
    );
    assert.deepEqual([...a.measurement], [...published]);
    assert.deepEqual([...vm.platform.psp.measurement!], [...published]);
    assert.equal(a.nonce.length, 64);
    assert.ok(
      a.nonce.some((b) => b !== 0),
      "a real nonce",
    );
    assert.equal(vm.platform.psp.reportsIssued, 1);
    assert.ok(vm.guest.dmesg.includes("attestation: paravisor measurement verified"));
    assert.equal(vm.audit.boundary.counts.measurement, 1);
    assert.equal(vm.audit.boundary.counts.attestation, 1);
  }
  // Without a paravisor there is nothing to attest.
  assert.equal(bootVm({ isolation: "snp", mode: "enlightened" }).guest.attestation.state, "none");
});

test("C25: the platform's key and the nonce come from the VM's seed: a replay verifies the same, another seed differs", () => {
  const a = bootVm({ isolation: "snp", mode: "paravisor", seed: 5 });
  const b = bootVm({ isolation: "snp", mode: "paravisor", seed: 5 });
  const c = bootVm({ isolation: "snp", mode: "paravisor", seed: 6 });
  assert.deepEqual([...a.platform.psp.publicKeySpki], [...b.platform.psp.publicKeySpki]);
  assert.notDeepEqual([...a.platform.psp.publicKeySpki], [...c.platform.psp.publicKeySpki]);
  const na = a.guest.attestation.state === "verified" ? a.guest.attestation.nonce : undefined;
  const nb = b.guest.attestation.state === "verified" ? b.guest.attestation.nonce : undefined;
  assert.deepEqual(na, nb);
});

test("C25: a paravisor image with one byte changed fails verification (measurement-mismatch); the guest logs it and is not attested", () => {
  // By configuration ...
  const vm = bootVm({ isolation: "snp", mode: "paravisor", paravisorImage: "tampered" });
  assert.equal(vm.bootOutcome?.ok, true, "the guest boots on, not attested");
  const a = vm.guest.attestation;
  assert.equal(a.state, "failed");
  assert.equal(a.state === "failed" ? a.reason : "", "measurement-mismatch");
  assert.ok(vm.guest.dmesg.some((l) => /paravisor NOT attested \(measurement-mismatch\)/.test(l)));
  assert.ok(vm.audit.rejections.some((r) => r.code === "HVCOCO_REJECT_ATTESTATION"));
  // ... or by a test hook on the image the host is about to load.
  const vm2 = new Vm(config({ isolation: "tdx", mode: "paravisor" }));
  vm2.paravisorImage = tamperImage(vm2.paravisorImage!, 1, 7);
  vm2.boot();
  assert.equal(vm2.guest.attestation.state, "failed");
  // `hvcoco run` shows it.
  const rows = [
    runConfiguration(config({ isolation: "snp", mode: "paravisor" })).row,
    runConfiguration(config({ isolation: "snp", mode: "paravisor", paravisorImage: "tampered" })).row,
    runConfiguration(config({ isolation: "snp", mode: "enlightened" })).row,
  ];
  assert.deepEqual(
    rows.map((r) => [r.name, r.attestation]),
    [
      ["snp-paravisor", "yes"],
      ["snp-paravisor-tampered", "no"],
      ["snp-enlightened", "-"],
    ],
  );
});

test("C25 negative control: the tampered image's report is validly signed and carries the guest's nonce: only the measurement check catches it", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor", paravisorImage: "tampered" });
  const psp = vm.platform.psp;
  const nonce = new Uint8Array(64).fill(9);
  const got = psp.getReport(nonce, 2);
  assert.ok("report" in got);
  const report = got.report;
  // A guest that checked only the signature and the nonce would accept it:
  const tamperedMeasurement = expectedMeasurement(paravisorImageFor(vm.platform));
  assert.equal(tamperedMeasurement.length, MEASUREMENT_SIZE);
  const lax = verifyParavisorReport(report, {
    platformKey: psp.publicKeySpki,
    measurement: tamperedMeasurement,
    reportData: nonce,
  });
  assert.equal(lax.ok, true);
  // The guest's real check, against the published image's measurement, refuses it.
  const strict = verifyParavisorReport(report, {
    platformKey: psp.publicKeySpki,
    measurement: trustedParavisorMeasurement(vm.guest),
    reportData: nonce,
  });
  assert.equal(strict.ok, false);
  assert.equal(strict.ok ? "" : strict.reason, "measurement-mismatch");
});
