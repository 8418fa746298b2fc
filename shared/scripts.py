"""The Lua scripts of the store, each one atomic state change.

Every script starts with the generated PRELUDE (shared/lua.py): key names come from
its `K` table, built from keys.py, with the prefix the script receives as ARGV[1].
Task records are HASHes: `spec` (definition JSON, never rewritten),
`status` (a flat JSON object of scalars, rewritten with cjson: flat, so cjson's
empty-table ambiguity cannot bite) and `seq` (creation order, the score in every
task index).
"""

from hippo.shared.lua import PRELUDE

# Shared by the task scripts below; prepended to each.
_TASK_HELPERS = (
    PRELUDE
    + """
local function load_status(mid)
  local raw = redis.call('HGET', K.task(mid), 'status')
  if not raw then return nil end
  return cjson.decode(raw)
end

local function save_status(mid, st)
  local raw = cjson.encode(st)
  redis.call('HSET', K.task(mid), 'status', raw)
  return raw
end

-- A finished (or deleted) task no longer counts against max_concurrent or backpressure.
local function release(mid, st)
  redis.call('ZREM', K.tasks_active_by_id(st.id), mid)
  if type(st.queue_id) == 'string' then
    redis.call('ZREM', K.tasks_open_by_queue(st.queue_id), mid)
    redis.call('ZREM', K.tasks_active_by_queue(st.queue_id), mid)
  end
end

-- The waiting runs of each task id, and the ids by their oldest waiting run: what lets
-- an offer round step past an id at its max_concurrent instead of reading its runs.
local function waiting_add(mid, id, seq)
  redis.call('ZADD', K.tasks_waiting_by_id(id), seq, mid)
  redis.call('ZADD', K.tasks_waiting_ids, 'LT', seq, id)
end

local function waiting_remove(mid, id)
  local runs = K.tasks_waiting_by_id(id)
  redis.call('ZREM', runs, mid)
  local oldest = redis.call('ZRANGE', runs, 0, 0, 'WITHSCORES')
  if #oldest == 0 then
    redis.call('ZREM', K.tasks_waiting_ids, id)
    redis.call('HDEL', K.task_caps, id)  -- needed only while runs of the id wait
  else
    redis.call('ZADD', K.tasks_waiting_ids, oldest[2], id)
  end
end

-- Index a new run, waiting for offers. Every script creating task records calls this.
-- `spec` is the definition JSON: its max_concurrent becomes the id's cap in
-- `tasks:caps` (what rounds pre-filter with; the claim re-checks each run's own cap).
local cap_set_in_this_call = {}  -- a poll's runs share one id and definition: decode once
local function index_new_task(mid, id, qid, seq, spec)
  redis.call('ZADD', K.tasks_all, seq, mid)
  redis.call('ZADD', K.tasks_by_state('WAITING_ON_OFFERS'), seq, mid)
  redis.call('ZADD', K.tasks_by_id(id), seq, mid)
  if qid then
    redis.call('ZADD', K.tasks_by_queue(qid), seq, mid)
    redis.call('ZADD', K.tasks_open_by_queue(qid), seq, mid)
  end
  if not cap_set_in_this_call[id] then
    cap_set_in_this_call[id] = true
    local cap = cjson.decode(spec).max_concurrent
    if type(cap) == 'number' then redis.call('HSET', K.task_caps, id, cap) end
  end
  waiting_add(mid, id, seq)
end

local function unindex(mid, st)
  if st.mesos_state == 'WAITING_ON_OFFERS' then waiting_remove(mid, st.id) end
  redis.call('ZREM', K.tasks_all, mid)
  redis.call('ZREM', K.tasks_by_state(st.mesos_state), mid)
  redis.call('ZREM', K.tasks_by_id(st.id), mid)
  if type(st.queue_id) == 'string' then
    redis.call('ZREM', K.tasks_by_queue(st.queue_id), mid)
  end
  release(mid, st)
  redis.call('ZREM', K.tasks_finished, mid)
  redis.call('ZREM', K.tasks_finished_by_id(st.id), mid)
  redis.call('SREM', K.kills, mid)
end

local function delete_task(mid, st)
  unindex(mid, st)
  redis.call('DEL', K.task(mid))
end

-- Move a task to another state index; a terminal state also enters the retention
-- indexes, and the oldest finished runs of its id beyond keep_per_id are deleted.
local function set_state(mid, st, state, now, keep_per_id)
  local seq = redis.call('HGET', K.task(mid), 'seq')
  if st.mesos_state == 'WAITING_ON_OFFERS' then waiting_remove(mid, st.id) end
  if state == 'WAITING_ON_OFFERS' then waiting_add(mid, st.id, seq) end
  redis.call('ZREM', K.tasks_by_state(st.mesos_state), mid)
  redis.call('ZADD', K.tasks_by_state(state), seq, mid)
  st.mesos_state = state
  st.updated_tstamp = now
  if TERMINAL[state] then
    st.finished_tstamp = now
    release(mid, st)
    redis.call('SREM', K.kills, mid)
    redis.call('ZADD', K.tasks_finished, now, mid)
    local by_id = K.tasks_finished_by_id(st.id)
    redis.call('ZADD', by_id, now, mid)
    local excess = redis.call('ZCARD', by_id) - keep_per_id
    if excess > 0 then
      -- One more than needed: runs finishing at the same time tie, and the one finishing
      -- now is never the one deleted (its caller still writes its status).
      for _, old in ipairs(redis.call('ZRANGE', by_id, 0, excess)) do
        if excess == 0 then break end
        if old ~= mid then
          local old_st = load_status(old)
          if old_st then delete_task(old, old_st) else redis.call('ZREM', by_id, old) end
          excess = excess - 1
        end
      end
    end
  end
end
"""
)

