// The VMBus handles of the attack API (api-vmbus.ts), built on the host partition
// only: its VMBus server, its HostChannels' ring memory (the host's own view of the
// shared ring pages), its interposer seam, and raw posts to the SynIC. Nothing here
// reaches the guest's objects. Every change is recorded in `Touched` for the
// verdict's check of the channels the attack left alone.
import { Label } from "../audit/labels.ts";
import type { HostPartition } from "../host/host.ts";
import type { HostChannel } from "../host/vmbus/channel.ts";
import { PagedHostMemory } from "../host/vmbus/gpadl.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import { ChannelMessageType, PacketType } from "../vmbus/constants.ts";
import { isFault } from "../vmbus/errors.ts";
import { MSG_GPADL_CREATED as CREATED, HV_RING_BUFFER } from "../vmbus/layout.ts";
import { type ChannelMessage, decodeChannelMessage, encodeChannelMessage } from "../vmbus/messages.ts";
import { type RingMemory, ringCopyIn, ringCopyOut, ringDataSize } from "../vmbus/ring.ts";
import type {
  ChannelHandle,
  GpadlHandle,
  OfferInfo,
  RingHandle,
  VmbusHandles,
  VmbusInterposer,
} from "./api-vmbus.ts";
import type { Touched } from "./touch.ts";

const R = HV_RING_BUFFER.off;

function bounds(what: string, off: number, len: number, size: number): void {
  if (!(Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= size))
    throw new RangeError(`${what}: ${off}+${len} is outside its ${size} bytes`);
}

function ringHandle(mem: RingMemory, touch: () => void): RingHandle {
  const ds = ringDataSize(mem);
  const u32 = (off: number) => ({
    get: () => mem.getU32(off),
    set: (v: number) => {
      touch();
      mem.setU32(off, v >>> 0);
    },
  });
  const wi = u32(R.write_index);
  const ri = u32(R.read_index);
  const im = u32(R.interrupt_mask);
  const ps = u32(R.pending_send_sz);
  return {
    size: mem.size,
    dataSize: ds,
    get writeIndex() {
      return wi.get();
    },
    set writeIndex(v) {
      wi.set(v);
    },
    get readIndex() {
      return ri.get();
    },
    set readIndex(v) {
      ri.set(v);
    },
    get interruptMask() {
      return im.get();
    },
    set interruptMask(v) {
      im.set(v);
    },
    get pendingSendSize() {
      return ps.get();
    },
    set pendingSendSize(v) {
      ps.set(v);
    },
    read(off, len) {
      bounds("ring read", off, len, mem.size);
      const out = new Uint8Array(len);
      mem.read(off, out, 0, len);
      return out;
    },
    write(off, bytes) {
      bounds("ring write", off, bytes.length, mem.size);
      touch();
      mem.write(off, bytes, 0, bytes.length, Label.HOST);
    },
    readData(idx, len) {
      bounds("ring data read", idx, Math.min(len, ds), ds);
      if (len > ds) throw new RangeError(`ring data read of ${len} bytes > data area ${ds}`);
      const out = new Uint8Array(len);
      ringCopyOut(mem, ds, idx, out, 0, len);
      return out;
    },
    writeData(idx, bytes) {
      bounds("ring data write", idx, Math.min(bytes.length, ds), ds);
      if (bytes.length > ds)
        throw new RangeError(`ring data write of ${bytes.length} bytes > data area ${ds}`);
      touch();
      ringCopyIn(mem, ds, idx, bytes, 0, bytes.length, Label.HOST);
    },
  };
}

/** The relid a channel message names, directly or through a GPADL handle the host knows. */
function relidOf(m: ChannelMessage | undefined, gpadlRelid: ReadonlyMap<number, number>): number | undefined {
  if (!m) return undefined;
  if ("childRelid" in m) return m.childRelid;
  if ("gpadl" in m) return gpadlRelid.get(m.gpadl);
  return undefined;
}

function decode(raw: Uint8Array): ChannelMessage | undefined {
  const m = decodeChannelMessage(raw, Math.min(raw.length, 240));
  return isFault(m) ? undefined : m;
}

