// The Hyper-V virtual PCI protocol (drivers/pci/controller/pci-hyperv.c, Linux
// 0291023e; kernel-facts.md §7) far enough to enumerate a device and its BARs:
// version negotiation, bus relations, resource requirements (probed BARs), D0
// entry, resources assigned/released; and config space, which a CoCo guest reaches
// through HvCallMmioRead/HvCallMmioWrite (0x0106/0x0107, the `use_calls` path, C23).
//
// pci-hyperv.c reads host packets raw, descriptor included: its host-to-guest
// structs (pci_response, pci_incoming_message, pci_bus_relations, ...) start with
// the 16-byte vmpacket_descriptor, and the layouts below keep them so. The codecs
// work on the VMBus payload that follows the descriptor: a payload offset is the
// struct's offset minus 16. Decoders return an HvPciFault, never throw.
import { HV_HYPERCALL_MMIO_MAX_DATA_LENGTH } from "../hyperv/hvgdk.ts";
import { HV_MMIO_READ_INPUT, HV_MMIO_WRITE_INPUT } from "../hyperv/hypercall-abi.ts";
import type { LayoutSection } from "../layout/registry.ts";
import { constantsOf, defineStruct } from "../layout/struct.ts";

const P = "drivers/pci/controller/pci-hyperv.c (Linux 0291023e)";
const PCI = "include/uapi/linux/pci_regs.h";

/** sizeof(struct vmpacket_descriptor): the prefix of every host-to-guest struct here. */
export const HVPCI_DESC = 16;

// ---- layouts ----

// pci-hyperv.c: union pci_version (__packed)
export const PCI_VERSION = defineStruct("pci_version", P, [
  { name: "minor_version", size: 2 },
  { name: "major_version", size: 2 },
]);

// pci-hyperv.c: union win_slot_encoding (__packed)
export const WIN_SLOT_ENCODING = defineStruct("win_slot_encoding", P, [
  { name: "slot", size: 4, note: "bits 4:0 dev, 7:5 func, 31:8 reserved" },
]);

// pci-hyperv.c: struct pci_function_description (__packed)
export const PCI_FUNCTION_DESCRIPTION = defineStruct("pci_function_description", P, [
  { name: "v_id", size: 2, note: "vendor ID" },
  { name: "d_id", size: 2, note: "device ID" },
  { name: "rev", size: 1 },
  { name: "prog_intf", size: 1 },
  { name: "subclass", size: 1 },
  { name: "base_class", size: 1 },
  { name: "subsystem_id", size: 4 },
  { name: "win_slot", size: 4, note: "union win_slot_encoding" },
  { name: "ser", size: 4, note: "serial number" },
]);

// pci-hyperv.c: struct pci_function_description2 (__packed)
export const PCI_FUNCTION_DESCRIPTION2 = defineStruct("pci_function_description2", P, [
  { name: "v_id", size: 2 },
  { name: "d_id", size: 2 },
  { name: "rev", size: 1 },
  { name: "prog_intf", size: 1 },
  { name: "subclass", size: 1 },
  { name: "base_class", size: 1 },
  { name: "subsystem_id", size: 4 },
  { name: "win_slot", size: 4 },
  { name: "ser", size: 4 },
  { name: "flags", size: 4, note: "HV_PCI_DEVICE_FLAG_NUMA_AFFINITY 0x1" },
  { name: "virtual_numa_node", size: 2 },
  { name: "reserved", size: 2 },
]);

// pci-hyperv.c: struct pci_message (__packed)
export const PCI_MESSAGE = defineStruct("pci_message", P, [
  { name: "type", size: 4, note: "enum pci_message_type" },
]);

// pci-hyperv.c: struct pci_child_message (__packed)
export const PCI_CHILD_MESSAGE = defineStruct("pci_child_message", P, [
  { name: "message_type", size: 4 },
  { name: "wslot", size: 4 },
]);

// pci-hyperv.c: struct pci_incoming_message (__packed)
export const PCI_INCOMING_MESSAGE = defineStruct("pci_incoming_message", P, [
  { name: "hdr", size: 16, note: "struct vmpacket_descriptor" },
  { name: "message_type", size: 4 },
]);

// pci-hyperv.c: struct pci_response (__packed)
export const PCI_RESPONSE = defineStruct("pci_response", P, [
  { name: "hdr", size: 16, note: "struct vmpacket_descriptor" },
  { name: "status", size: 4, note: "s32: negative values are failures" },
]);

// pci-hyperv.c: struct pci_version_request (__packed)
export const PCI_VERSION_REQUEST = defineStruct("pci_version_request", P, [
  { name: "message_type", size: 4 },
  { name: "protocol_version", size: 4 },
]);

// pci-hyperv.c: struct pci_bus_d0_entry (__packed)
export const PCI_BUS_D0_ENTRY = defineStruct("pci_bus_d0_entry", P, [
  { name: "message_type", size: 4 },
  { name: "reserved", size: 4 },
  { name: "mmio_base", size: 8, note: "the config window's start" },
]);

