// One storvsc host adapter on its VMBus channel (drivers/scsi/storvsc_drv.c, Linux
// 0291023e; kernel-facts.md §8.1): the init exchange on the special transaction id
// VMBUS_RQST_INIT, then SCSI commands as EXECUTE_SRB packets — in-band without
// data, GPA-direct with one gpa_range over the DMA-mapped buffer otherwise — and
// the channel callback that validates every completion before it touches a
// request: payload length, transaction id (a tag outstanding in the tag table),
// operation, SRB status, sense length (clamped to the 20-byte buffer), and the
// bytes moved (never more than the request asked for). Every refusal is logged
// with a stable code.
//
// The tag table stands for blk-mq's: transaction id = tag + 1, so 0 stays the
// host's id for unsolicited packets. A command waits for its completion (the
// machine runs meanwhile, bounded); one that times out keeps its bounce buffer out
// of the pool, since the host may still write it.
import { Label } from "../../../audit/labels.ts";
import { PacketFlag, PacketType, VmbusSize } from "../../../vmbus/constants.ts";
import { isFault } from "../../../vmbus/errors.ts";
import type { GpaRange } from "../../../vmbus/packet.ts";
import {
  newSrb,
  SrbFlag,
  SrbStatus,
  StorvscRequestType,
  StorvscSize,
  srbStatusCode,
  type VmscsiRequest,
  VSTOR_PAYLOAD,
  VstorFlag,
  VstorOperation,
  type VstorPayload,
  writeVstorPacket,
} from "../../../vmbus/storvsc-proto.ts";
import type { GuestKernel } from "../../kernel.ts";
import { DmaDirection } from "../../mm/swiotlb.ts";
import type { VmbusChannel } from "../../vmbus/channel.ts";
import { Errno } from "../../vmbus/connection.ts";
import { RequestorTable } from "../../vmbus/requestor.ts";
import {
  type DmaCounters,
  type DmaMap,
  newDmaMap,
  storvscBounces,
  storvscDmaMap,
  storvscDmaUnmap,
} from "./dma.ts";
import { SAM_STAT_CHECK_CONDITION, ScsiOpcode } from "./scsi.ts";

/** Why storvsc refuses what the host sent. Codes are stable. */
export const STORVSC_REJECTS = {
  HVCOCO_ERR_STORVSC_PKT_LEN: "packet shorter than a vstor_packet (64 bytes; 4 when the id is 0)",
  HVCOCO_ERR_STORVSC_PKT_RECV: "a packet the driver could not receive (larger than 64 bytes)",
  HVCOCO_ERR_STORVSC_ID_ZERO: "COMPLETE_IO or FCHBA_DATA with transaction id 0",
  HVCOCO_ERR_STORVSC_TRANS_ID: "transaction id of no request outstanding",
  HVCOCO_ERR_STORVSC_INIT_UNEXPECTED: "an init completion while no init step is outstanding",
  HVCOCO_ERR_STORVSC_OPERATION: "a completion whose operation is not COMPLETE_IO",
  HVCOCO_ERR_STORVSC_SRB_STATUS: "an SRB status the driver does not know",
  HVCOCO_ERR_STORVSC_SENSE_LENGTH: "sense_info_length above the 20-byte sense buffer (clamped)",
  HVCOCO_ERR_STORVSC_XFER_LENGTH: "data_transfer_length above what the request asked for (clamped)",
} as const;
export type StorvscRejectCode = keyof typeof STORVSC_REJECTS;

/** VMBUS_RQST_INIT (U64_MAX - 2) as its u32 halves. */
const INIT_LO = 0xfffffffd;
const INIT_HI = 0xffffffff;
const VMBUS_RQST_INIT = 0xfffffffffffffffdn;
const KNOWN_SRB = new Set<number>(
  Object.values(SrbStatus).filter((s) => s < SrbStatus.SRB_STATUS_QUEUE_FROZEN),
);

/** Requests outstanding at once (the tag space). */
export const STORVSC_QUEUE_DEPTH = 32;

