-- ARGV: 'pause' or 'resume', a handler's name or '*' for the whole queue. Paused, a handler's tasks are not claimed
-- (claims skip it from their next call; renewals give back its tasks claimed ahead); running ones finish. Resumed,
-- the nodes that run it are woken. A handler resumed stays paused while the whole queue is. Returns 1 when it
-- changed anything, else 0.
local name = ARGV[2]
if ARGV[1] == 'pause' then return redis.call('SADD', base .. ':paused', name) end
local changed = redis.call('SREM', base .. ':paused', name)
if changed == 1 then
  if name == '*' then
    for _, h in ipairs(redis.call('SMEMBERS', base .. ':handlers')) do signal(h) end
  else
    signal(name)
  end
end
return changed