// pci-hyperv.c: struct pci_bus_relations (__packed)
export const PCI_BUS_RELATIONS = defineStruct("pci_bus_relations", P, [
  { name: "incoming", size: 20, note: "struct pci_incoming_message" },
  { name: "device_count", size: 4 },
  { name: "func", size: 20, count: 0, note: "struct pci_function_description[device_count]" },
]);

// pci-hyperv.c: struct pci_bus_relations2 (__packed)
export const PCI_BUS_RELATIONS2 = defineStruct("pci_bus_relations2", P, [
  { name: "incoming", size: 20 },
  { name: "device_count", size: 4 },
  { name: "func", size: 28, count: 0, note: "struct pci_function_description2[device_count]" },
]);

// pci-hyperv.c: struct pci_q_res_req_response (__packed)
export const PCI_Q_RES_REQ_RESPONSE = defineStruct("pci_q_res_req_response", P, [
  { name: "hdr", size: 16 },
  { name: "status", size: 4 },
  { name: "probed_bar", size: 4, count: 6, note: "what each BAR reads after writing 0xffffffff" },
]);

// pci-hyperv.c: struct pci_resources_assigned (__packed)
export const PCI_RESOURCES_ASSIGNED = defineStruct("pci_resources_assigned", P, [
  { name: "message_type", size: 4 },
  { name: "wslot", size: 4 },
  { name: "memory_range", size: 1, count: 0x14 * 6, note: "u8[0x14][6], not used" },
  { name: "msi_descriptors", size: 4 },
  { name: "reserved", size: 4, count: 4 },
]);

// pci-hyperv.c: struct pci_resources_assigned2 (__packed)
export const PCI_RESOURCES_ASSIGNED2 = defineStruct("pci_resources_assigned2", P, [
  { name: "message_type", size: 4 },
  { name: "wslot", size: 4 },
  { name: "memory_range", size: 1, count: 0x14 * 6 },
  { name: "msi_descriptor_count", size: 4 },
  { name: "reserved", size: 1, count: 70 },
]);

// pci-hyperv.c: struct pci_dev_incoming (__packed)
export const PCI_DEV_INCOMING = defineStruct("pci_dev_incoming", P, [
  { name: "incoming", size: 20 },
  { name: "wslot", size: 4 },
]);

// pci-hyperv.c: struct pci_dev_inval_block (__packed)
export const PCI_DEV_INVAL_BLOCK = defineStruct("pci_dev_inval_block", P, [
  { name: "incoming", size: 20 },
  { name: "wslot", size: 4 },
  { name: "block_mask", size: 8 },
]);

// pci-hyperv.c: struct pci_eject_response (__packed)
export const PCI_EJECT_RESPONSE = defineStruct("pci_eject_response", P, [
  { name: "message_type", size: 4 },
  { name: "wslot", size: 4 },
  { name: "status", size: 4 },
]);

// ---- constants ----

/** PCI_MAKE_VERSION(major, minor) = major << 16 | minor. */
export function pciMakeVersion(major: number, minor: number): number {
  return ((major << 16) | minor) >>> 0;
}

// pci-hyperv.c: enum pci_protocol_version_t
export const PciProtocolVersion = {
  PCI_PROTOCOL_VERSION_1_1: 0x10001,
  PCI_PROTOCOL_VERSION_1_2: 0x10002,
  PCI_PROTOCOL_VERSION_1_3: 0x10003,
  PCI_PROTOCOL_VERSION_1_4: 0x10004,
} as const;

/** pci_protocol_versions[]: the order Linux probes, highest first. */
export const PCI_PROTOCOL_VERSIONS: readonly number[] = [0x10004, 0x10003, 0x10002, 0x10001];

// pci-hyperv.c: enum pci_message_type
export const PciMessageType = {
  PCI_MESSAGE_BASE: 0x42490000,
  PCI_BUS_RELATIONS: 0x42490000,
  PCI_QUERY_BUS_RELATIONS: 0x42490001,
  PCI_POWER_STATE_CHANGE: 0x42490004,
  PCI_QUERY_RESOURCE_REQUIREMENTS: 0x42490005,
  PCI_QUERY_RESOURCE_RESOURCES: 0x42490006,
  PCI_BUS_D0ENTRY: 0x42490007,
  PCI_BUS_D0EXIT: 0x42490008,
  PCI_READ_BLOCK: 0x42490009,
  PCI_WRITE_BLOCK: 0x4249000a,
  PCI_EJECT: 0x4249000b,
  PCI_QUERY_STOP: 0x4249000c,
  PCI_REENABLE: 0x4249000d,
  PCI_QUERY_STOP_FAILED: 0x4249000e,
  PCI_EJECTION_COMPLETE: 0x4249000f,
  PCI_RESOURCES_ASSIGNED: 0x42490010,
  PCI_RESOURCES_RELEASED: 0x42490011,
  PCI_INVALIDATE_BLOCK: 0x42490012,
  PCI_QUERY_PROTOCOL_VERSION: 0x42490013,
  PCI_CREATE_INTERRUPT_MESSAGE: 0x42490014,
  PCI_DELETE_INTERRUPT_MESSAGE: 0x42490015,
  PCI_RESOURCES_ASSIGNED2: 0x42490016,
  PCI_CREATE_INTERRUPT_MESSAGE2: 0x42490017,
  PCI_DELETE_INTERRUPT_MESSAGE2: 0x42490018,
  PCI_BUS_RELATIONS2: 0x42490019,
  PCI_RESOURCES_ASSIGNED3: 0x4249001a,
  PCI_CREATE_INTERRUPT_MESSAGE3: 0x4249001b,
} as const;

