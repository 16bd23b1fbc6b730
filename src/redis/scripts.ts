/**
 * Lua scripts: each runs atomically on the thread's slot. Checkpoint ids are compared byte by
 * byte (Lua's `<` uses the server's collation locale), matching MongoDB and compareCheckpointIds.
 * Positions are (partition, offset) numbers; offsets stay below 2^53, exact in Lua doubles.
 */
const helpers = `
local function cmpbytes(a, b)
  if a == b then return 0 end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y and -1 or 1 end
  end
  return #a < #b and -1 or 1
end
local function cmppos(p1, o1, p2, o2)
  p1, o1, p2, o2 = tonumber(p1), tonumber(o1), tonumber(p2), tonumber(o2)
  if p1 ~= p2 then return p1 < p2 and -1 or 1 end
  if o1 == o2 then return 0 end
  return o1 < o2 and -1 or 1
end
-- a thread deleted at or after this position hides it
local function tombstoned(tombKey, p, o)
  local t = redis.call('HMGET', tombKey, 'p', 'o')
  return t[1] and cmppos(p, o, t[1], t[2]) <= 0
end
local function track(setKey, key, ttl)
  redis.call('SADD', setKey, key)
  redis.call('EXPIRE', setKey, ttl + 60)
end
`;

/** KEYS: head, thread key set, tombstone. ARGV: checkpointId, partition, offset, payload, ttl. */
export const advanceHeadLua = `${helpers}
if tombstoned(KEYS[3], ARGV[2], ARGV[3]) then return 0 end
local cur = redis.call('HMGET', KEYS[1], 'c', 'p', 'o')
if cur[1] then
  local c = cmpbytes(cur[1], ARGV[1])
  if c > 0 or (c == 0 and cmppos(cur[2], cur[3], ARGV[2], ARGV[3]) >= 0) then return 0 end
end
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'p', ARGV[2], 'o', ARGV[3], 'v', ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
track(KEYS[2], KEYS[1], tonumber(ARGV[5]))
return 1
`;

/** KEYS: entry, thread key set, tombstone. ARGV: partition, offset, payload, ttl. */
export const setEntryLua = `${helpers}
if tombstoned(KEYS[3], ARGV[1], ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', tonumber(ARGV[4]))
track(KEYS[2], KEYS[1], tonumber(ARGV[4]))
return 1
`;

/** KEYS: tombstone. ARGV: partition, offset, ttl. Keeps the newest delete position. */
export const advanceTombstoneLua = `${helpers}
local t = redis.call('HMGET', KEYS[1], 'p', 'o')
if t[1] and cmppos(t[1], t[2], ARGV[1], ARGV[2]) >= 0 then return 0 end
redis.call('HSET', KEYS[1], 'p', ARGV[1], 'o', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

/** KEYS: watermark hash. ARGV: partition, offset, channel. Only ever advances, then announces. */
export const advanceWatermarkLua = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1] .. ':' .. ARGV[2])
return 1
`;
