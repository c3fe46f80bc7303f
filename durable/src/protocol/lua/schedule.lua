-- ARGV: name, handler, payload, kind ('cron' | 'every'), expression or period (µs), zone, priority, timeout (µs),
-- retry policy, first occurrence (µs), misfire policy ('once' | 'skip' | 'each:<max>'), misfire grace (µs). Creates or replaces a schedule; an unchanged schedule keeps its next occurrence
-- (every node may declare the schedules it knows at start).
local k = base .. ':s:' .. ARGV[1]
local spec = table.concat({ARGV[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[11], ARGV[12]}, '\n')
local old = redis.call('HMGET', k, 'spec', 'p')
redis.call('SADD', base .. ':schedules', ARGV[1])
if old[1] == spec and old[2] == ARGV[3] then return 0 end
redis.call('HSET', k, 'spec', spec, 'h', ARGV[2], 'p', ARGV[3], 'kind', ARGV[4], 'expr', ARGV[5], 'zone', ARGV[6],
  'pr', ARGV[7], 'to', ARGV[8], 'r', ARGV[9], 'next', ARGV[10], 'mf', ARGV[11], 'mg', ARGV[12])
return 1
