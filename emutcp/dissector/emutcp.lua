-- emutcp.lua: a Wireshark/tshark dissector for emutcp's wire format.
--
-- emutcp carries each TCP segment as one msgpack array in one UDP datagram:
--   [version=1, src_port, dst_port, seq, ack, flags, window,
--    options (nil | [mss, wscale, sack_permitted, sack_blocks, timestamps]),
--    payload (bin), crc32]
-- This dissector recognises such datagrams on any UDP port (a heuristic: a
-- fixarray of 10 whose first element is 1), shows every field under
-- "emutcp", then rebuilds the segment as a real TCP header (options in TCP's
-- binary encoding) and hands it to Wireshark's own TCP dissector, so
-- sequence analysis, retransmission and duplicate-ACK detection, stream
-- following and the TCP graphs work on live emutcp traffic.
--
-- Use:  tshark -i lo -X lua_script:emutcp.lua -Y emutcp
-- or copy it to Wireshark's personal Lua plugins folder
-- (`emutcp dissector` prints where).  The filter field "emutcp" matches
-- every decoded datagram; "emutcp.flags", "emutcp.seq", ... match fields.

local emutcp = Proto("emutcp", "emutcp (TCP over UDP, msgpack)")

local f = emutcp.fields
f.version = ProtoField.uint8("emutcp.version", "Format version")
f.srcport = ProtoField.uint16("emutcp.srcport", "Source port")
f.dstport = ProtoField.uint16("emutcp.dstport", "Destination port")
f.seq = ProtoField.uint32("emutcp.seq", "Sequence number (raw)")
f.ack = ProtoField.uint32("emutcp.ack", "Acknowledgment number (raw)")
f.flags = ProtoField.uint8("emutcp.flags", "Flags", base.HEX)
f.window = ProtoField.uint16("emutcp.window", "Window")
f.mss = ProtoField.uint16("emutcp.mss", "MSS")
f.wscale = ProtoField.uint8("emutcp.wscale", "Window scale")
f.sack_perm = ProtoField.bool("emutcp.sack_permitted", "SACK permitted")
f.sack = ProtoField.string("emutcp.sack", "SACK blocks")
f.tsval = ProtoField.uint32("emutcp.tsval", "Timestamp value")
f.tsecr = ProtoField.uint32("emutcp.tsecr", "Timestamp echo reply")
f.len = ProtoField.uint32("emutcp.len", "Payload length")
f.crc = ProtoField.uint32("emutcp.crc32", "CRC-32", base.HEX)

local tcp_dissector = Dissector.get("tcp")

-- msgpack reader: returns value, next offset (values: numbers, booleans,
-- nil markers, {bin=offset,len=n} for binary, tables for arrays).
local NIL = {}

local function read(tvb, off)
  local b = tvb(off, 1):uint()
  if b <= 0x7f then return b, off + 1 end
  if b >= 0x90 and b <= 0x9f then
    local n, arr, o = b - 0x90, {}, off + 1
    for i = 1, n do arr[i], o = read(tvb, o) end
    return arr, o
  end
  if b == 0xc0 then return NIL, off + 1 end
  if b == 0xc2 then return false, off + 1 end
  if b == 0xc3 then return true, off + 1 end
  if b == 0xcc then return tvb(off + 1, 1):uint(), off + 2 end
  if b == 0xcd then return tvb(off + 1, 2):uint(), off + 3 end
  if b == 0xce then return tvb(off + 1, 4):uint(), off + 5 end
  if b == 0xcf then return tvb(off + 1, 8):uint64():tonumber(), off + 9 end
  if b == 0xc4 then
    local n = tvb(off + 1, 1):uint()
    return { bin = off + 2, len = n }, off + 2 + n
  end
  if b == 0xc5 then
    local n = tvb(off + 1, 2):uint()
    return { bin = off + 3, len = n }, off + 3 + n
  end
  if b == 0xc6 then
    local n = tvb(off + 1, 4):uint()
    return { bin = off + 5, len = n }, off + 5 + n
  end
  error("not an emutcp segment")
