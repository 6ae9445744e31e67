// What the hypervisor does for a paravisor that serves its own VMBus (C29-C33):
//  - HvCallPostMessageDirect (0x00C1) / HvCallSignalEventDirect (0x00C0): a higher
//    VTL (the paravisor, VTL2) posts a message into, or sets an event flag of, a
//    lower VTL's SynIC. The paravisor uses them for a VMBus connection that is not
//    confidential: its messages then reach the guest through the hypervisor's SynIC.
//  - the ports the paravisor intercepts: HvPostMessage / HvSignalEvent the guest
//    sends through the GHCB or TDVMCALL to one of them go to the paravisor's
//    untrusted dispatcher instead of the host (OpenHCL registers its connection ids
//    with HvCallCreatePort / HvCallConnectPort; the model registers them at wiring).
//
// Layouts: include/hyperv/hvhdk.h struct hv_input_post_message_direct and
// struct hv_input_signal_event_direct (as the mshv root driver fills them). They are
// not in kernel-facts.md; the field order and sizes are UNCONFIRMED against a
// pinned tree.
import { HvStatus } from "../hyperv/hvgdk.ts";
import { HV_INPUT_POST_MESSAGE } from "../hyperv/hypercall-abi.ts";
import {
  HV_MESSAGE,
  HV_MESSAGE_PAYLOAD_BYTE_COUNT,
  HV_MESSAGE_SIZE,
  HV_SYNIC_SINT_COUNT,
} from "../hyperv/synic-abi.ts";
import { defineStruct } from "../layout/struct.ts";
import type { Synic } from "./synic.ts";

const H = "include/hyperv/hvhdk.h (UNCONFIRMED)";

// include/hyperv/hvhdk.h: struct hv_input_post_message_direct (packed)
export const HV_INPUT_POST_MESSAGE_DIRECT = defineStruct("hv_input_post_message_direct", H, [
  { name: "partition_id", size: 8 },
  { name: "vp_index", size: 4 },
  { name: "vtl", size: 1, note: "the target VTL: 0 for the guest" },
  { name: "padding", size: 3 },
  { name: "sint_index", size: 4 },
  { name: "message", size: 1, count: HV_MESSAGE_SIZE, note: "a whole struct hv_message" },
  { name: "padding2", size: 4 },
]);

// include/hyperv/hvhdk.h: struct hv_input_signal_event_direct (packed)
export const HV_INPUT_SIGNAL_EVENT_DIRECT = defineStruct("hv_input_signal_event_direct", H, [
  { name: "target_partition", size: 8 },
  { name: "target_vp", size: 4 },
  { name: "target_vtl", size: 1 },
  { name: "target_sint", size: 1 },
  { name: "flag_number", size: 2 },
]);

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Fill hv_input_post_message_direct for a message of `type` with `payload` to (vp, VTL 0, sint). */
export function encodePostMessageDirect(
  vp: number,
  sint: number,
  type: number,
  payload: Uint8Array,
): Uint8Array {
  if (payload.length > HV_MESSAGE_PAYLOAD_BYTE_COUNT)
    throw new Error(`message of ${payload.length} bytes > 240`);
  const o = HV_INPUT_POST_MESSAGE_DIRECT.off;
  const b = new Uint8Array(HV_INPUT_POST_MESSAGE_DIRECT.size);
  const v = dv(b);
  v.setBigUint64(o.partition_id, 0xffffffffffffffffn, true); // HV_PARTITION_ID_SELF
  v.setUint32(o.vp_index, vp, true);
  v.setUint32(o.sint_index, sint, true);
  v.setUint32(o.message + HV_MESSAGE.off.message_type, type, true);
  b[o.message + HV_MESSAGE.off.payload_size] = payload.length;
  b.set(payload, o.message + HV_MESSAGE.off.payload);
  return b;
}

export function encodeSignalEventDirect(vp: number, sint: number, flag: number): Uint8Array {
  const o = HV_INPUT_SIGNAL_EVENT_DIRECT.off;
  const b = new Uint8Array(HV_INPUT_SIGNAL_EVENT_DIRECT.size);
  const v = dv(b);
  v.setBigUint64(o.target_partition, 0xffffffffffffffffn, true);
  v.setUint32(o.target_vp, vp, true);
  b[o.target_sint] = sint;
  v.setUint16(o.flag_number, flag, true);
  return b;
}

/** HvCallPostMessageDirect: the input is validated, then the message goes into the VP's SINT slot. */
export function postMessageDirect(synic: Synic, vps: number, input: Uint8Array): number {
  if (input.length < HV_INPUT_POST_MESSAGE_DIRECT.size) return HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT;
  const o = HV_INPUT_POST_MESSAGE_DIRECT.off;
  const v = dv(input);
  const vp = v.getUint32(o.vp_index, true);
  const sint = v.getUint32(o.sint_index, true);
  if (vp >= vps) return HvStatus.HV_STATUS_INVALID_VP_INDEX;
  if (input[o.vtl] !== 0 || sint >= HV_SYNIC_SINT_COUNT) return HvStatus.HV_STATUS_INVALID_PARAMETER;
  const type = v.getUint32(o.message + HV_MESSAGE.off.message_type, true);
  const size = input[o.message + HV_MESSAGE.off.payload_size]!;
  if (type === 0 || size > HV_MESSAGE_PAYLOAD_BYTE_COUNT) return HvStatus.HV_STATUS_INVALID_PARAMETER;
  const at = o.message + HV_MESSAGE.off.payload;
  const out = synic.postMessage(vp, sint, type, input.slice(at, at + size));
  return out === "dropped" ? HvStatus.HV_STATUS_INVALID_VP_STATE : HvStatus.HV_STATUS_SUCCESS;
}

/** HvCallSignalEventDirect: set the flag on the VP's event page for the SINT and interrupt it. */
export function signalEventDirect(synic: Synic, vps: number, input: Uint8Array): number {
  if (input.length < HV_INPUT_SIGNAL_EVENT_DIRECT.size) return HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT;
  const o = HV_INPUT_SIGNAL_EVENT_DIRECT.off;
  const v = dv(input);
  const vp = v.getUint32(o.target_vp, true);
  if (vp >= vps) return HvStatus.HV_STATUS_INVALID_VP_INDEX;
  if (input[o.target_vtl] !== 0 || input[o.target_sint]! >= HV_SYNIC_SINT_COUNT)
    return HvStatus.HV_STATUS_INVALID_PARAMETER;
  return synic.signalEvent(vp, input[o.target_sint]!, v.getUint16(o.flag_number, true))
    ? HvStatus.HV_STATUS_SUCCESS
    : HvStatus.HV_STATUS_INVALID_VP_STATE;
}

/** hv_input_post_message as the guest's GHCB/TDVMCALL carried it, rebuilt for the paravisor's intercept. */
export function encodePostMessageInput(connectionId: number, type: number, payload: Uint8Array): Uint8Array {
  const o = HV_INPUT_POST_MESSAGE.off;
  const b = new Uint8Array(o.payload + payload.length);
  const v = dv(b);
  v.setUint32(o.connectionid, connectionId & 0xffffff, true);
  v.setUint32(o.message_type, type, true);
  v.setUint32(o.payload_size, payload.length, true);
  b.set(payload, o.payload);
  return b;
}

/** The 8-byte hv_input_signal_event: connection id, flag number. */
export function encodeSignalEventInput(connectionId: number, flag: number): Uint8Array {
  const b = new Uint8Array(8);
  dv(b).setBigUint64(0, BigInt(connectionId & 0xffffff) | (BigInt(flag & 0xffff) << 32n), true);
  return b;
}
