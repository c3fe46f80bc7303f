-- Shared by requeue.lua and requeue_all.lua (prepended after common.lua): an operator's requeue of a task that ended.
-- Puts a task that ended back to pending, due at `due` (an operator's requeue): out of its state's index, its
-- record kept with no expiry, its failures counted afresh (its retry policy starts over), its dedupe key taken
-- again. Returns nil, or the holder of its key when another task holds it (then nothing changed).
local function requeue_finished(id, t, st, due, now, horizon)
  local f = redis.call('HMGET', t, 'h', 'pr', 'k')
  if f[3] and f[3] ~= '' then
    local k = base .. ':k:' .. f[3]
    if not redis.call('SET', k, id, 'NX') then
      local holder = redis.call('GET', k)
      if holder ~= id then return holder end
    end
  end
  redis.call('PERSIST', t)
  unindex(id, st)
  redis.call('HSET', t, 'st', 'pending', 'due', s(due), 'f', 0, 'n', '', 'cx', '', 'rs', '0')
  redis.call('HDEL', t, 'fin')
  wait_in(f[1], f[2], due, id, 'pending')
  if due <= now + horizon then signal(f[1]) end
  count('requeued')
  return nil
end
