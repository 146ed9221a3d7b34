-- wrk script for bench/soak.sh: steady, throttled load through the gateway behind a trusted proxy.
--   wrk ... -s soak.lua -- <keys file> <segment> <delay ms> <unknown percent>
-- Every request carries a client address never used before in the run (X-Forwarded-For, counted per
-- thread and per segment), a valid key from the keys file, or (unknown percent of requests) a
-- well-formed key with a correct checksum that was never issued, so it reaches the store.
-- Status counts per thread are summed in done() and printed as "soak-status <code> <count>".

local bit = require("bit")
local threads = {}
local thread_id = 0

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

local alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if bit.band(c, 1) == 1 then c = bit.bxor(bit.rshift(c, 1), 0xEDB88320) else c = bit.rshift(c, 1) end
  end
  crc_table[i] = c
end

local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do
    c = bit.bxor(crc_table[bit.band(bit.bxor(c, s:byte(i)), 0xFF)], bit.rshift(c, 8))
  end
  c = bit.bxor(c, 0xFFFFFFFF)
  if c < 0 then c = c + 4294967296 end
  return c
end

local function base62_fixed(value, width)
  local out = {}
  for i = width, 1, -1 do
    local d = value % 62
    out[i] = alphabet:sub(d + 1, d + 1)
    value = (value - d) / 62
  end
  return table.concat(out)
end

local function unknown_key()
  local r = {}
  for i = 1, 32 do
    local d = math.random(0, 61)
    r[i] = alphabet:sub(d + 1, d + 1)
  end
  local body = "gw_live_" .. table.concat(r)
  return body .. base62_fixed(crc32(body), 6)
end

local keys = {}
local segment = 0
local delay_ms = 0
local unknown_percent = 10
counter = 0 -- global, like statuses: done() reads it
unknown_sent = 0
statuses = {} -- global: done() reads it through thread:get

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(keys, line) end
  end
  segment = tonumber(args[2]) or 0
  delay_ms = tonumber(args[3]) or 0
  unknown_percent = tonumber(args[4]) or 10
  math.randomseed(os.time() + id * 7919 + segment * 104729)
end

function delay()
  return delay_ms
end

function request()
  counter = counter + 1
  -- 100.64.0.0/10 and up: thread in the top bits, segment and counter below, never repeated in a run
  -- (2^20 requests per thread per segment).
  local n = ((segment * 16 + id) * 1048576) + counter
  local ip = string.format("%d.%d.%d.%d", 1 + (math.floor(n / 16777216) % 223), math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  local key
  if math.random(1, 100) <= unknown_percent then
    key = unknown_key()
    unknown_sent = unknown_sent + 1
  else
    key = keys[math.random(1, #keys)]
  end
  return wrk.format("GET", "/soak/x", { ["Authorization"] = "Bearer " .. key, ["X-Forwarded-For"] = ip })
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  local sent, unknown = 0, 0
  for _, thread in ipairs(threads) do
    sent = sent + thread:get("counter")
    unknown = unknown + thread:get("unknown_sent")
    local s = thread:get("statuses")
    for code, count in pairs(s) do total[code] = (total[code] or 0) + count end
  end
  for code, count in pairs(total) do
    io.write(string.format("soak-status %d %d\n", code, count))
  end
  -- Every request comes from a new address, so every one is within the IP limit: a valid key that is
  -- not answered 200 was refused (a few may still be in flight when the run stops).
  io.write(string.format("soak-sent %d %d\n", sent - unknown, unknown))
end
