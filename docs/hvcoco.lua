-- Wireshark / tshark dissector for hvcoco boundary-crossing records
-- (pcapng written by `hvcoco trace --format pcapng`, link type LINKTYPE_USER0 = 147).
-- The record layout is in docs/trace.md and src/report/trace-record.ts.
--
--   wireshark -X lua_script:docs/hvcoco.lua trace.pcapng
--   tshark -X lua_script:docs/hvcoco.lua -r trace.pcapng -T fields -e hvcoco.seq -e hvcoco.kind -e hvcoco.what

local hvcoco = Proto("hvcoco", "hvcoco boundary crossing")

local kinds = {
  [0] = "(by name)", [1] = "cpuid", [2] = "msr-read", [3] = "msr-write", [4] = "hypercall",
  [5] = "exception", [6] = "interrupt", [7] = "synic-message", [8] = "synic-event",
  [9] = "host-read", [10] = "host-write", [11] = "visibility", [12] = "boot-step",
  [13] = "mmio", [14] = "port-io", [15] = "halt", [16] = "guest-request",
  [17] = "measurement", [18] = "attestation",
}
local actors = { [0] = "unknown", [1] = "guest", [2] = "paravisor", [3] = "hypervisor", [4] = "host", [5] = "platform" }

local f = {
  version = ProtoField.uint8("hvcoco.version", "Record version"),
  kind_code = ProtoField.uint8("hvcoco.kind_code", "Kind code", base.DEC, kinds),
  from = ProtoField.uint8("hvcoco.from", "From", base.DEC, actors),
  to = ProtoField.uint8("hvcoco.to", "To", base.DEC, actors),
  seq = ProtoField.uint64("hvcoco.seq", "Sequence number"),
  kind = ProtoField.string("hvcoco.kind", "Kind"),
  what = ProtoField.string("hvcoco.what", "What"),
  detail = ProtoField.string("hvcoco.detail", "Detail (JSON)"),
  payload = ProtoField.bytes("hvcoco.payload", "Bytes that crossed"),
}
hvcoco.fields = { f.version, f.kind_code, f.from, f.to, f.seq, f.kind, f.what, f.detail, f.payload }

function hvcoco.dissector(buf, pinfo, tree)
  if buf:len() < 24 then return 0 end
  pinfo.cols.protocol = "hvcoco"
  local t = tree:add(hvcoco, buf(), "hvcoco boundary crossing")
  t:add_le(f.version, buf(0, 1))
  t:add_le(f.kind_code, buf(1, 1))
  t:add_le(f.from, buf(2, 1))
  t:add_le(f.to, buf(3, 1))
  t:add_le(f.seq, buf(4, 8))
  local lens = { buf(12, 2):le_uint(), buf(14, 2):le_uint(), buf(16, 4):le_uint(), buf(20, 4):le_uint() }
  local fields = { f.kind, f.what, f.detail, f.payload }
  local text = {}
  local off = 24
  for i = 1, 4 do
    local n = lens[i]
    if n > 0 and off + n <= buf:len() then
      t:add(fields[i], buf(off, n))
      if i < 4 then text[i] = buf(off, n):string() end
    end
    off = off + n
  end
  pinfo.cols.src = actors[buf(2, 1):uint()] or "?"
  pinfo.cols.dst = actors[buf(3, 1):uint()] or "?"
  pinfo.cols.info = (text[1] or "?") .. " " .. (text[2] or "") .. (text[3] and (" " .. text[3]) or "")
  return buf:len()
end

local encap = (wtap_encaps and wtap_encaps.USER0) or wtap.USER0
DissectorTable.get("wtap_encap"):add(encap, hvcoco)
