"""Read-only Lua scripts that read one queue each, so every queue costs one pipelined command.

Each script checks the key's type first: a missing key is an empty queue, a key of another
type is a WRONGTYPE error for that queue alone. Scripts are loaded once (SCRIPT LOAD) and
called with EVALSHA; they never write, so they also run on a read-only replica.
"""

from __future__ import annotations

# Most entries the stream script walks to count a lag Redis itself cannot tell.
STREAM_LAG_COUNT_LIMIT = 10_000

_TYPE_CHECK = """
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return {EMPTY_REPLY} end
if t ~= '{TYPE}' then
  return redis.error_reply('WRONGTYPE the key holds a ' .. t .. ', not a {NAME}')
end
"""


def _script(redis_type: str, name: str, empty: str, body: str) -> str:
    check = _TYPE_CHECK.replace("{TYPE}", redis_type).replace("{NAME}", name)
    return check.replace("EMPTY_REPLY", empty) + body


# KEYS[1] list, ARGV[1] index of the oldest job (-1: tail, 0: head) -> {length, oldest or nil}
LIST_OLDEST = _script(
    "list",
    "list",
    "0, false",
    """
local n = redis.call('LLEN', KEYS[1])
return {n, redis.call('LINDEX', KEYS[1], tonumber(ARGV[1]))}
""",
)

# KEYS[1] sorted set, ARGV[1] now in score units -> {ready, total, lowest score or nil}.
# Scores come back as strings: a Lua number would be truncated to an integer reply.
ZSET_SCHEDULED = _script(
    "zset",
    "sorted set",
    "0, 0, false",
    """
local lowest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or false
return {redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1]), redis.call('ZCARD', KEYS[1]), lowest}
""",
)

# KEYS[1] stream, ARGV[1] group -> {lag or nil, pending, oldest outstanding id or ""}.
# The oldest undelivered entry needs the group's last-delivered-id first, which a plain
# pipeline could only get with a second round trip.
STREAM_GROUP = _script(
    "stream",
    "stream",
    "0, 0, ''",
    """
local group = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == ARGV[1] then group = info break end
end
if group == nil then
  return redis.error_reply('NOGROUP the stream has no consumer group ' .. ARGV[1])
end
local oldest = ''
if group['pending'] > 0 then
  oldest = redis.call('XPENDING', KEYS[1], ARGV[1])[2]
else
  local nxt = redis.call('XRANGE', KEYS[1], '(' .. group['last-delivered-id'], '+', 'COUNT', 1)
  if #nxt > 0 then oldest = nxt[1][1] end
end
local lag = group['lag']
if not lag then -- a nil reply arrives in Lua as false
  -- Redis < 7, a group created at an arbitrary id, or deleted entries after the group's
  -- position: Redis cannot tell the lag, so count what follows last-delivered-id, up to
  -- STREAM_LAG_COUNT_LIMIT entries (beyond that the lag stays unknown: nil).
  local after = redis.call('XRANGE', KEYS[1], '(' .. group['last-delivered-id'], '+',
                           'COUNT', STREAM_LAG_COUNT_LIMIT + 1)
  if #after <= STREAM_LAG_COUNT_LIMIT then lag = #after else lag = false end
end
return {lag, group['pending'], oldest}
""",
)

STREAM_GROUP = STREAM_GROUP.replace("STREAM_LAG_COUNT_LIMIT", str(STREAM_LAG_COUNT_LIMIT))

SCRIPTS = {"list_oldest": LIST_OLDEST, "zset_scheduled": ZSET_SCHEDULED, "stream": STREAM_GROUP}
