"""Lua scripts of the worker leader: each one atomic, each fenced by the leader epoch.

Every script starts with the generated PRELUDE (shared/lua.py: key names from keys.py)
and receives the key prefix as ARGV[1] and, except
TAKE_EPOCH, the caller's epoch as ARGV[2]. When `<prefix>leader:epoch` holds another
number, a newer leader exists: the script writes nothing and fails with STALE_EPOCH,
so a leader that lost its lock (a pause, a partition) cannot claim or record anything.
"""

from hippo.shared.store.lua import PRELUDE
from hippo.shared.store.task_lua import TASK_HELPERS

_FENCE = """
local function fence(epoch)
  if redis.call('GET', K.leader_epoch) ~= epoch then
    return redis.error_reply('STALE_EPOCH a newer leader holds epoch '
                             .. tostring(redis.call('GET', K.leader_epoch)))
  end
  return nil
end
"""

TAKE_EPOCH = (
    PRELUDE
    + """
-- take_epoch: a new leader's fencing number, only while it holds the lock.
-- ARGV: prefix, lock key, lock id. Returns the new epoch, or 0 when the lock key does not
-- hold this id (the lock was lost before the epoch could be taken).
local lock_key, lock_id = ARGV[2], ARGV[3]
if redis.call('GET', lock_key) ~= lock_id then return 0 end
return redis.call('INCR', K.leader_epoch)
"""
)

SAVE_FRAMEWORK_ID = (
    PRELUDE
    + _FENCE
    + """
-- save_framework_id: remember the framework id Mesos gave (or forget it: '').
-- ARGV: prefix, epoch, framework id or ''. Returns 1.
local epoch, fid = ARGV[2], ARGV[3]
local stale = fence(epoch); if stale then return stale end
if fid == '' then redis.call('DEL', K.framework_id)
else redis.call('SET', K.framework_id, fid) end
return 1
"""
)

SAVE_LEADER_STATUS = (
    PRELUDE
    + _FENCE
    + """
-- save_leader_status: the leader's report on Mesos (shared/leader_status.py), with an
-- expiry so that no report means no leader. ARGV: prefix, epoch, JSON, expiry in ms.
local stale = fence(ARGV[2]); if stale then return stale end
redis.call('SET', K.leader_status, ARGV[3], 'PX', ARGV[4])
return 1
"""
)

CLAIM_TASKS = (
    TASK_HELPERS
    + _FENCE
    + """
-- claim_tasks: move waiting tasks to TASK_STAGING on an agent, before ACCEPT is sent.
-- ARGV: prefix, epoch, now, then the claims as one JSON array of strings, 5 per task:
--       mesos_id, agent id, agent hostname, max_concurrent of the task id ('' none),
--       max_concurrent of its queue ('' none).
-- A task is claimed only if it is still WAITING_ON_OFFERS, no kill was requested, and
-- its task id's and queue's active counts are below the caps; claimed tasks enter the
-- active sets, so the caps hold across leaders. Returns the mesos_ids claimed.
local epoch, now = ARGV[2], tonumber(ARGV[3])
local stale = fence(epoch); if stale then return stale end
local claimed = {}
local NO_RETENTION = retention(0)  -- a claim ends no run
-- Active counts, read once per key and counted on here: only this script adds to them.
local active = {}
local function active_count(key)
  if not active[key] then active[key] = redis.call('ZCARD', key) end
  return active[key]
end
local function activate(key, seq, mid)
  redis.call('ZADD', key, seq, mid)
  if active[key] then active[key] = active[key] + 1 end
end
settle_waiting_later()  -- the waiting index of an id is settled once, after the batch
local claims = cjson.decode(ARGV[4])
-- The indexes by state are changed once, after the batch (task_lua.batched).
batched(function()
  for i = 1, #claims, 5 do
    local mid, agent, host = claims[i], claims[i + 1], claims[i + 2]
    local id_cap, queue_cap = claims[i + 3], claims[i + 4]
    local st = load_status(mid)
    if st and st.mesos_state == 'WAITING_ON_OFFERS' and st.kill_requested ~= true then
      local by_id = K.tasks_active_by_id(st.id)
      local ok = id_cap == '' or active_count(by_id) < tonumber(id_cap)
      local by_queue = nil
      if type(st.queue_id) == 'string' then by_queue = K.tasks_active_by_queue(st.queue_id) end
      if ok and by_queue and queue_cap ~= '' then
        ok = active_count(by_queue) < tonumber(queue_cap)
      end
      if ok then
        st.agent_id = agent
        st.agent_hostname = host
        set_state(mid, st, 'TASK_STAGING', now, NO_RETENTION)
        local seq = record(mid, st).seq
        activate(by_id, seq, mid)
        if by_queue then activate(by_queue, seq, mid) end
        save_status(mid, st)
        claimed[#claimed + 1] = mid
      end
    end
  end
end, settle_waiting)
return claimed
"""
)

