"""Lua scripts of the callback outbox (worker/callbacks.py), each one atomic.

Callbacks are written by the script that records a run's end (task_lua.py,
`enqueue_callback`), so a callback exists exactly when its end is stored; any worker
sends them. A claim is a lease: the entry's score moves to now + lease, so a sender that
dies mid-send lets another take it after the lease (at-least-once).
"""

from hippo.shared.store.lua import PRELUDE

_NOW = """
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

CLAIM_CALLBACKS = (
    PRELUDE
    + _NOW
    + """
-- claim_callbacks: lease up to N callbacks that are due.
-- ARGV: prefix, lease s, N.
-- Returns {now, next due score ('' when none), then 5 per callback: id, url, secret
--          (encrypted, '' for none), body, attempts so far}.
local lease, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = server_now()
local out = {tostring(now), ''}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.callbacks_due, '-inf', now,
                               'LIMIT', 0, limit)) do
  local f = redis.call('HMGET', K.callback(id), 'url', 'secret', 'body', 'attempts')
  if not f[3] then
    redis.call('ZREM', K.callbacks_due, id)
  else
    redis.call('ZADD', K.callbacks_due, now + lease, id)
    out[#out + 1] = id
    out[#out + 1] = f[1]
    out[#out + 1] = f[2]
    out[#out + 1] = f[3]
    out[#out + 1] = f[4] or '0'
  end
end
local first = redis.call('ZRANGE', K.callbacks_due, 0, 0, 'WITHSCORES')
if #first > 0 then out[2] = first[2] end
return out
"""
)

END_CALLBACK = (
    PRELUDE
    + _NOW
    + """
-- end_callback: a send is over: delivered or given up ('' delay: the entry goes), or to be
-- tried again after a delay (attempts + 1).
-- ARGV: prefix, id, delay s or ''. Returns 1.
local id, delay = ARGV[2], ARGV[3]
if delay == '' then
  redis.call('DEL', K.callback(id))
  redis.call('ZREM', K.callbacks_due, id)
elseif redis.call('EXISTS', K.callback(id)) == 1 then
  redis.call('HINCRBY', K.callback(id), 'attempts', 1)
  redis.call('ZADD', K.callbacks_due, server_now() + tonumber(delay), id)
end
return 1
"""
)
