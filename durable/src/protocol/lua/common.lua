-- Shared by every taskwheel-redis script (prepended to each). KEYS[1] is the queue's base key, `tw:{queue}`: every
-- key a script touches starts with it, so all share the `{queue}` hash tag and one Redis Cluster slot.
-- Times are integer microseconds of the server's clock (redis.call('TIME')); node clocks are never trusted.
--
-- The keys, all under `base` (this list and the one below are the one place they are written down):
--   seq            the last task id handed out (INCR)
--   t:<id>         a task's record (hash, fields below); expires with its retention once the task ended
--   due:<handler>  waiting tasks of a handler at normal priority (sorted set, score: due time); due:<handler>:0
--                  and due:<handler>:2 the same at high and low priority (see `dkey`)
--   active         claimed tasks (sorted set, score: lease end)
--   k:<key>        a dedupe key: the id of the task holding it, no expiry (released by the task's end)
--   s:<name>       a schedule (hash: spec h p kind expr zone pr to r next, mf misfire policy, mg grace µs)
--   schedules      the schedules' names (set)
--   nodes          live nodes: id -> "<record end µs>|<handler,handler,...>" (hash)
--   handlers       the handlers with waiting work (set; pruned by `recover`)
--   counters       the queue's counters (hash)
--   sig:<handler>  wake-up signals for blocked claimers (list)
--   ix:<state>     the tasks in a state (sorted sets), for listing and trimming: ix:retrying by due time (kept by
--                  `wait_in`, `claim` and `finish`; retrying tasks wait in the due sets too); the ended ones,
--                  ix:succeeded, ix:failed, ix:dead and ix:cancelled, by retention end (kept by `finish`, trimmed
--                  by `recover` and the count limit). Pending tasks are listed from the due sets, active ones from
--                  `active`: a submission and a claim pay for no index of their own.
--   done           (before the indexes: every ended task by retention end; moved into them by `recover`)
--   paused         paused handlers (set); '*' pauses the whole queue. Claims skip them; renewals give back the
--                  tasks of a paused handler claimed ahead.
--   rates          rate limits per handler: handler -> "<most claims>|<window µs>" (hash)
--   rl:<handler>   claims of a rate-limited handler in its current window (string, expiring with the window)
--   node:<id>      a live node's facts (hash: hb heartbeat µs, v version, claimed, running, started µs, host, l50
--                  and l99 the start lateness of its recent runs in µs),
--                  expiring with its `nodes` record
-- Outside every queue, `tw:queues` is the set of the queues' names, added to by each client as it connects (never by
-- a script: a script touches its own queue's keys only).
-- A task's record `t:<id>`:
--   h handler, p payload, st state (pending | active | retrying | succeeded | failed | dead | cancelled),
--   due due time (µs), pr priority (Priority::code), k dedupe key ('' for none), to run timeout (µs, 0 for none),
--   r retry policy (encode_retry), ct created (µs), sch / occ the schedule and occurrence that created it,
--   a attempt: the fencing token (incremented by every claim and recovery), f failed runs, c recoveries (lost
--   nodes), runs runs recorded, n the claiming node ('' when none), lu lease end (µs), rs '1' while that lease is
--   a reserve (claimed ahead, not yet promoted: a recovery gives it back without counting), cx '1' once a
--   cancellation was requested while active, e the last error, fin the end (µs).
local base = KEYS[1]
local function s(n) return string.format('%.0f', n) end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function tkey(id) return base .. ':t:' .. id end
local function count(field, n) redis.call('HINCRBY', base .. ':counters', field, n or 1) end
-- Wakes a node blocked on this handler's signal list; a few pending signals are enough to wake every waiter.
local function signal(handler)
  local sig = base .. ':sig:' .. handler
  if redis.call('LLEN', sig) < 16 then redis.call('RPUSH', sig, '1') end
end
-- Compare-and-delete: a dedupe key is released only by the task that holds it.
local function release_key(id, key)
  if key and key ~= '' then
    local k = base .. ':k:' .. key
    if redis.call('GET', k) == id then redis.call('DEL', k) end
  end
end
-- The due set of a handler's tasks of priority `pr` (Priority::code): one per priority, so that a claim takes the
-- high ones first however many normal ones wait before them. Normal keeps the plain name.
local function dkey(h, pr)
  if pr == '0' or pr == '2' then return base .. ':due:' .. h .. ':' .. pr end
  return base .. ':due:' .. h
