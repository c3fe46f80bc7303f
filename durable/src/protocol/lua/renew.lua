-- ARGV: node, (unused), node record lifetime (µs), the node's handlers (comma-separated), then per held task: id,
-- fencing token, lease (µs), 1 if that is a reserve lease (a task claimed ahead, not yet promoted) else 0. Renews
-- the leases this node still holds (promoting a task from its reserve to the whole lease as it comes due) and
-- records the node as alive. Returns {now, lost (id, token) pairs flattened, ids whose cancellation was requested}: a lost
-- claim names the token it was renewed with, so that the node forgets that claim and not a newer one of the same
-- task (its own retry, claimed again while this renew was on its way).
local now = now_us()
local node = ARGV[1]
redis.call('HSET', base .. ':nodes', node, s(now + tonumber(ARGV[3])) .. '|' .. ARGV[4])
local lost, cancel = {}, {}
for i = 5, #ARGV, 4 do
  local id, token, lease, reserved = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local t = tkey(id)
  local cur = redis.call('HMGET', t, 'a', 'st', 'n', 'cx')
  if cur[1] == token and cur[2] == 'active' and cur[3] == node then
    redis.call('HSET', t, 'lu', s(now + lease), 'rs', reserved)
    redis.call('ZADD', base .. ':active', s(now + lease), id)
    if cur[4] == '1' then cancel[#cancel + 1] = id end
  elseif cur[1] ~= token or cur[2] == 'active' or cur[2] == 'pending' then
    -- Another claim's token, another node's claim, or recovered: this node's claim is gone.
    lost[#lost + 1] = id
    lost[#lost + 1] = token
  end
  -- (The current token on a task that is no longer active: this node's own finish got there first.)
end
return {s(now), lost, cancel}
