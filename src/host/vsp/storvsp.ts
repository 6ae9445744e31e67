// storvsp: the storage VSP at the far end of a synthetic SCSI channel, speaking
// VSTOR as storvsc_drv.c expects it (kernel-facts.md §8.1): BEGIN_INITIALIZATION,
// QUERY_PROTOCOL_VERSION (it accepts versions up to the newest it speaks, so the
// guest walks its list down), QUERY_PROPERTIES, END_INITIALIZATION, then
// EXECUTE_SRB: the SRB's CDB goes to a ScsiTarget, the data moves through the one
// gpa_range of a GPA-direct packet, and the answer is a COMPLETE_IO (a VM_PKT_COMP
// with the request's transaction id) carrying the completed vmscsi_request —
// status, sense data, bytes moved.
//
// It is not tied to the root partition: it takes a memory view (anything with
// read/write, such as the host's UntrustedView) and a Disk or a ScsiTarget, and
// answers through whatever channel hands it packets, so a paravisor can run the
// same class behind a Confidential VMBus channel. Every input is the guest's and
// checked before use; a refusal is an SRB error with a recorded reason.

import { scratch } from "../../util/snapshot-hints.ts";
import { PacketType } from "../../vmbus/constants.ts";
import type { RingReader } from "../../vmbus/ring.ts";
import {
  checkSrb,
  newSrb,
  readProtocolVersion,
  readSrbInto,
  SrbStatus,
  StorvscRequestType,
  StorvscSize,
  VmstorProtoVersion,
  VSTOR_PAYLOAD,
  VstorOperation,
  type VstorPacket,
  type VstorPayload,
  writeVstorPacket,
} from "../../vmbus/storvsc-proto.ts";
import type { Disk } from "../backends/disk.ts";
import { MemoryDisk } from "../backends/memory-disk.ts";
import { completeSrb } from "../scsi/srb.ts";
import { newScsiResult, type ScsiRequest, ScsiTarget } from "../scsi/target.ts";
import type { Vsp } from "../vmbus/vsp.ts";
import { type DmaMemory, DmaRange } from "./storvsp-dma.ts";

/** The status storvsp puts in a refused init step (any non-zero NTSTATUS fails it; this is STATUS_REVISION_MISMATCH). */
export const STORVSP_STATUS_REVISION_MISMATCH = 0xc0000059;
/** The status of an init step out of order (STATUS_INVALID_DEVICE_STATE). */
export const STORVSP_STATUS_INVALID_DEVICE_STATE = 0xc0000184;
/** max_transfer_bytes the VSP announces by default (and the most one SRB may move). */
export const STORVSP_MAX_TRANSFER_BYTES = 1024 * 1024;

/** Capacity of the default disk: sparse, so it costs nothing until written. */
export const DEFAULT_DISK_BYTES = 1024 * 1024 * 1024;

/** The disk a host gives a VM when none is named: in memory, 1 GiB, 512-byte blocks. */
export function defaultScsiDisk(): Disk {
  return new MemoryDisk({ bytes: DEFAULT_DISK_BYTES, serial: "hvcoco-mem-0" });
}

/** Where a VSP sends its packets: a HostChannel has this shape, and so can a paravisor's. */
export interface VspChannel {
  send(
    payload: Uint8Array,
    off: number,
    len: number,
    transId: number | bigint,
    type: number,
    flags: number,
  ): unknown;
}

export interface StorVspOptions {
  /** How the VSP reaches the guest's buffers. */
  memory: DmaMemory;
  /** The disk at LUN 0 (or give a whole target). */
  disk?: Disk;
  target?: ScsiTarget;
  /** The newest VSTOR version it speaks (default WIN10); older guests' versions are accepted too. */
  maxVersion?: number;
  /** max_transfer_bytes announced in QUERY_PROPERTIES. */
  maxTransferBytes?: number;
}

export interface StorVspStats {
  packets: number;
  srbs: number;
  completions: number;
  /** Bytes read from / written to guest memory for SRBs. */
  bytesFromGuest: number;
  bytesToGuest: number;
  /** Moves of payload through the memory view (one per SRB with data). */
  copies: number;
  /** Requests refused (bad packet, bad SRB, out of order). */
  refused: number;
}

