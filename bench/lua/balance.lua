-- Balance rush (尾款): the balance window of a deposit presale opens and every buyer who
-- paid a deposit pays the rest at once, as at 00:00 of a Double-11 balance day. Per buyer:
-- POST /api/v1/presale/orders/<number>/balance (idempotency key), then pay it with the
-- test provider. One connection per thread (wrk -t N -c N), as flash.lua.
-- Usage: wrk -t N -c N ... -s balance.lua URL -- buyers.tsv THREADS   (rows: token, order number)
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup
local buyers, current, step, reference, sent_at, order_started = {}, 0, 0, nil, nil, nil
counts = {}
statuses = {}
lat_balance, lat_pay, lat_order = "", "", ""
first_us, last_paid_us, last_us = nil, nil, nil

function init(args)
  buyers = common.thread_rows(args[1], tonumber(args[2]))
end

function request()
  if step == 0 then current, step, reference = current + 1, 1, nil end
  local buyer = buyers[current]
  if buyer == nil then
    wrk.thread:stop()
    return wrk.format("GET", "/_ref/hello")  -- never sent: the thread is stopping
  end
  sent_at = common.now_us()
  first_us = first_us or sent_at
  if step == 1 then
    order_started = sent_at
    return wrk.format("POST", "/api/v1/presale/orders/" .. buyer[2] .. "/balance", common.bearer(buyer[1]),
                      string.format('{"idempotency_key": "balance-%s"}', buyer[2]))
  end
  return common.pay_request(reference, buyer[1])
end

function response(status, hdrs, body)
  local now = common.now_us()
  last_us = now
  local name = step == 1 and "balance" or "pay"
  common.status(name, status)
  common.record(name, (now - sent_at) / 1000)
  if step == 1 then
    reference = common.payment_reference(status, body)
    if reference then common.count("started"); step = 2 else common.count("balance_rejected"); step = 0 end
  else
    common.pay_answered(status, now, order_started); step = 0
  end
end

function done(summary, latency, requests)
  common.finish(summary, latency, { "balance", "pay", "order" })
end
