-- wrk script: POST /audit_logs/events/batch with a prepared body of many events.
function init(args)
  local file = io.open(os.getenv("BENCH_BODY_FILE"), "r")
  body = file:read("*a")
  file:close()
  key = os.getenv("BENCH_KEY")
end

function request()
  return wrk.format("POST", "/audit_logs/events/batch", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end
