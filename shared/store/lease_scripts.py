"""Lua scripts of queue polling: leases on due queues, and storing one poll atomically.

Every script starts with the generated PRELUDE (shared/lua.py): key names come from
its `K` table, built from keys.py, with the prefix the script receives as ARGV[1].
Times come from the Redis server's clock (TIME), so workers on hosts
whose clocks disagree still share one schedule. A queue's lease is the `poll_lease`
field of its HASH (a token) plus its score in `queues:due` (the lease's expiry):
deleting the queue deletes the lease, so a poll of a deleted queue stores nothing.
"""

from hippo.shared.store.lua import PRELUDE
from hippo.shared.store.task_lua import TASK_HELPERS

_NOW = """
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

GENERATION_HELPERS = (
    PRELUDE
    + """
-- retire_generation: no poll will come again under a queue's generation `gen` (polling
-- `spec`): record it to be drained at once, any worker giving its in-flight items back
-- to their source (worker/polling_drains.py). Generations are unique: one entry each.
local function retire_generation(gen, id, spec, created)
  redis.call('HSET', K.queue_drain(gen), 'queue_id', id, 'spec', spec,
             'created_tstamp', created or '0')
  redis.call('ZADD', K.queues_drain, 0, gen)
end

-- in_flight_moved: whether a definition changed from `old` to `new` spec JSON moves where
-- the queue's items wait between a poll and their acknowledgement. `location` is
-- {type: [setting names]} of the poller's source types ([] for a type keeping nothing in
-- flight); for a type it does not know, any change of type or setting counts.
local function in_flight_moved(location, old, new)
  if not old then return true end
  local a, b = cjson.decode(old).queue, cjson.decode(new).queue
  local names = location[a.type]
  if names ~= nil and #names == 0 then return false end
  if a.type ~= b.type then return true end
  local sa, sb = a[a.type] or {}, b[b.type] or {}
  if names == nil then
    for k, v in pairs(sa) do if sb[k] ~= v then return true end end
    for k, v in pairs(sb) do if sa[k] ~= v then return true end end
    return false
  end
  for _, name in ipairs(names) do
    if sa[name] ~= sb[name] then return true end
  end
  return false
end
"""
)

CLAIM_DUE_QUEUES = (
    GENERATION_HELPERS
    + _NOW
    + """
