-- First step of a rebuild: note when this Redis was first seen without whole
-- counters, and let one worker at a time rebuild them.
--
-- KEYS: 1 ready marker, 2 reset note, 3 rebuild lock
-- ARGV: 1 lock token, 2 lock lifetime (ms)
-- Returns {'ready'} or {'rebuild', run_id, reset_at (Redis clock, epoch s), lock taken 0/1}.

local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
if redis.call('GET', KEYS[1]) == run_id then
  return {'ready'}
end
-- The note names the Redis process it was made by: a note persisted from an
-- earlier process says nothing about this one.
local note = redis.call('GET', KEYS[2])
if not note or string.sub(note, 1, #run_id) ~= run_id then
  local t = redis.call('TIME')
  note = run_id .. ' ' .. t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', KEYS[2], note, 'EX', 86400)
end
local took = redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
return {'rebuild', run_id, string.sub(note, #run_id + 2), took}
