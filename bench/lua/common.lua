-- Shared by the bench scripts: thread registry, status counting, wall clock, JSON result line.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local M = {}
local ts = ffi.new("bench_timespec")

-- Monotonic wall clock in microseconds (LuaJIT FFI; wrk's Lua has no clock of its own).
function M.now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

function M.read_tsv(path)
  local rows = {}
  for line in io.lines(path) do
    if line ~= "" then
      local fields = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do table.insert(fields, field) end
      table.insert(rows, fields)
    end
  end
  return rows
end

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts, is_list = {}, #value > 0
    if is_list then
      for _, v in ipairs(value) do table.insert(parts, encode(v)) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    for k, v in pairs(value) do table.insert(parts, string.format("%q:%s", tostring(k), encode(v))) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "string" then
    return string.format("%q", value)
  elseif kind == "number" then
    return string.format("%.3f", value)
  elseif kind == "boolean" then
    return tostring(value)
  end
  return "null"
end
M.encode = encode

-- Main-thread side: remember every thread so done() can collect their counters.
M.threads = {}
function M.setup(thread)
  thread:set("thread_index", #M.threads)
  table.insert(M.threads, thread)
end

function M.merge_counts(name)
  local total = {}
  for _, thread in ipairs(M.threads) do
    local counts = thread:get(name) or {}
    for k, v in pairs(counts) do total[k] = (total[k] or 0) + v end
  end
  return total
end

function M.summary(summary, latency)
  return {
    duration_s = summary.duration / 1e6,
    requests = summary.requests,
    rps = summary.requests / (summary.duration / 1e6),
    p50_ms = latency:percentile(50) / 1000,
    p95_ms = latency:percentile(95) / 1000,
    p99_ms = latency:percentile(99) / 1000,
    max_ms = latency.max / 1000,
    socket_errors = summary.errors.connect + summary.errors.read + summary.errors.write,
    timeouts = summary.errors.timeout,
  }
end

function M.emit(result)
  io.write("BENCH_RESULT " .. encode(result) .. "\n")
end

-- Buyer scripts (flash.lua, flash_buy_now.lua, balance.lua): per-step latencies and outcome
-- counts kept as globals of each thread's Lua state, collected by finish() in done().
-- Latencies travel as comma-separated strings: wrk's copying of tables between
-- Lua states is fragile (nested tables crash it), strings are copied as they are.
function M.bearer(token)
  return { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
           ["User-Agent"] = "storefront-bench" }
end

function M.record(name, ms)
  local key = "lat_" .. name
  _G[key] = (_G[key] or "") .. string.format("%.2f,", ms)
end

function M.count(key)
  counts[key] = (counts[key] or 0) + 1
end

-- This thread's buyers: row i of the file goes to thread (i - 1) % threads.
function M.thread_rows(path, threads)
  local rows, index = {}, thread_index or 0
  for i, row in ipairs(M.read_tsv(path)) do
    if (i - 1) % threads == index then table.insert(rows, row) end
  end
  return rows
end

-- One answer of step `name`, counted by status ("checkout_201", "pay_200", ...).
function M.status(name, status)
  local key = name .. "_" .. tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

-- The payment reference of an accepted checkout (201, or 200 for a repeated key), else nil.
function M.payment_reference(status, body)
  return (status == 200 or status == 201) and body:match('"reference"%s*:%s*"([^"]+)"') or nil
end

-- The pay step, shared by the buyer scripts: pay with the test provider; a 200 is a paid
-- order, whose place+pay latency ("order") runs from `order_started` (the first attempt to
-- place it) and which moves the end of the selling window.
function M.pay_request(reference, token)
  return wrk.format("POST", "/api/v1/payments/" .. reference .. "/pay-test", M.bearer(token), "{}")
end

function M.pay_answered(status, now, order_started)
  if status == 200 then
    M.count("paid"); last_paid_us = now
    M.record("order", (now - order_started) / 1000)
  else
    M.count("pay_rejected")
  end
end

local function percentiles(values)
  table.sort(values)
  local n = #values
  local function at(p) if n == 0 then return 0 end return values[math.max(1, math.ceil(p / 100 * n))] end
  return { n = n, p50_ms = at(50), p95_ms = at(95), p99_ms = at(99), max_ms = at(100) }
end

-- The result of a buyer script: wrk's summary, the counts, each step's percentiles, paid
-- orders per second over the selling window (first request to last "paid") and, when
-- every buyer was served before wrk's deadline (wrk then idles until it), requests per
-- second over the time buyers were being answered.
function M.finish(summary, latency, step_names)
  local result = M.summary(summary, latency)
  result.statuses = M.merge_counts("statuses")
  result.counts = M.merge_counts("counts")
  local merged = {}
  for _, name in ipairs(step_names) do merged[name] = {} end
  local first, last, answered = nil, nil, nil
  for _, thread in ipairs(M.threads) do
    for name, values in pairs(merged) do
      for v in (thread:get("lat_" .. name) or ""):gmatch("([^,]+),") do table.insert(values, tonumber(v)) end
    end
    local f, l, a = thread:get("first_us"), thread:get("last_paid_us"), thread:get("last_us")
    if f and (first == nil or f < first) then first = f end
    if l and (last == nil or l > last) then last = l end
    if a and (answered == nil or a > answered) then answered = a end
  end
  result.steps = {}
  for name, values in pairs(merged) do result.steps[name] = percentiles(values) end
  result.selling_s = (first and last) and (last - first) / 1e6 or 0
  result.orders_per_s = result.selling_s > 0 and (result.counts.paid or 0) / result.selling_s or 0
  local active_s = (first and answered) and (answered - first) / 1e6 or 0
  if active_s > 0 and active_s < result.duration_s then
    result.active_s = active_s
    result.rps = result.requests / active_s
  end
  M.emit(result)
end

return M
