-- ARGV: most tasks, retention (µs), most recoveries of one task, most finished records (0: no limit).
-- Returns {tasks recovered or given back, µs until the next lease ends (-1: none)}.
-- Any node runs this: tasks whose lease expired (their node crashed, hung or lost Redis) go back to pending at their
-- own due time, with a new fencing token so that the lost holder's completion is refused; each such attempt is
-- counted apart from application failures (field 'c'). A task recovered more than the limit is dead (a poison task
-- that kills its node each time). A task whose reserve lease expired (claimed ahead and never promoted: its node
-- could not have started it) goes back without counting a recovery ('returned'). Also forgets finished records past retention or beyond the most kept, nodes
-- whose heartbeat stopped, and handlers that have no waiting work and that no live node runs.
-- Forgets the finished records whose retention ended by `now` (their hashes expire by themselves): out of every
-- ended state's index, each a range of scores.
local function forget_expired(now)
  for _, name in ipairs(terminal_states) do redis.call('ZREMRANGEBYSCORE', ixkey(name), '-inf', s(now)) end
end
-- Moves up to `most` entries of the `done` set of a version before the indexes into their state's index (its
-- records expire by themselves; a record gone already is dropped).
local function migrate_done(most)
  local popped = redis.call('ZPOPMIN', base .. ':done', most)
  for j = 1, #popped, 2 do
    local st = redis.call('HGET', tkey(popped[j]), 'st')
    if terminal[st] then redis.call('ZADD', ixkey(st), popped[j + 1], popped[j]) end
  end
end
local now = now_us()
local retain, most = tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', base .. ':active', '-inf', s(now), 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  local t = tkey(id)
  redis.call('ZREM', base .. ':active', id)
  if redis.call('EXISTS', t) == 1 then
    redis.call('HINCRBY', t, 'a', 1)
    local reserved = redis.call('HGET', t, 'rs') == '1'
    local c = 0
    if reserved then
      count('returned')
    else
      c = redis.call('HINCRBY', t, 'c', 1)
      count('recovered')
    end
    if redis.call('HGET', t, 'cx') == '1' then
      finish(id, t, 'cancelled', now, retain, 'cancelled while its node was lost')
    elseif c > most then
      finish(id, t, 'dead', now, retain, 'its node was lost during ' .. c .. ' attempts')
    else
      local hp = redis.call('HMGET', t, 'h', 'pr')
      local h = hp[1]
      -- Claimable again from now (or its due time, if later); its record keeps the due time it had, so that its
      -- lateness is still measured from it.
      local due = math.max(tonumber(redis.call('HGET', t, 'due')), now)
      redis.call('HSET', t, 'st', 'pending', 'n', '', 'rs', '0')
      wait_in(h, hp[2], due, id, 'pending')
      signal(h)
    end
  end
end
forget_expired(now)
migrate_done(1000)
local nodes = redis.call('HGETALL', base .. ':nodes')
for i = 1, #nodes, 2 do
  local expires = tonumber(string.match(nodes[i + 1], '^(%d+)'))
  if expires == nil or expires < now then redis.call('HDEL', base .. ':nodes', nodes[i]) end
end
forget_beyond(tonumber(ARGV[4]))
local announced = {}
for _, value in ipairs(redis.call('HVALS', base .. ':nodes')) do
  for h in string.gmatch(string.match(value, '|(.*)$') or '', '[^,]+') do announced[h] = true end
end
for _, h in ipairs(redis.call('SMEMBERS', base .. ':handlers')) do
  if not announced[h] and waiting(h) == 0 then
    redis.call('SREM', base .. ':handlers', h)
  end
end
-- When the next lease ends (µs from now; -1: none held), so that a recovery can run right then.
local first = redis.call('ZRANGE', base .. ':active', 0, 0, 'WITHSCORES')
local next_in = -1
if #first == 2 then next_in = math.max(0, tonumber(first[2]) - now) end
return {#ids, s(next_in)}
