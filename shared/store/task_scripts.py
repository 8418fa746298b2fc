"""Lua scripts of the task records the API writes, each one atomic state change.

Every script starts with the generated PRELUDE (lua.py): key names come from
its `K` table, built from keys.py, with the prefix the script receives as ARGV[1].
Task records are HASHes: `spec` (definition JSON, never rewritten),
`status` (a flat JSON object of scalars, rewritten with cjson: flat, so cjson's
empty-table ambiguity cannot bite) and `seq` (creation order, the score in every
task index).
"""

from hippo.shared.store.lua import PRELUDE
from hippo.shared.store.task_lua import TASK_HELPERS

CREATE_TASKS = (
    TASK_HELPERS
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
redis.call('PUBLISH', K.events, HINT_WAITING)
return created
"""
)

CREATE_TASK_DEDUPED = (
    TASK_HELPERS
    + """
-- create_task_deduped: a one-off task, unless one posted with the same digest of cmd and
-- image is still waiting or active (HIPPO_DEDUPE_ONE_OFF_TASKS, the original Hippo's
-- behaviour): then nothing is written and that task is answered. The digest's task is
-- followed along its retries (next_mesos_id) to the run that is current.
-- ARGV: prefix, idempotency key ('' for none), its TTL in s, digest, mesos_id, task id,
--       spec JSON, status JSON.
-- Returns {1, mesos_id} when created, {0, mesos_id} when the idempotency key was already
-- used, {2, mesos_id} for the live duplicate. Publishes `waiting` when created.
local idem, ttl, digest = ARGV[2], ARGV[3], ARGV[4]
local mid, id, spec, status = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if idem ~= '' then
  local seen = redis.call('GET', K.idempotency(idem))
  if seen then return {0, seen} end
end
local other = redis.call('GET', K.task_dedupe(digest))
local hops = 0
while other and hops < 1000 do
  local st = load_status(other)
  if not st then break end
  if st.mesos_state == 'WAITING_ON_OFFERS' or ACTIVE[st.mesos_state] then
    return {2, other}
  end
  if type(st.next_mesos_id) ~= 'string' then break end
  other, hops = st.next_mesos_id, hops + 1
end
local seq = redis.call('INCR', K.tasks_seq)
redis.call('HSET', K.task(mid), 'spec', spec, 'status', status, 'seq', seq, 'dedupe', digest)
index_new_task(mid, id, nil, seq, spec)
redis.call('SET', K.task_dedupe(digest), mid)
if idem ~= '' then redis.call('SET', K.idempotency(idem), mid, 'EX', ttl) end
redis.call('PUBLISH', K.events, HINT_WAITING)
return {1, mid}
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
    TASK_HELPERS
    + """
-- request_kill: record a user's kill request.
-- ARGV: prefix, mesos_id, now, retention ("<per id>:<per queue>").
-- A waiting task is killed at once (it is never launched); an active one is flagged and
-- queued in `kills` for the leader (published as `kill`). A finished one is left alone.
-- Returns {'missing'} | {'finished', state} | {'killed', status} | {'requested', status}.
local mid, now, keep = ARGV[2], tonumber(ARGV[3]), retention(ARGV[4])
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
  redis.call('PUBLISH', K.events, HINT_KILL)
end
return {outcome, save_status(mid, st)}
"""
)

DELETE_TASK = (
    TASK_HELPERS
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

READ_HISTORY = (
    PRELUDE
    + """
-- read_history: a run's state history and its chain of runs (retries), in one read.
-- ARGV: prefix, mesos_id, at most this many runs followed each way.
-- Follows previous_mesos_id back and next_mesos_id forward until a link is empty or its
-- record is gone (retention trimmed it). Returns {} when the run is missing, else
-- {history JSON array ('' when no state was entered since creation), status JSON of
-- each run of the chain, oldest first}.
local mid, most = ARGV[2], tonumber(ARGV[3])
local record = redis.call('HMGET', K.task(mid), 'status', 'history')
if not record[1] then return {} end
local function link(raw, field)
  local value = cjson.decode(raw)[field]
  if type(value) == 'string' and value ~= '' then return value end
  return nil
end
local before, after = {}, {}
local at, raw = mid, record[1]
for _ = 1, most do
  at = link(raw, 'previous_mesos_id')
  if not at then break end
  raw = redis.call('HGET', K.task(at), 'status')
  if not raw then break end
  table.insert(before, 1, raw)
end
at, raw = mid, record[1]
for _ = 1, most do
  at = link(raw, 'next_mesos_id')
  if not at then break end
  raw = redis.call('HGET', K.task(at), 'status')
  if not raw then break end
  after[#after + 1] = raw
end
local out = {record[2] or ''}
for _, r in ipairs(before) do out[#out + 1] = r end
out[#out + 1] = record[1]
for _, r in ipairs(after) do out[#out + 1] = r end
return out
"""
)
