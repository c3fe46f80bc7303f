-- ARGV: handler, payload, 'at'|'in', time (absolute, or a delay from the server's now), priority, dedupe key,
-- timeout (µs), retry policy, signal horizon (µs).
local now = now_us()
local due = tonumber(ARGV[4])
if ARGV[3] == 'in' then due = now + due end
return create(now, ARGV[1], ARGV[2], due, ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), '', '')