end

local function u16(n) return string.char(math.floor(n / 256) % 256, n % 256) end
local function u32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
                     math.floor(n / 256) % 256, n % 256)
end

-- The options in TCP's encoding (RFC 9293 3.2, RFC 7323, RFC 2018), padded.
local function tcp_options(o)
  if o == NIL then return "" end
  local out = ""
  if o[1] ~= NIL then out = out .. string.char(2, 4) .. u16(o[1]) end
  if o[3] == true then out = out .. string.char(1, 1, 4, 2) end
  if o[5] ~= NIL then out = out .. string.char(1, 1, 8, 10) .. u32(o[5][1]) .. u32(o[5][2]) end
  if o[2] ~= NIL then out = out .. string.char(1, 3, 3, o[2]) end
  if o[4] ~= NIL and #o[4] > 0 then
    local room = math.floor((40 - #out - 4) / 8)
    local n = math.min(#o[4], room)
    if n > 0 then
      out = out .. string.char(1, 1, 5, 2 + 8 * n)
      for i = 1, n do out = out .. u32(o[4][i][1]) .. u32(o[4][i][2]) end
    end
  end
  while #out % 4 ~= 0 do out = out .. string.char(0) end
  return out
end

local function to_bytearray(s)
  local hex = s:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  return ByteArray.new(hex)
end

local function dissect(tvb, pinfo, tree)
  if tvb:len() < 12 or tvb(0, 1):uint() ~= 0x9a or tvb(1, 1):uint() ~= 0x01 then
    return 0
  end
  local ok, seg = pcall(read, tvb, 0)
  if not ok or type(seg) ~= "table" or #seg ~= 10 then return 0 end
  local opts, payload = seg[8], seg[9]
  if type(payload) ~= "table" or payload.bin == nil then return 0 end
  local t = tree:add(emutcp, tvb(), "emutcp segment (TCP over UDP)")
  t:add(f.version, seg[1])
  t:add(f.srcport, seg[2])
  t:add(f.dstport, seg[3])
  t:add(f.seq, seg[4])
  t:add(f.ack, seg[5])
  t:add(f.flags, seg[6])
  t:add(f.window, seg[7])
  if opts ~= NIL then
    if opts[1] ~= NIL then t:add(f.mss, opts[1]) end
    if opts[2] ~= NIL then t:add(f.wscale, opts[2]) end
    t:add(f.sack_perm, opts[3] == true)
    if opts[4] ~= NIL then
      local parts = {}
      for i, blk in ipairs(opts[4]) do parts[i] = blk[1] .. "-" .. blk[2] end
      t:add(f.sack, table.concat(parts, " "))
    end
    if opts[5] ~= NIL then
      t:add(f.tsval, opts[5][1])
      t:add(f.tsecr, opts[5][2])
    end
  end
  t:add(f.len, tvb(payload.bin, payload.len), payload.len)
  t:add(f.crc, seg[10])
  -- Hand a rebuilt TCP segment to Wireshark's TCP dissector.
  local options = tcp_options(opts)
  local offset = (20 + #options) / 4
  local header = u16(seg[2]) .. u16(seg[3]) .. u32(seg[4]) .. u32(seg[5])
    .. string.char(offset * 16, seg[6]) .. u16(seg[7]) .. u16(0) .. u16(0) .. options
  local bytes = to_bytearray(header)
  if payload.len > 0 then bytes:append(tvb(payload.bin, payload.len):bytes()) end
  local tcp_tvb = bytes:tvb("emutcp as TCP")
  if tcp_dissector ~= nil then
    tcp_dissector:call(tcp_tvb, pinfo, tree)
  end
  pinfo.cols.protocol = "emutcp"
  return tvb:len()
end

function emutcp.dissector(tvb, pinfo, tree)
  return dissect(tvb, pinfo, tree)
end

local function heuristic(tvb, pinfo, tree)
  return dissect(tvb, pinfo, tree) > 0
end

emutcp:register_heuristic("udp", heuristic)
