-- Flash sale: each buyer adds the flash SKU to the cart, applies the coupon (if any),
-- places the order (POST /api/v1/checkout) and pays with the test provider. A buyer whose
-- checkout is refused over the coupon (its uses ran out after it was applied) does what a
-- real one does: removes the coupon and checks out again, once, at full price.
-- The add asks for "Prefer: return=minimal" (item count only): like a shop's app in a
-- flash sale, the buyer goes straight to checkout, which prices the order anyway.
-- Run with one connection per thread (wrk -t N -c N): request() and response()
-- then alternate on a single connection, so each thread walks its buyers' steps
-- in order without any cross-connection bookkeeping.
-- Usage: wrk -t N -c N ... -s flash.lua URL -- buyers.tsv SKU_ID COUPON_CODE|- THREADS
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup
local buyers, current, step, reference, retried = {}, 0, 0, nil, false
local sku, coupon, sent_at, order_started
counts = {}
statuses = {}
-- Latencies travel to done() as comma-separated strings: wrk's copying of tables between
-- Lua states is fragile (nested tables crash it), strings are copied as they are.
lat_cart, lat_coupon, lat_checkout, lat_pay, lat_order, lat_uncoupon = "", "", "", "", "", ""

local function record(name, ms)
  local key = "lat_" .. name
  _G[key] = (_G[key] or "") .. string.format("%.2f,", ms)
end
first_us, last_paid_us, last_us = nil, nil, nil

local function count(key) counts[key] = (counts[key] or 0) + 1 end

function init(args)
  sku, coupon = tonumber(args[2]), args[3]
  if coupon == "-" then coupon = nil end
  local threads, index = tonumber(args[4]), thread_index or 0
  for i, row in ipairs(common.read_tsv(args[1])) do
    if (i - 1) % threads == index then table.insert(buyers, row) end
  end
end

local function headers(token)
  return { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
           ["User-Agent"] = "storefront-bench" }
end

local function next_buyer()
  current, step, reference, retried, order_started = current + 1, 1, nil, false, nil
end

function request()
  if step == 0 then next_buyer() end
  local buyer = buyers[current]
  if buyer == nil then
    wrk.thread:stop()
    return wrk.format("GET", "/_ref/hello")  -- never sent: the thread is stopping
  end
  local token, address = buyer[1], buyer[2]
  sent_at = common.now_us()
  first_us = first_us or sent_at
  if step == 1 then
    local h = headers(token)
    h["Prefer"] = "return=minimal"
    return wrk.format("POST", "/api/v1/cart/lines", h, string.format('{"sku_id": %d, "quantity": 1}', sku))
  elseif step == 2 then
    return wrk.format("POST", "/api/v1/coupons/apply", headers(token), string.format('{"code": "%s"}', coupon))
  elseif step == 5 then
    return wrk.format("DELETE", "/api/v1/coupons/apply", headers(token))
  elseif step == 3 then
    order_started = order_started or sent_at
    return wrk.format("POST", "/api/v1/checkout", headers(token), string.format(
      '{"idempotency_key": "flash-%s-%s", "delivery_code": "courier", "address_id": %s}',
      buyer[3], tostring(first_us), address))
  end
  return wrk.format("POST", "/api/v1/payments/" .. reference .. "/pay-test", headers(token), "{}")
end

local STEP_NAMES = { "cart", "coupon", "checkout", "pay", "uncoupon" }

function response(status, hdrs, body)
  local now = common.now_us()
  last_us = now
  local name = STEP_NAMES[step] or "other"
  local key = name .. "_" .. tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  record(name, (now - sent_at) / 1000)
  if step == 1 then
    if status >= 200 and status < 300 then
      step = coupon and 2 or 3
    else
      count("cart_rejected"); step = 0
    end
  elseif step == 2 then
    if status >= 200 and status < 300 then count("coupon_applied") else count("coupon_rejected") end
    step = 3
  elseif step == 3 then
    reference = (status == 200 or status == 201) and body:match('"reference"%s*:%s*"([^"]+)"') or nil
    if reference then
      count("placed"); step = 4
    elseif coupon and not retried and body:find("coupon", 1, true) then
      count("checkout_rejected_coupon"); retried = true; step = 5
    else
      count("checkout_rejected"); step = 0
    end
  elseif step == 5 then
    if status >= 200 and status < 300 then count("coupon_removed"); step = 3 else step = 0 end
  else
    if status == 200 then
      count("paid"); last_paid_us = now
      record("order", (now - order_started) / 1000)
    else
      count("pay_rejected")
    end
    step = 0
  end
end

local function percentiles(values)
  table.sort(values)
  local n = #values
  local function at(p) if n == 0 then return 0 end return values[math.max(1, math.ceil(p / 100 * n))] end
  return { n = n, p50_ms = at(50), p95_ms = at(95), p99_ms = at(99), max_ms = at(100) }
end

function done(summary, latency, requests)
  local result = common.summary(summary, latency)
  result.statuses = common.merge_counts("statuses")
  result.counts = common.merge_counts("counts")
  local merged = { cart = {}, coupon = {}, checkout = {}, pay = {}, order = {}, uncoupon = {} }
  local first, last, answered = nil, nil, nil
  for _, thread in ipairs(common.threads) do
    for name, values in pairs(merged) do
      for v in (thread:get("lat_" .. name) or ""):gmatch("([^,]+),") do table.insert(values, tonumber(v)) end
    end
    local f, l, a = thread:get("first_us"), thread:get("last_paid_us"), thread:get("last_us")
    if f and (first == nil or f < first) then first = f end
    if l and (last == nil or l > last) then last = l end
    if a and (answered == nil or a > answered) then answered = a end
  end
  -- When every buyer is served before wrk's deadline, wrk idles until it: requests/s is
  -- counted over the time the buyers were actually being answered.
  local active_s = (first and answered) and (answered - first) / 1e6 or 0
  if active_s > 0 and active_s < result.duration_s then
    result.active_s = active_s
    result.rps = result.requests / active_s
  end
  result.steps = {}
  for name, values in pairs(merged) do result.steps[name] = percentiles(values) end
  result.selling_s = (first and last) and (last - first) / 1e6 or 0
  local paid = result.counts.paid or 0
  result.orders_per_s = result.selling_s > 0 and paid / result.selling_s or 0
  common.emit(result)
end
