-- ARGV: node, the node's facts ("<version>|<claimed>|<running>|<started µs>|<host>|<lateness p50 µs>|<p99 µs>", the
-- lateness of the runs since its last report, empty when none), node record lifetime (µs), the
-- node's handlers (comma-separated), then per held task: id, fencing token, lease (µs), 1 if that is a reserve lease (a
-- task claimed ahead, not yet promoted) else 0. Renews the leases this node still holds (promoting a task from its
-- reserve to the whole lease as it comes due) and records the node as alive, with its facts for `nodes`. A task
-- claimed ahead whose handler was paused since is given back instead (back to pending, reported lost): it does not
-- start until its handler is resumed. Returns {now, lost (id, token) pairs flattened, ids whose cancellation was
-- requested, given back (id, token) pairs flattened}: a lost claim names the token it was renewed with, so that the node forgets that claim and not a newer
-- one of the same task (its own retry, claimed again while this renew was on its way).
local now = now_us()
local node, life = ARGV[1], tonumber(ARGV[3])
redis.call('HSET', base .. ':nodes', node, s(now + life) .. '|' .. ARGV[4])
local facts = {}
for part in string.gmatch(ARGV[2] .. '|', '([^|]*)|') do facts[#facts + 1] = part end
local nk = base .. ':node:' .. node
redis.call('HSET', nk, 'hb', s(now), 'v', facts[1] or '', 'claimed', facts[2] or '0', 'running', facts[3] or '0',
  'started', facts[4] or '0', 'host', facts[5] or '', 'handlers', ARGV[4])
if facts[6] and facts[6] ~= '' then redis.call('HSET', nk, 'l50', facts[6], 'l99', facts[7] or '') end
redis.call('PEXPIRE', nk, math.max(1, math.floor(life / 1000)))
local paused = paused_set()
local lost, cancel, returned = {}, {}, {}
for i = 5, #ARGV, 4 do
  local id, token, lease, reserved = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local t = tkey(id)
  local cur = redis.call('HMGET', t, 'a', 'st', 'n', 'cx', 'rs', 'h', 'due', 'pr')
  if cur[1] == token and cur[2] == 'active' and cur[3] == node then
    if cur[5] == '1' and (paused['*'] or paused[cur[6]]) then
      -- Claimed ahead, its handler paused since: back to pending at its own due time (no recovery counted).
      redis.call('HSET', t, 'st', 'pending', 'n', '', 'rs', '0')
      redis.call('ZREM', base .. ':active', id)
      wait_in(cur[6], cur[8], tonumber(cur[7]), id, 'pending')
      returned[#returned + 1] = id
      returned[#returned + 1] = token
      count('paused_returns')
    else
      redis.call('HSET', t, 'lu', s(now + lease), 'rs', reserved)
      redis.call('ZADD', base .. ':active', s(now + lease), id)
      if cur[4] == '1' then cancel[#cancel + 1] = id end
    end
  elseif cur[1] ~= token or cur[2] == 'active' or cur[2] == 'pending' then
    -- Another claim's token, another node's claim, or recovered: this node's claim is gone.
    lost[#lost + 1] = id
    lost[#lost + 1] = token
  end
  -- (The current token on a task that is no longer active: this node's own finish got there first.)
end
return {s(now), lost, cancel, returned}
