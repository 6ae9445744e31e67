import assert from "node:assert/strict";
import { test } from "node:test";
import * as L from "../../src/vmbus/layout.ts";

// Sizes and offsets as computed by hand from include/linux/hyperv.h (kernel-facts §1).
const EXPECTED: [string, number, Record<string, number>][] = [
  [
    "hv_ring_buffer",
    4096,
    {
      write_index: 0,
      read_index: 4,
      interrupt_mask: 8,
      pending_send_sz: 12,
      reserved1: 16,
      feature_bits: 64,
      buffer: 4096,
    },
  ],
  ["vmpacket_descriptor", 16, { type: 0, offset8: 2, len8: 4, flags: 6, trans_id: 8 }],
  ["vmpacket_header", 20, { prev_pkt_start_offset: 0, descriptor: 4 }],
  ["vmbus_pkt_trailer", 8, { reserved: 0, prev_write_index: 4 }],
  ["vmtransfer_page_range", 8, { byte_count: 0, byte_offset: 4 }],
  [
    "vmtransfer_page_packet_header",
    24,
    { xfer_pageset_id: 16, sender_owns_set: 18, reserved: 19, range_cnt: 20, ranges: 24 },
  ],
  ["vmgpadl_packet_header", 24, { gpadl: 16, reserved: 20 }],
  ["vmadd_remove_transfer_page_set", 24, { gpadl: 16, xfer_pageset_id: 20, reserved: 22 }],
  ["gpa_range", 8, { byte_count: 0, byte_offset: 4, pfn_array: 8 }],
  ["vmestablish_gpadl", 24, { gpadl: 16, range_cnt: 20, range: 24 }],
  ["vmteardown_gpadl", 24, { gpadl: 16, reserved: 20 }],
  ["vmdata_gpa_direct", 24, { reserved: 16, range_cnt: 20, range: 24 }],
  ["vmadditional_data", 32, { total_bytes: 16, offset: 24, byte_cnt: 28, data: 32 }],
  ["hv_page_buffer", 16, { len: 0, offset: 4, pfn: 8 }],
  ["hv_multipage_buffer", 264, { len: 0, offset: 4, pfn_array: 8 }],
  ["hv_mpb_array", 8, { len: 0, offset: 4, pfn_array: 8 }],
  [
    "vmbus_channel_packet_page_buffer",
    536,
    { dataoffset8: 2, length8: 4, transactionid: 8, rangecount: 20, range: 24 },
  ],
  ["vmbus_channel_packet_multipage_buffer", 288, { rangecount: 20, range: 24 }],
  ["vmbus_packet_mpb_array", 32, { reserved: 16, rangecount: 20, range: 24 }],
  ["vmbus_channel_message_header", 8, { msgtype: 0, padding: 4 }],
  [
    "vmbus_channel_offer",
    176,
    {
      if_type: 0,
      if_instance: 16,
      reserved1: 32,
      reserved2: 40,
      chn_flags: 48,
      mmio_megabytes: 50,
      user_def: 52,
      sub_channel_index: 172,
      reserved3: 174,
    },
  ],
  [
    "vmbus_channel_offer_channel",
    196,
    {
      offer: 8,
      child_relid: 184,
      monitorid: 188,
      monitor_allocated: 189,
      is_dedicated_interrupt: 190,
      connection_id: 192,
    },
  ],
  ["vmbus_channel_rescind_offer", 12, { child_relid: 8 }],
  ["vmbus_channel_request_offers", 8, {}],
  ["vmbus_channel_all_offers_delivered", 8, {}],
  [
    "vmbus_channel_open_channel",
    148,
    {
      child_relid: 8,
      openid: 12,
      ringbuffer_gpadlhandle: 16,
      target_vp: 20,
      downstream_ringbuffer_pageoffset: 24,
      userdata: 28,
    },
  ],
  ["vmbus_channel_open_result", 20, { child_relid: 8, openid: 12, status: 16 }],
  ["vmbus_channel_close_channel", 12, { child_relid: 8 }],
  [
    "vmbus_channel_gpadl_header",
    20,
    { child_relid: 8, gpadl: 12, range_buflen: 16, rangecount: 18, range: 20 },
  ],
  ["vmbus_channel_gpadl_body", 16, { msgnumber: 8, gpadl: 12, pfn: 16 }],
  ["vmbus_channel_gpadl_created", 20, { child_relid: 8, gpadl: 12, creation_status: 16 }],
  ["vmbus_channel_gpadl_teardown", 16, { child_relid: 8, gpadl: 12 }],
  ["vmbus_channel_gpadl_torndown", 12, { gpadl: 8 }],
  ["vmbus_channel_relid_released", 12, { child_relid: 8 }],
  [
    "vmbus_channel_initiate_contact",
    40,
    {
      vmbus_version_requested: 8,
      target_vcpu: 12,
      msg_sint: 16,
      msg_vtl: 17,
      reserved: 18,
      feature_flags: 20,
      monitor_page1: 24,
      monitor_page2: 32,
    },
  ],
  [
    "vmbus_channel_version_response",
    16,
    { version_supported: 8, connection_state: 9, padding: 10, msg_conn_id: 12 },
  ],
  ["VersionResponse2", 20, { supported_features: 16 }],
  ["vmbus_channel_unload", 8, {}],
  ["vmbus_channel_unload_response", 8, {}],
  ["vmbus_channel_tl_connect_request", 40, { guest_endpoint_id: 8, host_service_id: 24 }],
  ["TlConnectResult", 44, { endpoint_id: 8, service_id: 24, status: 40 }],
  ["vmbus_channel_modifychannel", 16, { child_relid: 8, target_vp: 12 }],
  ["vmbus_channel_modifychannel_response", 16, { child_relid: 8, status: 12 }],
  ["vmbus_channel_query_vmbus_version", 12, { version: 8 }],
  ["vmbus_channel_version_supported", 9, { version_supported: 8 }],
  [
    "hv_monitor_page",
    4096,
    {
      trigger_state: 0,
      trigger_group: 8,
      next_checktime: 64,
      latency: 0x240,
      rsvdz3: 0x340,
      parameter: 0x440,
      rsvdz4: 0x840,
    },
  ],
];

