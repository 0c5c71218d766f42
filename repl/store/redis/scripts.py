"""The Redis store's key layout and its Lua scripts: each a write done in one atomic step."""

from __future__ import annotations

# Keys, all under "{namespace}:"; a thread's keys use its id, so a rename moves nothing:
#
#   schema          the layout version ("1"); a newer one is refused
#   threads         hash    live thread name -> thread id (unique names: HSETNX)
#   thread:{tid}    hash    name, model, system, created_at, updated_at, count (of visible
#                           messages), deleted_at (while in the trash)
#   messages:{tid}  list    one JSON object per message, oldest first, never shortened (so a
#                           message keeps its position); hidden ones stay, marked "hidden"
#   hidden:{tid}    zset    the position of each hidden message, scored by when it was hidden
#   uids:{tid}      hash    message uid -> its position (an append sent twice is kept once;
#                           messages stored before uids existed are not in it)
#   trash           zset    thread id, scored by when it was deleted
#   next_message    counter for message ids (INCR); next_thread: the same for thread ids
#   state           hash    small settings (the thread used last)
#
# Atomicity: a Lua script for append (INCR + RPUSH + count + updated_at), create, rename,
# delete, restore and update; for hide and unhide, a script that rewrites the items only if they
# are still as read (compare and set, retried); for fork, WATCH/MULTI (retried).
# For one Redis server (or primary), not Cluster: an operation touches the names hash and a
# thread's keys, which Cluster would put in different slots.

SCHEMA = 2  # 2: items may hold parts, fields and reasoning
TIMEOUT = 5.0  # seconds to connect or to wait for an answer: a lost server is an error, no hang
ATTEMPTS = 20  # optimistic transactions retried this often before the store is called busy
SCAN_BATCH = 5_000  # messages fetched per round trip when searching

MOVED = -1  # a script's answer when the name no longer belongs to the thread id it was given

# Every thread script starts here: KEYS[1] is the names hash, ARGV[1] a name, ARGV[2] the
# thread id the caller resolved it to. A rename or delete in between makes the caller look again.
VERIFY = "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end\n"

# KEYS: names, thread, list, hidden, uids, next_message; ARGV: name, tid, '1' to give each
# message the last visible one as its parent (an append; '' for an import, whose messages hold
# theirs), then per message its JSON without the id, created_at, hidden_at ('' when visible),
# uid. The id is allocated and the message stored in one step, so list order is id order
# whatever other machines do. Per message the answer is its new id (the item stored, when
# linked), or, for a uid the thread already has, the item stored then.
APPEND = VERIFY + """
local ids, visible, newest = {}, 0, nil
local latest = tonumber(redis.call('HGET', KEYS[2], 'updated_at')) or 0
local function last_visible()
  for at = redis.call('LLEN', KEYS[3]) - 1, 0, -1 do
    local item = redis.call('LINDEX', KEYS[3], at)
    if not string.find(item, '"hidden":', 1, true) then
      return tonumber(string.match(item, '^{"id":(%d+),'))
    end
  end
  return 0
end
for i = 4, #ARGV, 4 do
  local at = redis.call('HGET', KEYS[5], ARGV[i + 3])
  if at then
    ids[#ids + 1] = redis.call('LINDEX', KEYS[3], at) or ''
  else
    local head = '{"id":%d,'
    if ARGV[3] == '1' then head = head .. '"parent":' .. last_visible() .. ',' end
    local id = redis.call('INCR', KEYS[6])
    local item = string.format(head, id) .. ARGV[i]
    local length = redis.call('RPUSH', KEYS[3], item)
    redis.call('HSET', KEYS[5], ARGV[i + 3], length - 1)
    if ARGV[i + 2] == '' then
      visible = visible + 1
    else
      redis.call('ZADD', KEYS[4], ARGV[i + 2], length - 1)
    end
    local created = tonumber(ARGV[i + 1])
    if created > latest then latest, newest = created, ARGV[i + 1] end
    if ARGV[3] == '1' then ids[#ids + 1] = item else ids[#ids + 1] = id end
  end
end
if visible > 0 then redis.call('HINCRBY', KEYS[2], 'count', visible) end
if newest then redis.call('HSET', KEYS[2], 'updated_at', newest) end
return ids
"""

