// netvsc_device_add's exchange with the host (drivers/net/hyperv/netvsc.c
// netvsc_connect_vsp, negotiate_nvsp_ver, netvsc_init_buf, netvsc_revoke_buf,
// netvsc_teardown_gpadl; kernel-facts.md §8.2): NVSP version negotiation newest
// first (an isolated VM needs 6.1), NDIS config and version, then the receive
// buffer and the send buffer, each allocated, established as a GPADL — which
// decrypts it in a CoCo VM (C22) — and announced to the host, whose answer is
// validated before the guest uses any section of it.
import { Label } from "../../../audit/labels.ts";
import { PAGE_SIZE } from "../../../platform/page.ts";
import { PacketFlag, PacketType } from "../../../vmbus/constants.ts";
import {
  decodeNvspMessage,
  isNvspFault,
  NetvscConst,
  NVSP_VERSIONS,
  NvspCapability,
  type NvspMessage,
  NvspStatus,
  NvspVersion,
  writeNvspMessage,
} from "../../../vmbus/netvsc-proto.ts";
import { ETH_HLEN } from "../../net/inet.ts";
import { vmbusEstablishGpadl, vmbusTeardownGpadl } from "../../vmbus/channel_open.ts";
import { Errno } from "../../vmbus/connection.ts";
import { NETVSC_INIT_RQST, type NetvscBuffer, type NetvscDevice } from "./device.ts";

/** Send a start-up NVSP message; with `answer`, wait for the host's completion and return it. */
function nvspSend(dev: NetvscDevice, m: NvspMessage, answer: boolean): NvspMessage | number {
  const pkt = dev.initPkt;
  writeNvspMessage(pkt, 0, m, NetvscConst.NVSP_MESSAGE_SIZE);
  dev.initDone = false;
  dev.initResponse = undefined;
  dev.initWaiting = answer;
  const flags = answer ? PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED : 0;
  const ret = dev.ch.sendPacket(
    pkt,
    0,
    pkt.length,
    answer ? NETVSC_INIT_RQST : 0,
    PacketType.VM_PKT_DATA_INBAND,
    flags,
    Label.PUBLIC,
  );
  if (ret !== 0 || !answer) {
    dev.initWaiting = false;
    return ret;
  }
  const ok = dev.k.hw.waitFor(() => dev.initDone, `netvsc ${m.kind} completion`);
  dev.initWaiting = false;
  const r = dev.initResponse;
  if (!ok || !r) return -Errno.ETIMEDOUT;
  const d = decodeNvspMessage(r, "host");
  if (isNvspFault(d)) {
    dev.k.reject(d.code, `netvsc: ${d.detail}`);
    return -Errno.EINVAL;
  }
  return d;
}

/** negotiate_nvsp_ver(): INIT with min = max = ver, then (v2+) SEND_NDIS_CONFIG. */
function negotiate(dev: NetvscDevice, ver: number): number {
  const r = nvspSend(dev, { kind: "init", minProtocolVer: ver, maxProtocolVer: ver }, true);
  if (typeof r === "number") return r;
  if (r.kind !== "init-complete" || r.status !== NvspStatus.NVSP_STAT_SUCCESS) return -Errno.EINVAL;
  if (ver === NvspVersion.NVSP_PROTOCOL_VERSION_1) return 0;
  let cap = NvspCapability.IEEE8021Q;
  if (ver >= NvspVersion.NVSP_PROTOCOL_VERSION_5) {
    // SR-IOV is never asked for in an isolated VM (the VF's memory is not protected).
    if (!dev.isolated) cap |= NvspCapability.SRIOV;
    cap |= NvspCapability.TEAMING;
  }
  if (ver >= NvspVersion.NVSP_PROTOCOL_VERSION_61) cap |= NvspCapability.RSC;
  const c = nvspSend(
    dev,
    { kind: "send-ndis-config", mtu: dev.mtu + ETH_HLEN, reserved: 0, capability: cap },
    false,
  );
  return typeof c === "number" ? c : 0;
}

