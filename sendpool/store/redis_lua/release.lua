-- Give units back: the message never reached the server.
--
-- KEYS: 1 ready marker, then the counters to decrement; ARGV: units per counter.
-- Nothing happens while the counters are not known to be whole (a rebuild
-- from the database sets them), and a counter never goes below zero.

local info = redis.call('INFO', 'server')
if redis.call('GET', KEYS[1]) ~= string.match(info, 'run_id:(%w+)') then
  return 0
end
for i = 2, #KEYS do
  local used = redis.call('GET', KEYS[i])
  if used then
    redis.call('SET', KEYS[i], math.max(0, tonumber(used) - tonumber(ARGV[i - 1])), 'KEEPTTL')
  end
end
return 1
