package redisbroker

// The data plane's Lua scripts. Each touches the keys of one partition
// only (one hash tag, so one slot of a cluster); every key it touches is
// passed in KEYS. Stream entry ids are "<n>-<ms>": n is the partition's
// counter, ms the server's clock when the entry was stored.

// luaDataPlaneCommon defines what the scripts share:
//
//	epoch(ctr, candidate)  the partition's epoch, set to candidate if none
//	nof(id), msof(id)      the parts of an entry id, as numbers
const luaDataPlaneCommon = `
local function epoch(ctr, candidate)
  local ep = redis.call('HGET', ctr, 'ep')
  if not ep then
    ep = candidate
    redis.call('HSET', ctr, 'ep', ep)
  end
  return ep
end
local function nof(id) return tonumber(string.match(id, '^(%d+)-')) end
local function msof(id) return tonumber(string.match(id, '-(%d+)$')) end
`

// luaFields encodes and decodes a history entry's fields:
// "<id>\n" then, per field, "<len>:<key><len>:<value>".
const luaFields = `
local function decode(s, i)
  local t = {}
  while i <= #s do
    local c = string.find(s, ':', i, true)
    local n = tonumber(string.sub(s, i, c - 1))
    local k = string.sub(s, c + 1, c + n)
    i = c + n + 1
    c = string.find(s, ':', i, true)
    n = tonumber(string.sub(s, i, c - 1))
    t[k] = string.sub(s, c + 1, c + n)
    i = c + n + 1
  end
  return t
end
local function encode(id, t)
  local parts = {id, '\n'}
  for k, v in pairs(t) do
    parts[#parts + 1] = #k .. ':' .. k .. #v .. ':' .. v
  end
  return table.concat(parts)
end
`

// publishScript stores entries of one partition.
//
//	KEYS[1] counter hash; then per entry: its stream, its history list
//	        (the stream again when it has no history effect)
//	ARGV[1] epoch candidate, ARGV[2] max length, ARGV[3] max age in ms
//	        (0: none); then per entry: data, history kind (0 none,
//	        1 append, 2 edit, 3 delete), message id, encoded fields, limit
//
// Per entry: n = HINCRBY n; XADD <n>-<ms>; trim the entries beyond max
// length (exact: an entry beyond it goes at once); on one entry in 8 of the
// partition (n divisible by 8), trim the entries older than max age, from
// the oldest (at most 100 at a time); record the newest entry trimmed as
// the stream's max-deleted-entry-id (XSETID MAXDELETEDID: Redis does not
// when it trims), which tells Read exactly whether a position lost
// entries; set the stream's TTL to max age; apply the history effect;
// SPUBLISH "<n>:<epoch>:<ms>:<data>" on the shard channel named like the
// stream. It returns {epoch, ms, n1, n2, …}.
const publishScript = luaDataPlaneCommon + luaFields + `
local ep = epoch(KEYS[1], ARGV[1])
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local maxlen, maxage = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {ep, ms}
for i = 0, (#ARGV - 3) / 5 - 1 do
  local sk, hk, a = KEYS[2 + 2 * i], KEYS[3 + 2 * i], 4 + 5 * i
  local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
  local id = n .. '-' .. ms
  redis.call('XADD', sk, id, 'd', ARGV[a])
  local cut
  local over = redis.call('XLEN', sk) - maxlen
  if over > 0 then
    local r = redis.call('XRANGE', sk, '-', '+', 'COUNT', over)
    cut = r[#r][1]
    redis.call('XTRIM', sk, 'MINID', (nof(cut) + 1) .. '-0')
  end
  if maxage > 0 then
    if n % 8 == 0 then
      local r = redis.call('XRANGE', sk, '-', '+', 'COUNT', 1)
      if msof(r[1][1]) < ms - maxage then
        r = redis.call('XRANGE', sk, '-', '+', 'COUNT', 100)
        for j = 1, #r do
          if msof(r[j][1]) >= ms - maxage then break end
          cut = r[j][1]
        end
        redis.call('XTRIM', sk, 'MINID', (nof(cut) + 1) .. '-0')
      end
    end
    redis.call('PEXPIRE', sk, maxage)
  end
  if cut then
    redis.call('XSETID', sk, id, 'MAXDELETEDID', cut)
  end
  local kind = ARGV[a + 1]
  if kind == '1' then
    redis.call('RPUSH', hk, ARGV[a + 2] .. '\n' .. ARGV[a + 3])
    redis.call('LTRIM', hk, -tonumber(ARGV[a + 4]), -1)
  elseif kind == '2' or kind == '3' then
    local head = ARGV[a + 2] .. '\n'
    local list = redis.call('LRANGE', hk, 0, -1)
    for j = 1, #list do
      local el = list[j]
      if string.sub(el, 1, #head) == head then
        if kind == '3' then
          redis.call('LREM', hk, 1, el)
        else
          local f = decode(el, #head + 1)
          for k, v in pairs(decode(ARGV[a + 3], 1)) do f[k] = v end
          redis.call('LSET', hk, j - 1, encode(ARGV[a + 2], f))
        end
        break
      end
    end
  end
  redis.call('SPUBLISH', sk, n .. ':' .. ep .. ':' .. ms .. ':' .. ARGV[a])
  out[#out + 1] = n
end
return out
`