LAUNCHABLE = (
    PRELUDE
    + """
-- launchable: waiting runs an offer round may launch. Task ids are taken in the order
-- of their oldest waiting run, from rank `start`; of each, at most (its cap in tasks:caps
-- minus its active runs) oldest waiting runs. An id at its cap costs one check and is
-- stepped past, so runs behind it are never starved by it. A read: writes nothing.
-- ARGV: prefix, stop after the id that brings the runs to this many, at most this many
--       ids looked at, start rank.
-- Returns {next start rank ('' when no id is left), number of ids at their cap N,
--          then N times: task id, its cap, its active runs,
--          number of ids with runs taken M, then M times: task id, its active runs,
--          then per run: mesos_id, seq, spec, status (nil when the record is gone)}.
-- The ids at their cap let the leader say why their runs wait (worker/pending.py); the
-- active counts and the records spare the round a read per id and per run.
local limit, max_ids = tonumber(ARGV[2]), tonumber(ARGV[3])
local rank = tonumber(ARGV[4])
local out = {''}
local capped = {}
local counted = {}
local taken, looked = 0, 0
while taken < limit and looked < max_ids do
  local ids = redis.call('ZRANGE', K.tasks_waiting_ids, rank, rank + 99)
  if #ids == 0 then break end
  local caps = redis.call('HMGET', K.task_caps, unpack(ids))
  for i, id in ipairs(ids) do
    looked = looked + 1
    rank = rank + 1
    local active = redis.call('ZCARD', K.tasks_active_by_id(id))
    local free = (tonumber(caps[i]) or limit) - active
    if free <= 0 and caps[i] then
      capped[#capped + 1] = id; capped[#capped + 1] = caps[i]; capped[#capped + 1] = active
    end
    if free > 0 then
      local runs = redis.call('ZRANGE', K.tasks_waiting_by_id(id), 0, free - 1, 'WITHSCORES')
      counted[#counted + 1] = id; counted[#counted + 1] = active
      for j = 1, #runs, 2 do
        local fields = redis.call('HMGET', K.task(runs[j]), 'spec', 'status')
        out[#out + 1] = runs[j]; out[#out + 1] = runs[j + 1]
        out[#out + 1] = fields[1]; out[#out + 1] = fields[2]
      end
      taken = taken + #runs / 2
    end
    if taken >= limit or looked >= max_ids then break end
  end
end
if #redis.call('ZRANGE', K.tasks_waiting_ids, rank, rank) > 0 then out[1] = rank end
local result = {out[1], #capped / 3}
for _, v in ipairs(capped) do result[#result + 1] = v end
result[#result + 1] = #counted / 2
for _, v in ipairs(counted) do result[#result + 1] = v end
for j = 2, #out do result[#result + 1] = out[j] end
return result
"""
)

