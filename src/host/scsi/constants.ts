// SCSI numbers the target uses: operation codes (SPC-4, SBC-3; include/scsi/scsi_proto.h),
// SAM status codes, sense keys and additional sense codes (include/scsi/scsi_common.h
// names the same values).

/** Operation codes the target implements. */
export const ScsiOp = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  INQUIRY: 0x12,
  MODE_SENSE_6: 0x1a,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SYNCHRONIZE_CACHE_10: 0x35,
  MODE_SENSE_10: 0x5a,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  SYNCHRONIZE_CACHE_16: 0x91,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
} as const;

/** SERVICE ACTION IN(16) service actions. */
export const ScsiServiceAction = {
  READ_CAPACITY_16: 0x10,
} as const;

/** SAM status (SAM_STAT_*). */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  BUSY: 0x08,
} as const;

/** Sense keys. */
export const SenseKey = {
  NO_SENSE: 0x0,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  ABORTED_COMMAND: 0xb,
} as const;

/** Additional sense code and qualifier pairs, as (asc << 8) | ascq. */
export const Asc = {
  NO_ADDITIONAL_SENSE: 0x0000,
  WRITE_ERROR: 0x0c00,
  UNRECOVERED_READ_ERROR: 0x1100,
  INVALID_COMMAND_OPERATION_CODE: 0x2000,
  LBA_OUT_OF_RANGE: 0x2100,
  INVALID_FIELD_IN_CDB: 0x2400,
  LOGICAL_UNIT_NOT_SUPPORTED: 0x2500,
  WRITE_PROTECTED: 0x2700,
  SAVING_PARAMETERS_NOT_SUPPORTED: 0x3900,
} as const;

/** Fixed-format sense data: 18 bytes (response code 0x70, additional length 10). */
export const FIXED_SENSE_LENGTH = 18;

/** The CDB length an operation code's group implies (SAM-5 §5.2); 0 = vendor/reserved group. */
export function cdbLengthOfGroup(opcode: number): number {
  switch (opcode >>> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;
  }
}
