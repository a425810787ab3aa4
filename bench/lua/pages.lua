-- Cycles through the requests of one scenario file (method, path, cookie, body per line).
-- Usage: wrk ... -s pages.lua URL -- scenario.tsv
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup
local requests, position = {}, 1
statuses = {}

function init(args)
  for _, row in ipairs(common.read_tsv(args[1])) do
    local method, path, cookie, body = row[1], row[2], row[3], row[4]
    local headers = { ["User-Agent"] = "storefront-bench", ["Accept-Language"] = "en" }
    if cookie ~= "-" then headers["Cookie"] = cookie end
    if body == "-" then body = nil else headers["Content-Type"] = "application/json" end
    table.insert(requests, wrk.format(method, path, headers, body))
  end
  position = (thread_index or 0) * 7 % #requests + 1
end

function request()
  local r = requests[position]
  position = position % #requests + 1
  return r
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local result = common.summary(summary, latency)
  result.statuses = common.merge_counts("statuses")
  common.emit(result)
end