SET_PENDING_REASONS = (
    TASK_HELPERS
    + _FENCE
    + """
-- set_pending_reasons: say why waiting runs wait (pending_reason), as the last offer
-- round found. Only runs still WAITING_ON_OFFERS whose reason differs are written; the
-- run's state, times and indexes are untouched.
-- ARGV: prefix, epoch, number of runs N, then N times: mesos_id, reason ('' clears),
--       then per task id: task id, reason (applied to its oldest `per_id` waiting runs),
--       with per_id as ARGV[3 + 2N + 1] when task ids follow.
-- Returns how many records were written.
local epoch, n = ARGV[2], tonumber(ARGV[3])
local stale = fence(epoch); if stale then return stale end
local written = 0
local function note(mid, reason)
  local st = load_status(mid)
  if not st or st.mesos_state ~= 'WAITING_ON_OFFERS' then return end
  local value = reason
  if reason == '' then value = cjson.null end
  if st.pending_reason == value then return end
  st.pending_reason = value
  save_status(mid, st)
  written = written + 1
end
for i = 4, 3 + 2 * n, 2 do note(ARGV[i], ARGV[i + 1]) end
local rest = 4 + 2 * n
if ARGV[rest] then
  local per_id = tonumber(ARGV[rest])
  for i = rest + 1, #ARGV, 2 do
    for _, mid in ipairs(redis.call('ZRANGE', K.tasks_waiting_by_id(ARGV[i]), 0, per_id - 1)) do
      note(mid, ARGV[i + 1])
    end
  end
end
return written
"""
)

UNCLAIM_TASKS = (
    TASK_HELPERS
    + _FENCE
    + """
-- unclaim_tasks: Mesos answered an ACCEPT with an error, so it launched none of its
-- tasks: put them back to waiting (no retry is spent on a launch never made), or end
-- those whose kill was requested meanwhile.
-- ARGV: prefix, epoch, now, retention ("<per id>:<per queue>"), then mesos_ids.
-- Only tasks still TASK_STAGING move. Returns how many moved.
local epoch, now, keep = ARGV[2], tonumber(ARGV[3]), retention(ARGV[4])
local stale = fence(epoch); if stale then return stale end
local moved = 0
for i = 5, #ARGV do
  local mid = ARGV[i]
  local st = load_status(mid)
  if st and st.mesos_state == 'TASK_STAGING' then
    if st.kill_requested == true then
      st.status_message = 'killed before launch'
      set_state(mid, st, 'TASK_KILLED', now, keep)
    else
      release(mid, st)
      if type(st.queue_id) == 'string' then  -- still unfinished: it counts for backpressure
        redis.call('ZADD', K.tasks_open_by_queue(st.queue_id), record(mid, st).seq, mid)
      end
      st.agent_id = cjson.null
      st.agent_hostname = cjson.null
      set_state(mid, st, 'WAITING_ON_OFFERS', now, keep)
    end
    save_status(mid, st)
    moved = moved + 1
  end
end
return moved
"""
)

