-- ARGV: retention of succeeded tasks (µs), retention of the others (µs), most finished records (0: no limit),
-- signal horizon (µs), then per task: id, fencing token, outcome
-- ('ok' | 'retry' | 'failed' | 'dead' | 'cancelled'), retry delay (µs), error text.
-- A token that is not the task's current one is refused (the holder lost its lease): returns those ids.
-- A task with the current token that is no longer active was finished by an earlier send of the same batch.
local now = now_us()
local retain_ok, retain, most, horizon = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local states = {ok = 'succeeded', failed = 'failed', dead = 'dead', cancelled = 'cancelled'}
local stale = {}
for i = 5, #ARGV, 5 do
  local id, token, outcome = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local t = tkey(id)
  local cur = redis.call('HMGET', t, 'a', 'st', 'cx', 'h', 'pr')
  if cur[1] ~= token then
    stale[#stale + 1] = id
    count('stale')
  elseif cur[2] == 'active' then
    if cur[3] == '1' and outcome ~= 'ok' then outcome = 'cancelled' end
    redis.call('HINCRBY', t, 'runs', 1)
    if outcome == 'retry' then
      local due = now + tonumber(ARGV[i + 3])
      redis.call('HINCRBY', t, 'f', 1)
      redis.call('HSET', t, 'st', 'retrying', 'n', '', 'e', ARGV[i + 4], 'due', s(due))
      redis.call('ZREM', base .. ':active', id)
      wait_in(cur[4], cur[5], due, id, 'retrying')
      if due <= now + horizon then signal(cur[4]) end
      count('retried')
    else
      if outcome == 'failed' or outcome == 'dead' then redis.call('HINCRBY', t, 'f', 1) end
      local err = nil
      if outcome ~= 'ok' then err = ARGV[i + 4] end
      if outcome == 'ok' then
        finish(id, t, 'succeeded', now, retain_ok, err)
      else
        finish(id, t, states[outcome], now, retain, err)
      end
    end
  end
end
forget_beyond(most)
return stale
