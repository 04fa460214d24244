-- Reserve up to COUNT units on one server, against its day cap, hour cap and
-- rate together, in one atomic step. The arithmetic is core.quota.grantable
-- and core.ratelimit.gcra, line for line (tests compare the two).
--
-- KEYS: 1 day counter, 2 hour counter, 3 rate TAT, 4 ready marker, 5 held units
-- ARGV: 1 count, 2 daily cap, 3 hourly cap (-1: none), 4 rate per second (0: none),
--       5 now (epoch seconds), 6 day counter expiry, 7 hour counter expiry (epoch ms),
--       8 the reservation's time (epoch ms), then the messages' ids, if any, in order:
--       the first of them that get a unit are noted as held, each with that time, so
--       a unit is given back only for the reservation that took it (release_held.lua).
-- Returns {granted, denial, retry_after}; denial is '' or daily_cap, hourly_cap,
-- rate, or not_ready when this Redis's counters are not known to be whole.

local info = redis.call('INFO', 'server')
if redis.call('GET', KEYS[4]) ~= string.match(info, 'run_id:(%w+)') then
  return {0, 'not_ready', ''}
end

local count = tonumber(ARGV[1])
local daily, hourly = tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local day_used = tonumber(redis.call('GET', KEYS[1]) or '0')
local hour_used = tonumber(redis.call('GET', KEYS[2]) or '0')

local room, denial = daily - day_used, 'daily_cap'
if hourly >= 0 and hourly - hour_used < room then
  room, denial = hourly - hour_used, 'hourly_cap'
end
local n = math.max(0, math.min(count, room))
if n == count then denial = '' end

local retry = ''
if n > 0 and rate > 0 then
  local interval = 1.0 / rate
  local allowance = math.max(1.0, rate) * interval
  local tat = tonumber(redis.call('GET', KEYS[3]) or '0')
  local start = math.max(tat, now)
  local fit = math.floor((now + allowance - start) / interval + 1e-9)
  local m = math.max(0, math.min(n, fit))
  local new_tat = start + m * interval
  redis.call('SET', KEYS[3], string.format('%.17g', new_tat))
  -- Once the TAT is in the past it means the same as no TAT at all.
  redis.call('PEXPIREAT', KEYS[3], math.ceil((new_tat + 60) * 1000))
  if m < n then
    n, denial = m, 'rate'
    retry = string.format('%.17g', math.max(interval, new_tat + interval - allowance - now))
  end
end

if n > 0 then
  redis.call('INCRBY', KEYS[1], n)
  redis.call('PEXPIREAT', KEYS[1], ARGV[6])
  redis.call('INCRBY', KEYS[2], n)
  redis.call('PEXPIREAT', KEYS[2], ARGV[7])
  for i = 9, math.min(#ARGV, 8 + n) do
    redis.call('HSET', KEYS[5], ARGV[i], ARGV[8])
  end
end
return {n, denial, retry}
