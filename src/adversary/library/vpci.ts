// vPCI (C23): the host offers a vPCI bus (its choice, made before the VM starts:
// `host: { vpci: true }`) and answers the guest's config-space accesses — which in
// a CoCo VM are HvCallMmioRead/Write hypercalls, so the answer is the hypercall's
// output the hypervisor writes — and its bus messages. It answers with junk, sizes
// BARs larger than it said they were, sends bus relations and resource
// requirements that do not add up, and reads the padding of every message the
// guest sends it. hv_pci checks each answer, refuses a BAR that does not fit the
// window it set aside, and fails the probe cleanly instead of acting on junk.
import { HvCallCode, HvStatus } from "../../hyperv/hvgdk.ts";
import { encodeResult, HV_MMIO_READ_OUTPUT } from "../../hyperv/hypercall-abi.ts";
import { PacketType } from "../../vmbus/constants.ts";
import { HvPciConst, PciMessageType, PciReg } from "../../vmbus/hv-pci-proto.ts";
import { type AttackContext, type ChannelHandle, defineAttack, type VspPacketView } from "../api.ts";
import { coco } from "./util.ts";

const klass = "junk vPCI config replies";
const MMIO_READ = HvCallCode.HVCALL_MMIO_READ;
const MMIO_WRITE = HvCallCode.HVCALL_MMIO_WRITE;

/** The access a guest's MMIO hypercall describes: the GPA, the size, and for a write its value. */
function access(ctx: AttackContext, inputGpa: number): { gpa: number; size: number; value: number } {
  const b = ctx.hypervisor.memory.read(inputGpa, 24);
  const v = new DataView(b.buffer, b.byteOffset, 24);
  return { gpa: Number(v.getBigUint64(0, true)), size: v.getUint32(8, true), value: v.getUint32(16, true) };
}

/** Answer an HvCallMmioRead with `data` as its output, as the hypervisor writes it. */
function answer(ctx: AttackContext, outputGpa: number, data: Uint8Array): bigint {
  const out = new Uint8Array(HV_MMIO_READ_OUTPUT.size);
  out.set(data.subarray(0, out.length));
  ctx.hypervisor.memory.write(outputGpa, out);
  return encodeResult(HvStatus.HV_STATUS_SUCCESS);
}

export const vpciJunkConfigReads = defineAttack({
  name: "vpci-junk-config-reads",
  description:
    "the host offers a vPCI device and answers every config-space read hypercall with random bytes, all ones or zeros",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  host: { vpci: true },
  setup(ctx) {
    let n = 0;
    ctx.hypervisor.interpose({
      hypercall(i) {
        if (i.code !== MMIO_READ || !i.outputGpa) return undefined;
        const kind = n++ % 3;
        const junk = new Uint8Array(8);
        if (kind === 0) ctx.rng.fill(junk);
        else if (kind === 1) junk.fill(0xff);
        return answer(ctx, i.outputGpa, junk);
      },
    });
  },
});

export const vpciBarSizeLies = defineAttack({
  name: "vpci-bar-size-lies",
  description:
    "the host's config space sizes each BAR far larger than its resource requirements said (2 GiB and 2^60 bytes), hoping the guest maps it over memory",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  host: { vpci: true },
  setup(ctx) {
    const sized = new Set<number>();
    ctx.hypervisor.interpose({
      hypercall(i) {
        if ((i.code !== MMIO_READ && i.code !== MMIO_WRITE) || i.inputGpa === undefined) return undefined;
        const a = access(ctx, i.inputGpa);
        const reg = a.gpa % HvPciConst.PCI_CONFIG_MMIO_LENGTH;
        const bar = reg - HvPciConst.CFG_PAGE_OFFSET - PciReg.PCI_BASE_ADDRESS_0;
        if (bar < 0 || bar >= 24 || a.size !== 4) return undefined;
        if (i.code === MMIO_WRITE) {
          // The guest sizes a BAR: it writes all ones, then reads the size back.
          if (a.value === 0xffffffff) sized.add(bar);
          else sized.delete(bar);
          return undefined;
        }
        if (!sized.has(bar) || !i.outputGpa) return undefined;
        const lie = new Uint8Array(4);
        const v = new DataView(lie.buffer);
        // BAR0/1 is 64-bit prefetchable: 2^60 bytes; BAR2 32-bit: 2 GiB.
        v.setUint32(0, bar === 0 ? 0x0000000c : bar === 4 ? 0xf0000000 : 0x80000000, true);
        return answer(ctx, i.outputGpa, lie);
      },
    });
  },
});

