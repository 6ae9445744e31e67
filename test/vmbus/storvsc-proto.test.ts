import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  checkSrb,
  decodeVstorPacket,
  encodeVstorPacket,
  HV_FC_WWN_PACKET,
  isStorvscFault,
  newSrb,
  readChannelProperties,
  readProtocolVersion,
  readSrb,
  readSubChannelCount,
  SrbFlag,
  SrbStatus,
  STORVSC_ERRORS,
  STORVSC_LAYOUT,
  StorvscRequestType,
  srbStatusCode,
  VMSCSI_REQUEST,
  VMSTOR_PROTOCOL_VERSIONS,
  VMSTORAGE_CHANNEL_PROPERTIES,
  VMSTORAGE_PROTOCOL_VERSION,
  VSTOR_PACKET,
  VstorFlag,
  VstorOperation,
  type VstorPacket,
  vmstorProtoVersion,
} from "../../src/vmbus/storvsc-proto.ts";
import { hex, toHex, zeros } from "./hex.ts";

function ok(b: Uint8Array, transId: bigint | number = 1): VstorPacket {
  const p = decodeVstorPacket(b, transId);
  if (isStorvscFault(p)) throw new Error(`${p.code}: ${p.detail}`);
  return p;
}

test("storvsc layouts: sizes and offsets as in storvsc_drv.c (kernel-facts §8.1)", () => {
  assert.equal(VSTOR_PACKET.size, 64);
  assert.deepEqual(VSTOR_PACKET.off, { operation: 0, flags: 4, status: 8, payload: 12 });
  assert.equal(VMSCSI_REQUEST.size, 52);
  assert.deepEqual(VMSCSI_REQUEST.off, {
    length: 0,
    srb_status: 2,
    scsi_status: 3,
    port_number: 4,
    path_id: 5,
    target_id: 6,
    lun: 7,
    cdb_length: 8,
    sense_info_length: 9,
    data_in: 10,
    reserved: 11,
    data_transfer_length: 12,
    cdb: 16,
    reserve: 36,
    queue_tag: 38,
    queue_action: 39,
    srb_flags: 40,
    time_out_value: 44,
    queue_sort_ey: 48,
  });
  assert.equal(VMSTORAGE_CHANNEL_PROPERTIES.size, 24);
  assert.deepEqual(VMSTORAGE_CHANNEL_PROPERTIES.off, {
    reserved: 0,
    max_channel_cnt: 4,
    reserved1: 6,
    flags: 8,
    max_transfer_bytes: 12,
    reserved2: 16,
  });
  assert.equal(VMSTORAGE_PROTOCOL_VERSION.size, 4);
  assert.equal(HV_FC_WWN_PACKET.size, 36);
  // Every union member fits the 52-byte union.
  for (const s of [
    VMSCSI_REQUEST,
    VMSTORAGE_CHANNEL_PROPERTIES,
    VMSTORAGE_PROTOCOL_VERSION,
    HV_FC_WWN_PACKET,
  ])
    assert.ok(s.size <= 52, s.name);
  assert.equal(STORVSC_LAYOUT.section, "storvsc");
});

test("storvsc constants: versions, operations, SRB status", () => {
  assert.equal(vmstorProtoVersion(6, 2), 0x0602);
  assert.deepEqual(VMSTOR_PROTOCOL_VERSIONS, [0x0602, 0x0600, 0x0501]);
  assert.equal(VstorOperation.VSTOR_OPERATION_EXECUTE_SRB, 3);
  assert.equal(VstorOperation.VSTOR_OPERATION_CREATE_SUB_CHANNELS, 13);
  assert.equal(srbStatusCode(SrbStatus.SRB_STATUS_ERROR | SrbStatus.SRB_STATUS_AUTOSENSE_VALID), 0x04);
  assert.equal(srbStatusCode(0xc1), 0x01);
});

// A READ(10) of 8 blocks at LBA 0x1234 as storvsc_queuecommand builds it.
function linuxRead10(): ReturnType<typeof newSrb> {
  const s = newSrb();
  s.timeOutValue = 60;
  s.srbFlags =
    SrbFlag.SRB_FLAGS_DISABLE_SYNCH_TRANSFER |
    SrbFlag.SRB_FLAGS_QUEUE_ACTION_ENABLE |
    SrbFlag.SRB_FLAGS_NO_QUEUE_FREEZE |
    SrbFlag.SRB_FLAGS_DATA_IN;
  s.queueTag = 0xff;
  s.queueAction = 0x20;
  s.dataIn = StorvscRequestType.READ_TYPE;
  s.portNumber = 2;
  s.targetId = 0;
  s.lun = 1;
  s.cdbLength = 10;
  s.cdb.set([0x28, 0, 0, 0, 0x12, 0x34, 0, 0, 8, 0]);
  s.dataTransferLength = 4096;
  return s;
}

