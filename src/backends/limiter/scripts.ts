/**
 * The Redis side of the limiter: two Lua scripts, loaded once per connection with ioredis
 * `defineCommand` (EVALSHA, falling back to EVAL after a Redis restart flushed the script cache).
 * The bucket arithmetic mirrors bucket.ts exactly; keep the two in step.
 *
 * Time comes from Redis (`TIME`), never from the instances, so clock skew between gateways cannot
 * loosen a limit. Every key of one call must live on one node: a plain Redis or a primary with replicas,
 * not Redis Cluster with keys spread over slots.
 */

import { RESERVED_TTL_MS } from './types.js';

/**
 * decide-<variable>: admit only when every charge fits, then consume them all.
 *   KEYS[1..n]       rate buckets: hash { l = level (units), t = ms }
 *   KEYS[n+1..n+m]   budget counters: string, integer micro-dollars (spent + reserved)
 *   KEYS[n+m+1..]    each budget's reservations in flight (part of its counter), expiring
 *                    RESERVED_TTL_MS after the last reservation
 *   ARGV[1]          n
 *   ARGV, per rate   limit, window_ms, cost
 *   ARGV, per budget cap, amount, ttl_ms (0 = no expiry)
 * Returns { ok (1|0), blocked_kind (0 none, 1 rate, 2 budget), blocked_index (0-based),
 *           retry_after_ms (-1 = never), per rate: remaining, reset_ms; per budget: spent }
 */
export const DECIDE_LUA = `
local n = tonumber(ARGV[1])
local m = (#KEYS - n) / 2
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local EPS = 1e-9
local levels = {}
local kind, idx, retry = 0, 0, 0
for i = 1, n do
  local a = (i - 1) * 3 + 1
  local limit, win, cost = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local h = redis.call('HMGET', KEYS[i], 'l', 't')
  local level = 0
  if h[1] then
    level = tonumber(h[1])
    if level > 0 then
      local el = now - tonumber(h[2])
      if el < 0 then el = 0 end
      level = level - el * limit / win
      if level < 0 then level = 0 end
    else
      level = 0
    end
  end
  levels[i] = level
  if level + cost > limit + EPS then
    if kind == 0 then kind = 1; idx = i - 1 end
    local w = -1
    if cost <= limit then w = math.ceil((level + cost - limit) * win / limit) end
    if w < 0 or retry < 0 then retry = -1 elseif w > retry then retry = w end
  end
end
local b0 = n * 3 + 1
local spent = {}
for j = 1, m do
  local a = b0 + (j - 1) * 3
  local cap, amt = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local s = tonumber(redis.call('GET', KEYS[n + j]) or '0')
  spent[j] = s
  if s + amt > cap then
    if kind == 0 then kind = 2; idx = j - 1 end
    retry = -1
  end
end
local ok = kind == 0
local out = { ok and 1 or 0, kind, idx, ok and 0 or retry }
for i = 1, n do
  local a = (i - 1) * 3 + 1
  local limit, win, cost = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local level = levels[i]
  if ok then level = level + cost end
  local reset = 0
  if level > EPS then reset = math.ceil(level * win / limit) end
  if ok and cost > 0 then
    redis.call('HSET', KEYS[i], 'l', level, 't', now)
    redis.call('PEXPIRE', KEYS[i], reset + 1)
  end
  local rem = math.floor(limit - level + EPS)
  if rem < 0 then rem = 0 end
  out[#out + 1] = rem
  out[#out + 1] = reset
end
for j = 1, m do
  local a = b0 + (j - 1) * 3
  local amt, ttl = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local s = spent[j]
  if ok and amt > 0 then
    s = redis.call('INCRBY', KEYS[n + j], amt)
    if ttl > 0 and redis.call('PTTL', KEYS[n + j]) < 0 then redis.call('PEXPIRE', KEYS[n + j], ttl) end
    redis.call('INCRBY', KEYS[n + m + j], amt)
    redis.call('PEXPIRE', KEYS[n + m + j], ${RESERVED_TTL_MS})
  end
  out[#out + 1] = s
end
return out
`;

/**
 * adjust-<variable>: reconcile after the fact. Negative deltas return unused units (never below empty),
 * positive ones add what was used beyond the reservation, even past the limit: it was spent.
 *   KEYS[1..n]       rate buckets
 *   KEYS[n+1..n+m]   budget counters
 *   KEYS[n+m+1..]    their reservation counters
 *   ARGV[1]          n
 *   ARGV, per rate   limit, window_ms, delta
 *   ARGV, per budget delta, ttl_ms, release (the settled reservation, taken off the reservations)
 * Returns the number of keys written.
 */
export const ADJUST_LUA = `
local n = tonumber(ARGV[1])
local m = (#KEYS - n) / 2
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local EPS = 1e-9
local written = 0
for i = 1, n do
  local a = (i - 1) * 3 + 1
  local limit, win, delta = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if delta ~= 0 then
    local h = redis.call('HMGET', KEYS[i], 'l', 't')
    local level = 0
    if h[1] then
      level = tonumber(h[1])
      local el = now - tonumber(h[2])
      if el < 0 then el = 0 end
      level = level - el * limit / win
      if level < 0 then level = 0 end
    end
    level = level + delta
    if level <= EPS then
      redis.call('DEL', KEYS[i])
    else
      redis.call('HSET', KEYS[i], 'l', level, 't', now)
      redis.call('PEXPIRE', KEYS[i], math.ceil(level * win / limit) + 1)
    end
    written = written + 1
  end
end
local b0 = n * 3 + 1
for j = 1, m do
  local a = b0 + (j - 1) * 3
  local delta, ttl, release = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if release > 0 then
    local r = redis.call('GET', KEYS[n + m + j])
    if r then
      local v = tonumber(r) - release
      if v <= 0 then redis.call('DEL', KEYS[n + m + j]) else redis.call('SET', KEYS[n + m + j], v, 'KEEPTTL') end
    end
  end
  if delta ~= 0 then
    local cur = redis.call('GET', KEYS[n + j])
    if cur then
      local v = tonumber(cur) + delta
      if v < 0 then v = 0 end
      redis.call('SET', KEYS[n + j], v, 'KEEPTTL')
      written = written + 1
    elseif delta > 0 then
      if ttl > 0 then redis.call('SET', KEYS[n + j], delta, 'PX', ttl) else redis.call('SET', KEYS[n + j], delta) end
      written = written + 1
    end
  end
end
return written
`;
