-- wrk script: one advertiser postback per preloaded click id, so that each request is a new conversion.
local ids = {}
-- Each wrk run starts where the previous one stopped (BENCH_FIRST_ID), so no click is used twice.
local next_id = tonumber(os.getenv("BENCH_FIRST_ID") or "0")

init = function(args)
  for line in io.lines(os.getenv("BENCH_CLICK_IDS")) do
    ids[#ids + 1] = line
  end
end

request = function()
  next_id = next_id % #ids + 1
  return wrk.format("GET", "/postback?clickid=" .. ids[next_id] .. "&sum=12.50&status=2")
end