end
-- Tasks of a handler waiting, all priorities together.
local function waiting(h)
  return redis.call('ZCARD', dkey(h, '0')) + redis.call('ZCARD', dkey(h, '1')) + redis.call('ZCARD', dkey(h, '2'))
end
-- The index of the tasks in `state` (see `ix:<state>` above).
local function ixkey(state) return base .. ':ix:' .. state end
local terminal = {succeeded = true, failed = true, dead = true, cancelled = true}
local terminal_states = {'succeeded', 'failed', 'dead', 'cancelled'}
local waiting_state = {pending = true, retrying = true}
-- Takes a task out of its state's index (pending and active tasks have none besides their due or active set).
local function unindex(id, state)
  if state == 'retrying' or terminal[state] then redis.call('ZREM', ixkey(state), id) end
end
-- A terminal state: out of the due and active sets, its key released, its record kept `retain` microseconds.
local function finish(id, t, state, now, retain, err)
  local was = redis.call('HMGET', t, 'st', 'h', 'pr', 'k')
  if err then
    redis.call('HSET', t, 'st', state, 'fin', s(now), 'n', '', 'e', err)
  else
    redis.call('HSET', t, 'st', state, 'fin', s(now), 'n', '')
  end
  if was[1] == 'active' then
    redis.call('ZREM', base .. ':active', id)
  else -- a cancellation while it waited
    redis.call('ZREM', dkey(was[2], was[3]), id)
    unindex(id, was[1])
  end
  redis.call('ZADD', ixkey(state), s(now + retain), id)
  release_key(id, was[4])
  redis.call('PEXPIRE', t, math.max(1, math.floor(retain / 1000)))
  count(state)
end
-- Puts a task in its handler's due set (a retrying one in ix:retrying too: `state` is pending or retrying), the
-- handler in the set of handlers with waiting work (pruned by `recover` once its due set is empty and no live node
-- runs it).
local function wait_in(handler, pr, due, id, state)
  redis.call('ZADD', dkey(handler, pr), s(due), id)
  if state == 'retrying' then redis.call('ZADD', ixkey(state), s(due), id) end
  redis.call('SADD', base .. ':handlers', handler)
end
-- Finished records retained (those of every ended state's index).
local function finished_count()
  local n = 0
  for _, name in ipairs(terminal_states) do n = n + redis.call('ZCARD', ixkey(name)) end
  return n
end
-- Forgets the finished records beyond `most` (0: no limit), those closest to their retention's end first, whatever
-- their state: the `over` first of each ended state's index, merged by retention end.
local function forget_beyond(most)
  if most and most > 0 then
    local over = finished_count() - most
    if over > 0 then
      local oldest = {}
      for _, name in ipairs(terminal_states) do
        local first = redis.call('ZRANGE', ixkey(name), 0, over - 1, 'WITHSCORES')
        for j = 1, #first, 2 do oldest[#oldest + 1] = {tonumber(first[j + 1]), first[j], name} end
      end
      table.sort(oldest, function(x, y) return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2]) end)
      for j = 1, math.min(over, #oldest) do
        redis.call('ZREM', ixkey(oldest[j][3]), oldest[j][2])
        redis.call('DEL', tkey(oldest[j][2]))
      end
    end
  end
end
-- The paused handlers, as a set ('*' in it: the whole queue is paused).
local function paused_set()
  local set = {}
  for _, name in ipairs(redis.call('SMEMBERS', base .. ':paused')) do set[name] = true end
  return set
end
-- A new pending task. Returns {id, 0, due}, or {holder, 1, due} when its dedupe key is held. The key has no expiry:
-- it is held exactly while its task waits, runs or is retried, and released by the task's end (`finish`); a key
-- whose holder's record is gone or ended (a failover that lost a write, a record deleted by hand) is released by
-- the orphan sweep.
local function create(now, handler, payload, due, priority, key, timeout, retry, horizon, sched, occ)
  local id = tostring(redis.call('INCR', base .. ':seq'))
  if key ~= '' then
    local k = base .. ':k:' .. key
    if not redis.call('SET', k, id, 'NX') then
      count('duplicates')
      return {redis.call('GET', k), 1, s(due)}
    end
  end
  redis.call('HSET', tkey(id), 'h', handler, 'p', payload, 'st', 'pending', 'a', 0, 'f', 0, 'c', 0, 'due', s(due),
    'pr', priority, 'k', key, 'to', timeout, 'r', retry, 'ct', s(now), 'sch', sched, 'occ', occ)
  wait_in(handler, tostring(priority), due, id, 'pending')
  if due <= now + horizon then signal(handler) end
  count('submitted')
  return {id, 0, s(due)}
end