/** What a command came back with, once validated. */
export interface StorvscResult {
  /** 0 when the command completed (whatever its SCSI status); else -ETIMEDOUT, -EIO, -ENOMEM, -ENODEV. */
  errno: number;
  srbStatus: number;
  scsiStatus: number;
  /** Bytes the device moved, as the guest accepts it (never above the request's length). */
  transferred: number;
  senseLength: number;
  /** Fixed-format sense (the first senseLength bytes), when the host returned some. */
  readonly sense: Uint8Array;
}

/** One SCSI command: its CDB, and the buffer (a guest GPA) it moves data through. */
export interface StorvscCommand {
  lun: number;
  cdb: Uint8Array;
  cdbLength: number;
  dir: DmaDirection;
  gpa: number;
  len: number;
}

/** A submitted command: its result once `done`. */
export type StorvscPending = StorvscResult & { readonly done: boolean };

class Request implements StorvscResult {
  id = 0;
  done = false;
  dir: DmaDirection = DmaDirection.DMA_NONE;
  cdb0 = 0;
  len = 0;
  readonly map: DmaMap = newDmaMap();
  errno = 0;
  srbStatus = 0;
  scsiStatus = 0;
  transferred = 0;
  senseLength = 0;
  readonly sense = new Uint8Array(StorvscSize.STORVSC_SENSE_BUFFER_SIZE);
}

export interface StorvscStats {
  commands: number;
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  timeouts: number;
  rejects: number;
}

export class StorvscDevice {
  readonly k: GuestKernel;
  readonly ch: VmbusChannel;
  state: "init" | "ready" | "failed" = "init";
  /** The VSTOR version the host accepted (0 before). */
  protocolVersion = 0;
  /** max_transfer_bytes from QUERY_PROPERTIES. */
  maxTransferBytes = 0;
  /** The host's scsi_host number (vm_srb.port_number). */
  readonly port: number;
  /** Command queueing the LUN announced (INQUIRY CmdQue): tagged SRBs. */
  tagged = false;
  readonly stats: StorvscStats = {
    commands: 0,
    reads: 0,
    writes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    timeouts: 0,
    rejects: 0,
  };
  readonly dma: DmaCounters = { bounceBytes: 0, direct: 0 };
  /** Its DMA mappings bounce through swiotlb (dma.ts). */
  readonly bounces: boolean;

