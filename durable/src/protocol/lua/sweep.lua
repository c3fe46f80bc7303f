-- ARGV: SCAN cursor, SCAN count. The orphan sweep: a task record whose state says it is waiting or active but that is
-- in neither the due set nor the active set (left so by a failover that lost a write, or by hand) is put back: a
-- waiting one into its due set, an active one into the active set with an expired lease, for the next recovery.
-- A dedupe key whose holder's record is gone or has ended is released (keys have no expiry: see `create`). A record
-- missing from its state's index (written by a version before the indexes) is put in it.
-- Returns {next cursor, records and keys put right}.
local now = now_us()
local r = redis.call('SCAN', ARGV[1], 'MATCH', base .. ':[tk]:*', 'COUNT', tonumber(ARGV[2]))
local records, keys = 0, 0
local live = {pending = true, retrying = true, active = true}
for _, t in ipairs(r[2]) do
  local id = string.sub(t, #base + 4)
  if string.sub(t, #base + 2, #base + 2) == 'k' then
    local holder = redis.call('GET', t)
    if not (holder and live[redis.call('HGET', tkey(holder), 'st')]) then
      redis.call('DEL', t)
      keys = keys + 1
    end
  else
    local f = redis.call('HMGET', t, 'st', 'h', 'due', 'pr')
    if f[1] == 'pending' or f[1] == 'retrying' then
      if not redis.call('ZSCORE', dkey(f[2], f[4]), id) then
        redis.call('ZADD', dkey(f[2], f[4]), f[3], id)
        records = records + 1
      end
      if f[1] == 'retrying' and not redis.call('ZSCORE', ixkey(f[1]), id) then
        redis.call('ZADD', ixkey(f[1]), f[3], id)
      end
    elseif terminal[f[1]] and not redis.call('ZSCORE', ixkey(f[1]), id) then
      -- Indexed by its retention end: when its record expires.
      local left = redis.call('PTTL', t)
      if left > 0 then redis.call('ZADD', ixkey(f[1]), s(now + left * 1000), id) end
    elseif f[1] == 'active' then
      if not redis.call('ZSCORE', base .. ':active', id) then
        redis.call('ZADD', base .. ':active', 0, id)
        records = records + 1
      end
    end
  end
end
if records > 0 then count('orphans', records) end
if keys > 0 then count('orphan_keys', keys) end
return {r[1], records + keys}
