-- wrk script: authenticated form POSTs cycling through BENCH_REQUESTS, a file of `path<TAB>basic<TAB>form`
-- lines (bench/workload.py request_file): several accounts, varying destinations and bodies.
local requests = {}
for line in io.lines(os.getenv("BENCH_REQUESTS")) do
  local path, auth, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
  if path then
    requests[#requests + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic " .. auth,
    }, body)
  end
end

local index = 0
setup = function(thread)
  thread:set("index", 0)
end

request = function()
  index = index % #requests + 1
  return requests[index]
end

done = function(summary, latency, requests_)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.1f p99_ms=%.1f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