-- claim_due_queues: lease up to N enabled queues whose due time has come.
-- ARGV: prefix, lease s, N, token base (unique per call), in-flight location JSON
--       ({type: [setting names]}, see in_flight_moved).
-- Each claimed queue's score becomes now + lease and its HASH gets poll_lease = token.
-- A queue is polled under its generation (poll_generation, with poll_spec): given at its
-- first claim; when an edit since the last claim moved the queue's in-flight location,
-- the old generation is retired (its items go back to their source) and a new one given.
-- Missing queues leave the due set; disabled ones are looked at again after their frequency.
-- Returns {now, next due score ('' when none), then 8 per claimed queue: id, token, spec,
--          watermark ('' when none), created_tstamp, open task count, failures so far,
--          generation}.
local lease, limit, base = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local location = cjson.decode(ARGV[5])
local due = K.queues_due
local now = server_now()
local out = {tostring(now), ''}
local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)
for n, id in ipairs(ids) do
  local key = K.queue(id)
  local f = redis.call('HMGET', key, 'spec', 'status', 'poll_watermark', 'created_tstamp',
                       'poll_failures', 'poll_generation', 'poll_spec')
  if not f[1] then
    redis.call('ZREM', due, id)
  elseif f[2] ~= 'ENABLED' then
    local freq = tonumber(cjson.decode(f[1]).queue.frequency_seconds) or 60
    redis.call('ZADD', due, now + freq, id)
  else
    local token = base .. ':' .. n
    local gen = f[6]
    if not gen then
      gen = redis.call('INCR', K.queue_generations)
      redis.call('HSET', key, 'poll_generation', gen, 'poll_spec', f[1])
    elseif f[7] ~= f[1] then
      if in_flight_moved(location, f[7], f[1]) then
        retire_generation(gen, id, f[7] or f[1], f[4])
        gen = redis.call('INCR', K.queue_generations)
        redis.call('HSET', key, 'poll_generation', gen)
      end
      redis.call('HSET', key, 'poll_spec', f[1])
    end
    redis.call('HSET', key, 'poll_lease', token)
    redis.call('ZADD', due, now + lease, id)
    out[#out + 1] = id
    out[#out + 1] = token
    out[#out + 1] = f[1]
    out[#out + 1] = f[3] or ''
    out[#out + 1] = f[4] or '0'
    out[#out + 1] = redis.call('ZCARD', K.tasks_open_by_queue(id))
    out[#out + 1] = f[5] or '0'
    out[#out + 1] = tostring(gen)
  end
end
local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
if first[2] then out[2] = first[2] end
return out
"""
)

STORE_POLL = (
    TASK_HELPERS
    + _NOW
    + """
-- store_poll: the outcome of one successful poll, all or nothing, only under the lease.
-- ARGV: prefix, queue id, lease token, item key TTL s, delay s until the queue is due again
--       ('' keeps the lease: the poller releases it with release_lease once the items are
--       acknowledged to the source, so no other poll of the queue overlaps that), watermark
--       JSON ('' keeps the stored one), items taken, number of item keys K, K item keys,
--       number of dead letters D, 2 per dead letter (an item no process can receive:
--       shared/deadletters.py): id, record JSON; then 4 per task: mesos_id, task id,
--       spec JSON, status JSON.
-- Returns 1 when stored; 0 when the lease is no longer ours (expired and taken, queue
-- deleted or disabled): nothing is written; -1 when an item key was stored meanwhile
-- (only a concurrent poll of this queue can do that): nothing is written.
-- Task records are written and indexed by index_new_task, as every creating script does.
local qid, token, ttl = ARGV[2], ARGV[3], ARGV[4]
local delay, watermark, taken, nkeys = tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8])
local key = K.queue(qid)
local f = redis.call('HMGET', key, 'poll_lease', 'status')
if f[1] ~= token or f[2] ~= 'ENABLED' then return 0 end
for i = 9, 8 + nkeys do
  if redis.call('EXISTS', K.queue_item(qid, ARGV[i])) == 1 then return -1 end
end
for i = 9, 8 + nkeys do redis.call('SET', K.queue_item(qid, ARGV[i]), '1', 'EX', ttl) end
local ndead = tonumber(ARGV[9 + nkeys])
for i = 10 + nkeys, 9 + nkeys + 2 * ndead, 2 do store_dead_letter(qid, ARGV[i], ARGV[i + 1]) end
local tasks = 0
for i = 10 + nkeys + 2 * ndead, #ARGV, 4 do
  local mid, id = ARGV[i], ARGV[i + 1]
  local seq = redis.call('INCR', K.tasks_seq)
  redis.call('HSET', K.task(mid), 'spec', ARGV[i + 2], 'status', ARGV[i + 3], 'seq', seq)
  index_new_task(mid, id, qid, seq, ARGV[i + 2])
  tasks = tasks + 1
end
local now = server_now()
redis.call('HSET', key, 'last_run_tstamp', tostring(now), 'poll_failures', 0)
redis.call('HINCRBY', key, 'items_taken', taken)
redis.call('HINCRBY', key, 'tasks_created', tasks)
if watermark ~= '' then redis.call('HSET', key, 'poll_watermark', watermark) end
if delay then
  redis.call('HDEL', key, 'poll_lease')
  redis.call('ZADD', K.queues_due, now + delay, qid)
end
if tasks > 0 then redis.call('PUBLISH', K.events, HINT_WAITING) end
return 1
"""
)

FAIL_POLL = (
    PRELUDE
    + _NOW
    + """
-- fail_poll: record a failed poll and when to try again, only under the lease.
-- ARGV: prefix, queue id, lease token, error text (secrets already masked), delay s.
-- Returns 1 when recorded, 0 when the lease is no longer ours.
local qid, token = ARGV[2], ARGV[3]
local key = K.queue(qid)
if redis.call('HGET', key, 'poll_lease') ~= token then return 0 end
local now = server_now()
redis.call('HSET', key, 'last_error', ARGV[4], 'last_error_tstamp', tostring(now))
redis.call('HINCRBY', key, 'poll_failures', 1)
redis.call('HDEL', key, 'poll_lease')
redis.call('ZADD', K.queues_due, now + tonumber(ARGV[5]), qid)
return 1
"""
)

RELEASE_LEASE = (
    PRELUDE
    + _NOW
    + """
-- release_lease: end a lease, the queue due again after a delay (after a stored poll's
-- items are acknowledged; 0 when a stopping worker gives a queue back unpolled).
-- ARGV: prefix, queue id, lease token, delay s. Returns 1 when released, 0 when not ours.
local qid, token = ARGV[2], ARGV[3]
local key = K.queue(qid)
if redis.call('HGET', key, 'poll_lease') ~= token then return 0 end
redis.call('HDEL', key, 'poll_lease')
redis.call('ZADD', K.queues_due, server_now() + tonumber(ARGV[4]), qid)
return 1
"""
)

EXTEND_LEASE = (
    PRELUDE
    + _NOW
    + """
-- extend_lease: a poll still running keeps its queue: the lease expires lease s from now.
-- ARGV: prefix, queue id, lease token, lease s. Returns 1 when extended, 0 when not ours.
local qid, token = ARGV[2], ARGV[3]
if redis.call('HGET', K.queue(qid), 'poll_lease') ~= token then return 0 end
redis.call('ZADD', K.queues_due, server_now() + tonumber(ARGV[4]), qid)
return 1
"""
)

RECONCILE_DUE = (
    PRELUDE
    + _NOW
    + """
-- reconcile_due: put every queue missing from the due set into it, due now. Queues
-- created before polling existed (or restored from a dump) are found this way; the
-- queue scripts in scripts.py keep the due set in step otherwise.
-- ARGV: prefix. Returns the number added.
local now = server_now()
local added = 0
for _, id in ipairs(redis.call('ZRANGE', K.queues, 0, -1)) do
  added = added + redis.call('ZADD', K.queues_due, 'NX', now, id)
end
return added
"""
)

CLAIM_DRAINS = (
    PRELUDE
    + _NOW
    + """
-- claim_drains: lease up to N retired generations due to be drained.
-- ARGV: prefix, lease s, N, token base (unique per call).
-- Each claimed entry's score becomes now + lease (a worker dying mid-drain leaves it to
-- another) and its HASH gets lease = token.
-- Returns {now, then 6 per entry: generation, token, queue id, spec, created_tstamp,
--          failures so far}.
local lease, limit, base = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = server_now()
local out = {tostring(now)}
local gens = redis.call('ZRANGEBYSCORE', K.queues_drain, '-inf', now, 'LIMIT', 0, limit)
for n, gen in ipairs(gens) do
  local key = K.queue_drain(gen)
  local f = redis.call('HMGET', key, 'queue_id', 'spec', 'created_tstamp', 'failures')
  if not f[2] then
    redis.call('ZREM', K.queues_drain, gen)
  else
    local token = base .. ':' .. n
    redis.call('HSET', key, 'lease', token)
    redis.call('ZADD', K.queues_drain, now + lease, gen)
    out[#out + 1] = gen
    out[#out + 1] = token
    out[#out + 1] = f[1]
    out[#out + 1] = f[2]
    out[#out + 1] = f[3] or '0'
    out[#out + 1] = f[4] or '0'
  end
end
return out
"""
)

END_DRAIN = (
    PRELUDE
    + _NOW
    + """
-- end_drain: the drain of a retired generation, claimed with `token`, is over.
-- ARGV: prefix, generation, token, delay s ('' when drained: the entry is deleted),
--       failed ('1' counts a failure, '0' defers it: no source type for it here).
-- Returns 1, or 0 when the claim is no longer ours (it expired; another worker drains).
local gen = ARGV[2]
local key = K.queue_drain(gen)
if redis.call('HGET', key, 'lease') ~= ARGV[3] then return 0 end
if ARGV[4] == '' then
  redis.call('DEL', key)
  redis.call('ZREM', K.queues_drain, gen)
  return 1
end
redis.call('HDEL', key, 'lease')
if ARGV[5] == '1' then redis.call('HINCRBY', key, 'failures', 1) end
redis.call('ZADD', K.queues_drain, server_now() + tonumber(ARGV[4]), gen)
return 1
"""
)
