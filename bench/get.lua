-- wrk script: authenticated GET of BENCH_PATH.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.1f p99_ms=%.1f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
