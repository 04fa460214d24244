-- Whether the counters are whole: the ready marker holds this Redis process's run id.
--
-- KEYS: 1 ready marker. A release made while this says 0 may be lost, or be
-- counted by a rebuild that read the database before the release's message did.

local info = redis.call('INFO', 'server')
if redis.call('GET', KEYS[1]) == string.match(info, 'run_id:(%w+)') then
  return 1
end
return 0
