-- wrk script: one event per POST /audit_logs/events, each with its own Idempotency-Key,
-- as the official SDKs send them. BENCH_KEY, BENCH_BODY_FILE come from the environment.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

function init(args)
  local file = io.open(os.getenv("BENCH_BODY_FILE"), "r")
  template = file:read("*a")
  file:close()
  key = os.getenv("BENCH_KEY")
  sent = 0
end

function request()
  sent = sent + 1
  local body = template:gsub("ACTOR_ID", "user_" .. thread_id .. "_" .. sent)
  return wrk.format("POST", "/audit_logs/events", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
    ["Idempotency-Key"] = "bench-" .. thread_id .. "-" .. sent .. "-" .. os.time(),
  }, body)
end
