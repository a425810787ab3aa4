-- Flash sale, buy-now flow (立即购买; bench/run.py --flash-flow buy-now): each buyer places
-- the flash SKU as its own checkout in one request (POST /api/v1/checkout/buy-now, the
-- coupon code in "extra"; the cart is not used) and pays with the test provider. A buyer
-- whose buy-now is refused over the coupon (its uses ran out) does what a real one does:
-- buys again at once without the code, once, at full price. A sold-out refusal ends the
-- buyer. The steps are named as in flash.lua ("checkout" = the buy-now request, "pay",
-- "order" = first buy-now to paid) so the report reads both flows alike.
-- One connection per thread (wrk -t N -c N), as flash.lua.
-- Usage: wrk -t N -c N ... -s flash_buy_now.lua URL -- buyers.tsv SKU_ID COUPON_CODE|- THREADS
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup
local buyers, current, step, reference, with_code = {}, 0, 0, nil, false
local sku, coupon, sent_at, order_started
counts = {}
statuses = {}
lat_checkout, lat_pay, lat_order = "", "", ""
first_us, last_paid_us, last_us = nil, nil, nil

function init(args)
  sku, coupon = tonumber(args[2]), args[3]
  if coupon == "-" then coupon = nil end
  buyers = common.thread_rows(args[1], tonumber(args[4]))
end

function request()
  if step == 0 then
    current, step, reference, with_code, order_started = current + 1, 1, nil, coupon ~= nil, nil
  end
  local buyer = buyers[current]
  if buyer == nil then
    wrk.thread:stop()
    return wrk.format("GET", "/_ref/hello")  -- never sent: the thread is stopping
  end
  local token, address = buyer[1], buyer[2]
  sent_at = common.now_us()
  first_us = first_us or sent_at
  if step == 2 then return common.pay_request(reference, token) end
  order_started = order_started or sent_at
  local extra = with_code and string.format(', "extra": {"coupons_code": "%s"}', coupon) or ""
  return wrk.format("POST", "/api/v1/checkout/buy-now", common.bearer(token), string.format(
    '{"sku_id": %d, "quantity": 1, "idempotency_key": "buynow-%s-%s", "delivery_code": "courier", '
    .. '"address_id": %s%s}', sku, buyer[3], tostring(first_us), address, extra))
end

function response(status, hdrs, body)
  local now = common.now_us()
  last_us = now
  local name = step == 1 and "checkout" or "pay"
  common.status(name, status)
  common.record(name, (now - sent_at) / 1000)
  if step == 1 then
    reference = common.payment_reference(status, body)
    if reference then
      common.count("placed"); step = 2
    elseif with_code and body:find("coupon", 1, true) then
      -- Step stays 1: the same buy-now again, without the code (a refusal wrote nothing,
      -- so the idempotency key is still free).
      common.count("checkout_rejected_coupon"); with_code = false
    else
      common.count("checkout_rejected"); step = 0
    end
  else
    common.pay_answered(status, now, order_started); step = 0
  end
end

function done(summary, latency, requests)
  common.finish(summary, latency, { "checkout", "pay", "order" })
end
