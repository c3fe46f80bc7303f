-- ARGV: node, then per task: id, fencing token. A node that stops gives back the tasks it claimed and has not
-- started: each goes back to pending at its own due time (no recovery counted, no lease to wait out).
local now = now_us()
local node, n = ARGV[1], 0
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local t = tkey(id)
  local cur = redis.call('HMGET', t, 'a', 'st', 'n', 'h', 'due', 'pr')
  if cur[1] == token and cur[2] == 'active' and cur[3] == node then
    redis.call('HSET', t, 'st', 'pending', 'n', '')
    redis.call('ZREM', base .. ':active', id)
    wait_in(cur[4], cur[6], tonumber(cur[5]), id, 'pending')
    signal(cur[4])
    n = n + 1
  end
end
redis.call('HDEL', base .. ':nodes', node)
redis.call('DEL', base .. ':node:' .. node)
return n
