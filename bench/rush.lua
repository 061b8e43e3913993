-- wrk script of the 05:00-rush benchmark (driven by bench/rush.py).
--
--   wrk -t T -c C -d Ds --latency -s bench/rush.lua http://127.0.0.1:PORT -- METHOD PATH UIDS N T STRIDE [CSRF]
--
-- METHOD: GET or POST (POSTs carry an empty body). UIDS: "seq" gives every request of a run its own uid:
-- the k-th request of thread t (both 0-based) has index i = t + k*T, so threads never collide, and
-- uid = (i * STRIDE) mod N + 1, wrapping around at N. STRIDE is coprime with N, so this is a permutation of
-- 1..N: with STRIDE 1 the uids come in row order, with a large STRIDE consecutive requests are scattered over
-- the table as real players would be. "random" draws a uid uniformly in [1, N]. The uid goes in the
-- X-Bench-Uid header (read by a bench-only user resolver). CSRF, when given, is sent as the csrftoken cookie,
-- as a browser sends the one it got with its first answer.
-- Each response is classified from its JSON envelope: "ok" (status 1), "rows_0" (the bare UPDATE matched no
-- row), the envelope's "code" for a refusal (e.g. already_clocked_in), "http_<status>" for a non-2xx.
-- done() prints one line "RUSH_RESULT {json}" with wrk's figures and the classified counts.

local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

function init(args)
   method = args[1] or "GET"
   path = args[2] or "/"
   mode = args[3] or "seq"
   n = tonumber(args[4] or "1")
   nthreads = tonumber(args[5] or "1")
   stride = tonumber(args[6] or "1")
   cookie = args[7] or ""
   counter = 0
   counts = {}
   sample = ""
   math.randomseed(os.time() * 1000 + tid * 7919)
   if method == "POST" then body = "" else body = nil end
end

function request()
   local uid
   if mode == "random" then
      uid = math.random(1, n)
   else
      uid = (((tid + counter * nthreads) % n) * stride) % n + 1
   end
   counter = counter + 1
   local headers = { ["X-Bench-Uid"] = tostring(uid) }
   if cookie ~= "" then headers["Cookie"] = "csrftoken=" .. cookie end
   return wrk.format(method, path, headers, body)
end

local function bump(name)
   counts[name] = (counts[name] or 0) + 1
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      bump("http_" .. status)
      if sample == "" then sample = string.sub(body or "", 1, 300) end
      return
   end
   local code = string.match(body, '"code": "([%w_]+)"')
   if code then
      bump(code)
   elseif string.find(body, '"rows": 0', 1, true) then
      bump("rows_0")
   elseif string.find(body, '"status": 1', 1, true) then
      bump("ok")
   else
      bump("unclassified")
      if sample == "" then sample = string.sub(body, 1, 300) end
   end
end

local function quote(s)
   return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
   local total = {}
   local samples = {}
   for _, thread in ipairs(threads) do
      local c = thread:get("counts")
      for name, value in pairs(c or {}) do
         total[name] = (total[name] or 0) + value
      end
      local s = thread:get("sample")
      if s and s ~= "" then table.insert(samples, quote(s)) end
   end
   local parts = {}
   for name, value in pairs(total) do
      table.insert(parts, quote(name) .. ": " .. value)
   end
   local e = summary.errors
   io.write(string.format(
      'RUSH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.1f, "stdev": %.1f, "min": %d, "max": %d, ' ..
      '"p50": %d, "p90": %d, "p99": %d, "p999": %d}, "counts": {%s}, "samples": [%s]}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.min, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      table.concat(parts, ", "), table.concat(samples, ", ")))
end
