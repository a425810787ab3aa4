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

return M