/** A completion about to be sent: a malicious host's seam (tests and attacks change it in place). */
export interface StorVspCompletion {
  /** The 64-byte vstor_packet (mutable). */
  readonly packet: Uint8Array;
  /** Bytes of it to send. */
  length: number;
  transLo: number;
  transHi: number;
  /** The operation it answers. */
  readonly answers: number;
}

type State = "closed" | "opened" | "initializing" | "ready";

const COMPLETE_OK = { operation: VstorOperation.VSTOR_OPERATION_COMPLETE_IO, status: 0 } as const;

export class StorVsp implements Vsp {
  readonly memory: DmaMemory;
  readonly target: ScsiTarget;
  readonly maxVersion: number;
  readonly maxTransferBytes: number;
  state: State = "closed";
  /** The version the guest settled on (0 until QUERY_PROTOCOL_VERSION succeeded). */
  version = 0;
  readonly stats: StorVspStats = {
    packets: 0,
    srbs: 0,
    completions: 0,
    bytesFromGuest: 0,
    bytesToGuest: 0,
    copies: 0,
    refused: 0,
  };
  /** Why requests were refused, newest last (bounded). */
  readonly problems: string[] = [];
  /** Set by a malicious host to alter each completion before it is sent (or to keep the channel). */
  completionHook: ((c: StorVspCompletion, ch: VspChannel) => void) | undefined;

