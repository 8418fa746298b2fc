"""Lua helpers of every script that writes task records: load and save a record, move
it between state indexes, index a new run, release its caps, delete it.

Prepended (after the PRELUDE of lua.py) to the task, lease and leader scripts, so that
each index a record is in is maintained in one place.
"""

from hippo.shared.store.lua import PRELUDE

TASK_HELPERS = (
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
  st.status_tstamp = now
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
