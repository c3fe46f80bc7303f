-- ARGV: schedule name. Removes a schedule; occurrences already created stay tasks of their own. Returns 1 if it
-- existed.
redis.call('SREM', base .. ':schedules', ARGV[1])
return redis.call('DEL', base .. ':s:' .. ARGV[1])
