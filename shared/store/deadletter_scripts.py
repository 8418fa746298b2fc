"""Lua scripts of a queue's dead letters (shared/deadletters.py), each one atomic.

Dead letters are written by the scripts that decide them (task_lua.py's
`store_dead_letter` and `dead_letter_run`, called by record_updates and store_poll);
these are the user's actions on them.
"""

from hippo.shared.store.lua import PRELUDE
from hippo.shared.store.task_lua import TASK_HELPERS

RERUN_DEAD_LETTERS = (
    TASK_HELPERS
    + """
-- rerun_dead_letters: run dead letters again: each becomes a new task record waiting for
-- offers (its stored definition, HIPPO_DATA included), and leaves the list, in one step.
-- ARGV: prefix, queue id, then 3 per dead letter: its id, the new run's mesos_id, its
--       status JSON (previous_mesos_id: the dead letter's last run).
-- A dead letter gone meanwhile (discarded, or run again by another call) is skipped.
-- Returns {dead letter id, mesos_id, ...} of those run again.
local qid = ARGV[2]
local list, order = K.deadletters(qid), K.deadletters_order(qid)
local out = {}
for i = 3, #ARGV, 3 do
  local id, mid, status = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local record = redis.call('HGET', list, id)
  if record then
    local spec = cjson.decode(record).spec
    local task_id = cjson.decode(status).id
    local seq = redis.call('INCR', K.tasks_seq)
    redis.call('HSET', K.task(mid), 'spec', spec, 'status', status, 'seq', seq)
    index_new_task(mid, task_id, qid, seq, spec)
    redis.call('HDEL', list, id)
    redis.call('ZREM', order, id)
    out[#out + 1] = id
    out[#out + 1] = mid
  end
end
if #out > 0 then redis.call('PUBLISH', K.events, HINT_WAITING) end
return out
"""
)

DISCARD_DEAD_LETTERS = (
    TASK_HELPERS
    + """
-- discard_dead_letters: drop dead letters for good.
-- ARGV: prefix, queue id, then dead letter ids (none: every dead letter of the queue).
-- Returns how many were dropped.
local qid = ARGV[2]
local list, order = K.deadletters(qid), K.deadletters_order(qid)
if #ARGV == 2 then
  local count = redis.call('HLEN', list)
  redis.call('DEL', list, order)
  return count
end
local dropped = 0
for i = 3, #ARGV do
  dropped = dropped + redis.call('HDEL', list, ARGV[i])
  redis.call('ZREM', order, ARGV[i])
end
return dropped
"""
)

CLAIM_PUSHES = (
    PRELUDE
    + """
-- claim_pushes: lease up to N due pushes of dead letters to their queue's target.
-- ARGV: prefix, lease s, N. A push whose dead letter or queue is gone is dropped.
-- Returns 5 per push: member ('<queue id> <dead letter id>'), dead letter id, record,
-- the queue's spec (secrets encrypted), failed pushes so far.
local lease, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', K.deadletters_push_due, '-inf', now,
                                   'LIMIT', 0, limit)) do
  local qid, id = string.match(member, '^(%S+) (%S+)$')
  local record = qid and redis.call('HGET', K.deadletters(qid), id)
  local spec = qid and redis.call('HGET', K.queue(qid), 'spec')
  if not record or not spec then
    redis.call('ZREM', K.deadletters_push_due, member)
    redis.call('HDEL', K.deadletters_push_attempts, member)
  else
    redis.call('ZADD', K.deadletters_push_due, now + lease, member)
    out[#out + 1] = member
    out[#out + 1] = id
    out[#out + 1] = record
    out[#out + 1] = spec
    out[#out + 1] = redis.call('HGET', K.deadletters_push_attempts, member) or '0'
  end
end
return out
"""
)

END_PUSH = (
    PRELUDE
    + """
-- end_push: a push is over ('' delay: done or given up) or due again after a delay.
-- ARGV: prefix, member, delay s or ''. Returns 1.
local member, delay = ARGV[2], ARGV[3]
if delay == '' then
  redis.call('ZREM', K.deadletters_push_due, member)
  redis.call('HDEL', K.deadletters_push_attempts, member)
else
  local t = redis.call('TIME')
  redis.call('HINCRBY', K.deadletters_push_attempts, member, 1)
  redis.call('ZADD', K.deadletters_push_due,
             tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(delay), member)
end
return 1
"""
)
