// From a SCSI result to the vmscsi_request storvsp sends back in COMPLETE_IO
// (the fields storvsc_on_io_completion reads): srb_status, scsi_status, the sense
// data in the cdb/sense union with sense_info_length, and data_transfer_length.
import { SrbStatus, StorvscSize, type VmscsiRequest } from "../../vmbus/storvsc-proto.ts";
import { ScsiStatus } from "./constants.ts";
import type { ScsiResult } from "./target.ts";

/**
 * Fill `out` (a copy of the request's vm_srb, or the request itself) with the
 * completion of `res`:
 * - GOOD: SRB_STATUS_SUCCESS, data_transfer_length = bytes moved;
 * - CHECK CONDITION: SRB_STATUS_ERROR | AUTOSENSE_VALID, scsi_status 2, the
 *   fixed-format sense (at most the request's sense_info_length, at most 20);
 * - a buffer smaller than the command's transfer: SRB_STATUS_DATA_OVERRUN with the
 *   bytes actually moved (the one error status for which storvsc keeps the length).
 */
export function completeSrb(out: VmscsiRequest, res: ScsiResult): VmscsiRequest {
  const moved = res.dataInLength > 0 ? res.dataInLength : res.dataOutLength;
  out.scsiStatus = res.status;
  out.cdb.fill(0);
  if (res.status === ScsiStatus.CHECK_CONDITION) {
    const n = Math.min(res.senseLength, out.senseInfoLength, StorvscSize.STORVSC_SENSE_BUFFER_SIZE);
    out.cdb.set(res.sense.subarray(0, n));
    out.senseInfoLength = n;
    out.srbStatus = SrbStatus.SRB_STATUS_ERROR | (n > 0 ? SrbStatus.SRB_STATUS_AUTOSENSE_VALID : 0);
    out.dataTransferLength = 0;
  } else if (res.overrun) {
    out.srbStatus = SrbStatus.SRB_STATUS_DATA_OVERRUN;
    out.senseInfoLength = 0;
    out.dataTransferLength = moved;
  } else {
    out.srbStatus = SrbStatus.SRB_STATUS_SUCCESS;
    out.senseInfoLength = 0;
    out.dataTransferLength = moved;
  }
  return out;
}
