// The layout section `hvcoco layout` prints for the paravisor's devices: every
// struct is present and its sizes are those of the specs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PARAVISOR_DEVICES_LAYOUT } from "../../src/paravisor/devices-layout.ts";
import { HV_IOAPIC_BASE_ADDRESS, IOAPIC_MMIO } from "../../src/paravisor/ioapic.ts";
import {
  TPM_CC,
  TPM_COMMAND_HEADER,
  TPM_RESPONSE_HEADER,
  TPM_ST,
  TPM2_GETCAPABILITY_COMMAND,
  TPM2_GETRANDOM_COMMAND,
  TPM2_PCR_EXTEND_RESPONSE,
  TPM2_PCR_EXTEND_SHA256_COMMAND,
  TPM2_PCR_READ_COMMAND,
  TPM2_STARTUP_COMMAND,
  VTPM_BASE_ADDRESS,
} from "../../src/paravisor/tpm/constants.ts";

test("device MMIO pages are the ones hv_is_private_mmio() maps encrypted (C12)", () => {
  assert.equal(HV_IOAPIC_BASE_ADDRESS, 0xfec00000);
  assert.equal(VTPM_BASE_ADDRESS, 0xfed40000);
  const names = PARAVISOR_DEVICES_LAYOUT.constants.map((c) => c.name);
  assert.ok(names.includes("HV_IOAPIC_BASE_ADDRESS"));
  assert.ok(names.includes("VTPM_BASE_ADDRESS"));
});

test("TPM headers and fixed-shape commands have their TCG sizes", () => {
  assert.equal(TPM_COMMAND_HEADER.size, 10);
  assert.equal(TPM_RESPONSE_HEADER.size, 10);
  assert.equal(TPM_COMMAND_HEADER.off.commandCode, 6);
  assert.equal(TPM2_STARTUP_COMMAND.size, 12);
  assert.equal(TPM2_GETRANDOM_COMMAND.size, 12);
  assert.equal(TPM2_GETCAPABILITY_COMMAND.size, 22);
  assert.equal(TPM2_PCR_EXTEND_SHA256_COMMAND.size, 65);
  assert.equal(TPM2_PCR_EXTEND_SHA256_COMMAND.off.authorizationSize, 14);
  assert.equal(TPM2_PCR_EXTEND_SHA256_COMMAND.off["digests.count"], 27);
  assert.equal(TPM2_PCR_EXTEND_RESPONSE.size, 19);
  assert.equal(TPM2_PCR_READ_COMMAND.size, 20);
  assert.equal(IOAPIC_MMIO.off.iowin, 0x10);
});

test("TPM constants: tags and command codes of TCG Part 2", () => {
  assert.equal(TPM_ST.NO_SESSIONS, 0x8001);
  assert.equal(TPM_ST.SESSIONS, 0x8002);
  assert.equal(TPM_CC.Startup, 0x144);
  assert.equal(TPM_CC.GetRandom, 0x17b);
  assert.equal(TPM_CC.GetCapability, 0x17a);
  assert.equal(TPM_CC.PCR_Extend, 0x182);
  assert.equal(TPM_CC.PCR_Read, 0x17e);
});

test("the layout section lists every struct once, with contiguous fields", () => {
  const s = PARAVISOR_DEVICES_LAYOUT;
  assert.equal(s.section, "paravisor-devices");
  const names = s.structs.map((x) => x.name);
  assert.equal(new Set(names).size, names.length);
  for (const name of [
    "IOAPIC MMIO window",
    "IOAPIC redirection table entry",
    "TPM_CRB locality 0 registers",
    "TPM2_COMMAND_HEADER",
    "TPM2_RESPONSE_HEADER",
    "ATTESTATION_REPORT",
    "PAGE_INFO",
  ]) {
    assert.ok(names.includes(name), name);
  }
  for (const st of s.structs) {
    let at = 0;
    for (const f of st.fields) {
      assert.equal(f.offset, at, `${st.name}.${f.name}`);
      at += f.size * f.count;
    }
    assert.ok(at <= st.size, st.name);
    assert.ok(st.header.length > 0);
  }
  for (const c of s.constants) assert.ok(c.header.length > 0, c.name);
});