RECORD_UPDATES = (
    TASK_HELPERS
    + _FENCE
    + """
-- record_updates: store Mesos status updates (before they are acknowledged).
-- ARGV: prefix, epoch, now, retention ("<per id>:<per queue>"), then the updates as one
--       JSON array of strings, 7 per update: mesos_id, state, message, reason, agent id,
--       retry budget ('', 'task', 'system' or 'free', from retries.retry_budget), a
--       fresh uuid for a new run ('' for a state that is not terminal). One argument,
--       not 7 per update: packing thousands of arguments cost the leader more than this
--       script's work.
-- Idempotent: a repeated state, an older state arriving late, or any update for a task
-- that already ended (e.g. lost, then retried) changes nothing. A terminal state with a
-- budget left (and no kill requested) creates the next run in the same step: a new
-- record `<id>.<uuid>` waiting for offers, linked by previous_mesos_id, its budget one
-- less ('free': both budgets as they were), ordered like a newly created task;
-- `next_mesos_id` links the ended run to it.
-- With retry_delay_seconds the new run is a delayed retry (retry_due_tstamp,
-- pending_reason), launchable only once release_due has released it.
-- A run max_runtime_seconds killed (timed_out) keeps Hippo's message, gets reason
-- HIPPO_MAX_RUNTIME_EXCEEDED, and its TASK_KILLED spends task_retries.
-- The first TASK_RUNNING of a run with max_runtime_seconds sets its runtime deadline.
-- A queue task ending otherwise (not finished, no kill requested, no budget left)
-- becomes a dead letter in the same step.
-- Returns 2 per update: outcome ('stored' | 'retried' | 'same' | 'stale' | 'missing')
-- and a detail (the new run's mesos_id when retried; created_tstamp on a first
-- TASK_RUNNING; otherwise '').
local epoch, now, keep = ARGV[2], tonumber(ARGV[3]), retention(ARGV[4])
local stale = fence(epoch); if stale then return stale end
-- The wait before the n-th retry of a run of `spec` (seconds, 0: at once):
-- retry_delay_seconds * retry_backoff_factor ^ (n - 1), at most retry_max_delay_seconds
-- (model.JobDefinition; absent in definitions stored before them: no wait).
local function retry_delay_s(spec, n)
  local def = cjson.decode(spec)
  local base = tonumber(def.retry_delay_seconds) or 0
  if base <= 0 then return 0 end
  local factor = tonumber(def.retry_backoff_factor) or 1
  local cap = tonumber(def.retry_max_delay_seconds) or base
  local wait = base * factor ^ math.min(n - 1, 1000)
  if wait ~= wait or wait > cap then wait = cap end  -- NaN or inf from a huge power
  return wait
end
local RANK = {TASK_STAGING = 1, TASK_STARTING = 2, TASK_RUNNING = 3, TASK_UNREACHABLE = 3,
              TASK_KILLING = 4}
local out = {}
local published = false
local updates = cjson.decode(ARGV[5])
-- The indexes by state are changed once, after the batch (task_lua.batched).
batched(function()
  for i = 1, #updates, 7 do
    local mid, state, message, reason = updates[i], updates[i + 1], updates[i + 2], updates[i + 3]
    local agent, budget, fresh = updates[i + 4], updates[i + 5], updates[i + 6]
    local st = load_status(mid, state == 'TASK_RUNNING')  -- its spec has max_runtime_seconds
    local outcome, detail = 'stored', ''
    if not st then
      outcome = 'missing'
    elseif not ACTIVE[st.mesos_state] then
      outcome = 'stale'
    elseif st.mesos_state == state or
           (not TERMINAL[state] and (RANK[state] or 0) < (RANK[st.mesos_state] or 0)) then
      outcome = 'same'
    else
      local note = {message = message ~= '' and message or cjson.null,
                    reason = reason ~= '' and reason or cjson.null}
      if st.timed_out == 'max_runtime_seconds' and TERMINAL[state] and state ~= 'TASK_FINISHED' then
        -- Ended by the kill max_runtime_seconds sent: Hippo's message and reason stay (the
        -- history keeps Mesos'), and it counts as the command's failure.
        st.status_reason = 'HIPPO_MAX_RUNTIME_EXCEEDED'
        if state == 'TASK_KILLED' then budget = 'task' end
      else
        if message ~= '' then st.status_message = message end
        if reason ~= '' then st.status_reason = reason end
      end
      if agent ~= '' and is_null(st.agent_id) then st.agent_id = agent end
      if state == 'TASK_RUNNING' and is_null(st.started_tstamp) then
        st.started_tstamp = now
        detail = tostring(st.created_tstamp)
        -- Only a definition naming max_runtime_seconds is decoded: Hippo stores them as
        -- JSON with their keys as written (never escaped), and each of a queue's runs
        -- has a definition of its own, which limits() would decode once per run.
        local spec = spec_of(mid, st)
        if string.find(spec, '"max_runtime_seconds"', 1, true) then
          local lim = limits(spec)
          if lim.max_runtime then
            redis.call('ZADD', K.tasks_runtime_deadlines, now + lim.max_runtime, mid)
          end
        end
      end
      set_state(mid, st, state, now, keep, note)
      local left_field = budget .. '_retries_left'
      local free = budget == 'free'
      if TERMINAL[state] and budget ~= '' and st.kill_requested ~= true
         and (free or (tonumber(st[left_field]) or 0) > 0) then
        local new = st.id .. '.' .. fresh
        local spec = spec_of(mid, st)
        local run = new_run()  -- the record template of records.py
        run.id, run.mesos_id, run.queue_id = st.id, new, st.queue_id
        run.task_retries_left = st.task_retries_left
        run.system_retries_left = st.system_retries_left
        run.created_tstamp, run.updated_tstamp, run.previous_mesos_id = now, now, mid
        run.status_tstamp = now
        if not free then run[left_field] = tonumber(st[left_field]) - 1 end
        local attempt = tonumber(st.attempt) or 1  -- records from before attempts: 1
        run.attempt = attempt + 1
        local wait = retry_delay_s(spec, attempt)
        local due = nil
        if wait > 0 then
          due = now + wait
          run.retry_due_tstamp = due
          run.pending_reason = 'retry due at ' .. iso_utc(due)
        end
        st.next_mesos_id = new
        local seq = redis.call('INCR', K.tasks_seq)
        redis.call('HSET', K.task(new), 'spec', spec, 'status', cjson.encode(run), 'seq', seq)
        local callback = redis.call('HGET', K.task(mid), 'callback')  -- a one-off task's
        if callback then redis.call('HSET', K.task(new), 'callback', callback) end
        index_new_task(new, st.id, type(st.queue_id) == 'string' and st.queue_id or nil,
                       seq, spec, due)
        outcome, detail = 'retried', new
        published = published or due == nil
      elseif TERMINAL[state] and state ~= 'TASK_FINISHED' and st.kill_requested ~= true
             and type(st.queue_id) == 'string' then
        dead_letter_run(mid, st, now)  -- no retry left: the item is kept, not dropped
      end
      save_status(mid, st)
    end
    out[#out + 1] = outcome
    out[#out + 1] = detail
  end
end)
if published then redis.call('PUBLISH', K.events, HINT_WAITING) end
return out
"""
)


