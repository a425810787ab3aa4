-- Flash sale, cart flow (the default): each buyer adds the flash SKU to the cart, applies the coupon (if any),
-- places the order (POST /api/v1/checkout) and pays with the test provider. A buyer whose
-- checkout is refused over the coupon (its uses ran out after it was applied) does what a
-- real one does: removes the coupon and checks out again, once, at full price.
-- The add asks for "Prefer: return=minimal" (item count only): like a shop's app in a
-- flash sale, the buyer goes straight to checkout, which prices the order anyway.
-- Run with one connection per thread (wrk -t N -c N): request() and response()
-- then alternate on a single connection, so each thread walks its buyers' steps
-- in order without any cross-connection bookkeeping.
-- Usage: wrk -t N -c N ... -s flash.lua URL -- buyers.tsv SKU_ID COUPON_CODE|- THREADS
-- (The buy-now flow, bench/run.py --flash-flow buy-now, is flash_buy_now.lua.)
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup
local buyers, current, step, reference, retried = {}, 0, 0, nil, false
local sku, coupon, sent_at, order_started
counts = {}
statuses = {}
lat_cart, lat_coupon, lat_checkout, lat_pay, lat_order, lat_uncoupon = "", "", "", "", "", ""
first_us, last_paid_us, last_us = nil, nil, nil
local record, count = common.record, common.count

function init(args)
  sku, coupon = tonumber(args[2]), args[3]
  if coupon == "-" then coupon = nil end
  buyers = common.thread_rows(args[1], tonumber(args[4]))
end

local headers = common.bearer

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
  return common.pay_request(reference, token)
end

local STEP_NAMES = { "cart", "coupon", "checkout", "pay", "uncoupon" }

function response(status, hdrs, body)
  local now = common.now_us()
  last_us = now
  local name = STEP_NAMES[step] or "other"
  common.status(name, status)
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
    reference = common.payment_reference(status, body)
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
    common.pay_answered(status, now, order_started); step = 0
  end
end

function done(summary, latency, requests)
  common.finish(summary, latency, { "cart", "coupon", "checkout", "pay", "order", "uncoupon" })
end
