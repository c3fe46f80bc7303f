-- ARGV: task id, due time (µs since the Unix epoch; '' for now), signal horizon (µs).
-- An operator's requeue. A task that ended (dead, failed, cancelled or succeeded) goes back to pending, due then: its
-- record kept with no expiry, its failures counted afresh (its retry policy starts over, as BullMQ's `retry`), its
-- dedupe key taken again. A waiting task (pending, scheduled or retrying) is moved to that due time ("run it now").
-- An active one is refused: it is running or claimed; cancel it first. Returns {'requeued', due}, {'active', ''},
-- {'unknown', ''} or {'key_held', the id of the task holding its dedupe key} (then nothing changed).
local now = now_us()
local id, horizon = ARGV[1], tonumber(ARGV[3])
local due = ARGV[2] == '' and now or tonumber(ARGV[2])
local t = tkey(id)
local f = redis.call('HMGET', t, 'st', 'h', 'pr')
local st = f[1]
if not st then return {'unknown', ''} end
if st == 'active' then return {'active', ''} end
if waiting_state[st] then
  redis.call('ZADD', dkey(f[2], f[3]), s(due), id)
  if st == 'retrying' then redis.call('ZADD', ixkey(st), s(due), id) end
  redis.call('HSET', t, 'due', s(due))
  if due <= now + horizon then signal(f[2]) end
  count('requeued')
  return {'requeued', s(due)}
end
local holder = requeue_finished(id, t, st, due, now, horizon)
if holder then return {'key_held', holder} end
return {'requeued', s(due)}
