-- SPDX-License-Identifier: Apache-2.0
-- wrk-session.lua — the wrk script of bench/run.
--
-- Environment:
--   BENCH_PATH     request path (/read, /write, /new)
--   BENCH_COOKIES  file of session cookies ("name=value", one a line); each
--                  request picks one at random and sends it, with its line
--                  number in X-Bench-Slot. Empty or unset: no cookie.
--   BENCH_FOLLOW   1: follow Set-Cookie as a browser would (the handler
--                  echoes X-Bench-Slot, so the reply names the cookie it
--                  replaces); the file is rewritten at the end
--   BENCH_STATS    file that gets one line of results at the end:
--                  requests= duration_us= p50_us= p99_us= errors=
--                  non2xx= changed= missing= (missing: responses, seen
--                  when following, whose X-Bench-Found was 0: the
--                  request did not find its session)

local path = os.getenv("BENCH_PATH") or "/read"
local cookie_file = os.getenv("BENCH_COOKIES") or ""
local follow = os.getenv("BENCH_FOLLOW") == "1" and cookie_file ~= ""
local stats_file = os.getenv("BENCH_STATS")

local threads = {}
local cookies = {}
local ncookies = 0
changed = {}
missing = 0

local function read_cookies()
  local t, n = {}, 0
  if cookie_file ~= "" then
    for line in io.lines(cookie_file) do
      if line ~= "" then
        n = n + 1
        t[n] = line
      end
    end
  end
  return t, n
end

-- main state: one call per thread
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

-- thread state
function init(args)
  cookies, ncookies = read_cookies()
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
  if cookie_file ~= "" and ncookies == 0 then
    error("wrk-session.lua: no cookies in " .. cookie_file)
  end
end

function request()
  if ncookies == 0 then
    return wrk.format("GET", path)
  end
  local i = math.random(ncookies)
  return wrk.format("GET", path, {
    ["Cookie"] = cookies[i],
    ["X-Bench-Slot"] = tostring(i),
  })
end

if follow then
  function response(status, headers, body)
    if headers["X-Bench-Found"] == "0" then
      missing = missing + 1
    end
    local slot = headers["X-Bench-Slot"]
    local sc = headers["Set-Cookie"]
    if slot and sc then
      local i = tonumber(slot)
      local nv = sc:match("^%s*([^;]+)")
      if i and nv then
        cookies[i] = nv
        changed[i] = nv
      end
    end
  end
end

-- main state
function done(summary, latency, requests)
  local e = summary.errors
  local nchanged, nmissing = 0, 0
  for _, t in ipairs(threads) do
    nmissing = nmissing + (tonumber(t:get("missing")) or 0)
  end
  if follow then
    local all, n = read_cookies()
    for _, t in ipairs(threads) do
      local c = t:get("changed")
      if c then
        for i, v in pairs(c) do
          all[tonumber(i)] = v
          nchanged = nchanged + 1
        end
      end
    end
    local f = assert(io.open(cookie_file .. ".tmp", "w"))
    for i = 1, n do f:write(all[i], "\n") end
    f:close()
    assert(os.rename(cookie_file .. ".tmp", cookie_file))
  end
  local line = string.format(
    "requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d changed=%d missing=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, nchanged, nmissing)
  if stats_file then
    local f = assert(io.open(stats_file, "w"))
    f:write(line)
    f:close()
  end
  io.write(line)
end
