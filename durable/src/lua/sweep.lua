-- ARGV: SCAN cursor, SCAN count. The orphan sweep: a task record whose state says it is waiting or active but that is
-- in neither the due set nor the active set (left so by a failover that lost a write, or by hand) is put back: a
-- waiting one into its due set, an active one into the active set with an expired lease, for the next recovery.
-- Returns {next cursor, tasks put back}.
local r = redis.call('SCAN', ARGV[1], 'MATCH', base .. ':t:*', 'COUNT', tonumber(ARGV[2]))
local fixed = 0
for _, t in ipairs(r[2]) do
  local id = string.sub(t, #base + 4)
  local f = redis.call('HMGET', t, 'st', 'h', 'due')
  if f[1] == 'pending' or f[1] == 'retrying' then
    if not redis.call('ZSCORE', base .. ':due:' .. f[2], id) then
      redis.call('ZADD', base .. ':due:' .. f[2], f[3], id)
      fixed = fixed + 1
    end
  elseif f[1] == 'active' then
    if not redis.call('ZSCORE', base .. ':active', id) then
      redis.call('ZADD', base .. ':active', 0, id)
      fixed = fixed + 1
    end
  end
end
if fixed > 0 then count('orphans', fixed) end
return {r[1], fixed}
