-- wrk reporter for bench/run: after a run, one machine-readable line with
-- the request count, the run's length and the latency percentiles in
-- microseconds. It defines no request or response hook, so wrk keeps
-- sending its pre-built request at full speed.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f errors=%d non2xx=%d rps=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status,
    summary.requests / (summary.duration / 1e6)))
end
