-- ARGV: task id, retention (µs). A waiting task ends cancelled at once; an active one has its cancellation requested
-- (its node's heartbeat sets the run's cancellation flag; a run that then fails or stops ends cancelled).
local now = now_us()
local id = ARGV[1]
local t = tkey(id)
local st = redis.call('HGET', t, 'st')
if not st then return 'unknown' end
if st == 'pending' or st == 'retrying' then
  finish(id, t, 'cancelled', now, tonumber(ARGV[2]), 'cancelled')
  return 'cancelled'
end
if st == 'active' then
  redis.call('HSET', t, 'cx', '1')
  return 'requested'
end
return 'finished'
