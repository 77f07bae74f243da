-- Replays a pool of raw HTTP requests (loadtests/bench/wrk.py writes it), each request once.
-- Usage: wrk ... -s replay.lua URL -- POOL_FILE once|cycle [DELAY_MS]
-- The pool file holds the requests separated by NUL bytes. With "once", the thread stops when
-- the pool is used up (the gateway refuses replays) and reports it as dry; "cycle" repeats it
-- (baselines whose requests may be replayed). DELAY_MS: each connection waits a random time of
-- that mean before each request (wrk's delay hook; exponential, so the connections' requests
-- arrive as a Poisson stream rather than in bursts), offering about connections / delay.
-- done() prints BENCH lines for wrk.py to parse.

local pool, cycle, i, threads = {}, false, 0, {}
dry, sent, counts = false, 0, {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local start = 1
  while start <= #data do
    local stop = string.find(data, "\0", start, true) or (#data + 1)
    pool[#pool + 1] = string.sub(data, start, stop - 1)
    start = stop + 1
  end
  cycle = args[2] == "cycle"
  if args[3] then  -- wrk looks for delay() after init: defined only when asked for
    local mean = tonumber(args[3])
    math.randomseed(os.time())
    delay = function() return -mean * math.log(1 - math.random()) end
  end
end

function request()
  i = i + 1
  if i > #pool then
    if not cycle then
      dry = true
      wrk.thread:stop()
      return pool[#pool]
    end
    i = 1
  end
  sent = sent + 1
  return pool[i]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests %d\n", summary.requests))
  io.write(string.format("BENCH duration_us %d\n", summary.duration))
  io.write(string.format("BENCH socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
  for _, p in ipairs({50, 95, 99}) do
    io.write(string.format("BENCH p%d_us %d\n", p, latency:percentile(p)))
  end
  for _, thread in ipairs(threads) do
    io.write(string.format("BENCH dry %s\n", tostring(thread:get("dry"))))
    io.write(string.format("BENCH sent %d\n", thread:get("sent")))
    for status, n in pairs(thread:get("counts")) do
      io.write(string.format("BENCH status %d %d\n", status, n))
    end
  end
end
