// netvsc's send path (drivers/net/hyperv/netvsc_drv.c netvsc_xmit, netvsc.c
// netvsc_send, netvsc_send_pkt, netvsc_copy_to_send_buf, netvsc_dma_map,
// netvsc_send_tx_complete; rndis_filter.c rndis_filter_send_request; C22):
//
//   - a data frame whose RNDIS message fits a send section (len + pkt_align <
//     section_size) is copied by the guest into a free section of the decrypted send
//     buffer, and an in-band SEND_RNDIS_PKT names the section;
//   - anything larger, and every RNDIS control message, goes as page buffers: one
//     GPA range per buffer, which in a CoCo VM is first mapped through swiotlb
//     (dma_map_single: the bytes are bounced into the decrypted pool and the range
//     names the bounce buffer); in a normal VM the ranges name the guest's own pages.
//
// The host's completion frees the section and the bounce buffers. A frame is built
// in a private skb area first (the network stack's work); the RNDIS header sits in
// its headroom. Nothing here allocates per packet.
import { Label } from "../../../audit/labels.ts";
import { PAGE_SIZE } from "../../../platform/page.ts";
import { PacketFlag, PacketType } from "../../../vmbus/constants.ts";
import { NetvscConst, NvspMsgType } from "../../../vmbus/netvsc-proto.ts";
import type { GpaRange } from "../../../vmbus/packet.ts";
import { RndisConst, writeRndisPacketHeader } from "../../../vmbus/rndis.ts";
import { DmaDirection, dmaNeedsBounce, swiotlbMap, swiotlbUnmap } from "../../mm/swiotlb.ts";
import { ETH_HLEN } from "../../net/inet.ts";
import { Errno } from "../../vmbus/connection.ts";
import {
  MAX_PAGE_BUFFER_COUNT,
  type NetvscDevice,
  SKB_BYTES,
  SKB_HEADROOM,
  type TxPacket,
} from "./device.ts";

const HDR = RndisConst.RNDIS_PACKET_MESSAGE_SIZE;

/** Preallocated page-buffer lists, one per length (the writer takes an exact-length array). */
const RANGE_LISTS: { byteCount: number; byteOffset: number; pfns: number[] }[][] = Array.from(
  { length: MAX_PAGE_BUFFER_COUNT + 1 },
  (_, n) => Array.from({ length: n }, () => ({ byteCount: 0, byteOffset: 0, pfns: [] as number[] })),
);
/** Where each page buffer of the packet being sent starts (GPA) and how long it is. */
const PB_GPA = new Float64Array(MAX_PAGE_BUFFER_COUNT);
const PB_LEN = new Uint32Array(MAX_PAGE_BUFFER_COUNT);
const NVSP = new Uint8Array(NetvscConst.NVSP_MESSAGE_SIZE);
const NVSP_VIEW = new DataView(NVSP.buffer);
const RNDIS_HDR = new Uint8Array(HDR);

/** The in-band NVSP SEND_RNDIS_PKT (sizeof(struct nvsp_message), unused bytes zero: C18). */
function nvspRndisPkt(channelType: number, section: number, size: number): Uint8Array {
  NVSP.fill(0);
  NVSP_VIEW.setUint32(0, NvspMsgType.NVSP_MSG1_TYPE_SEND_RNDIS_PKT, true);
  NVSP_VIEW.setUint32(4, channelType, true);
  NVSP_VIEW.setUint32(8, section >>> 0, true);
  NVSP_VIEW.setUint32(12, size, true);
  return NVSP;
}

/**
 * netvsc_xmit() + netvsc_send(): send one Ethernet frame. 0, or -errno: -EINVAL for
 * a frame the link cannot carry, -EAGAIN when the ring, the packet records or the
 * bounce pool have no room (the caller may retry after completions).
 */
export function netvscSendFrame(dev: NetvscDevice, frame: Uint8Array, len: number): number {
  if (dev.state !== "ready" || !dev.send) return -Errno.ENODEV;
  if (
    len < ETH_HLEN ||
    len > frame.length ||
    len > dev.mtu + ETH_HLEN ||
    HDR + len > SKB_BYTES - SKB_HEADROOM
  )
    return -Errno.EINVAL;
  const k = dev.k;
  const p = dev.takeTx(false);
  if (!p) return busy(dev);
  // The stack's skb: the frame in private memory, the RNDIS header in its headroom.
  const skb = dev.skbGpa + SKB_HEADROOM;
  k.hw.mem.write(skb, frame.subarray(0, len), Label.EXPOSED);
  writeRndisPacketHeader(RNDIS_HDR, 0, len);
  const pktlen = HDR + len;
  p.bytes = len;
  const send = dev.send;
  if (pktlen + dev.pktAlign < send.sectionSize) {
    const section = dev.takeSection();
    if (section !== NetvscConst.NETVSC_INVALID_INDEX) {
      // netvsc_copy_to_send_buf: the guest copies the message into the shared section.
      const off = section * send.sectionSize;
      send.mem.write(off, RNDIS_HDR, 0, HDR, Label.PUBLIC);
      k.hw.mem.read(skb, len, dev.scratch, 0);
      send.mem.write(off + HDR, dev.scratch, 0, len, Label.EXPOSED);
      dev.stats.copies++;
      dev.stats.copyBytes += pktlen;
      p.section = section;
      const ret = dev.ch.sendPacket(
        nvspRndisPkt(NetvscConst.RNDIS_CHANNEL_DATA, section, pktlen),
        0,
        NetvscConst.NVSP_MESSAGE_SIZE,
        p.index,
        PacketType.VM_PKT_DATA_INBAND,
        PacketFlag.VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED,
        Label.PUBLIC,
      );
      if (ret !== 0) {
        dev.freeSection(section);
        dev.releaseTx(p);
        return busy(dev);
      }
      dev.stats.txSendBuffer++;
      sent(dev, len);
      return 0;
    }
  }
  // Page buffers: the RNDIS header in the headroom, then the frame page by page.
  k.hw.mem.write(skb - HDR, RNDIS_HDR, Label.PUBLIC);
  PB_GPA[0] = skb - HDR;
  PB_LEN[0] = HDR;
  let n = 1;
  for (let at = 0; at < len && n < MAX_PAGE_BUFFER_COUNT; n++) {
    const gpa = skb + at;
    const chunk = Math.min(len - at, PAGE_SIZE - (gpa % PAGE_SIZE));
    PB_GPA[n] = gpa;
    PB_LEN[n] = chunk;
    at += chunk;
  }
  const ret = sendPageBuffers(dev, p, n, NetvscConst.RNDIS_CHANNEL_DATA);
  if (ret !== 0) return ret;
  dev.stats.txPageBuffer++;
  sent(dev, len);
  return 0;
}