TRIM_FINISHED = (
    TASK_HELPERS
    + _FENCE
    + """
-- trim_finished: delete finished task records that finished before a cutoff (retention).
-- ARGV: prefix, epoch, cutoff (unix s), at most this many deletions per call.
-- (Per-id counts are trimmed as tasks finish, in set_state.) Returns the number deleted.
local epoch, cutoff, batch = ARGV[2], ARGV[3], tonumber(ARGV[4])
local stale = fence(epoch); if stale then return stale end
local old = redis.call('ZRANGEBYSCORE', K.tasks_finished, '-inf', cutoff, 'LIMIT', 0, batch)
for _, mid in ipairs(old) do
  local st = load_status(mid)
  if st then delete_task(mid, st) else redis.call('ZREM', K.tasks_finished, mid) end
end
return #old
"""
)

FAIL_WAITING = (
    TASK_HELPERS
    + _FENCE
    + """
-- fail_waiting: end waiting runs that can never launch as TASK_ERROR (no retry).
-- ARGV: prefix, epoch, now, retention ("<per id>:<per queue>"), then 2 per run: mesos_id,
--       message. Only runs still WAITING_ON_OFFERS move. Returns how many moved.
local epoch, now, keep = ARGV[2], tonumber(ARGV[3]), retention(ARGV[4])
local stale = fence(epoch); if stale then return stale end
local moved = 0
for i = 5, #ARGV, 2 do
  local mid, message = ARGV[i], ARGV[i + 1]
  local st = load_status(mid)
  if st and st.mesos_state == 'WAITING_ON_OFFERS' then
    st.status_message = message
    set_state(mid, st, 'TASK_ERROR', now, keep)
    save_status(mid, st)
    moved = moved + 1
  end
end
return moved
"""
)

