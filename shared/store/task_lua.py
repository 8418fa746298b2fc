"""Lua helpers of every script that writes task records: load and save a record, move
it between state indexes, index a new run, release its caps, delete it.

Prepended (after the PRELUDE of lua.py) to the task, lease and leader scripts, so that
each index a record is in is maintained in one place.
"""

from hippo.shared.deadletters import RUN_FIELDS
from hippo.shared.store.lua import PRELUDE
from hippo.shared.tunables import DEAD_LETTER_RUNS, DEAD_LETTERS_PER_QUEUE

_RUN_FIELDS_LUA = "{" + ", ".join(repr(name) for name in RUN_FIELDS) + "}"

TASK_HELPERS = (
    PRELUDE
    + f"local DEAD_LETTERS_PER_QUEUE, DEAD_LETTER_RUNS = {DEAD_LETTERS_PER_QUEUE}, "
    + f"{DEAD_LETTER_RUNS}\n"
    + f"local RUN_FIELDS = {_RUN_FIELDS_LUA}\n"
    + """
local function is_null(v) return v == nil or v == cjson.null end

-- Members a variadic command of a batch takes at most (Lua's unpack has a limit).
local UNPACK_MAX = 1000

-- `command key members...` (ZREM, HDEL), UNPACK_MAX members a call.
local function each_chunk(command, key, members)
  for i = 1, #members, UNPACK_MAX do
    redis.call(command, key, unpack(members, i, math.min(#members, i + UNPACK_MAX - 1)))
  end
end

-- `ZADD key score member ...` for `pairs` {score, member, ...}, UNPACK_MAX pairs a call.
local function zadd_chunks(key, pairs)
  for i = 1, #pairs, 2 * UNPACK_MAX do
    redis.call('ZADD', key, unpack(pairs, i, math.min(#pairs, i + 2 * UNPACK_MAX - 1)))
  end
end

-- The indexes by state, of staging runs by time and of pending deadlines, as a script
-- that batches (batched(): a claim, a batch of status updates) changes them: each change
-- is kept, and flush_indexes, at the end of the batch, makes them in one ZREM and one
-- ZADD per index (UNPACK_MAX members a command) instead of one command per change: a
-- launch costs Redis 13 commands instead of 24. A member's last change wins (a run moved
-- twice in one call ends where the second move put it). Nothing in such a script reads
-- these indexes before its end; other scripts change them at once (index_later nil).
local index_later = nil

local function index_change(key, member, score)  -- score false: remove
  local changes = index_later.changes[key]
  if not changes then
    changes = {members = {}, score = {}}
    index_later.changes[key] = changes
    index_later.keys[#index_later.keys + 1] = key
  end
  if changes.score[member] == nil then changes.members[#changes.members + 1] = member end
  changes.score[member] = score
end

local function index_add(key, score, member)
  if index_later then index_change(key, member, score)
  else redis.call('ZADD', key, score, member) end
end

local function index_remove(key, member)
  if index_later then index_change(key, member, false)
  else redis.call('ZREM', key, member) end
end

local function flush_indexes()
  if not index_later then return end
  local later = index_later
  index_later = nil
  for _, key in ipairs(later.keys) do
    local changes = later.changes[key]
    local removed, added = {}, {}
    for _, member in ipairs(changes.members) do
      local score = changes.score[member]
      if score then
        added[#added + 1] = score
        added[#added + 1] = member
      else
        removed[#removed + 1] = member
      end
    end
    each_chunk('ZREM', key, removed)
    zadd_chunks(key, added)
  end
end

-- Run `body` (a script's loop over its batch) with the index changes batched, then make
-- them, and `after_batch` (the script's own settling), even when `body` fails: its error
-- is raised after, and the indexes agree with the records it wrote until then, as they
-- would have with each change made at once.
local function batched(body, after_batch)
  index_later = {keys = {}, changes = {}}
  local ok, err = pcall(body)
  if after_batch then after_batch() end
  flush_indexes()
  if not ok then error(err, 0) end
end

-- The other fields of a record a script call loaded, by its decoded status table:
-- {seq=, history= (false: none yet), spec= (false: not read), history_changed=}. A
-- record is read once per load (its status, seq and history in one HMGET), and a state
-- change writes history and status in one HSET (save_status). Keyed by the table, not
-- the mesos_id, so a record loaded again is read again; weak keys, so a call storing
-- hundreds of updates does not keep every record it went past alive for Lua's GC to scan.
local record_of = setmetatable({}, {__mode = 'k'})

-- The record's status (nil when the record is gone); `with_spec` reads its spec too.
local function load_status(mid, with_spec)
  local f
  if with_spec then f = redis.call('HMGET', K.task(mid), 'status', 'seq', 'history', 'spec')
  else f = redis.call('HMGET', K.task(mid), 'status', 'seq', 'history') end
  if not f[1] then return nil end
  local st = cjson.decode(f[1])
  record_of[st] = {seq = f[2], history = f[3], spec = f[4] or false}
  return st
end

-- The loaded fields of `st` (read now when `st` did not come from load_status).
local function record(mid, st)
  local rec = record_of[st]
  if not rec then
    local f = redis.call('HMGET', K.task(mid), 'seq', 'history')
    rec = {seq = f[1], history = f[2], spec = false}
    record_of[st] = rec
  end
  return rec
end

-- The definition JSON of a loaded record, read at most once per load.
local function spec_of(mid, st)
  local rec = record(mid, st)
  if not rec.spec then rec.spec = redis.call('HGET', K.task(mid), 'spec') end
  return rec.spec
end

-- Callbacks (worker/callbacks.py): a run's end is POSTed to its callback_url, the one
-- of its queue's current definition or, for a one-off task, the one kept in its HASH's
-- `callback` field (url and encrypted secret: the spec shows the secret masked). The
-- body is fixed here, in the step that records the end, with every field the status
-- has by the time the script saves it (next_mesos_id of a retry included).
local ended_in_this_call = {}  -- set_state marks runs ending; save_status enqueues them
local function enqueue_callback(mid, st)
  local url, secret
  if type(st.queue_id) == 'string' then
    local spec = redis.call('HGET', K.queue(st.queue_id), 'spec')
    if spec and string.find(spec, '"callback_url"', 1, true) then
      local q = cjson.decode(spec)
      url, secret = q.callback_url, q.callback_secret
    end
  else
    local raw = redis.call('HGET', K.task(mid), 'callback')
    if raw then
      local cb = cjson.decode(raw)
      url, secret = cb.url, cb.secret
    end
  end
  if type(url) ~= 'string' then return end
  if type(secret) ~= 'string' then secret = '' end
  local body = cjson.encode({delivery_id = mid, event = 'task.ended', task = st})
  redis.call('HSET', K.callback(mid), 'url', url, 'secret', secret, 'body', body,
             'attempts', 0)
  redis.call('ZADD', K.callbacks_due, st.finished_tstamp, mid)
end

local function save_status(mid, st)
  local raw = cjson.encode(st)
  local rec = record_of[st]
  if rec and rec.history_changed then
    rec.history_changed = false
    redis.call('HSET', K.task(mid), 'status', raw, 'history', rec.history)
  else
    redis.call('HSET', K.task(mid), 'status', raw)
  end
  if ended_in_this_call[mid] then
    ended_in_this_call[mid] = nil
    enqueue_callback(mid, st)
  end
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

-- The ids whose waiting runs changed, to settle once at the end of the script call (a
-- list, for a deterministic order), when a script batches: nil settles each at once.
local settle_later = nil

-- The places of ids among the ids by oldest waiting run, and their caps, after their
-- runs changed: ids with no waiting run left leave both (the cap is needed only while
-- runs of the id wait), in one ZREM and one HDEL for all.
local function waiting_settle(ids)
  local gone, moved = {}, {}
  for _, id in ipairs(ids) do
    local oldest = redis.call('ZRANGE', K.tasks_waiting_by_id(id), 0, 0, 'WITHSCORES')
    if #oldest == 0 then
      gone[#gone + 1] = id
    else
      moved[#moved + 1] = oldest[2]
      moved[#moved + 1] = id
    end
  end
  each_chunk('ZREM', K.tasks_waiting_ids, gone)
  each_chunk('HDEL', K.task_caps, gone)
  zadd_chunks(K.tasks_waiting_ids, moved)
end

local function waiting_remove(mid, id)
  redis.call('ZREM', K.tasks_waiting_by_id(id), mid)
  if not settle_later then waiting_settle({id})
  elseif not settle_later[id] then
    settle_later[id] = true
    settle_later[#settle_later + 1] = id
  end
end

-- Settle from here to the end of the script call (settle_waiting) each id whose runs
-- leave the waiting indexes: once per id, however many of its runs leave.
local function settle_waiting_later() settle_later = settle_later or {} end

local function settle_waiting()
  if not settle_later then return end
  local ids = settle_later
  settle_later = nil
  waiting_settle(ids)
end

-- "2026-11-30T14:05:00Z" for unix seconds (whole seconds, UTC): Redis' Lua has no os.date.
-- Days to civil date after Howard Hinnant's public-domain days_from_civil inverse.
local function iso_utc(t)
  local secs = math.floor(t)
  local days, rem = math.floor(secs / 86400), secs % 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                          - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02dZ', y, m, d, math.floor(rem / 3600),
                       math.floor(rem % 3600 / 60), rem % 60)
end

-- The limits of a definition that the store acts on, decoded once per script call.
local limits_of_spec = {}
local function limits(spec)
  local found = limits_of_spec[spec]
  if not found then
    local def = cjson.decode(spec)
    local function num(v) if type(v) == 'number' then return v end return nil end
    found = {cap = num(def.max_concurrent), max_pending = num(def.max_pending_seconds),
             max_runtime = num(def.max_runtime_seconds)}
    limits_of_spec[spec] = found
  end
  return found
end

-- Index a new run, waiting for offers. Every script creating task records calls this,
-- after writing the record. `spec` is the definition JSON: its max_concurrent becomes
-- the id's cap in `tasks:caps` (what rounds pre-filter with; the claim re-checks each
-- run's own cap). `due` (unix s, or nil) makes it a delayed retry: waiting, but out of
-- the launchable indexes until the leader releases it (release_due). Its
-- max_pending_seconds counts from when it may launch.
local function index_new_task(mid, id, qid, seq, spec, due)
  redis.call('ZADD', K.tasks_all, seq, mid)
  index_add(K.tasks_by_state('WAITING_ON_OFFERS'), seq, mid)
  redis.call('ZADD', K.tasks_by_id(id), seq, mid)
  if qid then
    redis.call('ZADD', K.tasks_by_queue(qid), seq, mid)
    redis.call('ZADD', K.tasks_open_by_queue(qid), seq, mid)
  end
  local lim = limits(spec)
  if lim.max_pending then
    local start = due
    if not start then
      start = cjson.decode(redis.call('HGET', K.task(mid), 'status')).created_tstamp
    end
    index_add(K.tasks_pending_deadlines, start + lim.max_pending, mid)
  end
  if due then
    redis.call('ZADD', K.tasks_delayed, due, mid)
    return
  end
  if lim.cap then redis.call('HSET', K.task_caps, id, lim.cap) end
  waiting_add(mid, id, seq)
end

-- A delayed retry whose time has come joins the launchable indexes.
local function release_delayed(mid, st, spec)
  redis.call('ZREM', K.tasks_delayed, mid)
  local lim = limits(spec)
  if lim.cap then redis.call('HSET', K.task_caps, st.id, lim.cap) end
  waiting_add(mid, st.id, record(mid, st).seq)
end

-- The JSON text of a value (nil: null), each value encoded once per script call: a
-- batch's entries share their time, states and agents.
local json_of_value = {}
local function json_text(v)
  if v == nil or v == cjson.null then return 'null' end
  local text = json_of_value[v]
  if not text then
    text = cjson.encode(v)
    json_of_value[v] = text
  end
  return text
end

-- The state history of a run: a JSON array in the record's `history` field, one entry
-- per state it entered after WAITING_ON_OFFERS (the API adds that first one from
-- created_tstamp): {state, tstamp, message, reason, agent_id}. Appended as text: the
-- array is never decoded here, and the entry is written as text too (no table to
-- encode). Written by save_status, with the status.
local function add_history(mid, st, state, now, message, reason, agent)
  local rec = record(mid, st)
  local entry = '{"state":' .. json_text(state) .. ',"tstamp":' .. json_text(now)
                .. ',"message":' .. json_text(message) .. ',"reason":' .. json_text(reason)
                .. ',"agent_id":' .. json_text(agent) .. '}'
  local old = rec.history
  if old then rec.history = string.sub(old, 1, -2) .. ',' .. entry .. ']'
  else rec.history = '[' .. entry .. ']' end
  rec.history_changed = true
end

local function unindex(mid, st)
  if st.mesos_state == 'WAITING_ON_OFFERS' then waiting_remove(mid, st.id) end
  redis.call('ZREM', K.tasks_all, mid)
  index_remove(K.tasks_by_state(st.mesos_state), mid)
  redis.call('ZREM', K.tasks_by_id(st.id), mid)
  if type(st.queue_id) == 'string' then
    redis.call('ZREM', K.tasks_by_queue(st.queue_id), mid)
  end
  release(mid, st)
  redis.call('ZREM', K.tasks_finished, mid)
  redis.call('ZREM', K.tasks_finished_by_id(st.id), mid)
  redis.call('SREM', K.kills, mid)
  redis.call('ZREM', K.tasks_delayed, mid)
  index_remove(K.tasks_pending_deadlines, mid)
  redis.call('ZREM', K.tasks_runtime_deadlines, mid)
  index_remove(K.tasks_staging_since, mid)
end

local function delete_task(mid, st)
  unindex(mid, st)
  local digest = redis.call('HGET', K.task(mid), 'dedupe')  -- see CREATE_TASK_DEDUPED
  if digest and redis.call('GET', K.task_dedupe(digest)) == mid then
    redis.call('DEL', K.task_dedupe(digest))
  end
  redis.call('DEL', K.task(mid))
end

-- Finished runs kept, from a script's retention argument (shared/store/retention.py):
-- "<per task id>:<per queue>", or one number for both.
local function retention(arg)
  local per_id, per_queue = string.match(tostring(arg), '^(%d+):(%d+)$')
  if per_id then return {id = tonumber(per_id), queue = tonumber(per_queue)} end
  return {id = tonumber(arg), queue = tonumber(arg)}
end

-- Move a task to another state index (and TASK_STAGING in or out of the index of
-- staging runs by the time they entered it); a terminal state also enters the retention
-- indexes, and the oldest finished runs of its id beyond what `keep` (retention())
-- keeps are deleted: keep.queue for a queue's runs (they share the queue's id),
-- keep.id for one-off tasks.
-- The state joins the run's history with `note` ({message=, reason=}; default: the
-- record's status_message and status_reason).
local function set_state(mid, st, state, now, keep, note)
  if type(keep) ~= 'table' then keep = retention(keep) end
  local keep_per_id = keep.id
  if type(st.queue_id) == 'string' then keep_per_id = keep.queue end
  local seq = record(mid, st).seq
  if st.mesos_state == 'WAITING_ON_OFFERS' then
    waiting_remove(mid, st.id)
    -- Only a delayed retry enters tasks_delayed, and its record says so (index_new_task's
    -- caller sets retry_due_tstamp). Every run may have a pending deadline: the record
    -- does not say (its spec does), so that ZREM stays.
    if not is_null(st.retry_due_tstamp) then redis.call('ZREM', K.tasks_delayed, mid) end
    index_remove(K.tasks_pending_deadlines, mid)
    st.pending_reason = cjson.null
  end
  if note then add_history(mid, st, state, now, note.message, note.reason, st.agent_id)
  else add_history(mid, st, state, now, st.status_message, st.status_reason, st.agent_id) end
  if state == 'WAITING_ON_OFFERS' then waiting_add(mid, st.id, seq) end
  if state == 'TASK_STAGING' then
    index_add(K.tasks_staging_since, now, mid)
  elseif st.mesos_state == 'TASK_STAGING' then
    index_remove(K.tasks_staging_since, mid)
  end
  index_remove(K.tasks_by_state(st.mesos_state), mid)
  index_add(K.tasks_by_state(state), seq, mid)
  st.mesos_state = state
  st.updated_tstamp = now
  st.status_tstamp = now
  if TERMINAL[state] then
    st.finished_tstamp = now
    ended_in_this_call[mid] = true
    redis.call('ZREM', K.tasks_runtime_deadlines, mid)
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

-- Dead letters (shared/deadletters.py): a queue's items that will not run again by
-- themselves, newest DEAD_LETTERS_PER_QUEUE kept per queue.
local function store_dead_letter(qid, id, record)
  local order = K.deadletters_order(qid)
  redis.call('HSET', K.deadletters(qid), id, record)
  redis.call('ZADD', order, redis.call('INCR', K.deadletters_seq), id)
  local excess = redis.call('ZCARD', order) - DEAD_LETTERS_PER_QUEUE
  if excess > 0 then
    local old = redis.call('ZRANGE', order, 0, excess - 1)
    redis.call('ZREMRANGEBYRANK', order, 0, excess - 1)
    redis.call('HDEL', K.deadletters(qid), unpack(old))
  end
  -- Also pushed to the queue's deadletter_target, if it names one (worker/deadletter_push.py).
  local spec = redis.call('HGET', K.queue(qid), 'spec')
  if spec and string.find(spec, '"deadletter_target"', 1, true) then
    local t = redis.call('TIME')
    redis.call('ZADD', K.deadletters_push_due, tonumber(t[1]) + tonumber(t[2]) / 1000000,
               qid .. ' ' .. id)
  end
end

-- The dead letter of a queue task whose last run `mid` (status `st`, already in its
-- terminal state) ended without a retry: its data, its chain of runs (through
-- previous_mesos_id, as far as retention kept them) and the last reason.
local function dead_letter_run(mid, st, now)
  local spec = spec_of(mid, st)
  local env = cjson.decode(spec).env or {}
  local runs = {}
  local run_mid, run_st = mid, st
  while run_st and #runs < DEAD_LETTER_RUNS do
    local run = {}
    for _, name in ipairs(RUN_FIELDS) do run[name] = run_st[name] end
    run.mesos_id = run_mid
    table.insert(runs, 1, run)
    run_mid = run_st.previous_mesos_id
    if type(run_mid) ~= 'string' then break end
    run_st = load_status(run_mid)
  end
  store_dead_letter(st.queue_id, mid, cjson.encode({
    id = mid, queue_id = st.queue_id, task_id = st.id, cause = 'retries_exhausted',
    mesos_state = st.mesos_state, status_reason = st.status_reason,
    status_message = st.status_message, data = env.HIPPO_DATA or cjson.null,
    data_base64 = env.HIPPO_DATA_BASE64 or cjson.null, runs = runs, dead_tstamp = now,
    spec = spec}))
end
"""
)
