"""Lua scripts of the queue definitions: create, enable/disable, delete; each atomic.

Every script starts with the generated PRELUDE (lua.py): key names come from its `K`
table, built from keys.py, with the prefix the script receives as ARGV[1].
"""

from hippo.shared.store.lease_scripts import GENERATION_HELPERS
from hippo.shared.store.lua import PRELUDE

CREATE_QUEUE = (
    PRELUDE
    + """
-- create_queue: store a new queue definition; an existing id is never overwritten.
-- ARGV: prefix, queue id, spec JSON, status, now. Returns 1 when created, 0 when the id exists.
local id = ARGV[2]
local key = K.queue(id)
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'spec', ARGV[3], 'status', ARGV[4], 'created_tstamp', ARGV[5])
redis.call('ZADD', K.queues, ARGV[5], id)
redis.call('ZADD', K.queues_due, ARGV[5], id)  -- due to be polled at once
return 1
"""
)

SET_QUEUE_STATUS = (
    PRELUDE
    + """
-- set_queue_status: ENABLED, DISABLED, or TOGGLE to flip the current status.
-- ARGV: prefix, queue id, status. Returns the new status, or false when the queue is missing.
local key = K.queue(ARGV[2])
local current = redis.call('HGET', key, 'status')
if not current then return false end
local status = ARGV[3]
if status == 'TOGGLE' then
  if current == 'ENABLED' then status = 'DISABLED' else status = 'ENABLED' end
end
redis.call('HSET', key, 'status', status)
if status == 'ENABLED' and current ~= 'ENABLED' then  -- poll a re-enabled queue at once
  redis.call('ZADD', K.queues_due, redis.call('TIME')[1], ARGV[2])
end
return status
"""
)

DELETE_QUEUE = (
    GENERATION_HELPERS
    + """
-- delete_queue: remove a queue definition, its poll state and its dead letters. Tasks it
-- made stay; its generation is retired, so what its polls took and did not store (a Redis list's
-- processing list) goes back to the source.
-- ARGV: prefix, queue id. Returns 1 when deleted, 0 when missing.
local id = ARGV[2]
local key = K.queue(id)
redis.call('ZREM', K.queues, id)
redis.call('ZREM', K.queues_due, id)
local f = redis.call('HMGET', key, 'spec', 'poll_generation', 'poll_spec', 'created_tstamp')
if not f[1] then return 0 end
redis.call('DEL', K.deadletters(id), K.deadletters_order(id))
retire_generation(f[2] or redis.call('INCR', K.queue_generations), id, f[3] or f[1], f[4])
return redis.call('DEL', key)
"""
)