/** The bus relations a lying host sends: more functions than there are, and junk slots. */
function junkRelations(p: VspPacketView, rng: AttackContext["rng"]): VspPacketView {
  const type = new DataView(p.payload.buffer, p.payload.byteOffset).getUint32(0, true);
  const each = type === PciMessageType.PCI_BUS_RELATIONS2 ? 28 : 20;
  const real = p.payload.subarray(8, 8 + each);
  const b = new Uint8Array(8 + 3 * each);
  const v = new DataView(b.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, 3, true);
  b.set(real, 8);
  for (const [i, slot] of [
    [1, 0x1234],
    [2, 0xffffffff],
  ] as const) {
    const at = 8 + i * each;
    rng.fill(b.subarray(at, at + each));
    v.setUint32(at + 12, slot, true);
  }
  return { ...p, payload: b };
}

/** In-band junk a host sends on the vPCI channel: short and unknown messages, a completion nobody asked for. */
function junkMessages(ch: ChannelHandle, rng: AttackContext["rng"]): void {
  const msg = (type: number, n: number) => {
    const b = new Uint8Array(n);
    new DataView(b.buffer).setUint32(0, type, true);
    return b;
  };
  for (const p of [
    msg(PciMessageType.PCI_BUS_RELATIONS, 8),
    msg(PciMessageType.PCI_BUS_RELATIONS2, 6),
    msg(PciMessageType.PCI_EJECT, 4),
    msg(0x42490099, 16),
    rng.fill(new Uint8Array(40)),
  ])
    ch.send(p);
  ch.send(msg(PciMessageType.PCI_BUS_RELATIONS, 8), { type: PacketType.VM_PKT_COMP, transId: 0x7e57 });
}

export const vpciJunkBusMessages = defineAttack({
  name: "vpci-junk-bus-messages",
  description:
    "the host's vPCI bus relations list functions that are not there, after short and unknown messages; its resource requirements report junk BARs",
  klass,
  defeatedBy: [],
  appliesTo: coco,
  host: { vpci: true },
  setup(ctx) {
    ctx.host.vmbus.interpose({
      vsp(ch, p) {
        if (ch.name !== "pcie" || p.payload.length < 8) return undefined;
        const type = new DataView(p.payload.buffer, p.payload.byteOffset).getUint32(0, true);
        if (
          p.type === PacketType.VM_PKT_DATA_INBAND &&
          (type === PciMessageType.PCI_BUS_RELATIONS || type === PciMessageType.PCI_BUS_RELATIONS2)
        ) {
          junkMessages(ch, ctx.rng);
          return junkRelations(p, ctx.rng);
        }
        // The resource requirements' completion (status and six probed BARs): junk BARs.
        if (p.type === PacketType.VM_PKT_COMP && p.payload.length >= 28) {
          const b = p.payload.slice();
          const v = new DataView(b.buffer);
          [0xffffffff, 0x1, 0x0000000c, 0xfffffff0, 0x80000008, 0].forEach((x, i) => {
            v.setUint32(4 + 4 * i, x, true);
          });
          return { ...p, payload: b };
        }
        return undefined;
      },
    });
  },
});

export const vpciReadGuestPadding = defineAttack({
  name: "vpci-read-guest-padding",
  description:
    "the host offers a vPCI device (whose messages are not multiples of 8 bytes) and reads the padding and reserved fields of every packet the guest writes to its rings",
  klass: "padding and unused fields the guest writes",
  defeatedBy: ["zero-padding"],
  appliesTo: coco,
  host: { vpci: true },
  after(ctx) {
    let bytes = 0;
    for (const ch of ctx.host.vmbus.channels()) {
      const r = ch.fromGuest;
      r.readData(0, r.dataSize);
      bytes += r.dataSize;
    }
    ctx.note(`read ${bytes} bytes of the guest's outbound rings`);
  },
});