test("every VMBus struct has the size and offsets of include/linux/hyperv.h", () => {
  const byName = new Map(L.VMBUS_LAYOUT.structs.map((s) => [s.name, s]));
  for (const [name, size, offs] of EXPECTED) {
    const s = byName.get(name);
    assert.ok(s, `${name} is in VMBUS_LAYOUT`);
    assert.equal(s.size, size, `${name} size`);
    const off = s.off as Record<string, number>;
    for (const [f, o] of Object.entries(offs)) assert.equal(off[f], o, `${name}.${f}`);
    assert.match(s.header, /hyperv\.h|hyperv_vmbus\.h|ring_buffer\.c|protocol\.rs/);
  }
  assert.equal(byName.size, EXPECTED.length, "no struct left untested");
});

test("VMBUS_LAYOUT carries the constants the spec names", () => {
  const c = new Map(L.VMBUS_LAYOUT.constants.map((e) => [`${e.group}.${e.name}`, e.value]));
  assert.equal(L.VMBUS_LAYOUT.section, "vmbus");
  assert.equal(c.get("vmbus_packet_type.VM_PKT_DATA_USING_GPA_DIRECT"), 9);
  assert.equal(c.get("vmbus_packet_type.VM_PKT_COMP"), 0xb);
  assert.equal(c.get("vmbus_channel_message_type.CHANNELMSG_MODIFYCHANNEL_RESPONSE"), 24);
  assert.equal(c.get("vmbus_version.VERSION_WIN10_V6_0"), 0x60000);
  assert.equal(c.get("vmbus_version.VERSION_WIN8"), 0x20004);
  assert.equal(
    c.get("vmbus_version_order.vmbus_versions"),
    "0x60000,0x50003,0x50002,0x50001,0x50000,0x40001,0x40000,0x30000,0x20004",
  );
  assert.equal(c.get("vmbus_connection.VMBUS_MESSAGE_CONNECTION_ID_4"), 4);
  assert.equal(c.get("vmbus_offer_flag.VMBUS_CHANNEL_CONFIDENTIAL_RING_BUFFER"), 0x2);
  assert.equal(c.get("vmbus_offer_flag.VMBUS_CHANNEL_CONFIDENTIAL_EXTERNAL_MEMORY"), 0x4);
  assert.equal(c.get("vmbus_feature_flag.VMBUS_FEATURE_FLAG_CONFIDENTIAL_CHANNELS"), 0x10);
  assert.equal(c.get("vmbus_request_id.VMBUS_RQST_ERROR"), 0xfffffffffffffffen);
  assert.equal(c.get("vmbus_device_guid.HV_SCSI_GUID"), "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f");
  for (const e of L.VMBUS_LAYOUT.constants) assert.ok(e.header.length > 0, `${e.name} cites a header`);
});
