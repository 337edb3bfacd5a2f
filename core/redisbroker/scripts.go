package redisbroker

import "github.com/redis/go-redis/v9"

// luaIDLess defines less(a, b) over Redis stream ids in Lua. Lua numbers are
// doubles, so the parts are compared as decimal strings: a shorter one is
// smaller, equal lengths compare byte by byte (ids have no leading zeros).
const luaIDLess = `
local function numless(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if ams ~= bms then return numless(ams, bms) end
  return numless(aseq, bseq)
end
`

// saveSnapshotScript stores a snapshot and trims the stream up to the
// previous snapshot, in one atomic step. Entries after the previous
// snapshot stay, so that a node that loaded the previous snapshot just
// before this one was saved still finds every entry it needs (one snapshot
// interval of grace).
//
//	KEYS[1] stream, KEYS[2] snapshot hash
//	ARGV[1] id, ARGV[2] state
//
// It returns 1 when it stored the snapshot, 0 when it kept a newer one, and
// -1 (storing nothing) when id is after the last entry the stream ever had
// (or there is no stream): such a snapshot would make a node that starts
// from it skip entries.
var saveSnapshotScript = redis.NewScript(luaIDLess + `
local cur = redis.call('HGET', KEYS[2], 'id')
if cur and (cur == ARGV[1] or less(ARGV[1], cur)) then
  return 0
end
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
if not ok then
  return -1
end
local last
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
if not last or less(last, ARGV[1]) then
  return -1
end
if cur then
  redis.call('HSET', KEYS[2], 'id', ARGV[1], 'state', ARGV[2], 'prev', cur)
  -- MINID keeps entries >= cur; cur itself is harmless to keep.
  redis.call('XTRIM', KEYS[1], 'MINID', cur)
else
  redis.call('HSET', KEYS[2], 'id', ARGV[1], 'state', ARGV[2])
end
return 1
`)