CREATE_TASKS = (
    _TASK_HELPERS
    + """
-- create_tasks: store new task records, waiting for offers; all or none.
-- ARGV: prefix, idempotency key ('' for none), its TTL in s, then 5 per task:
--       mesos_id, task id, queue id ('' for none), spec JSON, status JSON.
-- Returns {1, mesos_id, ...} when created, {0, mesos_id} when the idempotency key
-- was already used (nothing is written then). Publishes `waiting` on the events channel.
local idem, ttl = ARGV[2], ARGV[3]
if idem ~= '' then
  local seen = redis.call('GET', K.idempotency(idem))
  if seen then return {0, seen} end
end
local created = {1}
for i = 4, #ARGV, 5 do
  local mid, id, qid = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local seq = redis.call('INCR', K.tasks_seq)
  redis.call('HSET', K.task(mid), 'spec', ARGV[i + 3], 'status', ARGV[i + 4], 'seq', seq)
  index_new_task(mid, id, qid ~= '' and qid or nil, seq, ARGV[i + 3])
  created[#created + 1] = mid
end
if idem ~= '' then redis.call('SET', K.idempotency(idem), ARGV[4], 'EX', ttl) end
redis.call('PUBLISH', K.events, 'waiting')
return created
"""
)

LIST_TASKS = (
    PRELUDE
    + """
-- list_tasks: one page of task records, newest first.
-- ARGV: prefix, primary index (key suffix), cursor ('+inf' or '(<seq>'), limit,
--       max members to scan, then key suffixes of further indexes a record must be in.
-- Returns {next_cursor ('' at the end), spec, status, spec, status, ...}. The scan is
-- bounded: a page can be short while next_cursor is set, when filters match rarely.
local primary, cursor = P .. ARGV[2], ARGV[3]
local limit, max_scan = tonumber(ARGV[4]), tonumber(ARGV[5])
local others = {}
for i = 6, #ARGV do others[#others + 1] = P .. ARGV[i] end
local out = {''}
local found, scanned = 0, 0
while found < limit and scanned < max_scan do
  local batch = redis.call('ZREVRANGEBYSCORE', primary, cursor, '-inf', 'WITHSCORES',
                           'LIMIT', 0, math.min(limit - found, 500))
  if #batch == 0 then break end
  for j = 1, #batch, 2 do
    local mid = batch[j]
    cursor = '(' .. batch[j + 1]
    scanned = scanned + 1
    local wanted = true
    for _, key in ipairs(others) do
      if not redis.call('ZSCORE', key, mid) then wanted = false; break end
    end
    if wanted then
      local record = redis.call('HMGET', K.task(mid), 'spec', 'status')
      out[#out + 1] = record[1]
      out[#out + 1] = record[2]
      found = found + 1
    end
  end
end
if #redis.call('ZREVRANGEBYSCORE', primary, cursor, '-inf', 'LIMIT', 0, 1) > 0 then
  out[1] = cursor
end
return out
"""
)

REQUEST_KILL = (
    _TASK_HELPERS
    + """
-- request_kill: record a user's kill request.
-- ARGV: prefix, mesos_id, now, finished runs kept per task id.
-- A waiting task is killed at once (it is never launched); an active one is flagged and
-- queued in `kills` for the leader (published as `kill`). A finished one is left alone.
-- Returns {'missing'} | {'finished', state} | {'killed', status} | {'requested', status}.
local mid, now, keep = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local st = load_status(mid)
if not st then return {'missing'} end
if TERMINAL[st.mesos_state] then return {'finished', st.mesos_state} end
st.kill_requested = true
local outcome = 'requested'
if st.mesos_state == 'WAITING_ON_OFFERS' then
  outcome = 'killed'
  st.status_message = 'killed before launch'
  set_state(mid, st, 'TASK_KILLED', now, keep)
else
  st.updated_tstamp = now
  redis.call('SADD', K.kills, mid)
  redis.call('PUBLISH', K.events, 'kill')
end
return {outcome, save_status(mid, st)}
"""
)

DELETE_TASK = (
    _TASK_HELPERS
    + """
-- delete_task: remove a task record and its index entries, unless the task is active
-- on an agent (it would keep running, unseen).
-- ARGV: prefix, mesos_id. Returns 'missing' | 'deleted' | the active state (refused).
local mid = ARGV[2]
local st = load_status(mid)
if not st then return 'missing' end
if ACTIVE[st.mesos_state] then return st.mesos_state end
delete_task(mid, st)
return 'deleted'
"""
)

TRIM_FINISHED = (
    _TASK_HELPERS
    + """
-- trim_finished: delete finished task records that finished before a cutoff.
-- ARGV: prefix, cutoff (unix s), at most this many deletions per call.
-- (Per-id counts are trimmed as tasks finish, in set_state.) Returns the number deleted.
local cutoff, batch = ARGV[2], tonumber(ARGV[3])
local old = redis.call('ZRANGEBYSCORE', K.tasks_finished, '-inf', cutoff, 'LIMIT', 0, batch)
for _, mid in ipairs(old) do
  local st = load_status(mid)
  if st then delete_task(mid, st) else redis.call('ZREM', K.tasks_finished, mid) end
end
return #old
"""
)

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
    PRELUDE
    + """
-- delete_queue: remove a queue definition and its poll state. Tasks it made stay.
-- ARGV: prefix, queue id. Returns 1 when deleted, 0 when missing.
local id = ARGV[2]
redis.call('ZREM', K.queues, id)
redis.call('ZREM', K.queues_due, id)
return redis.call('DEL', K.queue(id))
"""
)