  readonly #tags = new RequestorTable<Request>(STORVSC_QUEUE_DEPTH);
  readonly #free: Request[] = [];
  readonly #rx = new Uint8Array(StorvscSize.VSTOR_PACKET_SIZE);
  readonly #rxv = new DataView(this.#rx.buffer);
  /** The request packet, built in private memory and written to the ring whole (C18). */
  readonly #tx = new Uint8Array(StorvscSize.VSTOR_PACKET_SIZE);
  readonly #srb: VmscsiRequest = newSrb();
  readonly #srbPayload: VstorPayload = { srb: this.#srb };
  readonly #range: { byteCount: number; byteOffset: number; pfns: number[] } = {
    byteCount: 0,
    byteOffset: 0,
    pfns: [],
  };
  readonly #ranges: GpaRange[] = [this.#range];
  readonly #init = { outstanding: false, done: false, pkt: new Uint8Array(StorvscSize.VSTOR_PACKET_SIZE) };

  constructor(k: GuestKernel, ch: VmbusChannel, port = 0) {
    this.k = k;
    this.ch = ch;
    this.port = port;
    this.bounces = storvscBounces(k, ch.coExternalMemory);
  }

  #reject(code: StorvscRejectCode, message: string): void {
    this.stats.rejects++;
    this.k.reject(code, `storvsc relid ${this.ch.relid}: ${message}`);
  }

  // ---- init (storvsc_channel_init) ----

  /** storvsc_execute_vstor_op: send on VMBUS_RQST_INIT, wait, return the copy (or -errno). */
  #vstorOp(operation: number, payload: VstorPayload, statusCheck: boolean): Uint8Array | number {
    writeVstorPacket(this.#tx, 0, { operation, flags: VstorFlag.REQUEST_COMPLETION_FLAG }, payload);
    const init = this.#init;
    init.outstanding = true;
    init.done = false;
    const ret = this.ch.sendPacket(
      this.#tx,
      0,
      this.#tx.length,
      VMBUS_RQST_INIT,
      PacketType.VM_PKT_DATA_INBAND,
      PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED,
      Label.PUBLIC,
    );
    if (ret !== 0) {
      init.outstanding = false;
      return ret;
    }
    if (!this.k.hw.waitFor(() => init.done, "storvsc init")) {
      init.outstanding = false;
      return -Errno.ETIMEDOUT;
    }
    if (!statusCheck) return init.pkt;
    const v = new DataView(init.pkt.buffer);
    if (v.getUint32(0, true) !== VstorOperation.VSTOR_OPERATION_COMPLETE_IO || v.getUint32(8, true) !== 0)
      return -Errno.EINVAL;
    return init.pkt;
  }

  /**
   * storvsc_channel_init(): BEGIN_INITIALIZATION, QUERY_PROTOCOL_VERSION for each
   * version newest first until the host accepts one, QUERY_PROPERTIES,
   * END_INITIALIZATION. 0 or -errno.
   */
  channelInit(versions: readonly number[]): number {
    const O = VstorOperation;
    let r = this.#vstorOp(O.VSTOR_OPERATION_BEGIN_INITIALIZATION, {}, true);
    if (typeof r === "number") return this.#initFailed("BEGIN_INITIALIZATION", r);
    let status = -1;
    for (const ver of versions) {
      r = this.#vstorOp(
        O.VSTOR_OPERATION_QUERY_PROTOCOL_VERSION,
        { version: { majorMinor: ver, revision: 0 } },
        false,
      );
      if (typeof r === "number") return this.#initFailed("QUERY_PROTOCOL_VERSION", r);
      const v = new DataView(r.buffer);
      if (v.getUint32(0, true) !== O.VSTOR_OPERATION_COMPLETE_IO)
        return this.#initFailed("QUERY_PROTOCOL_VERSION", -Errno.EINVAL);
      status = v.getUint32(8, true);
      if (status === 0) {
        this.protocolVersion = ver;
        break;
      }
    }
    if (status !== 0) {
      this.k.log("storvsc: Obsolete Hyper-V version");
      return this.#initFailed("QUERY_PROTOCOL_VERSION", -Errno.EINVAL);
    }
    r = this.#vstorOp(O.VSTOR_OPERATION_QUERY_PROPERTIES, {}, true);
    if (typeof r === "number") return this.#initFailed("QUERY_PROPERTIES", r);
    this.maxTransferBytes = new DataView(r.buffer).getUint32(VSTOR_PAYLOAD + 12, true);
    r = this.#vstorOp(O.VSTOR_OPERATION_END_INITIALIZATION, {}, true);
    if (typeof r === "number") return this.#initFailed("END_INITIALIZATION", r);
    this.state = "ready";
    this.k.log(
      `storvsc: VSTOR protocol ${this.protocolVersion >>> 8}.${this.protocolVersion & 0xff}, max transfer ${this.maxTransferBytes} bytes`,
    );
    return 0;
  }

  #initFailed(step: string, ret: number): number {
    this.state = "failed";
    this.k.log(`storvsc: ${step} failed: ${ret}`);
    return ret;
  }

  // ---- the channel callback (storvsc_on_channel_callback) ----

  onChannelCallback(ch: VmbusChannel): void {
    const rx = this.#rx;
    for (let i = 0; i < 4096; i++) {
      const n = ch.recvPacket(rx);
      if (n === 0) return;
      if (n < 0) {
        if (n === -Errno.ENOBUFS) {
          // -ENOBUFS: the packet was consumed; go on with the next.
          this.#reject("HVCOCO_ERR_STORVSC_PKT_RECV", "packet larger than 64 bytes dropped");
          continue;
        }
        return;
      }
      const lo = ch.requestIdLo;
      const hi = ch.requestIdHi;
      const minlen = lo === 0 && hi === 0 ? 4 : StorvscSize.VSTOR_PACKET_SIZE;
      if (n < minlen) {
        this.#reject(
          "HVCOCO_ERR_STORVSC_PKT_LEN",
          `Invalid pkt: id=${idText(lo, hi)}, len=${n}, minlen=${minlen}`,
        );
        continue;
      }
      if (n < rx.length) rx.fill(0, n);
      const op = this.#rxv.getUint32(0, true);
      if (lo === INIT_LO && hi === INIT_HI) {
        const init = this.#init;
        if (!init.outstanding) {
          this.#reject("HVCOCO_ERR_STORVSC_INIT_UNEXPECTED", "init completion with no init step outstanding");
          continue;
        }
        init.pkt.set(rx);
        init.outstanding = false;
        init.done = true;
        continue;
      }
      if (lo === 0 && hi === 0) {
        if (
          op === VstorOperation.VSTOR_OPERATION_COMPLETE_IO ||
          op === VstorOperation.VSTOR_OPERATION_FCHBA_DATA
        ) {
          this.#reject("HVCOCO_ERR_STORVSC_ID_ZERO", "Invalid packet with ID of 0");
          continue;
        }
        if (
          op === VstorOperation.VSTOR_OPERATION_REMOVE_DEVICE ||
          op === VstorOperation.VSTOR_OPERATION_ENUMERATE_BUS
        )
          this.k.log(`storvsc: host asks for a rescan (operation ${op})`);
        continue;
      }
      const req = this.#tags.peek(lo, hi);
      if (isFault(req)) {
        this.#reject(
          "HVCOCO_ERR_STORVSC_TRANS_ID",
          `Incorrect transaction ID ${idText(lo, hi)}: ${req.detail}`,
        );
        continue;
      }
      if (op !== VstorOperation.VSTOR_OPERATION_COMPLETE_IO) {
        this.#reject("HVCOCO_ERR_STORVSC_OPERATION", `completion of tag ${lo - 1} with operation ${op}`);
        continue;
      }
      this.#tags.take(lo, hi);
      this.#onIoCompletion(req);
    }
  }

  /** storvsc_on_io_completion + storvsc_command_completion, on the private copy of the packet. */
  #onIoCompletion(req: Request): void {
    const rx = this.#rx;
    const v = this.#rxv;
    const s = VSTOR_PAYLOAD;
    let scsi = rx[s + 3]!;
    let srb = rx[s + 2]!;
    // The host mishandles INQUIRY (page 0x80) and MODE SENSE (0x1c): Linux makes their errors non-fatal.
    if (req.cdb0 === ScsiOpcode.INQUIRY || req.cdb0 === ScsiOpcode.MODE_SENSE) {
      scsi = 0;
      srb = SrbStatus.SRB_STATUS_SUCCESS;
    }
    let errno = 0;
    if (!KNOWN_SRB.has(srbStatusCode(srb))) {
      this.#reject("HVCOCO_ERR_STORVSC_SRB_STATUS", `srb_status 0x${srb.toString(16)} of tag ${req.id - 1}`);
      errno = -Errno.EIO; // nothing the host said about this command is believed
    }
    let senseLen = rx[s + 9]!;
    if (senseLen > StorvscSize.STORVSC_SENSE_BUFFER_SIZE) {
      this.#reject(
        "HVCOCO_ERR_STORVSC_SENSE_LENGTH",
        `sense_info_length ${senseLen} > ${StorvscSize.STORVSC_SENSE_BUFFER_SIZE}, clamped`,
      );
      senseLen = StorvscSize.STORVSC_SENSE_BUFFER_SIZE;
    }
    req.senseLength = 0;
    if (scsi === SAM_STAT_CHECK_CONDITION && srb & SrbStatus.SRB_STATUS_AUTOSENSE_VALID) {
      req.sense.set(rx.subarray(s + 16, s + 16 + senseLen));
      req.senseLength = senseLen;
    }
    let xfer = v.getUint32(s + 12, true);
    // Windows sets data_transfer_length on DATA_OVERRUN only; other errors move nothing.
    if (srb !== SrbStatus.SRB_STATUS_SUCCESS && srb !== SrbStatus.SRB_STATUS_DATA_OVERRUN) xfer = 0;
    if (xfer > req.len) {
      this.#reject(
        "HVCOCO_ERR_STORVSC_XFER_LENGTH",
        `data_transfer_length ${xfer} > ${req.len} asked for by tag ${req.id - 1}, clamped`,
      );
      xfer = req.len;
    }
    storvscDmaUnmap(this.k, req.map, this.dma);
    req.scsiStatus = scsi;
    req.srbStatus = srb;
    req.transferred = errno === 0 ? xfer : 0;
    req.errno = errno;
    req.done = true;
  }

  // ---- I/O (storvsc_queuecommand + storvsc_do_io) ----

  /** Send one command and wait for its completion. The result is reused by a later command. */
  execute(cmd: StorvscCommand): StorvscResult {
    return this.wait(this.submit(cmd));
  }

  /**
   * storvsc_queuecommand + storvsc_do_io: take a tag, map the buffer, send the SRB.
   * It completes in the channel callback; wait() for it. Several may be in flight
   * (the host then drains them in one go and answers them under one interrupt).
   */
  submit(cmd: StorvscCommand): StorvscPending {
    const req = this.#free.pop() ?? new Request();
    req.done = false;
    req.errno = 0;
    req.srbStatus = 0;
    req.scsiStatus = 0;
    req.transferred = 0;
    req.senseLength = 0;
    req.dir = cmd.dir;
    req.cdb0 = cmd.cdb[0] ?? 0;
    req.len = cmd.dir === DmaDirection.DMA_NONE ? 0 : cmd.len;
    this.stats.commands++;
    if (this.state !== "ready" || this.ch.rescind) return this.#failed(req, -Errno.ENODEV);
    const id = this.#tags.next(req);
    if (id === 0) return this.#failed(req, -16); // -EBUSY: the tag space is full
    req.id = id;
    const m = storvscDmaMap(this.k, req.map, cmd.gpa, req.len, cmd.dir, this.dma, this.bounces);
    if (m !== 0) {
      this.#tags.take(id);
      return this.#failed(req, m);
    }
    this.#buildSrb(cmd, req.len);
    let ret = this.#send(req);
    // A full ring: wait for the host to drain it (SCSI_MLQUEUE_DEVICE_BUSY, retried).
    if (ret === -Errno.EAGAIN)
      this.k.hw.waitFor(() => {
        ret = this.#send(req);
        return ret !== -Errno.EAGAIN;
      }, "storvsc ring space");
    if (ret !== 0) {
      storvscDmaUnmap(this.k, req.map, this.dma);
      this.#tags.take(id);
      return this.#failed(req, ret);
    }
    return req;
  }

  /** Wait (bounded) for a submitted command; its result is then final, and reused by a later command. */
  wait(p: StorvscPending): StorvscResult {
    const req = p as Request;
    if (!req.done && !this.k.hw.waitFor(() => req.done, "storvsc I/O")) {
      // The host never answered: forget the tag (a late answer is refused), and keep the
      // bounce buffer out of the pool (the host may still write it).
      this.stats.timeouts++;
      this.#tags.take(req.id);
      req.map.mapped = false;
      this.k.log(`storvsc: tag ${req.id - 1} cmd 0x${req.cdb0.toString(16)} timed out`);
      req.errno = -Errno.ETIMEDOUT;
      req.done = true;
    } else if (req.errno === 0 && req.transferred > 0) {
      if (req.dir === DmaDirection.DMA_TO_DEVICE) {
        this.stats.writes++;
        this.stats.bytesWritten += req.transferred;
      } else if (req.dir === DmaDirection.DMA_FROM_DEVICE) {
        this.stats.reads++;
        this.stats.bytesRead += req.transferred;
      }
    }
    this.#free.push(req);
    return req;
  }

  #failed(req: Request, errno: number): Request {
    req.errno = errno;
    req.done = true;
    return req;
  }

  #buildSrb(cmd: StorvscCommand, len: number): void {
    const s = this.#srb;
    s.length = StorvscSize.VMSCSI_REQUEST_SIZE;
    s.srbStatus = 0;
    s.scsiStatus = 0;
    s.portNumber = this.port;
    s.pathId = 0;
    s.targetId = 0;
    s.lun = cmd.lun;
    s.cdbLength = cmd.cdbLength;
    s.senseInfoLength = StorvscSize.STORVSC_SENSE_BUFFER_SIZE;
    s.reserved = 0;
    s.dataTransferLength = len;
    s.cdb.fill(0);
    s.cdb.set(cmd.cdb.subarray(0, Math.min(cmd.cdbLength, StorvscSize.STORVSC_MAX_CMD_LEN)));
    s.reserve = 0;
    s.timeOutValue = StorvscSize.SRB_TIME_OUT_VALUE;
    s.queueSortEy = 0;
    let flags = SrbFlag.SRB_FLAGS_DISABLE_SYNCH_TRANSFER;
    s.queueTag = 0;
    s.queueAction = 0;
    if (this.tagged) {
      flags |= SrbFlag.SRB_FLAGS_QUEUE_ACTION_ENABLE | SrbFlag.SRB_FLAGS_NO_QUEUE_FREEZE;
      s.queueTag = StorvscSize.SP_UNTAGGED;
      s.queueAction = StorvscSize.SRB_SIMPLE_TAG_REQUEST;
    }
    if (cmd.dir === DmaDirection.DMA_TO_DEVICE) {
      s.dataIn = StorvscRequestType.WRITE_TYPE;
      flags |= SrbFlag.SRB_FLAGS_DATA_OUT;
    } else if (cmd.dir === DmaDirection.DMA_FROM_DEVICE) {
      s.dataIn = StorvscRequestType.READ_TYPE;
      flags |= SrbFlag.SRB_FLAGS_DATA_IN;
    } else {
      s.dataIn = StorvscRequestType.UNKNOWN_TYPE;
      flags |= SrbFlag.SRB_FLAGS_NO_DATA_TRANSFER;
    }
    s.srbFlags = flags;
    writeVstorPacket(
      this.#tx,
      0,
      { operation: VstorOperation.VSTOR_OPERATION_EXECUTE_SRB, flags: VstorFlag.REQUEST_COMPLETION_FLAG },
      this.#srbPayload,
    );
  }

  /** vmbus_sendpacket_mpb_desc with one range over the mapping, or vmbus_sendpacket without data. */
  #send(req: Request): number {
    const m = req.map;
    if (!m.mapped) {
      return this.ch.sendPacket(
        this.#tx,
        0,
        this.#tx.length,
        req.id,
        PacketType.VM_PKT_DATA_INBAND,
        PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED,
        Label.PUBLIC,
      );
    }
    const PAGE = VmbusSize.HV_HYP_PAGE_SIZE;
    const r = this.#range;
    r.byteCount = m.len;
    r.byteOffset = m.dmaAddr % PAGE;
    const first = Math.floor(m.dmaAddr / PAGE);
    const pages = Math.ceil((r.byteOffset + m.len) / PAGE);
    r.pfns.length = pages;
    for (let i = 0; i < pages; i++) r.pfns[i] = first + i;
    return this.ch.sendGpaDirect(this.#ranges, this.#tx, 0, this.#tx.length, req.id, Label.PUBLIC);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [
      this.#tags,
      this.#free,
      this.#rx,
      this.#rxv,
      this.#tx,
      this.#srb,
      this.#srbPayload,
      this.#range,
      this.#ranges,
      this.#init,
    ];
  }
}

function idText(lo: number, hi: number): string {
  return hi === 0 ? String(lo) : `0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")}`;
}