// pci-hyperv.c: the config window, statuses and limits
export const HvPciConst = {
  PCI_CONFIG_MMIO_LENGTH: 0x2000,
  CFG_PAGE_OFFSET: 0x1000,
  CFG_PAGE_SIZE: 0x1000,
  MAX_SUPPORTED_MSI_MESSAGES: 0x400,
  STATUS_REVISION_MISMATCH: 0xc0000059,
  HV_PCI_RQSTOR_SIZE: 64,
  /** pci_ring_size = VMBUS_RING_SIZE(SZ_16K). */
  PCI_RING_SIZE_PAYLOAD: 16 * 1024,
  PCI_STD_NUM_BARS: 6,
  HV_CONFIG_BLOCK_SIZE_MAX: 128,
  HV_PCI_DEVICE_FLAG_NUMA_AFFINITY: 0x1,
} as const;

// include/uapi/linux/pci_regs.h: the config-space offsets and BAR bits pci-hyperv.c uses
export const PciReg = {
  PCI_VENDOR_ID: 0x00,
  PCI_DEVICE_ID: 0x02,
  PCI_COMMAND: 0x04,
  PCI_STATUS: 0x06,
  PCI_CLASS_REVISION: 0x08,
  PCI_CACHE_LINE_SIZE: 0x0c,
  PCI_BASE_ADDRESS_0: 0x10,
  PCI_SUBSYSTEM_VENDOR_ID: 0x2c,
  PCI_ROM_ADDRESS: 0x30,
  PCI_CAPABILITY_LIST: 0x34,
  PCI_INTERRUPT_LINE: 0x3c,
  PCI_INTERRUPT_PIN: 0x3d,
  PCI_MIN_GNT: 0x3e,
  PCI_COMMAND_MEMORY: 0x2,
  PCI_BASE_ADDRESS_SPACE_IO: 0x01,
  PCI_BASE_ADDRESS_MEM_TYPE_64: 0x04,
  PCI_BASE_ADDRESS_MEM_PREFETCH: 0x08,
} as const;

// ---- hostile-input faults ----

/** Every reject reason of the vPCI codec, with its one-line meaning. Codes are stable. */
export const HVPCI_ERRORS = {
  HVCOCO_ERR_HVPCI_TRUNCATED: "vPCI message shorter than the struct its type needs",
  HVCOCO_ERR_HVPCI_DEVICE_COUNT: "bus relations device_count needs more bytes than the message holds",
  HVCOCO_ERR_HVPCI_MMIO_SIZE: "MMIO hypercall size 0 or beyond HV_HYPERCALL_MMIO_MAX_DATA_LENGTH (64)",
} as const;

export type HvPciErrorCode = keyof typeof HVPCI_ERRORS;

export interface HvPciFault {
  readonly code: HvPciErrorCode;
  readonly detail: string;
}

function fault(code: HvPciErrorCode, detail: string): HvPciFault {
  return { code, detail };
}

/** Tell a fault from a decoded value (decoded values never carry `code`). */
export function isHvPciFault(x: unknown): x is HvPciFault {
  return typeof x === "object" && x !== null && "code" in x && typeof x.code === "string";
}

// ---- slot encoding ----

/** devfn_to_wslot: Linux devfn (dev << 3 | func) to the Windows slot number. */
export function devfnToWslot(devfn: number): number {
  return ((devfn >>> 3) & 0x1f) | ((devfn & 0x7) << 5);
}

/** wslot_to_devfn: the Windows slot number to Linux devfn. */
export function wslotToDevfn(wslot: number): number {
  return ((wslot & 0x1f) << 3) | ((wslot >>> 5) & 0x7);
}

// ---- messages ----

export interface PciFunctionDescription {
  vId: number;
  dId: number;
  rev: number;
  progIntf: number;
  subclass: number;
  baseClass: number;
  subsystemId: number;
  winSlot: number;
  ser: number;
  /** pci_function_description2 only. */
  flags?: number;
  virtualNumaNode?: number;
}

/** Messages the guest sends (inband, most with COMPLETION_REQUESTED). */
export type PciGuestMessage =
  | { kind: "query-protocol-version"; protocolVersion: number }
  | { kind: "query-bus-relations" }
  | { kind: "bus-d0-entry"; mmioBase: bigint }
  | { kind: "bus-d0-exit" }
  | { kind: "query-resource-requirements"; wslot: number }
  | { kind: "resources-assigned"; wslot: number; msiDescriptors: number }
  | { kind: "resources-assigned2"; wslot: number; msiDescriptorCount: number }
  | { kind: "resources-released"; wslot: number }
  | { kind: "ejection-complete"; wslot: number; status: number }
  | { kind: "unknown"; type: number; body: Uint8Array };

