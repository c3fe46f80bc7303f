-- ARGV: state (dead | failed | cancelled | succeeded), handler ('' for every handler), due time (µs since the Unix
-- epoch; '' for now), signal horizon (µs), offset, most.
-- One batch of a bulk requeue ("requeue all dead of a handler"): the tasks of `state` from rank `offset` on, oldest
-- first, at most `most` looked at; each of the handler goes back to pending as `requeue.lua` puts it, the others
-- (and any whose dedupe key another task holds) are stepped over. The caller sends the next batch from the offset
-- returned until the last batch says it is done. Returns {requeued, next offset, 1 when done else 0, key held}.
local now = now_us()
local state, handler, horizon = ARGV[1], ARGV[2], tonumber(ARGV[4])
local due = ARGV[3] == '' and now or tonumber(ARGV[3])
local offset, most = tonumber(ARGV[5]), tonumber(ARGV[6])
if not terminal[state] then return redis.error_reply('ERR not a finished state: ' .. tostring(state)) end
local key = ixkey(state)
local ids = redis.call('ZRANGE', key, offset, offset + most - 1)
local requeued, stepped, held = 0, 0, 0
for _, id in ipairs(ids) do
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'st', 'h')
  if not f[1] then
    redis.call('ZREM', key, id) -- its retention ended before the next trim
  elseif f[1] ~= state or (handler ~= '' and f[2] ~= handler) then
    stepped = stepped + 1
  elseif requeue_finished(id, t, state, due, now, horizon) then
    stepped = stepped + 1
    held = held + 1
  else
    requeued = requeued + 1
  end
end
return {requeued, offset + stepped, #ids < most and 1 or 0, held}
