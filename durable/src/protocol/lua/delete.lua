-- ARGV: task id. Deletes a task that is not active, as if it had never been: its record, its place in its due set,
-- its state's index, its dedupe key (released). An active one is refused (cancel it first). Returns 'deleted',
-- 'active' or 'unknown'.
local id = ARGV[1]
local t = tkey(id)
local f = redis.call('HMGET', t, 'st', 'h', 'pr', 'k')
if not f[1] then return 'unknown' end
if f[1] == 'active' then return 'active' end
if waiting_state[f[1]] then redis.call('ZREM', dkey(f[2], f[3]), id) end
unindex(id, f[1])
release_key(id, f[4])
redis.call('DEL', t)
count('deleted')
return 'deleted'