/** Inband messages the host sends. */
export type PciHostMessage =
  | { kind: "bus-relations"; functions: PciFunctionDescription[] }
  | { kind: "bus-relations2"; functions: PciFunctionDescription[] }
  | { kind: "eject"; wslot: number }
  | { kind: "invalidate-block"; wslot: number; blockMask: bigint }
  | { kind: "unknown"; type: number; body: Uint8Array };

/** The host's completions: a status, or a status and the probed BARs. */
export type PciCompletion =
  | { kind: "status"; status: number }
  | { kind: "resource-requirements"; status: number; probedBar: number[] };

const GUEST_TYPE: Record<Exclude<PciGuestMessage["kind"], "unknown">, number> = {
  "query-protocol-version": PciMessageType.PCI_QUERY_PROTOCOL_VERSION,
  "query-bus-relations": PciMessageType.PCI_QUERY_BUS_RELATIONS,
  "bus-d0-entry": PciMessageType.PCI_BUS_D0ENTRY,
  "bus-d0-exit": PciMessageType.PCI_BUS_D0EXIT,
  "query-resource-requirements": PciMessageType.PCI_QUERY_RESOURCE_REQUIREMENTS,
  "resources-assigned": PciMessageType.PCI_RESOURCES_ASSIGNED,
  "resources-assigned2": PciMessageType.PCI_RESOURCES_ASSIGNED2,
  "resources-released": PciMessageType.PCI_RESOURCES_RELEASED,
  "ejection-complete": PciMessageType.PCI_EJECTION_COMPLETE,
};

