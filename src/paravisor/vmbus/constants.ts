// Constants of the paravisor's VMBus (OpenVMM's vmbus_core / vmbus_server, the
// paravisor side of the same wire protocol; kernel-facts.md §1.3-§1.4, §6.1;
// peers.md §1a "Two SynICs").
import { VmbusConnection as Conn, OfferFlag } from "../../vmbus/constants.ts";

/** OVMM VMBUS_MESSAGE_REDIRECT_CONNECTION_ID (0x800074): where the VTL2 relay posts to the host's server. */
export const VMBUS_MESSAGE_REDIRECT_CONNECTION_ID: number = Conn.VMBUS_MESSAGE_REDIRECT_CONNECTION_ID;
/** OVMM vmbus_server REDIRECT_SINT / REDIRECT_VTL: where the host answers the relay. */
export const REDIRECT_SINT = 7;
export const REDIRECT_VTL = 2;

/** The offer flags only a paravisor channel on a confidential connection may carry (6.19). */
export const CONFIDENTIAL_OFFER_FLAGS =
  OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER | OfferFlag.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY;

/**
 * OVMM ConnectionId::new(channel_id, vtl, sint) = channel_id | sint << 12 | vtl << 16:
 * the connection id of a paravisor channel (VTL2), distinct from every host
 * channel's (VTL0), so the hypervisor can send the guest's signals to the right end.
 */
export function paravisorConnectionId(relid: number): number {
  return (relid | (Conn.VMBUS_MESSAGE_SINT << 12) | (REDIRECT_VTL << 16)) >>> 0;
}

/** The message connection ids a guest posts channel messages to (1 before protocol 5.0, 4 from it). */
export const GUEST_MESSAGE_CONNECTION_IDS: readonly number[] = [
  Conn.VMBUS_MESSAGE_CONNECTION_ID,
  Conn.VMBUS_MESSAGE_CONNECTION_ID_4,
];
