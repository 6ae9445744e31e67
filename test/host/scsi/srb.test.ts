import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryDisk } from "../../../src/host/backends/memory-disk.ts";
import { parseFixedSense } from "../../../src/host/scsi/sense.ts";
import { completeSrb } from "../../../src/host/scsi/srb.ts";
import { ScsiTarget } from "../../../src/host/scsi/target.ts";
import {
  decodeVstorPacket,
  encodeVstorPacket,
  isStorvscFault,
  newSrb,
  readSrb,
  SrbStatus,
  StorvscRequestType,
  VstorOperation,
} from "../../../src/vmbus/storvsc-proto.ts";

const t = new ScsiTarget([new MemoryDisk({ bytes: 1024 * 1024 })]);

/** storvsp without VMBus: bytes of an EXECUTE_SRB in, bytes of the COMPLETE_IO out. */
function storvsp(request: Uint8Array, data: { dataIn?: Uint8Array; dataOut?: Uint8Array }): Uint8Array {
  const p = decodeVstorPacket(request);
  if (isStorvscFault(p)) throw new Error(p.detail);
  const srb = readSrb(p);
  const res = t.execute({ lun: srb.lun, cdb: srb.cdb, cdbLength: srb.cdbLength, ...data });
  return encodeVstorPacket(
    { operation: VstorOperation.VSTOR_OPERATION_COMPLETE_IO },
    { srb: completeSrb(srb, res) },
  );
}

function request(cdb: number[], len: number, dataIn: number): Uint8Array {
  const s = newSrb();
  s.cdbLength = cdb.length;
  s.cdb.set(cdb);
  s.dataIn = dataIn;
  s.dataTransferLength = len;
  return encodeVstorPacket({ operation: VstorOperation.VSTOR_OPERATION_EXECUTE_SRB, flags: 1 }, { srb: s });
}

function completion(b: Uint8Array) {
  const p = decodeVstorPacket(b);
  if (isStorvscFault(p)) throw new Error(p.detail);
  assert.equal(p.operation, VstorOperation.VSTOR_OPERATION_COMPLETE_IO);
  return readSrb(p);
}

test("a good READ(10) completes with SRB_STATUS_SUCCESS and the bytes moved", () => {
  const c = completion(
    storvsp(request([0x28, 0, 0, 0, 0, 8, 0, 0, 2, 0], 1024, StorvscRequestType.READ_TYPE), {
      dataIn: new Uint8Array(1024),
    }),
  );
  assert.equal(c.srbStatus, SrbStatus.SRB_STATUS_SUCCESS);
  assert.equal(c.scsiStatus, 0);
  assert.equal(c.dataTransferLength, 1024);
  assert.equal(c.senseInfoLength, 0);
});

test("CHECK CONDITION comes back with autosense in the sense_data union", () => {
  const c = completion(
    storvsp(request([0x28, 0, 0, 0x10, 0, 0, 0, 0, 1, 0], 512, StorvscRequestType.READ_TYPE), {
      dataIn: new Uint8Array(512),
    }),
  );
  assert.equal(c.srbStatus, SrbStatus.SRB_STATUS_ERROR | SrbStatus.SRB_STATUS_AUTOSENSE_VALID);
  assert.equal(c.scsiStatus, 2);
  assert.equal(c.senseInfoLength, 18);
  assert.deepEqual(parseFixedSense(c.cdb), { key: 5, asc: 0x21, ascq: 0 });
  assert.equal(c.dataTransferLength, 0);
});

test("a short data buffer is SRB_STATUS_DATA_OVERRUN with the bytes actually moved", () => {
  const c = completion(
    storvsp(request([0x28, 0, 0, 0, 0, 0, 0, 0, 4, 0], 2048, StorvscRequestType.READ_TYPE), {
      dataIn: new Uint8Array(1536),
    }),
  );
  assert.equal(c.srbStatus, SrbStatus.SRB_STATUS_DATA_OVERRUN);
  assert.equal(c.dataTransferLength, 1536);
});
