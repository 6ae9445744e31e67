// Shared by the netvsc tests: the guest's NIC and a stack on it, the frames the
// host's responder saw, and a host whose netvsp answers are rewritten on the way out.
import type { NetvscDevice } from "../../../src/guest/drivers/netvsc/device.ts";
import { GuestNetStack } from "../../../src/guest/net/stack.ts";
import type { HostChannel } from "../../../src/host/vmbus/channel.ts";
import type { Vsp } from "../../../src/host/vmbus/vsp.ts";
import { NET_DEFAULTS, NetVsp } from "../../../src/host/vsp/netvsp.ts";
import { guestNic } from "../../../src/vm/network.ts";
import { Vm } from "../../../src/vm/vm.ts";
import type { RingReader } from "../../../src/vmbus/ring.ts";
import { config } from "../../helpers.ts";

export const HOST_IP = NET_DEFAULTS.hostIp;

export function nic(vm: Vm): NetvscDevice {
  const nd = guestNic(vm);
  if (!nd)
    throw new Error(
      `${vm.config.name}: no netvsc device (${vm.guest.dmesg.filter((l) => l.includes("netvsc")).join("; ")})`,
    );
  return nd;
}

export function stack(vm: Vm): GuestNetStack {
  return new GuestNetStack(nic(vm), NET_DEFAULTS.guestIp);
}

/** Copies of every frame the host's responder saw, by direction. */
export function tapFrames(vm: Vm): { toHost: Uint8Array[]; toGuest: Uint8Array[] } {
  const t = { toHost: [] as Uint8Array[], toGuest: [] as Uint8Array[] };
  vm.host.net.responder.onFrame((dir, f) => (dir === "to-host" ? t.toHost : t.toGuest).push(f.slice()));
  return t;
}

/** Deterministic payload bytes. */
export function payload(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);
}

/** What a hostile netvsp does to a completion before it is sent: the nvsp_message bytes, changed in place. */
export type CompletionEdit = (nvsp: Uint8Array) => void;

/**
 * A VSP that lets a real NetVsp do the work, but edits the in-band completions it
 * sends (a malicious host's answers to the guest's start-up requests).
 */
export function tamperingNetVsp(edit: CompletionEdit): { vsp: Vsp; net: NetVsp } {
  const net = new NetVsp();
  const wrap = (ch: HostChannel): HostChannel =>
    new Proxy(ch, {
      get(t, p) {
        if (p === "send")
          return (
            payload: Uint8Array,
            off = 0,
            len = payload.length - off,
            transId: number | bigint = 0,
            type = 6,
            flags = 0,
          ) => {
            const copy = payload.slice(off, off + len);
            if (type === 0xb) edit(copy);
            return t.send(copy, 0, copy.length, transId, type, flags);
          };
        const v = Reflect.get(t, p);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  const vsp: Vsp = {
    onOpen: (ch) => net.onOpen(ch),
    onPacket: (ch: HostChannel, pkt: RingReader) => net.onPacket(wrap(ch), pkt),
    onClose: (ch) => net.onClose(ch),
  };
  return { vsp, net };
}

/** Boot a VM whose host serves the NIC with `vsp` (and `net` for its state). */
export function bootWithNic(c: Record<string, unknown>, vsp: Vsp, net: NetVsp): Vm {
  const vm = new Vm(config(c), { host: { vsps: { nic: vsp } } });
  net.bind({ memory: vm.platform.untrustedView("host"), gpadl: (h) => vm.host.vmbus.gpadl(h) });
  vm.boot();
  return vm;
}