/** The VMBus handles; `interpose(null)` (the auditor's, not in the API) removes the attack's interposer. */
export function vmbusHandles(
  host: HostPartition,
  touched: Touched,
): VmbusHandles & {
  interpose(i: VmbusInterposer | null): void;
  /** A channel message the attack put in the guest's SynIC some other way: touch what it names. */
  touchMessage(raw: Uint8Array): void;
  /** What these handles remember (GPADLs seen at boot, the interposer): reachable, so a VM snapshot holds it. */
  readonly snapshotState: object;
} {
  const server = host.vmbus;
  const recorded: GpadlHandle[] = [];
  /** GPADL handle -> relid, from the guest's headers and the server's answers. */
  const gpadlRelid = new Map<number, number>();
  // The attack's interposer, in an object so that a VM snapshot holding these handles holds it too.
  const current: { attack: VmbusInterposer } = { attack: {} };
  const handles = new Map<HostChannel, ChannelHandle>();

  const gpadlHandle = (g: {
    handle: number;
    relid: number;
    pfns: readonly number[];
    byteCount: number;
    byteOffset: number;
  }): GpadlHandle => {
    const pfns = Object.freeze([...g.pfns]);
    const mem = new PagedHostMemory(host.memory, pfns);
    return {
      handle: g.handle,
      relid: g.relid,
      pfns,
      byteCount: g.byteCount,
      byteOffset: g.byteOffset,
      read(off, len) {
        bounds("gpadl read", off, len, mem.size);
        const out = new Uint8Array(len);
        mem.read(off, out, 0, len);
        return out;
      },
      write(off, bytes) {
        bounds("gpadl write", off, bytes.length, mem.size);
        touched.relid(g.relid);
        let ok = true;
        for (let at = 0; at < bytes.length; ) {
          const o = off + at;
          const n = Math.min(bytes.length - at, PAGE_SIZE - (o % PAGE_SIZE));
          ok =
            host.memory.write(
              pfns[Math.floor(o / PAGE_SIZE)]! * PAGE_SIZE + (o % PAGE_SIZE),
              bytes.subarray(at, at + n),
            ) && ok;
          at += n;
        }
        return ok;
      },
    };
  };

  const channelHandle = (hc: HostChannel): ChannelHandle => {
    const known = handles.get(hc);
    if (known) return known;
    const touch = () => touched.relid(hc.relid);
    const toGuest = ringHandle(hc.outMem, touch);
    const h: ChannelHandle = {
      relid: hc.relid,
      name: hc.name,
      get open() {
        return !hc.closed;
      },
      toGuest,
      fromGuest: ringHandle(hc.inMem, touch),
      send(payload, o = {}) {
        touch();
        const r = hc.outbound.writePacket(
          o.type ?? PacketType.VM_PKT_DATA_INBAND,
          o.flags ?? 0,
          o.transId ?? 0,
          payload,
          0,
          payload.length,
          Label.HOST,
        );
        if (r === "signal") host.io.signalGuest(hc.targetVp, hc.relid);
        return typeof r === "string" ? r : "refused";
      },
      inject(bytes, advance) {
        const w = toGuest.writeIndex % toGuest.dataSize;
        toGuest.writeData(w, bytes.subarray(0, toGuest.dataSize));
        const step = advance ?? ((bytes.length + 7) & ~7) + 8;
        toGuest.writeIndex = (((w + step) % toGuest.dataSize) + toGuest.dataSize) % toGuest.dataSize;
        return w;
      },
      signal() {
        touch();
        host.io.signalGuest(hc.targetVp, hc.relid);
      },
    };
    handles.set(hc, h);
    return h;
  };

  host.interpose({
    toGuest(vp, raw) {
      // The host remembers each GPADL it created (it may keep using its mapping later).
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      if (
        raw.length >= CREATED.size &&
        dv.getUint32(0, true) === ChannelMessageType.CHANNELMSG_GPADL_CREATED
      ) {
        const handle = dv.getUint32(CREATED.off.gpadl, true);
        const g = server.gpadl(handle);
        if (dv.getUint32(CREATED.off.creation_status, true) === 0 && g?.created) {
          gpadlRelid.set(handle, g.relid);
          recorded.push(gpadlHandle(g));
        }
      }
      if (!current.attack.toGuest) return undefined;
      const m = decode(raw);
      const out = current.attack.toGuest(m, raw.slice(), vp);
      if (out !== undefined) {
        touched.relid(relidOf(m, gpadlRelid));
        if (out) touched.relid(relidOf(decode(out), gpadlRelid));
      }
      return out;
    },
    fromGuest(vp, raw) {
      if (!current.attack.fromGuest) return undefined;
      const m = decode(raw);
      if (m?.kind === "gpadl-header") gpadlRelid.set(m.gpadl, m.childRelid);
      const out = current.attack.fromGuest(m, raw.slice(), vp);
      if (out === null) touched.relid(relidOf(m, gpadlRelid));
      return out;
    },
    vspPacket(hc, p) {
      if (!current.attack.vsp) return undefined;
      const out = current.attack.vsp(channelHandle(hc), p);
      if (out !== undefined) touched.relid(hc.relid);
      return out;
    },
  });

  const touchMessage = (raw: Uint8Array) => touched.relid(relidOf(decode(raw), gpadlRelid));
  const post = (raw: Uint8Array, vp: number) => {
    touchMessage(raw);
    return host.postRaw(vp, raw);
  };
  const toClient = (raw: Uint8Array, vp: number) => {
    touchMessage(raw);
    return host.postToClient(vp, raw);
  };

  return {
    offers(): OfferInfo[] {
      return [...server.channels.values()].map((c) => ({
        relid: c.relid,
        name: c.device.name,
        ifType: c.device.ifType,
        ifInstance: c.device.ifInstance,
        connectionId: c.connectionId,
        state: c.state,
      }));
    },
    channels() {
      const out: ChannelHandle[] = [];
      for (const c of server.channels.values()) if (c.open && !c.open.closed) out.push(channelHandle(c.open));
      return out;
    },
    channel(x) {
      for (const c of server.channels.values())
        if ((c.relid === x || c.device.name === x) && c.open && !c.open.closed) return channelHandle(c.open);
      return undefined;
    },
    gpadls: () => [...recorded],
    post: (payload, vp = server.targetVp) => post(payload, vp),
    send: (m, vp = server.targetVp) => post(encodeChannelMessage(m), vp),
    postToClient: (payload, vp = server.targetVp) => toClient(payload, vp),
    sendToClient: (m, vp = server.targetVp) => toClient(encodeChannelMessage(m), vp),
    rescind(relid) {
      touched.relid(relid);
      return server.rescind(relid);
    },
    signal(relid, vp = server.targetVp) {
      touched.relid(relid);
      host.io.signalGuest(vp, relid);
      return relid >= 0 && relid < 2048;
    },
    interpose(i) {
      current.attack = i === null ? {} : { ...current.attack, ...i };
    },
    touchMessage,
    snapshotState: { recorded, gpadlRelid, current, handles },
  };
}