/** The size Linux sends for each guest message (sizeof the struct). */
export function pciGuestMessageSize(m: PciGuestMessage): number {
  switch (m.kind) {
    case "query-protocol-version":
      return PCI_VERSION_REQUEST.size;
    case "query-bus-relations":
    case "bus-d0-exit":
      return PCI_MESSAGE.size;
    case "bus-d0-entry":
      return PCI_BUS_D0_ENTRY.size;
    case "query-resource-requirements":
    case "resources-released":
      return PCI_CHILD_MESSAGE.size;
    case "resources-assigned":
      return PCI_RESOURCES_ASSIGNED.size;
    case "resources-assigned2":
      return PCI_RESOURCES_ASSIGNED2.size;
    case "ejection-complete":
      return PCI_EJECT_RESPONSE.size;
    case "unknown":
      return 4 + m.body.length;
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Encode a guest message; every byte not named is zero (C18). */
export function encodePciGuestMessage(m: PciGuestMessage): Uint8Array {
  const b = new Uint8Array(pciGuestMessageSize(m));
  const v = view(b);
  v.setUint32(0, m.kind === "unknown" ? m.type >>> 0 : GUEST_TYPE[m.kind], true);
  switch (m.kind) {
    case "query-protocol-version":
      v.setUint32(PCI_VERSION_REQUEST.off.protocol_version, m.protocolVersion >>> 0, true);
      break;
    case "bus-d0-entry":
      v.setBigUint64(PCI_BUS_D0_ENTRY.off.mmio_base, m.mmioBase, true);
      break;
    case "query-resource-requirements":
    case "resources-released":
      v.setUint32(PCI_CHILD_MESSAGE.off.wslot, m.wslot >>> 0, true);
      break;
    case "resources-assigned":
      v.setUint32(PCI_RESOURCES_ASSIGNED.off.wslot, m.wslot >>> 0, true);
      v.setUint32(PCI_RESOURCES_ASSIGNED.off.msi_descriptors, m.msiDescriptors >>> 0, true);
      break;
    case "resources-assigned2":
      v.setUint32(PCI_RESOURCES_ASSIGNED2.off.wslot, m.wslot >>> 0, true);
      v.setUint32(PCI_RESOURCES_ASSIGNED2.off.msi_descriptor_count, m.msiDescriptorCount >>> 0, true);
      break;
    case "ejection-complete":
      v.setUint32(PCI_EJECT_RESPONSE.off.wslot, m.wslot >>> 0, true);
      v.setUint32(PCI_EJECT_RESPONSE.off.status, m.status >>> 0, true);
      break;
    case "unknown":
      b.set(m.body, 4);
      break;
    case "query-bus-relations":
    case "bus-d0-exit":
      break;
  }
  return b;
}

/** Decode a guest message (the host side's parser). */
export function decodePciGuestMessage(src: Uint8Array): PciGuestMessage | HvPciFault {
  if (src.length < 4) return fault("HVCOCO_ERR_HVPCI_TRUNCATED", `${src.length} bytes < 4`);
  const v = view(src);
  const type = v.getUint32(0, true);
  const need = (n: number) =>
    src.length < n
      ? fault("HVCOCO_ERR_HVPCI_TRUNCATED", `type 0x${type.toString(16)}: ${src.length} bytes < ${n}`)
      : undefined;
  switch (type) {
    case PciMessageType.PCI_QUERY_PROTOCOL_VERSION:
      return need(8) ?? { kind: "query-protocol-version", protocolVersion: v.getUint32(4, true) };
    case PciMessageType.PCI_QUERY_BUS_RELATIONS:
      return { kind: "query-bus-relations" };
    case PciMessageType.PCI_BUS_D0ENTRY:
      return need(16) ?? { kind: "bus-d0-entry", mmioBase: v.getBigUint64(8, true) };
    case PciMessageType.PCI_BUS_D0EXIT:
      return { kind: "bus-d0-exit" };
    case PciMessageType.PCI_QUERY_RESOURCE_REQUIREMENTS:
      return need(8) ?? { kind: "query-resource-requirements", wslot: v.getUint32(4, true) };
    case PciMessageType.PCI_RESOURCES_RELEASED:
      return need(8) ?? { kind: "resources-released", wslot: v.getUint32(4, true) };
    case PciMessageType.PCI_RESOURCES_ASSIGNED:
      return (
        need(PCI_RESOURCES_ASSIGNED.size) ?? {
          kind: "resources-assigned",
          wslot: v.getUint32(4, true),
          msiDescriptors: v.getUint32(PCI_RESOURCES_ASSIGNED.off.msi_descriptors, true),
        }
      );
    case PciMessageType.PCI_RESOURCES_ASSIGNED2:
      return (
        need(PCI_RESOURCES_ASSIGNED2.size) ?? {
          kind: "resources-assigned2",
          wslot: v.getUint32(4, true),
          msiDescriptorCount: v.getUint32(PCI_RESOURCES_ASSIGNED2.off.msi_descriptor_count, true),
        }
      );
    case PciMessageType.PCI_EJECTION_COMPLETE:
      return (
        need(12) ?? { kind: "ejection-complete", wslot: v.getUint32(4, true), status: v.getUint32(8, true) }
      );
    default:
      return { kind: "unknown", type, body: src.slice(4) };
  }
}

function writeFunction(v: DataView, at: number, f: PciFunctionDescription, v2: boolean): void {
  const o = PCI_FUNCTION_DESCRIPTION2.off;
  v.setUint16(at + o.v_id, f.vId, true);
  v.setUint16(at + o.d_id, f.dId, true);
  v.setUint8(at + o.rev, f.rev);
  v.setUint8(at + o.prog_intf, f.progIntf);
  v.setUint8(at + o.subclass, f.subclass);
  v.setUint8(at + o.base_class, f.baseClass);
  v.setUint32(at + o.subsystem_id, f.subsystemId >>> 0, true);
  v.setUint32(at + o.win_slot, f.winSlot >>> 0, true);
  v.setUint32(at + o.ser, f.ser >>> 0, true);
  if (v2) {
    v.setUint32(at + o.flags, (f.flags ?? 0) >>> 0, true);
    v.setUint16(at + o.virtual_numa_node, f.virtualNumaNode ?? 0, true);
  }
}

function readFunction(v: DataView, at: number, v2: boolean): PciFunctionDescription {
  const o = PCI_FUNCTION_DESCRIPTION2.off;
  const f: PciFunctionDescription = {
    vId: v.getUint16(at + o.v_id, true),
    dId: v.getUint16(at + o.d_id, true),
    rev: v.getUint8(at + o.rev),
    progIntf: v.getUint8(at + o.prog_intf),
    subclass: v.getUint8(at + o.subclass),
    baseClass: v.getUint8(at + o.base_class),
    subsystemId: v.getUint32(at + o.subsystem_id, true),
    winSlot: v.getUint32(at + o.win_slot, true),
    ser: v.getUint32(at + o.ser, true),
  };
  if (v2) {
    f.flags = v.getUint32(at + o.flags, true);
    f.virtualNumaNode = v.getUint16(at + o.virtual_numa_node, true);
  }
  return f;
}

/** Encode a host inband message as the VMBus payload (without the descriptor). */
export function encodePciHostMessage(m: PciHostMessage): Uint8Array {
  const D = HVPCI_DESC;
  switch (m.kind) {
    case "bus-relations":
    case "bus-relations2": {
      const two = m.kind === "bus-relations2";
      const each = two ? PCI_FUNCTION_DESCRIPTION2.size : PCI_FUNCTION_DESCRIPTION.size;
      const b = new Uint8Array(PCI_BUS_RELATIONS.size - D + each * m.functions.length);
      const v = view(b);
      v.setUint32(0, two ? PciMessageType.PCI_BUS_RELATIONS2 : PciMessageType.PCI_BUS_RELATIONS, true);
      v.setUint32(PCI_BUS_RELATIONS.off.device_count - D, m.functions.length, true);
      m.functions.forEach((f, i) => {
        writeFunction(v, PCI_BUS_RELATIONS.off.func - D + i * each, f, two);
      });
      return b;
    }
    case "eject": {
      const b = new Uint8Array(PCI_DEV_INCOMING.size - D);
      const v = view(b);
      v.setUint32(0, PciMessageType.PCI_EJECT, true);
      v.setUint32(PCI_DEV_INCOMING.off.wslot - D, m.wslot >>> 0, true);
      return b;
    }
    case "invalidate-block": {
      const b = new Uint8Array(PCI_DEV_INVAL_BLOCK.size - D);
      const v = view(b);
      v.setUint32(0, PciMessageType.PCI_INVALIDATE_BLOCK, true);
      v.setUint32(PCI_DEV_INVAL_BLOCK.off.wslot - D, m.wslot >>> 0, true);
      v.setBigUint64(PCI_DEV_INVAL_BLOCK.off.block_mask - D, m.blockMask, true);
      return b;
    }
    case "unknown": {
      const b = new Uint8Array(4 + m.body.length);
      view(b).setUint32(0, m.type >>> 0, true);
      b.set(m.body, 4);
      return b;
    }
  }
}

/**
 * Decode a host inband message from its VMBus payload, with hv_pci_onchannelcallback's
 * checks: the fixed part present, and device_count entries fitting in what arrived.
 */
export function decodePciHostMessage(src: Uint8Array): PciHostMessage | HvPciFault {
  const D = HVPCI_DESC;
  if (src.length < 4) return fault("HVCOCO_ERR_HVPCI_TRUNCATED", `${src.length} bytes < 4`);
  const v = view(src);
  const type = v.getUint32(0, true);
  switch (type) {
    case PciMessageType.PCI_BUS_RELATIONS:
    case PciMessageType.PCI_BUS_RELATIONS2: {
      const two = type === PciMessageType.PCI_BUS_RELATIONS2;
      const each = two ? PCI_FUNCTION_DESCRIPTION2.size : PCI_FUNCTION_DESCRIPTION.size;
      const fixed = PCI_BUS_RELATIONS.size - D;
      if (src.length < fixed)
        return fault("HVCOCO_ERR_HVPCI_TRUNCATED", `bus relations of ${src.length} < ${fixed}`);
      const count = v.getUint32(PCI_BUS_RELATIONS.off.device_count - D, true);
      const room = Math.floor((src.length - fixed) / each);
      if (count > room)
        return fault("HVCOCO_ERR_HVPCI_DEVICE_COUNT", `device_count ${count} > ${room} present`);
      const functions: PciFunctionDescription[] = [];
      for (let i = 0; i < count; i++) functions.push(readFunction(v, fixed + i * each, two));
      return { kind: two ? "bus-relations2" : "bus-relations", functions };
    }
    case PciMessageType.PCI_EJECT:
      if (src.length < PCI_DEV_INCOMING.size - D)
        return fault("HVCOCO_ERR_HVPCI_TRUNCATED", `eject of ${src.length} < ${PCI_DEV_INCOMING.size - D}`);
      return { kind: "eject", wslot: v.getUint32(PCI_DEV_INCOMING.off.wslot - D, true) };
    case PciMessageType.PCI_INVALIDATE_BLOCK:
      if (src.length < PCI_DEV_INVAL_BLOCK.size - D)
        return fault(
          "HVCOCO_ERR_HVPCI_TRUNCATED",
          `invalidate of ${src.length} < ${PCI_DEV_INVAL_BLOCK.size - D}`,
        );
      return {
        kind: "invalidate-block",
        wslot: v.getUint32(PCI_DEV_INVAL_BLOCK.off.wslot - D, true),
        blockMask: v.getBigUint64(PCI_DEV_INVAL_BLOCK.off.block_mask - D, true),
      };
    default:
      return { kind: "unknown", type, body: src.slice(4) };
  }
}

/** Encode a completion payload (what follows the descriptor of a VM_PKT_COMP). */
export function encodePciCompletion(c: PciCompletion): Uint8Array {
  const D = HVPCI_DESC;
  if (c.kind === "status") {
    const b = new Uint8Array(PCI_RESPONSE.size - D);
    view(b).setInt32(0, c.status | 0, true);
    return b;
  }
  const b = new Uint8Array(PCI_Q_RES_REQ_RESPONSE.size - D);
  const v = view(b);
  v.setInt32(0, c.status | 0, true);
  for (let i = 0; i < HvPciConst.PCI_STD_NUM_BARS; i++)
    v.setUint32(PCI_Q_RES_REQ_RESPONSE.off.probed_bar - D + 4 * i, (c.probedBar[i] ?? 0) >>> 0, true);
  return b;
}

/**
 * Decode a completion payload. `expect` is what the request asked for (the
 * requestor knows it). As q_resource_requirements: a resource-requirements
 * completion shorter than its struct reads as status -1, not as a fault.
 */
export function decodePciCompletion(
  src: Uint8Array,
  expect: PciCompletion["kind"],
): PciCompletion | HvPciFault {
  const D = HVPCI_DESC;
  if (src.length < PCI_RESPONSE.size - D)
    return fault("HVCOCO_ERR_HVPCI_TRUNCATED", `completion of ${src.length} bytes < 4`);
  const v = view(src);
  const status = v.getInt32(0, true);
  if (expect === "status") return { kind: "status", status };
  if (src.length < PCI_Q_RES_REQ_RESPONSE.size - D)
    return { kind: "resource-requirements", status: -1, probedBar: [0, 0, 0, 0, 0, 0] };
  const probedBar: number[] = [];
  for (let i = 0; i < HvPciConst.PCI_STD_NUM_BARS; i++)
    probedBar.push(v.getUint32(PCI_Q_RES_REQ_RESPONSE.off.probed_bar - D + 4 * i, true));
  return { kind: "resource-requirements", status, probedBar };
}

// ---- BARs ----

/**
 * get_bar_size: the MMIO a probed BAR value (64-bit, upper bits set for a 32-bit
 * BAR) consumes, rounded up to a page.
 */
export function getBarSize(barVal: bigint): bigint {
  const mask = ~0xfn & 0xffffffffffffffffn;
  const size = (1n + (~(barVal & mask) & 0xffffffffffffffffn)) & 0xffffffffffffffffn;
  return (size + 0xfffn) & ~0xfffn;
}

export interface BarRegion {
  /** First BAR index of the region (a 64-bit BAR also uses index + 1). */
  index: number;
  size: bigint;
  is64: boolean;
}

/**
 * survey_child_resources for one device: the memory BARs its probed values
 * describe, and the low (32-bit) and high (64-bit) MMIO they need in total.
 */
export function barRegions(probedBar: readonly number[]): {
  regions: BarRegion[];
  low: bigint;
  high: bigint;
} {
  const regions: BarRegion[] = [];
  let low = 0n;
  let high = 0n;
  for (let i = 0; i < HvPciConst.PCI_STD_NUM_BARS; i++) {
    const lo = (probedBar[i] ?? 0) >>> 0;
    if (lo === 0) continue;
    const is64 = (lo & PciReg.PCI_BASE_ADDRESS_MEM_TYPE_64) !== 0;
    let val = BigInt(lo);
    const index = i;
    if (is64) val |= BigInt((probedBar[++i] ?? 0) >>> 0) << 32n;
    else val |= 0xffffffff00000000n;
    const size = getBarSize(val);
    regions.push({ index, size, is64 });
    if (is64) high += size;
    else low += size;
  }
  return { regions, low, high };
}

/** The value a BAR of `size` bytes reads after writing all ones (low dword, and high for 64-bit). */
export function probedBarValue(size: bigint, is64: boolean, prefetch = false): [number, number] {
  const flags = (is64 ? 0x4n : 0n) | (prefetch ? 0x8n : 0n);
  const v = (~(size - 1n) & 0xfffffffffffffff0n) | flags;
  return [Number(v & 0xffffffffn), is64 ? Number(v >> 32n) : 0];
}

// ---- config space ----

/**
 * Where _hv_pcifront_read_config gets a read of `size` bytes at `where`: from
 * the function description it cached ("ids", "class", "ssid"), as zero ("rom",
 * "intx"), from the device through the config window ("mmio"), or nowhere
 * ("beyond": a read past the 4 KiB page is an error).
 */
export function configReadRoute(
  where: number,
  size: number,
): "ids" | "class" | "ssid" | "rom" | "intx" | "mmio" | "beyond" {
  const R = PciReg;
  if (where + size <= R.PCI_COMMAND) return "ids";
  if (where >= R.PCI_CLASS_REVISION && where + size <= R.PCI_CACHE_LINE_SIZE) return "class";
  if (where >= R.PCI_SUBSYSTEM_VENDOR_ID && where + size <= R.PCI_ROM_ADDRESS) return "ssid";
  if (where >= R.PCI_ROM_ADDRESS && where + size <= R.PCI_CAPABILITY_LIST) return "rom";
  if (
    (where >= R.PCI_INTERRUPT_LINE && where + size <= R.PCI_INTERRUPT_PIN) ||
    (where >= R.PCI_INTERRUPT_PIN && where + size <= R.PCI_MIN_GNT)
  )
    return "intx";
  if (where + size <= HvPciConst.CFG_PAGE_SIZE) return "mmio";
  return "beyond";
}

/** Where _hv_pcifront_write_config sends a write: dropped ("read-only"), "mmio", or "beyond". */
export function configWriteRoute(where: number, size: number): "read-only" | "mmio" | "beyond" {
  if (where >= PciReg.PCI_SUBSYSTEM_VENDOR_ID && where + size <= PciReg.PCI_CAPABILITY_LIST)
    return "read-only";
  if (where >= PciReg.PCI_COMMAND && where + size <= HvPciConst.CFG_PAGE_SIZE) return "mmio";
  return "beyond";
}

/** The cached bytes a read of route ids/class/ssid returns, from the function description. */
export function configCachedRead(f: PciFunctionDescription, where: number, size: number): number {
  const b = new Uint8Array(PCI_FUNCTION_DESCRIPTION.size);
  writeFunction(view(b), 0, f, false);
  const o = PCI_FUNCTION_DESCRIPTION.off;
  let at: number;
  const route = configReadRoute(where, size);
  if (route === "ids") at = o.v_id + where;
  else if (route === "class") at = o.rev + where - PciReg.PCI_CLASS_REVISION;
  else if (route === "ssid") at = o.subsystem_id + where - PciReg.PCI_SUBSYSTEM_VENDOR_ID;
  else return 0;
  let val = 0;
  for (let i = size - 1; i >= 0; i--) val = (val * 256 + (b[at + i] ?? 0)) >>> 0;
  return val;
}

// ---- MMIO hypercall inputs (HvCallMmioRead 0x0106 / HvCallMmioWrite 0x0107) ----

export interface MmioAccess {
  gpa: bigint;
  size: number;
  reserved: number;
}

/** hv_pci_read_mmio: the input block (16 bytes) at `off`; the output goes right after it. */
export function writeMmioReadInput(dst: Uint8Array, off: number, gpa: bigint, size: number): void {
  const v = view(dst);
  dst.fill(0, off, off + HV_MMIO_READ_INPUT.size);
  v.setBigUint64(off + HV_MMIO_READ_INPUT.off.gpa, gpa, true);
  v.setUint32(off + HV_MMIO_READ_INPUT.off.size, size >>> 0, true);
}

/** hv_pci_write_mmio: the input block (16 bytes + data) at `off`; `value` as size bytes, LE. */
export function writeMmioWriteInput(
  dst: Uint8Array,
  off: number,
  gpa: bigint,
  size: number,
  value: number,
): void {
  const v = view(dst);
  dst.fill(0, off, off + HV_MMIO_WRITE_INPUT.size);
  v.setBigUint64(off + HV_MMIO_WRITE_INPUT.off.gpa, gpa, true);
  v.setUint32(off + HV_MMIO_WRITE_INPUT.off.size, size >>> 0, true);
  const d = off + HV_MMIO_WRITE_INPUT.off.data;
  if (size === 1) v.setUint8(d, value & 0xff);
  else if (size === 2) v.setUint16(d, value & 0xffff, true);
  else v.setUint32(d, value >>> 0, true);
}

/** The host's parse of either input block's fixed part, with the size checked (1..64). */
export function decodeMmioInput(src: Uint8Array, off = 0): MmioAccess | HvPciFault {
  if (off < 0 || off + HV_MMIO_READ_INPUT.size > src.length)
    return fault("HVCOCO_ERR_HVPCI_TRUNCATED", "MMIO input outside the page");
  const v = view(src);
  const size = v.getUint32(off + HV_MMIO_READ_INPUT.off.size, true);
  if (size === 0 || size > HV_HYPERCALL_MMIO_MAX_DATA_LENGTH)
    return fault(
      "HVCOCO_ERR_HVPCI_MMIO_SIZE",
      `size ${size} outside 1..${HV_HYPERCALL_MMIO_MAX_DATA_LENGTH}`,
    );
  return {
    gpa: v.getBigUint64(off + HV_MMIO_READ_INPUT.off.gpa, true),
    size,
    reserved: v.getUint32(off + HV_MMIO_READ_INPUT.off.reserved, true),
  };
}

/** The value hv_pci_read_mmio takes from the output data: u8, u16 or u32 by size. */
export function readMmioOutputValue(src: Uint8Array, off: number, size: number): number {
  const v = view(src);
  if (size === 1) return v.getUint8(off);
  if (size === 2) return v.getUint16(off, true);
  return v.getUint32(off, true);
}

// ---- the layout section ----

export const HV_PCI_LAYOUT: LayoutSection = {
  section: "hv_pci",
  structs: [
    PCI_VERSION,
    WIN_SLOT_ENCODING,
    PCI_FUNCTION_DESCRIPTION,
    PCI_FUNCTION_DESCRIPTION2,
    PCI_MESSAGE,
    PCI_CHILD_MESSAGE,
    PCI_INCOMING_MESSAGE,
    PCI_RESPONSE,
    PCI_VERSION_REQUEST,
    PCI_BUS_D0_ENTRY,
    PCI_BUS_RELATIONS,
    PCI_BUS_RELATIONS2,
    PCI_Q_RES_REQ_RESPONSE,
    PCI_RESOURCES_ASSIGNED,
    PCI_RESOURCES_ASSIGNED2,
    PCI_DEV_INCOMING,
    PCI_DEV_INVAL_BLOCK,
    PCI_EJECT_RESPONSE,
  ],
  constants: [
    ...constantsOf("pci_protocol_version", P, PciProtocolVersion),
    ...constantsOf("pci_protocol_version_order", P, {
      pci_protocol_versions: PCI_PROTOCOL_VERSIONS.map((x) => `0x${x.toString(16)}`).join(","),
    }),
    ...constantsOf("pci_message_type", P, PciMessageType),
    ...constantsOf("hv_pci", P, HvPciConst),
    ...constantsOf("pci_regs", PCI, PciReg),
  ],
};
