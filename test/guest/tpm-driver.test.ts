// Golden bytes of the TPM 2.0 commands the guest's tpm_crb driver sends at boot
// (TCG TPM 2.0 Parts 2 and 3, big-endian), and what the paravisor's vTPM received.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  pcrExtendCommand,
  TPM2_GET_RANDOM_32,
  TPM2_PCR_READ_10,
  TPM2_STARTUP_CLEAR,
} from "../../src/guest/drivers/tpm_crb.ts";
import { Vm } from "../../src/vm/vm.ts";
import { config } from "../helpers.ts";

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

test("golden: the guest's TPM2_Startup(CLEAR), GetRandom(32), PCR_Extend(10, SHA-256) and PCR_Read(SHA-256 PCR 10)", () => {
  assert.equal(hex(TPM2_STARTUP_CLEAR), "8001" + "0000000c" + "00000144" + "0000");
  assert.equal(hex(TPM2_GET_RANDOM_32), "8001" + "0000000c" + "0000017b" + "0020");
  assert.equal(
    hex(TPM2_PCR_READ_10),
    "8001" + "00000014" + "0000017e" + "00000001" + "000b" + "03" + "000400",
  );
  const d = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(
    hex(pcrExtendCommand(10, d)),
    "8002" +
      "00000041" +
      "00000182" +
      "0000000a" + // pcrHandle
      "00000009" + // authorizationSize
      "40000009" + // TPM_RS_PW
      "0000" + // nonce
      "00" + // sessionAttributes
      "0000" + // hmac: empty password
      "00000001" + // TPML_DIGEST_VALUES.count
      "000b" + // TPM_ALG_SHA256
      hex(d),
  );
});

test("the paravisor's vTPM receives exactly those commands at boot, and answers each with success", () => {
  const vm = new Vm(config({ isolation: "tdx", mode: "paravisor" }));
  const tpm = vm.paravisor!.devices.tpm;
  const cmds: string[] = [];
  const rcs: string[] = [];
  const orig = tpm.execute.bind(tpm);
  tpm.execute = (c) => {
    cmds.push(hex(c));
    const r = orig(c);
    rcs.push(hex(r.subarray(6, 10)));
    return r;
  };
  vm.boot();
  const measured = vm.guest.tpm!.measured!;
  assert.deepEqual(cmds, [
    hex(TPM2_STARTUP_CLEAR),
    hex(TPM2_GET_RANDOM_32),
    hex(pcrExtendCommand(10, measured)),
    hex(TPM2_PCR_READ_10),
  ]);
  assert.deepEqual(rcs, ["00000000", "00000000", "00000000", "00000000"]);
});