DUE_DEADLINES = (
    TASK_HELPERS
    + _FENCE
    + """
-- due_deadlines: what is due by `now` among the runs' times (each a decision of the
-- leader, fenced, so a failover neither loses nor repeats one):
--   delayed retries whose time came join the launchable indexes (publishes `waiting`);
--   waiting runs past max_pending_seconds end as TASK_FAILED, not retried
--   (timed_out, reason HIPPO_MAX_PENDING_EXCEEDED; a queue's run becomes a dead letter);
--   active runs past max_runtime_seconds are marked timed_out and queued in `kills`
--   (publishes `kill`); their end is recorded by record_updates.
-- ARGV: prefix, epoch, now, retention ("<per id>:<per queue>"), at most this many of each.
-- Returns {released, failed, killed, seconds until the next time (-1: none)}.
local epoch, now, keep, batch = ARGV[2], tonumber(ARGV[3]), retention(ARGV[4]), tonumber(ARGV[5])
local stale = fence(epoch); if stale then return stale end
local function due(key)
  return redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, batch)
end
local released, failed, killed = 0, 0, 0
for _, mid in ipairs(due(K.tasks_delayed)) do
  redis.call('ZREM', K.tasks_delayed, mid)
  local st = load_status(mid)
  if st and st.mesos_state == 'WAITING_ON_OFFERS' then
    release_delayed(mid, st, spec_of(mid, st))
    st.pending_reason = cjson.null
    st.updated_tstamp = now
    save_status(mid, st)
    released = released + 1
  end
end
for _, mid in ipairs(due(K.tasks_pending_deadlines)) do
  redis.call('ZREM', K.tasks_pending_deadlines, mid)
  local st = load_status(mid)
  if st and st.mesos_state == 'WAITING_ON_OFFERS' then
    local lim = limits(spec_of(mid, st))
    st.timed_out = 'max_pending_seconds'
    st.status_reason = 'HIPPO_MAX_PENDING_EXCEEDED'
    st.status_message = 'no offer was taken for it within max_pending_seconds ('
                        .. tostring(lim.max_pending) .. ' s)'
    set_state(mid, st, 'TASK_FAILED', now, keep)
    if type(st.queue_id) == 'string' then dead_letter_run(mid, st, now) end  -- no retry
    save_status(mid, st)
    failed = failed + 1
  end
end
for _, mid in ipairs(due(K.tasks_runtime_deadlines)) do
  redis.call('ZREM', K.tasks_runtime_deadlines, mid)
  local st = load_status(mid)
  if st and ACTIVE[st.mesos_state] and is_null(st.timed_out) then
    local lim = limits(spec_of(mid, st))
    st.timed_out = 'max_runtime_seconds'
    st.status_message = 'killed: ran longer than max_runtime_seconds ('
                        .. tostring(lim.max_runtime) .. ' s)'
    st.updated_tstamp = now
    save_status(mid, st)
    redis.call('SADD', K.kills, mid)
    killed = killed + 1
  end
end
if released > 0 then redis.call('PUBLISH', K.events, HINT_WAITING) end
if killed > 0 then redis.call('PUBLISH', K.events, HINT_KILL) end
local next_at = nil
for _, key in ipairs({K.tasks_delayed, K.tasks_pending_deadlines, K.tasks_runtime_deadlines}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first > 0 and (next_at == nil or tonumber(first[2]) < next_at) then
    next_at = tonumber(first[2])
  end
end
local wait = -1
if next_at then wait = math.max(0, next_at - now) end
return {released, failed, killed, tostring(wait)}
"""
)
