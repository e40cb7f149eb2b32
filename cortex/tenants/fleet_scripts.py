"""The server-side scripts of the fleet's tenant counters (:mod:`~cortex.tenants.fleet_counters`).

Each runs atomically on Redis: no other command of any instance runs between its reads and
its writes, so a check and its reservation are one step for the whole fleet. Numbers travel
as strings both ways (Redis turns a script's fractional numbers into integers).
"""

# Check every limit of one key and reserve a request, or say why not and until when.
# KEYS: the window (sorted set), its tokens (hash with _total), the day's and the month's
# spend. ARGV: now, window seconds, reservation id, tokens, rpm, tpm, daily and monthly
# budget (-1: none), seconds to the next day and month, seconds to keep the window.
# Answers: refusal ('' if admitted), retry-after, requests and tokens in the window, the
# window's oldest entry's age left (its reset), the day's and the month's spend.
ADMIT_SCRIPT = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens = tonumber(ARGV[4])
local rpm, tpm = tonumber(ARGV[5]), tonumber(ARGV[6])
local daily, monthly = tonumber(ARGV[7]), tonumber(ARGV[8])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
if #gone > 0 then
  local dropped = 0
  for i = 1, #gone, 500 do
    local part = {unpack(gone, i, math.min(i + 499, #gone))}
    local amounts = redis.call('HMGET', KEYS[2], unpack(part))
    for j = 1, #part do dropped = dropped + (tonumber(amounts[j]) or 0) end
    redis.call('HDEL', KEYS[2], unpack(part))
  end
  if dropped ~= 0 then redis.call('HINCRBY', KEYS[2], '_total', -dropped) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
end
local count = redis.call('ZCARD', KEYS[1])
local total = tonumber(redis.call('HGET', KEYS[2], '_total') or '0')
local day = tonumber(redis.call('GET', KEYS[3]) or '0')
local month = tonumber(redis.call('GET', KEYS[4]) or '0')
local refusal, after = '', 0
if daily >= 0 and day >= daily then
  refusal, after = 'budget_daily', tonumber(ARGV[9])
elseif monthly >= 0 and month >= monthly then
  refusal, after = 'budget_monthly', tonumber(ARGV[10])
elseif rpm >= 0 and count >= rpm then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  refusal, after = 'requests', tonumber(oldest[2]) + window - now
elseif tpm >= 0 and count > 0 and total + tokens > tpm then
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local left = total
  refusal, after = 'tokens', tonumber(entries[#entries]) + window - now
  for i = 1, #entries, 2 do
    left = left - (tonumber(redis.call('HGET', KEYS[2], entries[i])) or 0)
    if left <= tpm - tokens then
      after = tonumber(entries[i + 1]) + window - now
      break
    end
  end
end
if refusal == '' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  total = redis.call('HINCRBY', KEYS[2], '_total', ARGV[4])
  count = count + 1
  redis.call('EXPIRE', KEYS[1], ARGV[11])
  redis.call('EXPIRE', KEYS[2], ARGV[11])
end
local reset = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #oldest > 0 then reset = tonumber(oldest[2]) + window - now end
return {refusal, tostring(after), tostring(count), tostring(total), tostring(reset),
  tostring(day), tostring(month)}
"""

# Replace a reservation's tokens with those used and add the request's cost.
# KEYS: the window's tokens (hash), the day's and the month's spend.
# ARGV: reservation id, tokens used, cost, then seconds to keep the day's and the month's
# spend (relative, so an instance's clock never expires a key at once).
# A reservation that already left the window is not counted again.
SETTLE_SCRIPT = """
local reserved = redis.call('HGET', KEYS[1], ARGV[1])
if reserved then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  local change = tonumber(ARGV[2]) - tonumber(reserved)
  if change ~= 0 then redis.call('HINCRBY', KEYS[1], '_total', change) end
end
if tonumber(ARGV[3]) > 0 then
  redis.call('INCRBYFLOAT', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  redis.call('INCRBYFLOAT', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return 1
"""

# Bring this instance's database and owed spend into Redis's current life (see the module).
# KEYS: the life's id, the databases counted in it (hash: database id to life).
# ARGV: database id, the life this instance last saw ('' if none), an id for a new life, n,
# then n (spend key, amount, seconds to keep) seeds from the ledger, then (spend key,
# amount, seconds to keep) owed since the last answer. Answers the life and what was added.
RESYNC_SCRIPT = """
local life = redis.call('GET', KEYS[1])
if not life then
  life = ARGV[3]
  redis.call('SET', KEYS[1], life)
end
local n = tonumber(ARGV[4])
local first, last, added = 5, 4 + 3 * n, 'seed'
if redis.call('HGET', KEYS[2], ARGV[1]) == life then
  if ARGV[2] ~= life then return {life, 'none'} end
  first, last, added = 5 + 3 * n, #ARGV, 'owed'
end
redis.call('HSET', KEYS[2], ARGV[1], life)
for i = first, last, 3 do
  if tonumber(ARGV[i + 1]) > 0 then
    redis.call('INCRBYFLOAT', ARGV[i], ARGV[i + 1])
    redis.call('EXPIRE', ARGV[i], ARGV[i + 2])
  end
end
return {life, added}
"""
