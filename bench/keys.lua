-- wrk script for bench/scale.sh: every request carries one of many keys (Authorization: Bearer ...).
-- Environment: KEYS_FILE (one key a line), DIST = uniform | zipf | walk, ZIPF_S (exponent, default 1.0),
-- BENCH_PATH (default /bench/hello).
--   uniform  every key equally likely
--   zipf     key of rank r (its line number) with probability proportional to 1 / r^s: a few hot keys, a long tail
--   walk     each thread walks the key list in order (thread i takes keys i, i+T, i+2T, ...): touches every key
--            once in as few requests as possible, to fill the gateway's cache before a "warm" run
-- Each thread loads the list once in init() (wrk's threads are separate Lua states), so request() only picks.
local keys, n, cdf = {}, 0, nil
local dist = os.getenv("DIST") or "uniform"
local path = os.getenv("BENCH_PATH") or "/bench/hello"
local step, next_index = 1, 1
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  local file = assert(io.open(assert(os.getenv("KEYS_FILE"), "KEYS_FILE is not set"), "r"))
  for line in file:lines() do
    n = n + 1
    keys[n] = "Bearer " .. line
  end
  file:close()
  assert(n > 0, "no keys in KEYS_FILE")
  math.randomseed(os.time() + (thread_id or 0) * 7919)
  if dist == "zipf" then
    -- The cumulative weights, once; a request then costs one binary search (about 20 steps for a million keys).
    local s = tonumber(os.getenv("ZIPF_S") or "1.0")
    cdf = {}
    local total = 0
    for r = 1, n do
      total = total + 1 / (r ^ s)
      cdf[r] = total
    end
    for r = 1, n do cdf[r] = cdf[r] / total end
  elseif dist == "walk" then
    step = tonumber(os.getenv("WALK_THREADS") or "1")
    next_index = thread_id or 1
  end
end

local function zipf_index()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

function request()
  local i
  if dist == "zipf" then
    i = zipf_index()
  elseif dist == "walk" then
    i = next_index
    next_index = next_index + step
    if next_index > n then next_index = next_index - n end
  else
    i = math.random(n)
  end
  return wrk.format("GET", path, { ["Authorization"] = keys[i] })
end
