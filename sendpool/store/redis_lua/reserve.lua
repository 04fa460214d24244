-- Reserve up to COUNT units on one server, against its day cap, hour cap, rate
-- and rate to the messages' provider group together, in one atomic step. The
-- arithmetic is core.quota.grantable and core.ratelimit.take_rates (gcra), line
-- for line (tests compare the two).
--
-- KEYS: 1 day counter, 2 hour counter, 3 rate TAT, 4 ready marker, 5 held units,
--       6 the server x group rate TAT
-- ARGV: 1 count, 2 daily cap, 3 hourly cap (-1: none), 4 rate per second (0: none),
--       5 now (epoch seconds), 6 day counter expiry, 7 hour counter expiry (epoch ms),
--       8 the reservation's time (epoch ms), 9 the group's rate per second (0: none),
--       10 the group's burst (0: a second's worth), then the messages' ids, if any, in order:
--       the first of them that get a unit are noted as held, each with that time, so
--       a unit is given back only for the reservation that took it (release_held.lua).
-- Returns {granted, denial, retry_after}; denial is '' or daily_cap, hourly_cap,
-- rate, group_rate, or not_ready when this Redis's counters are not known to be whole.

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

-- core.ratelimit.gcra: how many of COUNT fit, and the TAT after them.
local function gcra(tat, rate, burst, count)
  local interval = 1.0 / rate
  if burst <= 0 then burst = math.max(1.0, rate) end
  local allowance = burst * interval
  local start = math.max(tat, now)
  local fit = math.floor((now + allowance - start) / interval + 1e-9)
  local m = math.max(0, math.min(count, fit))
  local new_tat = start + m * interval
  local retry = nil
  if m < count then retry = math.max(interval, new_tat + interval - allowance - now) end
  return m, new_tat, retry
end

local function store(key, tat)
  redis.call('SET', key, string.format('%.17g', tat))
  -- Once the TAT is in the past it means the same as no TAT at all.
  redis.call('PEXPIREAT', key, math.ceil((tat + 60) * 1000))
end

local retry = ''
local group_rate, group_burst = tonumber(ARGV[9]), tonumber(ARGV[10])
if n > 0 and (rate > 0 or group_rate > 0) then
  local tat = tonumber(redis.call('GET', KEYS[3]) or '0')
  local group_tat = tonumber(redis.call('GET', KEYS[6]) or '0')
  local limited, wait = nil, nil
  if rate > 0 then
    local m, _, r = gcra(tat, rate, 0, n)
    if m < n then n, limited, wait = m, 'rate', r end
  end
  if group_rate > 0 then
    local m, _, r = gcra(group_tat, group_rate, group_burst, n)
    if m < n then n, limited, wait = m, 'group_rate', r end
  end
  -- Each rate is charged the sends granted in the end (core.ratelimit.take_rates).
  if rate > 0 then
    local _, t = gcra(tat, rate, 0, n)
    store(KEYS[3], t)
  end
  if group_rate > 0 then
    local _, t = gcra(group_tat, group_rate, group_burst, n)
    store(KEYS[6], t)
  end
  if limited then
    denial, retry = limited, string.format('%.17g', wait)
  end
end

if n > 0 then
  redis.call('INCRBY', KEYS[1], n)
  redis.call('PEXPIREAT', KEYS[1], ARGV[6])
  redis.call('INCRBY', KEYS[2], n)
  redis.call('PEXPIREAT', KEYS[2], ARGV[7])
  for i = 11, math.min(#ARGV, 10 + n) do
    redis.call('HSET', KEYS[5], ARGV[i], ARGV[8])
  end
end
return {n, denial, retry}
