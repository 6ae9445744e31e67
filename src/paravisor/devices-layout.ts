// The wire formats and ABI constants of the paravisor's emulated devices (IO-APIC,
// vTPM over CRB) and of the platform's attestation report, as one section for
// `hvcoco layout`.

import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf } from "../layout/struct.ts";
import {
  ATTESTATION_CONSTANTS,
  ATTESTATION_REPORT,
  MSG_REPORT_REQ,
  MSG_REPORT_RSP,
  PAGE_INFO,
  SNP_SIGNATURE,
} from "../platform/attestation.ts";
import { IOAPIC_CONSTANTS, IOAPIC_MMIO, IOAPIC_REDIRECTION_ENTRY } from "./ioapic.ts";
import {
  TPM_COMMAND_HEADER,
  TPM_CONSTANTS,
  TPM_RESPONSE_HEADER,
  TPM2_GETCAPABILITY_COMMAND,
  TPM2_GETCAPABILITY_RESPONSE,
  TPM2_GETRANDOM_COMMAND,
  TPM2_GETRANDOM_RESPONSE,
  TPM2_PCR_EXTEND_RESPONSE,
  TPM2_PCR_EXTEND_SHA256_COMMAND,
  TPM2_PCR_READ_COMMAND,
  TPM2_PCR_READ_RESPONSE,
  TPM2_STARTUP_COMMAND,
} from "./tpm/constants.ts";
import { CRB, TPM_CRB_REGS } from "./tpm/crb.ts";

export const PARAVISOR_DEVICES_LAYOUT: LayoutSection = {
  section: "paravisor-devices",
  structs: [
    IOAPIC_MMIO,
    IOAPIC_REDIRECTION_ENTRY,
    TPM_CRB_REGS,
    TPM_COMMAND_HEADER,
    TPM_RESPONSE_HEADER,
    TPM2_STARTUP_COMMAND,
    TPM2_GETRANDOM_COMMAND,
    TPM2_GETRANDOM_RESPONSE,
    TPM2_GETCAPABILITY_COMMAND,
    TPM2_GETCAPABILITY_RESPONSE,
    TPM2_PCR_EXTEND_SHA256_COMMAND,
    TPM2_PCR_EXTEND_RESPONSE,
    TPM2_PCR_READ_COMMAND,
    TPM2_PCR_READ_RESPONSE,
    PAGE_INFO,
    ATTESTATION_REPORT,
    SNP_SIGNATURE,
    MSG_REPORT_REQ,
    MSG_REPORT_RSP,
  ],
  constants: [
    ...IOAPIC_CONSTANTS,
    ...constantsOf("TPM CRB", "TCG PC Client PTP for TPM 2.0 6.5.3; drivers/char/tpm/tpm_crb.c", CRB),
    ...TPM_CONSTANTS,
    ...ATTESTATION_CONSTANTS,
  ],
};
