-- ARGV: state (pending | scheduled | retrying | active | succeeded | failed | dead | cancelled), offset, most.
-- A page of the tasks in a state, in the state's order, by rank: never a scan. Retrying tasks come from ix:retrying
-- by their next attempt, active ones from `active` by lease end, the ended ones from their state's index newest first
-- (O(log n + page) each). Pending (due by now) and scheduled (due later) tasks are read from the handlers' due sets
-- themselves, the claims' own index, so that no submission or claim pays for a listing: the rank is found by a
-- binary search on the due time, counting each due set's tasks up to it (less the retrying ones, which wait in the
-- same sets), then each set gives its part of the page and the parts are merged by due time, ties in the order
-- Redis keeps them (the ids' text, so that each set's part is a prefix of that order): O(52 × sets × log n + page). A listed id whose record is gone (its retention ended before the next trim) is taken out of the
-- index and left out. Returns {now, tasks in the state, {id, h, st, due, pr, a, runs, f, c, n, e, k, ct, fin, lu,
-- sch}...} (a field never written is nil).
local now = now_us()
local state, offset, most = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local FIELDS = {'h', 'st', 'due', 'pr', 'a', 'runs', 'f', 'c', 'n', 'e', 'k', 'ct', 'fin', 'lu', 'sch'}
local out
-- Appends the rows of `ids` to `out`; an id without a record is dropped from `index` (when given).
local function rows(ids, index)
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', tkey(id), unpack(FIELDS))
    if f[2] then
      table.insert(f, 1, id)
      out[#out + 1] = f
    elseif index then
      redis.call('ZREM', index, id)
    end
  end
end
if state == 'pending' or state == 'scheduled' then
  local sets = {}
  for _, h in ipairs(redis.call('SMEMBERS', base .. ':handlers')) do
    for _, pr in ipairs({'0', '1', '2'}) do
      local k = dkey(h, pr)
      if redis.call('EXISTS', k) == 1 then sets[#sets + 1] = k end
    end
  end
  local retrying = ixkey('retrying')
  -- Waiting tasks, retrying ones left out, due by `bound` (a score bound: '123', '(123' or '+inf').
  local function upto(bound)
    local n = -redis.call('ZCOUNT', retrying, '-inf', bound)
    for _, k in ipairs(sets) do n = n + redis.call('ZCOUNT', k, '-inf', bound) end
    return n
  end
  local due = upto(s(now))
  local first, last
  if state == 'pending' then first, last = 0, due else first, last = due, upto('+inf') end
  out = {s(now), last - first}
  local rank = first + offset
  local take = math.min(most, last - rank)
  if take <= 0 then return out end
  -- The due time of the task at `rank`: the least x with more than `rank` tasks due by x.
  local lo, hi
  for _, k in ipairs(sets) do
    local a = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    local b = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
    if #a == 2 then
      lo = math.min(lo or tonumber(a[2]), tonumber(a[2]))
      hi = math.max(hi or tonumber(b[2]), tonumber(b[2]))
    end
  end
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if upto(s(mid)) > rank then hi = mid else lo = mid + 1 end
  end
  local skip = rank - upto('(' .. s(lo))
  -- Each set's part: its first `skip + take` from `lo` on, and as many more as retrying tasks could hide among them.
  local hidden = redis.call('ZCOUNT', retrying, s(lo), '+inf')
  local found = {}
  for _, k in ipairs(sets) do
    local part = redis.call('ZRANGEBYSCORE', k, s(lo), '+inf', 'WITHSCORES', 'LIMIT', 0, skip + take + hidden)
    for j = 1, #part, 2 do found[#found + 1] = {tonumber(part[j + 1]), part[j], part[j]} end
  end
  table.sort(found, function(x, y) return x[1] < y[1] or (x[1] == y[1] and x[3] < y[3]) end)
  local ids = {}
  for _, task in ipairs(found) do
    if #ids >= take then break end
    if hidden == 0 or not redis.call('ZSCORE', retrying, task[3]) then
      if skip > 0 then skip = skip - 1 else ids[#ids + 1] = task[3] end
    end
  end
  rows(ids, nil)
  return out
end
local key, newest_first
if state == 'retrying' or state == 'active' or terminal[state] then
  key = state == 'active' and base .. ':active' or ixkey(state)
  newest_first = terminal[state]
else
  return redis.error_reply('ERR unknown state ' .. tostring(state))
end
local total = redis.call('ZCARD', key)
out = {s(now), total}
local to = math.min(total, offset + most) - 1
if offset > to then return out end
if newest_first then
  rows(redis.call('ZREVRANGE', key, offset, to), key)
else
  rows(redis.call('ZRANGE', key, offset, to), state ~= 'active' and key or nil)
end
return out