/** Allocate, zero and map a buffer, then establish it as a GPADL (decrypting it in a CoCo VM). */
function shareBuffer(dev: NetvscDevice, size: number, purpose: string): NetvscBuffer | number {
  const k = dev.k;
  const pfn = k.alloc.alloc(size / PAGE_SIZE);
  if (pfn === undefined) return -Errno.ENOMEM;
  const gpa = pfn * PAGE_SIZE;
  // The mapping first, so the host's view of the GPADL shares its backing (as the rings do).
  const mem = k.hw.mem.window(gpa, size);
  k.hw.mem.fill(gpa, size, 0, Label.PUBLIC);
  const gpadl = vmbusEstablishGpadl(dev.ch, "buffer", gpa, size, purpose);
  if (typeof gpadl === "number") {
    k.alloc.free(pfn, size / PAGE_SIZE);
    return gpadl;
  }
  return { gpa, size, gpadl, mem, sectionSize: 0, sectionCount: 0 };
}

/** netvsc_init_buf(): the receive buffer, then the send buffer. 0 or -errno. */
function initBuf(dev: NetvscDevice): number {
  const k = dev.k;
  const p = dev.params;
  let size = Math.ceil((p.recvSections * NetvscConst.NETVSC_RECV_SECTION_SIZE) / PAGE_SIZE) * PAGE_SIZE;
  if (dev.nvspVersion <= NvspVersion.NVSP_PROTOCOL_VERSION_2)
    size = Math.min(size, NetvscConst.NETVSC_RECEIVE_BUFFER_SIZE_LEGACY);
  const recv = shareBuffer(dev, size, `netvsc receive buffer, relid ${dev.ch.relid}`);
  if (typeof recv === "number") return recv;
  dev.recv = recv;
  const r = nvspSend(
    dev,
    { kind: "send-recv-buf", gpadlHandle: recv.gpadl.handle, id: NetvscConst.NETVSC_RECEIVE_BUFFER_ID },
    true,
  );
  if (typeof r === "number") return r;
  if (r.kind !== "send-recv-buf-complete" || r.status !== NvspStatus.NVSP_STAT_SUCCESS) {
    k.reject(
      "HVCOCO_ERR_NETVSC_RECV_BUF",
      `Unable to complete receive buffer initialization with NetVsp - ${r.kind === "send-recv-buf-complete" ? `status ${r.status}` : r.kind}`,
    );
    return -Errno.EINVAL;
  }
  const s = r.sections[0];
  // There should only be one section for the entire receive buffer.
  if (r.numSections !== 1 || !s || s.offset !== 0) {
    k.reject("HVCOCO_ERR_NETVSC_RECV_BUF", `Received ${r.numSections} sections, offset ${s?.offset}`);
    return -Errno.EINVAL;
  }
  if (s.subAllocSize < NetvscConst.NETVSC_MTU_MIN || s.subAllocSize > NetvscConst.NETVSC_MTU) {
    k.reject("HVCOCO_ERR_NETVSC_RECV_BUF", `invalid recv_section_size ${s.subAllocSize}`);
    return -Errno.EINVAL;
  }
  // Ensure the buffer will not overflow.
  if (s.subAllocSize * s.numSubAllocs > size) {
    k.reject(
      "HVCOCO_ERR_NETVSC_RECV_BUF",
      `${s.numSubAllocs} sections of ${s.subAllocSize} bytes overflow a ${size}-byte receive buffer`,
    );
    return -Errno.EINVAL;
  }
  recv.sectionSize = s.subAllocSize;
  recv.sectionCount = s.numSubAllocs;
  dev.recvCopy = new Uint8Array(Math.max(8, s.subAllocSize));
  dev.recvCopyView = new DataView(dev.recvCopy.buffer);

  const sendSize = Math.ceil((p.sendSections * NetvscConst.NETVSC_SEND_SECTION_SIZE) / PAGE_SIZE) * PAGE_SIZE;
  const send = shareBuffer(dev, sendSize, `netvsc send buffer, relid ${dev.ch.relid}`);
  if (typeof send === "number") return send;
  dev.send = send;
  const q = nvspSend(
    dev,
    { kind: "send-send-buf", gpadlHandle: send.gpadl.handle, id: NetvscConst.NETVSC_SEND_BUFFER_ID },
    true,
  );
  if (typeof q === "number") return q;
  if (q.kind !== "send-send-buf-complete" || q.status !== NvspStatus.NVSP_STAT_SUCCESS) {
    k.reject(
      "HVCOCO_ERR_NETVSC_SEND_BUF",
      `Unable to complete send buffer initialization with NetVsp - ${q.kind === "send-send-buf-complete" ? `status ${q.status}` : q.kind}`,
    );
    return -Errno.EINVAL;
  }
  if (q.sectionSize < NetvscConst.NETVSC_MTU_MIN || q.sectionSize > sendSize) {
    k.reject("HVCOCO_ERR_NETVSC_SEND_BUF", `invalid send_section_size ${q.sectionSize}`);
    return -Errno.EINVAL;
  }
  send.sectionSize = q.sectionSize;
  send.sectionCount = Math.floor(sendSize / q.sectionSize);
  dev.sendMap = new Uint8Array(send.sectionCount);
  return 0;
}