test("golden: EXECUTE_SRB with a READ(10) vmscsi_request", () => {
  const b = encodeVstorPacket(
    { operation: VstorOperation.VSTOR_OPERATION_EXECUTE_SRB, flags: VstorFlag.REQUEST_COMPLETION_FLAG },
    { srb: linuxRead10() },
  );
  const want = hex(`
    03000000 01000000 00000000
    3400 00 00 02 00 00 01 0a 14 01 00 00100000
    28000000 12340000 0800 ${zeros(10)}
    0000 ff 20 4a010000 3c000000 00000000`);
  assert.equal(toHex(b), toHex(want));
  const p = ok(b);
  assert.equal(p.operation, 3);
  assert.deepEqual(readSrb(p), linuxRead10());
  assert.equal(checkSrb(readSrb(p)), undefined);
});

test("golden: a COMPLETE_IO with CHECK CONDITION and autosense", () => {
  const s = newSrb();
  s.srbStatus = SrbStatus.SRB_STATUS_ERROR | SrbStatus.SRB_STATUS_AUTOSENSE_VALID;
  s.scsiStatus = 2;
  s.senseInfoLength = 18;
  s.cdb.set([0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x20, 0]);
  const b = encodeVstorPacket({ operation: VstorOperation.VSTOR_OPERATION_COMPLETE_IO }, { srb: s });
  assert.equal(
    toHex(b),
    toHex(
      hex(`01000000 00000000 00000000
           3400 84 02 00 00 00 00 00 12 02 00 00000000
           70000500 0000000a 00000000 2000 ${zeros(6)}
           0000 00 00 00000000 00000000 00000000`),
    ),
  );
});

test("golden: QUERY_PROTOCOL_VERSION, QUERY_PROPERTIES answer, CREATE_SUB_CHANNELS", () => {
  const ver = encodeVstorPacket(
    { operation: VstorOperation.VSTOR_OPERATION_QUERY_PROTOCOL_VERSION, flags: 1 },
    { version: { majorMinor: 0x0602, revision: 0 } },
  );
  assert.equal(toHex(ver), toHex(hex(`09000000 01000000 00000000 02060000 ${zeros(48)}`)));
  assert.deepEqual(readProtocolVersion(ok(ver)), { majorMinor: 0x0602, revision: 0 });

  const props = {
    reserved: 0,
    maxChannelCnt: 4,
    reserved1: 0,
    flags: VstorFlag.STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL,
    maxTransferBytes: 0x200000,
    reserved2: 0n,
  };
  const pr = encodeVstorPacket(
    { operation: VstorOperation.VSTOR_OPERATION_COMPLETE_IO },
    { properties: props },
  );
  assert.equal(
    toHex(pr),
    toHex(hex(`01000000 00000000 00000000 00000000 0400 0000 01000000 00002000 ${zeros(8)} ${zeros(28)}`)),
  );
  assert.deepEqual(readChannelProperties(ok(pr)), props);

  const sc = encodeVstorPacket(
    { operation: VstorOperation.VSTOR_OPERATION_CREATE_SUB_CHANNELS, flags: 1 },
    { subChannelCount: 3 },
  );
  assert.equal(toHex(sc), toHex(hex(`0d000000 01000000 00000000 0300 ${zeros(50)}`)));
  assert.equal(readSubChannelCount(ok(sc)), 3);

  const begin = encodeVstorPacket({
    operation: VstorOperation.VSTOR_OPERATION_BEGIN_INITIALIZATION,
    flags: 1,
  });
  assert.equal(toHex(begin), toHex(hex(`07000000 01000000 00000000 ${zeros(52)}`)));
});

test("decode: copies, and keeps unknown operations and statuses", () => {
  const b = encodeVstorPacket({ operation: 0x99, flags: 0xf0, status: 0xc0000001 });
  const p = ok(b);
  b.fill(0xee);
  assert.equal(p.operation, 0x99);
  assert.equal(p.status, 0xc0000001);
  assert.equal(p.flags, 0xf0);
  assert.ok(
    p.payload.every((x) => x === 0),
    "the decoded payload must not alias the source",
  );
});

test("hostile: every STORVSC error code has a test that produces it", () => {
  const seen = new Set<string>();
  const short = decodeVstorPacket(new Uint8Array(63), 5n);
  assert.ok(isStorvscFault(short));
  seen.add(short.code);
  // trans_id 0: the host may send just an operation (REMOVE_DEVICE / ENUMERATE_BUS).
  const unsolicited = ok(hex("02000000"), 0n);
  assert.equal(unsolicited.operation, VstorOperation.VSTOR_OPERATION_REMOVE_DEVICE);
  assert.equal(unsolicited.wireLength, 4);
  const tiny = decodeVstorPacket(hex("0200"), 0);
  assert.ok(isStorvscFault(tiny));
  assert.equal(tiny.code, "HVCOCO_ERR_STORVSC_TRUNCATED");

  const cdb = linuxRead10();
  cdb.cdbLength = 17;
  const f1 = checkSrb(cdb);
  assert.ok(f1);
  seen.add(f1.code);
  const len = linuxRead10();
  len.length = 36;
  const f2 = checkSrb(len);
  assert.ok(f2);
  seen.add(f2.code);
  assert.deepEqual([...seen].sort(), Object.keys(STORVSC_ERRORS).sort());
});

test("decode never throws on arbitrary bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(2), (b, tid) => {
      const p = decodeVstorPacket(b, tid);
      if (!isStorvscFault(p)) checkSrb(readSrb(p));
    }),
  );
});