function sent(dev: NetvscDevice, len: number): void {
  dev.stats.txFrames++;
  dev.stats.txBytes += len;
}

function busy(dev: NetvscDevice): number {
  dev.stats.txBusy++;
  return -Errno.EAGAIN;
}

/**
 * rndis_filter_send_request(): an RNDIS control message, built in a private page,
 * sent as one page buffer (bounced through swiotlb in a CoCo VM). 0 or -errno.
 */
export function netvscSendControl(dev: NetvscDevice, msg: Uint8Array): number {
  if (!dev.send && dev.state !== "probing") return -Errno.ENODEV;
  if (msg.length > PAGE_SIZE) return -Errno.EINVAL;
  const p = dev.takeTx(true);
  if (!p) return busy(dev);
  dev.k.hw.mem.write(dev.ctrlGpa, msg, Label.PUBLIC);
  PB_GPA[0] = dev.ctrlGpa;
  PB_LEN[0] = msg.length;
  p.bytes = msg.length;
  const ret = sendPageBuffers(dev, p, 1, NetvscConst.RNDIS_CHANNEL_CONTROL);
  if (ret === 0) dev.stats.txControl++;
  return ret;
}

/**
 * netvsc_send_pkt() for page buffers: netvsc_dma_map (bounce each buffer in a CoCo
 * VM and name the bounce buffer instead), then the GPA-direct packet with the
 * SEND_RNDIS_PKT (section index NETVSC_INVALID_INDEX) as its in-band part.
 */
function sendPageBuffers(dev: NetvscDevice, p: TxPacket, count: number, channelType: number): number {
  const k = dev.k;
  const pool = k.swiotlb;
  const bounce = dmaNeedsBounce(k) && pool !== undefined;
  const ranges = RANGE_LISTS[count]!;
  for (let i = 0; i < count; i++) {
    let addr = PB_GPA[i]!;
    const len = PB_LEN[i]!;
    if (bounce) {
      const label = i === 0 ? Label.PUBLIC : Label.EXPOSED;
      const r = swiotlbMap(k, pool, addr, len, DmaDirection.DMA_TO_DEVICE, { label });
      if (!r.ok) {
        unmapAll(dev, p);
        dev.releaseTx(p);
        return busy(dev);
      }
      p.tlb[p.maps] = r.tlbAddr;
      p.lens[p.maps] = len;
      p.maps++;
      dev.stats.bouncedBytes += len;
      addr = r.dmaAddr;
    }
    const rg = ranges[i]!;
    rg.byteOffset = addr % PAGE_SIZE;
    rg.byteCount = len;
    const first = Math.floor(addr / PAGE_SIZE);
    const pages = Math.ceil((rg.byteOffset + len) / PAGE_SIZE);
    rg.pfns.length = pages;
    for (let j = 0; j < pages; j++) rg.pfns[j] = first + j;
  }
  const ret = dev.ch.sendGpaDirect(
    ranges as readonly GpaRange[],
    nvspRndisPkt(channelType, NetvscConst.NETVSC_INVALID_INDEX, 0),
    0,
    NetvscConst.NVSP_MESSAGE_SIZE,
    p.index,
    Label.PUBLIC,
  );
  if (ret !== 0) {
    unmapAll(dev, p);
    dev.releaseTx(p);
    return busy(dev);
  }
  return 0;
}

function unmapAll(dev: NetvscDevice, p: TxPacket): void {
  const pool = dev.k.swiotlb;
  if (pool)
    for (let i = 0; i < p.maps; i++)
      swiotlbUnmap(dev.k, pool, p.tlb[i]!, p.lens[i]!, DmaDirection.DMA_TO_DEVICE);
  p.maps = 0;
}

/**
 * netvsc_send_tx_complete(): the host is done with a packet. The section and the
 * bounce buffers to release are the guest's own record of the packet, never
 * anything the host says.
 */
export function netvscTxComplete(dev: NetvscDevice, p: TxPacket): void {
  if (p.section !== NetvscConst.NETVSC_INVALID_INDEX) dev.freeSection(p.section);
  unmapAll(dev, p);
  dev.releaseTx(p);
  dev.stats.txCompletions++;
}