# KEYS: names, thread, list, uids; ARGV: name, tid, number of field/value pairs, the pairs, then
# per message its whole JSON and its uid. 0 when the name is taken.
CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local npairs = tonumber(ARGV[3])
local fields = {}
for i = 4, 3 + 2 * npairs do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
for i = 4 + 2 * npairs, #ARGV, 2 do
  redis.call('HSET', KEYS[4], ARGV[i + 1], redis.call('RPUSH', KEYS[3], ARGV[i]) - 1)
end
return 1
"""

# KEYS: names, thread; ARGV: name, tid, then triples 'set'|'del', field, value.
UPDATE = VERIFY + """
for i = 3, #ARGV, 3 do
  if ARGV[i] == 'set' then
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
  end
end
return 1
"""

# KEYS: names, thread, state; ARGV: old name, tid, new name. 0 when the new name is taken.
RENAME = VERIFY + """
if ARGV[1] == ARGV[3] then return 1 end
if redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[2]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'name', ARGV[3])
if redis.call('HGET', KEYS[3], 'last_thread') == ARGV[1] then
  redis.call('HSET', KEYS[3], 'last_thread', ARGV[3])
end
return 1
"""

# KEYS: names, thread, trash; ARGV: name, tid, now.
DELETE = VERIFY + """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'deleted_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
"""

# KEYS: names, thread, trash; ARGV: the name to restore it as, tid. 1 when done; 0 when that
# name was taken meanwhile (the caller picks another); nil when it had already left the trash.
RESTORE = """
if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then return false end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'name', ARGV[1])
redis.call('HDEL', KEYS[2], 'deleted_at')
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
"""

# KEYS: thread, list, hidden; ARGV: change to the visible count, then per message its position,
# the SHA-1 of the item as read, the new item, hidden_at ('' when no longer hidden). 0, and
# nothing written, when an item changed since it was read.
REWRITE = """
for i = 2, #ARGV, 4 do
  if redis.sha1hex(redis.call('LINDEX', KEYS[2], ARGV[i]) or '') ~= ARGV[i + 1] then return 0 end
end
for i = 2, #ARGV, 4 do
  redis.call('LSET', KEYS[2], ARGV[i], ARGV[i + 2])
  if ARGV[i + 3] == '' then
    redis.call('ZREM', KEYS[3], ARGV[i])
  else
    redis.call('ZADD', KEYS[3], ARGV[i + 3], ARGV[i])
  end
end
if tonumber(ARGV[1]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'count', ARGV[1]) end
return 1
"""

# KEYS: thread, list, hidden, uids; ARGV: the exact items to erase. The items are removed and
# the position indexes built again (positions after them moved); how many were removed (fewer
# when an item changed since it was read: the caller reads again).
ERASE = """
local erased, visible = 0, 0
for i = 1, #ARGV do
  if redis.call('LREM', KEYS[2], 1, ARGV[i]) == 1 then
    erased = erased + 1
    if not string.find(ARGV[i], '"hidden":', 1, true) then visible = visible + 1 end
  end
end
redis.call('DEL', KEYS[3], KEYS[4])
for position, raw in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local m = cjson.decode(raw)
  if m.hidden then redis.call('ZADD', KEYS[3], m.hidden_at or 0, position - 1) end
  if m.uid then redis.call('HSET', KEYS[4], m.uid, position - 1) end
end
if visible > 0 then redis.call('HINCRBY', KEYS[1], 'count', -visible) end
return erased
"""

# KEYS: trash, thread, list, hidden, uids; ARGV: tid. Every key of a thread in the trash
# deleted; 0 when it was not in the trash.
PURGE = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

# KEYS: names, list; ARGV: name, tid, start, stop. {length, items start..stop}, read together.
READ = VERIFY + """
return {redis.call('LLEN', KEYS[2]), redis.call('LRANGE', KEYS[2], ARGV[3], ARGV[4])}
"""

# KEYS: names, list, hidden; ARGV: name, tid. Every hidden message.
HIDDEN = VERIFY + """
local items = {}
for i, position in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  items[i] = redis.call('LINDEX', KEYS[2], position)
end
return items
"""
