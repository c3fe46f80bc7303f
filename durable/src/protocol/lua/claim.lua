-- ARGV: node, lease (µs), horizon (µs), most tasks, most tasks already due, reserve lease (µs), promotion window
-- (µs), priority weights ('' for strict priority, else "high,normal,low"), a random seed (1 to 2^31 - 2), then the
-- handler names the node runs.
-- Claims the tasks due within the horizon across every handler the node runs (not handler by handler: a backlog of
-- one handler never hides work of another that is due earlier), already-due ones by priority then due time, taking already-due tasks only up to
-- their own limit (the node's free workers and a small prefetch), so that idle nodes find the rest. Each claimed
-- task gets a lease from the server's clock and a new fencing token (its attempt number): the whole lease if it is
-- due within the promotion window, else the shorter reserve lease (field 'rs' = 1), which the node's renewals
-- extend until they promote it shortly before it is due, and which a recovery ends sooner if the node dies.
-- Returns {now, 1 when due tasks were left for lack of room (else 0), {id, token, handler, payload, due, priority,
-- timeout, failures, recoveries, retry, schedule, 1 if the whole lease else 0}...}.
-- A paused handler (in the `paused` set) is skipped; with '*' there, nothing is claimed. A rate-limited handler (the
-- `rates` hash) is claimed only once due (never ahead: each claim is a start), at most its limit per window across
-- the fleet, the window fixed from its first claim as BullMQ's limiter (`rl:<handler>`, expiring with the window).
local now = now_us()
local node, lease, limit = ARGV[1], tonumber(ARGV[2]), now + tonumber(ARGV[3])
local left, left_due = tonumber(ARGV[4]), tonumber(ARGV[5])
local reserve, promote = tonumber(ARGV[6]), now + tonumber(ARGV[7])
local weights, seed = ARGV[8], tonumber(ARGV[9])
-- Of each handler and priority, the earliest already-due tasks (one more than may be taken, to tell whether some
-- are left) and the earliest due later within the horizon. Already-due tasks go first, the higher priority first
-- (strict: a high task waiting behind any number of normal ones is taken before them), then by due time; the
-- later ones by due time. Ties: handler order, then order within a handler. With weights (as asynq's weighted
-- queues), the already-due tasks are taken instead from a priority drawn for each in proportion to the weights of
-- the priorities that have some, each priority's in due order: low-priority work is never starved.
-- Each due set's ranges are kept as they come (one table per range, not one per task): with one range or two of
-- one set, the common case, they are in order already and are claimed as they stand.
-- Already-due tasks come without their due times when the node runs one handler: they are ordered by priority,
-- then as their set orders them, and formatting a score costs the server more than the rest of a task's claim.
local ranges = {} -- {found (id, score, ... or id, id, ...), handler, handler index, priority, due set, scored}
local scored = #ARGV > 10
local paused = paused_set() -- a paused handler's tasks (every task, with '*') wait until it is resumed
if paused['*'] then return {s(now), 0} end
local allowance = {} -- handler -> {claims left in its window, window (µs), claims taken now}
local rates = redis.call('HGETALL', base .. ':rates')
for j = 1, #rates, 2 do
  local most, per = string.match(rates[j + 1], '^(%d+)|(%d+)$')
  if most then
    local used = tonumber(redis.call('GET', base .. ':rl:' .. rates[j]) or '0')
    allowance[rates[j]] = {math.max(0, tonumber(most) - used), tonumber(per), 0}
  end
end
for i = 10, #ARGV do
  local h = ARGV[i]
  for _, pr in ipairs(paused[h] and {} or {'0', '1', '2'}) do
    local zdue = dkey(h, pr)
    local rate = allowance[h]
    local most_due = math.min(left_due, left, rate and rate[1] or left) + 1
    local due_now
    if scored then
      due_now = redis.call('ZRANGEBYSCORE', zdue, '-inf', s(now), 'WITHSCORES', 'LIMIT', 0, most_due)
    else
      due_now = redis.call('ZRANGEBYSCORE', zdue, '-inf', s(now), 'LIMIT', 0, most_due)
    end
    local got = scored and #due_now / 2 or #due_now
    if got > 0 then ranges[#ranges + 1] = {due_now, h, i, tonumber(pr), zdue, scored} end
    if got < left and not rate then -- else the claim is full of due tasks already (or the handler is limited)
      local later = redis.call('ZRANGEBYSCORE', zdue, '(' .. s(now), s(limit), 'WITHSCORES', 'LIMIT', 0, left)
      if #later > 0 then ranges[#ranges + 1] = {later, h, i, tonumber(pr), zdue, true} end
    end
  end
end
local out = {s(now), 0}
-- Counts the claims of the rate-limited handlers in their windows (a window starts with its first claim).
local function settle()
  for h, rate in pairs(allowance) do
    if rate[3] > 0 then
      local k = base .. ':rl:' .. h
      if redis.call('INCRBY', k, rate[3]) == rate[3] then
        redis.call('PEXPIRE', k, math.max(1, math.floor(rate[2] / 1000)))
      end
    end
  end
  return out
end
-- Claims one task (unless the claim is full, or it is due and the due limit or its handler's rate is reached).
local function take(id, due, h, zdue)
  if left <= 0 then return end
  local rate = allowance[h]
  if (due <= now and left_due <= 0) or (rate and (rate[1] <= 0 or due > now)) then
    out[2] = 1 -- due work left for another node, for this one once a worker is free, or for the next window
    return
  end
  local t = tkey(id)
  redis.call('ZREM', zdue, id)
  local f = redis.call('HMGET', t, 'p', 'due', 'pr', 'to', 'f', 'c', 'r', 'sch', 'st')
  if f[9] then -- (a record deleted by hand while its id waited: the id is dropped)
    unindex(id, f[9])
    local a = redis.call('HINCRBY', t, 'a', 1)
    local whole = due <= promote
    local ends = now + (whole and lease or reserve)
    redis.call('HSET', t, 'st', 'active', 'n', node, 'lu', s(ends), 'rs', whole and '0' or '1')
    redis.call('ZADD', base .. ':active', s(ends), id)
    out[#out + 1] = {id, a, h, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], whole and 1 or 0}
    left = left - 1
    if due <= now then left_due = left_due - 1 end
    if rate then
      rate[1] = rate[1] - 1
      rate[3] = rate[3] + 1
    end
  end
end
local one_set = #ranges <= 1 or (#ranges == 2 and ranges[1][5] == ranges[2][5])
if one_set then -- one priority of one handler: the weights have nothing to choose between
  for _, r in ipairs(ranges) do
    local found = r[1]
    if r[6] then
      for j = 1, #found, 2 do
        if left <= 0 then break end
        take(found[j], tonumber(found[j + 1]), r[2], r[5])
      end
    else
      for j = 1, #found do
        if left <= 0 then break end
        take(found[j], now, r[2], r[5])
      end
    end
  end
  return settle()
end
-- Of each handler and priority, the earliest already-due tasks (one more than may be taken, to tell whether some
-- are left) and the earliest due later within the horizon. Already-due tasks go first, the higher priority first
-- (strict: a high task waiting behind any number of normal ones is taken before them), then by due time; the
-- later ones by due time. Ties: handler order, then order within a handler. With weights (as asynq's weighted
-- queues), the already-due tasks are taken instead from a priority drawn for each in proportion to the weights of
-- the priorities that have some, each priority's in due order: low-priority work is never starved.
local candidates = {}
for _, r in ipairs(ranges) do
  local found = r[1]
  if r[6] then
    for j = 1, #found, 2 do
      candidates[#candidates + 1] = {found[j], tonumber(found[j + 1]), r[2], r[3], #candidates, r[4], r[5]}
    end
  else -- already due, of the one handler: ordered by priority, then as listed
    for j = 1, #found do
      candidates[#candidates + 1] = {found[j], now, r[2], r[3], #candidates, r[4], r[5]}
    end
  end
end
table.sort(candidates, function(x, y)
  local x_due, y_due = x[2] <= now, y[2] <= now
  if x_due ~= y_due then return x_due end
  if x_due and x[6] ~= y[6] then return x[6] < y[6] end
  if x[2] ~= y[2] then return x[2] < y[2] end
  if x[4] ~= y[4] then return x[4] < y[4] end
  return x[5] < y[5]
end)
if weights ~= '' then
  local w = {}
  for x in string.gmatch(weights, '%d+') do w[#w + 1] = tonumber(x) end
  local levels, rest, ordered, at = {{}, {}, {}}, {}, {}, {1, 1, 1}
  for _, c in ipairs(candidates) do
    if c[2] <= now then
      local level = levels[c[6] + 1]
      level[#level + 1] = c
    else
      rest[#rest + 1] = c
    end
  end
  local state = seed
  while true do
    local total = 0
    for l = 1, 3 do if at[l] <= #levels[l] then total = total + w[l] end end
    if total == 0 then break end
    state = (state * 48271) % 2147483647 -- MINSTD: exact in a double
    local pick = state % total
    for l = 1, 3 do
      if at[l] <= #levels[l] then
        if pick < w[l] then
          ordered[#ordered + 1] = levels[l][at[l]]
          at[l] = at[l] + 1
          break
        end
        pick = pick - w[l]
      end
    end
  end
  for _, c in ipairs(rest) do ordered[#ordered + 1] = c end
  candidates = ordered
end
for _, c in ipairs(candidates) do
  if left <= 0 then break end
  take(c[1], c[2], c[3], c[7])
end
return settle()
