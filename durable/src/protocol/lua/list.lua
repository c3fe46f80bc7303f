-- ARGV: state (pending | scheduled | retrying | active | succeeded | failed | dead | cancelled), offset, most.
-- A page of the tasks in a state, read from the state's index by rank (never a scan: O(log n + page) at any depth):
-- pending (due by now) and scheduled (due later) are the two ends of ix:pending, both by due time; retrying by its
-- next attempt; active by lease end; the ended states newest first. A listed id whose record is gone (its retention
-- ended before the next trim) is taken out of the index and left out. Returns {now, tasks in the state, {id, h, st,
-- due, pr, a, runs, f, c, n, e, k, ct, fin, lu, sch}...} (a field never written is nil).
local now = now_us()
local state, offset, most = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local key, first, last, newest_first
if state == 'pending' or state == 'scheduled' then
  key = ixkey('pending')
  local due = redis.call('ZCOUNT', key, '-inf', s(now))
  if state == 'pending' then
    first, last = 0, due
  else
    first, last = due, redis.call('ZCARD', key)
  end
elseif state == 'retrying' or state == 'active' or terminal[state] then
  key = state == 'active' and base .. ':active' or ixkey(state)
  first, last = 0, redis.call('ZCARD', key)
  newest_first = terminal[state]
else
  return redis.error_reply('ERR unknown state ' .. tostring(state))
end
local out = {s(now), last - first}
local from = first + offset
local to = math.min(last, from + most) - 1
if from > to then return out end
local ids
if newest_first then
  ids = redis.call('ZREVRANGE', key, from, to)
else
  ids = redis.call('ZRANGE', key, from, to)
end
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', tkey(id), 'h', 'st', 'due', 'pr', 'a', 'runs', 'f', 'c', 'n', 'e', 'k', 'ct', 'fin',
    'lu', 'sch')
  if f[2] then
    table.insert(f, 1, id)
    out[#out + 1] = f
  elseif state ~= 'active' then -- (an active id without a record is dropped by the next recovery)
    redis.call('ZREM', key, id)
  end
end
return out
