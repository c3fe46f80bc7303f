-- ARGV: schedule name, the occurrence a node expects next (µs), the one to expect after this call (µs, or -1 for
-- none), signal horizon (µs), the occurrence to create a task for ('' for none), occurrences missed (counted).
-- One task per occurrence, keyed by (schedule, instant): the first node whose expected occurrence is still the
-- schedule's next moves `next` on, creates the task and counts what its misfire policy left out; every other node's
-- call finds `next` moved and does nothing. No leader. Returns the new task's id, true when it only moved on, or false.
local k = base .. ':s:' .. ARGV[1]
local f = redis.call('HMGET', k, 'next', 'h', 'p', 'pr', 'to', 'r')
if f[1] ~= ARGV[2] then return false end
local now = now_us()
redis.call('HSET', k, 'next', ARGV[3])
local missed = tonumber(ARGV[6])
if missed > 0 then count('missed_runs', missed) end
if ARGV[5] == '' then return true end
local created = create(now, f[2], f[3], tonumber(ARGV[5]), f[4], '', f[5], f[6], tonumber(ARGV[4]), ARGV[1], ARGV[5])
return created[1]
