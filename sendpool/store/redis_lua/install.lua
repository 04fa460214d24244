-- Last step of a rebuild: set the counters recounted from the database and
-- mark them whole for this Redis process, if the rebuild lock is still ours.
--
-- KEYS: 1 ready marker, 2 reset note, 3 rebuild lock, then the counters
-- ARGV: 1 lock token, 2 run id the recount was made for, then per counter
--       its value and its expiry (epoch ms)

if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return 0
end
if string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') ~= ARGV[2] then
  return 0
end
for i = 4, #KEYS do
  local a = 3 + (i - 4) * 2
  redis.call('SET', KEYS[i], ARGV[a], 'PXAT', ARGV[a + 1])
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