  readonly #rx = scratch(new Uint8Array(StorvscSize.VSTOR_PACKET_SIZE));
  readonly #rxPacket: VstorPacket;
  readonly #tx = scratch(new Uint8Array(StorvscSize.VSTOR_PACKET_SIZE));
  readonly #srb = newSrb();
  readonly #srbPayload: VstorPayload;
  readonly #range: DmaRange;
  /** One request object per data direction, reused (none, to the device, from the device). */
  readonly #reqNone: ScsiRequest = { lun: 0, cdb: new Uint8Array(0), cdbLength: 0 };
  readonly #reqOut: ScsiRequest & { dataOut: Uint8Array } = {
    lun: 0,
    cdb: new Uint8Array(0),
    cdbLength: 0,
    dataOut: new Uint8Array(0),
  };
  readonly #reqIn: ScsiRequest & { dataIn: Uint8Array } = {
    lun: 0,
    cdb: new Uint8Array(0),
    cdbLength: 0,
    dataIn: new Uint8Array(0),
  };
  readonly #res = newScsiResult();
  #data = new Uint8Array(0);
  readonly #views = new Map<number, Uint8Array>();
  readonly #completion: StorVspCompletion;

  constructor(o: StorVspOptions) {
    this.memory = o.memory;
    const target = o.target ?? (o.disk ? new ScsiTarget([o.disk]) : undefined);
    if (!target) throw new Error("storvsp needs a disk or a target");
    this.target = target;
    this.maxVersion = o.maxVersion ?? VmstorProtoVersion.VMSTOR_PROTO_VERSION_WIN10;
    this.maxTransferBytes = o.maxTransferBytes ?? STORVSP_MAX_TRANSFER_BYTES;
    this.#range = new DmaRange(Math.ceil(this.maxTransferBytes / 4096) + 1);
    this.#rxPacket = {
      operation: 0,
      flags: 0,
      status: 0,
      payload: this.#rx.subarray(VSTOR_PAYLOAD),
      wireLength: 0,
    };
    this.#srbPayload = { srb: this.#srb };
    this.#completion = { packet: this.#tx, length: 0, transLo: 0, transHi: 0, answers: 0 };
  }

  onOpen(): void {
    this.state = "opened";
    this.version = 0;
  }

  onClose(): void {
    this.state = "closed";
  }

  #refuse(why: string): void {
    this.stats.refused++;
    this.problems.push(why);
    if (this.problems.length > 64) this.problems.shift();
  }

  onPacket(ch: VspChannel, pkt: RingReader): undefined {
    this.stats.packets++;
    const v = pkt.view;
    const lo = v.getUint32(8, true);
    const hi = v.getUint32(12, true);
    const len = pkt.payloadLength;
    if (len < StorvscSize.VSTOR_PACKET_SIZE) {
      this.#refuse(`vstor_packet of ${len} bytes < 64`);
      return;
    }
    const off = pkt.payloadOffset;
    this.#rx.set(pkt.buf.subarray(off, off + StorvscSize.VSTOR_PACKET_SIZE));
    const rv = new DataView(this.#rx.buffer);
    const op = rv.getUint32(0, true);
    this.#rxPacket.operation = op;
    const O = VstorOperation;
    switch (op) {
      case O.VSTOR_OPERATION_BEGIN_INITIALIZATION:
        this.state = "initializing";
        this.version = 0;
        return this.#reply(ch, lo, hi, op, 0);
      case O.VSTOR_OPERATION_QUERY_PROTOCOL_VERSION: {
        if (this.state !== "initializing") return this.#outOfOrder(ch, lo, hi, op);
        const want = readProtocolVersion(this.#rxPacket).majorMinor;
        const known = Object.values(VmstorProtoVersion) as number[];
        if (!known.includes(want) || want > this.maxVersion)
          return this.#reply(ch, lo, hi, op, STORVSP_STATUS_REVISION_MISMATCH);
        this.version = want;
        return this.#reply(ch, lo, hi, op, 0);
      }
      case O.VSTOR_OPERATION_QUERY_PROPERTIES:
        if (this.state !== "initializing" || this.version === 0) return this.#outOfOrder(ch, lo, hi, op);
        return this.#reply(ch, lo, hi, op, 0, {
          properties: {
            reserved: 0,
            maxChannelCnt: 0,
            reserved1: 0,
            flags: 0,
            maxTransferBytes: this.maxTransferBytes,
            reserved2: 0n,
          },
        });
      case O.VSTOR_OPERATION_END_INITIALIZATION:
        if (this.state !== "initializing" || this.version === 0) return this.#outOfOrder(ch, lo, hi, op);
        this.state = "ready";
        return this.#reply(ch, lo, hi, op, 0);
      case O.VSTOR_OPERATION_EXECUTE_SRB:
        if (this.state !== "ready") return this.#outOfOrder(ch, lo, hi, op);
        return this.#executeSrb(ch, pkt, lo, hi);
      default:
        this.#refuse(`operation ${op} not served`);
        return this.#reply(ch, lo, hi, op, STORVSP_STATUS_INVALID_DEVICE_STATE);
    }
  }

  #outOfOrder(ch: VspChannel, lo: number, hi: number, op: number): undefined {
    this.#refuse(`operation ${op} in state ${this.state}`);
    this.#reply(ch, lo, hi, op, STORVSP_STATUS_INVALID_DEVICE_STATE);
  }

  #reply(
    ch: VspChannel,
    lo: number,
    hi: number,
    op: number,
    status: number,
    payload?: VstorPayload,
  ): undefined {
    writeVstorPacket(
      this.#tx,
      0,
      { operation: VstorOperation.VSTOR_OPERATION_COMPLETE_IO, status },
      payload ?? {},
    );
    this.#send(ch, lo, hi, op);
  }

  #send(ch: VspChannel, lo: number, hi: number, op: number): void {
    const c = this.#completion;
    c.length = StorvscSize.VSTOR_PACKET_SIZE;
    c.transLo = lo;
    c.transHi = hi;
    (c as { answers: number }).answers = op;
    this.completionHook?.(c, ch);
    const id = c.transHi === 0 ? c.transLo >>> 0 : (BigInt(c.transHi >>> 0) << 32n) | BigInt(c.transLo >>> 0);
    this.stats.completions++;
    ch.send(this.#tx, 0, Math.max(0, Math.min(c.length, this.#tx.length)), id, PacketType.VM_PKT_COMP, 0);
  }

  /** A view of the data buffer of exactly `len` bytes (cached per length: no allocation per request). */
  #buffer(len: number): Uint8Array {
    if (len > this.#data.length) {
      this.#data = new Uint8Array(Math.min(this.maxTransferBytes, Math.max(len, this.#data.length * 2)));
      this.#views.clear();
    }
    let b = this.#views.get(len);
    if (!b) {
      if (this.#views.size > 32) this.#views.clear();
      b = this.#data.subarray(0, len);
      this.#views.set(len, b);
    }
    return b;
  }

  #srbError(ch: VspChannel, lo: number, hi: number, srbStatus: number, why: string): undefined {
    this.#refuse(why);
    const s = this.#srb;
    s.srbStatus = srbStatus;
    s.scsiStatus = 0;
    s.senseInfoLength = 0;
    s.dataTransferLength = 0;
    s.cdb.fill(0);
    writeVstorPacket(this.#tx, 0, COMPLETE_OK, this.#srbPayload);
    this.#send(ch, lo, hi, VstorOperation.VSTOR_OPERATION_EXECUTE_SRB);
  }

  #executeSrb(ch: VspChannel, pkt: RingReader, lo: number, hi: number): undefined {
    this.stats.srbs++;
    const srb = readSrbInto(this.#rx, VSTOR_PAYLOAD, this.#srb);
    const bad = checkSrb(srb);
    if (bad) return this.#srbError(ch, lo, hi, SrbStatus.SRB_STATUS_INVALID_REQUEST, bad.detail);
    const xfer = srb.dataTransferLength;
    const gpaDirect = pkt.type === PacketType.VM_PKT_DATA_USING_GPA_DIRECT;
    if (gpaDirect) {
      const why = this.#range.parse(pkt.view, pkt.length, pkt.payloadOffset);
      if (why) return this.#srbError(ch, lo, hi, SrbStatus.SRB_STATUS_INVALID_REQUEST, why);
      if (xfer > this.#range.byteCount)
        return this.#srbError(
          ch,
          lo,
          hi,
          SrbStatus.SRB_STATUS_INVALID_REQUEST,
          `data_transfer_length ${xfer} > the ${this.#range.byteCount}-byte range`,
        );
    } else if (xfer > 0)
      return this.#srbError(
        ch,
        lo,
        hi,
        SrbStatus.SRB_STATUS_INVALID_REQUEST,
        `data_transfer_length ${xfer} without a GPA-direct buffer`,
      );
    if (xfer > this.maxTransferBytes)
      return this.#srbError(
        ch,
        lo,
        hi,
        SrbStatus.SRB_STATUS_INVALID_REQUEST,
        `data_transfer_length ${xfer} > max_transfer_bytes ${this.maxTransferBytes}`,
      );
    if (srb.targetId !== 0 || srb.pathId !== 0)
      return this.#srbError(
        ch,
        lo,
        hi,
        SrbStatus.SRB_STATUS_INVALID_LUN,
        `no target ${srb.pathId}:${srb.targetId}`,
      );
    const buf = xfer > 0 ? this.#buffer(xfer) : undefined;
    let req: ScsiRequest = this.#reqNone;
    if (buf && srb.dataIn === StorvscRequestType.WRITE_TYPE) {
      this.#range.copy(this.memory, buf, xfer, false);
      this.stats.bytesFromGuest += xfer;
      this.stats.copies++;
      this.#reqOut.dataOut = buf;
      req = this.#reqOut;
    } else if (buf && srb.dataIn === StorvscRequestType.READ_TYPE) {
      this.#reqIn.dataIn = buf;
      req = this.#reqIn;
    }
    req.lun = srb.lun;
    req.cdb = srb.cdb;
    req.cdbLength = srb.cdbLength;
    const res = this.target.execute(req, this.#res);
    if (buf && req === this.#reqIn && res.dataInLength > 0) {
      const out = res.dataInLength === buf.length ? buf : buf.subarray(0, res.dataInLength);
      this.#range.copy(this.memory, out, res.dataInLength, true);
      this.stats.bytesToGuest += res.dataInLength;
      this.stats.copies++;
    }
    completeSrb(srb, res);
    writeVstorPacket(this.#tx, 0, COMPLETE_OK, this.#srbPayload);
    this.#send(ch, lo, hi, VstorOperation.VSTOR_OPERATION_EXECUTE_SRB);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [
      this.#rx,
      this.#rxPacket,
      this.#tx,
      this.#srb,
      this.#srbPayload,
      this.#range,
      this.#reqNone,
      this.#reqOut,
      this.#reqIn,
      this.#res,
      this.#data,
      this.#views,
      this.#completion,
    ];
  }
  load(s: unknown[]): void {
    this.#data = s[10] as never;
  }
}
