-- ARGV: node, lease (µs), horizon (µs), most tasks, then the handler names the node runs.
-- Claims the tasks due within the horizon, earliest first: each gets a lease from the server's clock and a new
-- fencing token (its attempt number). Returns {now, {id, token, handler, payload, due, priority, timeout,
-- failures, recoveries, retry, schedule}...}.
local now = now_us()
local node, lease, limit, left = ARGV[1], tonumber(ARGV[2]), now + tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {s(now)}
for i = 5, #ARGV do
  if left <= 0 then break end
  local h = ARGV[i]
  local zdue = base .. ':due:' .. h
  local ids = redis.call('ZRANGEBYSCORE', zdue, '-inf', s(limit), 'LIMIT', 0, left)
  for _, id in ipairs(ids) do
    local t = tkey(id)
    redis.call('ZREM', zdue, id)
    if redis.call('EXISTS', t) == 1 then
      local a = redis.call('HINCRBY', t, 'a', 1)
      redis.call('HSET', t, 'st', 'active', 'n', node, 'lu', s(now + lease))
      redis.call('ZADD', base .. ':active', s(now + lease), id)
      local f = redis.call('HMGET', t, 'p', 'due', 'pr', 'to', 'f', 'c', 'r', 'sch')
      out[#out + 1] = {id, a, h, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]}
      left = left - 1
    end
  end
end
return out
