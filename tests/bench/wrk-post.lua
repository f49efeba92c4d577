-- wrk-post.lua: durable POST /api/v1/orders with a 5-line order, for compare.sh's wrk-*
-- scenarios. The cashier token comes from KDS_WRK_TOKEN. Every request creates a new order
-- (no Idempotency-Key). done() prints one JSON line that compare.sh turns into its result.
wrk.method = "POST"
wrk.path = "/api/v1/orders"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("KDS_WRK_TOKEN") or "")
wrk.body = '{"payment_method":"CASH","note":"wrk","items":[' ..
  '{"product_id":1,"qty":1},{"product_id":2,"qty":2},{"product_id":3,"qty":1},' ..
  '{"product_id":4,"qty":3},{"product_id":5,"qty":1}]}'

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'WRKJSON {"results":{"post_per_second":%.2f,"post_latency":{"p50_ms":%.3f,"p99_ms":%.3f},' ..
    '"requests":%d,"errors":%d}}\n',
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, errors))
end
