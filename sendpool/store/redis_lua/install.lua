-- Last step of a rebuild: set the counters recounted from the database, note
-- the units the database shows as reserved and not yet settled as held, and
-- mark them whole for this Redis process, if the rebuild lock is still ours.
--
-- KEYS: 1 ready marker, 2 reset note, 3 rebuild lock, 4 held units, then the counters
-- ARGV: 1 lock token, 2 run id the recount was made for, 3 how many counters,
--       then per counter its value and its expiry (epoch ms),
--       then per held unit its message id and its reservation's time (epoch ms)

if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return 0
end
if string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') ~= ARGV[2] then
  return 0
end
local counters = tonumber(ARGV[3])
for i = 1, counters do
  redis.call('SET', KEYS[4 + i], ARGV[2 + 2 * i], 'PXAT', ARGV[3 + 2 * i])
end
redis.call('DEL', KEYS[4])
for a = 4 + 2 * counters, #ARGV, 2 do
  redis.call('HSET', KEYS[4], ARGV[a], ARGV[a + 1])
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