// headScript returns a partition's head.
//
//	KEYS[1] counter hash; ARGV[1] epoch candidate
//
// It returns {epoch, n}.
const headScript = luaDataPlaneCommon + `
local ep = epoch(KEYS[1], ARGV[1])
return {ep, tonumber(redis.call('HGET', KEYS[1], 'n') or '0')}
`

// readScript reads a stream after a position.
//
//	KEYS[1] counter hash, KEYS[2] stream
//	ARGV[1] after n, ARGV[2] after epoch ("0": the current one),
//	ARGV[3] limit (0: none), ARGV[4] epoch candidate
//
// It returns {epoch, head n, reset (0/1), trimmed (0/1), more (0/1),
// id1, data1, id2, data2, …}.
const readScript = luaDataPlaneCommon + `
local ep = epoch(KEYS[1], ARGV[4])
local head = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local from, reset, trimmed, more = tonumber(ARGV[1]), 0, 0, 0
if ARGV[2] ~= '0' and ARGV[2] ~= ep then
  from, reset = 0, 1
end
local out = {ep, head, 0, 0, 0}
if redis.call('EXISTS', KEYS[2]) == 0 then
  out[3] = reset
  return out
end
-- Entries were trimmed when more were added than the stream holds. The
-- publish script records the newest one trimmed (max-deleted-entry-id): a
-- position at or after it lost none. A stream trimmed without that record
-- (by an older version) gives only the oldest kept entry: a position at or
-- after the N just before it lost none (and one before it may have).
local info = redis.call('XINFO', 'STREAM', KEYS[2])
local len, added, first, last, deleted = 0, 0, nil, '0-0', '0-0'
for i = 1, #info, 2 do
  local f, v = info[i], info[i + 1]
  if f == 'length' then len = v
  elseif f == 'entries-added' then added = v
  elseif f == 'first-entry' and v then first = v[1]
  elseif f == 'last-generated-id' then last = v
  elseif f == 'max-deleted-entry-id' then deleted = v end
end
if added > len then
  local boundary = nof(deleted)
  if boundary == 0 then
    boundary = nof(last)
    if first then boundary = nof(first) - 1 end
  end
  if boundary > from then trimmed = 1 end
end
local r
local limit = tonumber(ARGV[3])
if limit > 0 then
  r = redis.call('XRANGE', KEYS[2], (from + 1) .. '-0', '+', 'COUNT', limit + 1)
  if #r > limit then
    more = 1
    r[#r] = nil
  end
else
  r = redis.call('XRANGE', KEYS[2], (from + 1) .. '-0', '+')
end
out[3], out[4], out[5] = reset, trimmed, more
for i = 1, #r do
  out[#out + 1] = r[i][1]
  out[#out + 1] = r[i][2][2]
end
return out
`
