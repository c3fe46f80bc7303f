-- ARGV: schedule name, the occurrence a node expects next (µs), the one after it (µs), signal horizon (µs).
-- One task per occurrence, keyed by (schedule, instant): the first node whose expected occurrence is still the
-- schedule's next creates its task and moves `next` on; every other node's call finds `next` moved and does
-- nothing. No leader. Returns the new task's id, or false.
local k = base .. ':s:' .. ARGV[1]
local f = redis.call('HMGET', k, 'next', 'h', 'p', 'pr', 'to', 'r')
if f[1] ~= ARGV[2] then return false end
local now = now_us()
redis.call('HSET', k, 'next', ARGV[3])
local created = create(now, f[2], f[3], tonumber(ARGV[2]), f[4], '', f[5], f[6], tonumber(ARGV[4]), ARGV[1], ARGV[2])
return created[1]