/**
 * netvsc_connect_vsp(): negotiate the newest NVSP version the host takes, refuse
 * one below 6.1 in an isolated VM, send the NDIS version, set up the buffers.
 * 0 or -errno (-EPROTO: no version agreed).
 */
export function netvscConnectVsp(dev: NetvscDevice): number {
  const k = dev.k;
  let ver = 0;
  for (let i = NVSP_VERSIONS.length - 1; i >= 0; i--) {
    const v = NVSP_VERSIONS[i]!;
    const ret = negotiate(dev, v);
    if (ret === 0) {
      ver = v;
      break;
    }
    if (ret === -Errno.ETIMEDOUT) return ret;
  }
  if (ver === 0) return -71; // -EPROTO
  dev.nvspVersion = ver;
  if (dev.isolated && ver < NvspVersion.NVSP_PROTOCOL_VERSION_61) {
    k.reject(
      "HVCOCO_ERR_NETVSC_VERSION",
      `Invalid NVSP version 0x${ver.toString(16)} (expected >= 0x${NvspVersion.NVSP_PROTOCOL_VERSION_61.toString(16)}) from the host supporting isolation`,
    );
    return -71;
  }
  const ndis =
    ver <= NvspVersion.NVSP_PROTOCOL_VERSION_4 ? NetvscConst.NDIS_VERSION_6_1 : NetvscConst.NDIS_VERSION_6_30;
  dev.ndisVersion = ndis;
  const r = nvspSend(
    dev,
    { kind: "send-ndis-version", ndisMajorVer: ndis >>> 16, ndisMinorVer: ndis & 0xffff },
    false,
  );
  if (typeof r === "number" && r !== 0) return r;
  const b = initBuf(dev);
  if (b !== 0) netvscReleaseBuffers(dev);
  return b;
}

/** netvsc_revoke_buf() + netvsc_teardown_gpadl(): the host lets go, then the buffers are re-encrypted. */
export function netvscReleaseBuffers(dev: NetvscDevice): void {
  const k = dev.k;
  for (const [b, kind] of [
    [dev.recv, "revoke-recv-buf"],
    [dev.send, "revoke-send-buf"],
  ] as const) {
    if (!b) continue;
    const id =
      kind === "revoke-recv-buf" ? NetvscConst.NETVSC_RECEIVE_BUFFER_ID : NetvscConst.NETVSC_SEND_BUFFER_ID;
    nvspSend(dev, { kind, id }, false);
    if (vmbusTeardownGpadl(dev.ch, b.gpadl) === 0 && !b.gpadl.decrypted)
      k.alloc.free(b.gpa / PAGE_SIZE, b.size / PAGE_SIZE);
  }
  dev.recv = undefined;
  dev.send = undefined;
}
