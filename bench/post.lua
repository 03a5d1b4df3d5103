-- wrk script: authenticated form POST; BENCH_PATH and BENCH_AUTH come from the environment.
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
local body = os.getenv("BENCH_BODY")
if body == nil or body == "" then
  body = "To=%2B15558675310&From=%2B15005550006&Body=Hello+from+the+benchmark"
end
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")

-- BENCH_DELAY_MS: each connection waits this long after a response before its next request (a steady,
-- lower rate for long runs; unset or 0: as fast as the server answers).
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if delay_ms > 0 then
  delay = function() return delay_ms end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.1f p99_ms=%.1f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
