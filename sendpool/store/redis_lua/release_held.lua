-- Give back the units of named messages, each only if it is still held by the
-- very reservation the caller means (the time its marks in the database carry).
--
-- KEYS: 1 ready marker, 2 held units, then per message its day and hour counters
-- ARGV: per message its id and its reservation's time (epoch ms)
-- Nothing happens while the counters are not known to be whole. A message given
-- back once is no longer held, so a second give-back of it does nothing; a
-- counter never goes below zero. Returns how many units were given back.

local info = redis.call('INFO', 'server')
if redis.call('GET', KEYS[1]) ~= string.match(info, 'run_id:(%w+)') then
  return 0
end
local given = 0
for i = 1, #ARGV / 2 do
  local id, at = ARGV[2 * i - 1], ARGV[2 * i]
  if redis.call('HGET', KEYS[2], id) == at then
    redis.call('HDEL', KEYS[2], id)
    given = given + 1
    for _, key in ipairs({KEYS[1 + 2 * i], KEYS[2 + 2 * i]}) do
      local used = redis.call('GET', key)
      if used then
        redis.call('SET', key, math.max(0, tonumber(used) - 1), 'KEEPTTL')
      end
    end
  end
end
return given
