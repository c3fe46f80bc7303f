#!/usr/bin/env bash
# Every goal of issue 24 at the working tree against b7ee137 (the commit before the issue), on the same machine
# with the same bench sources: builds this tree's `hotpath`, `millions`, `memory` and `timers`, and the same four
# sources against b7ee137's engine (in a git worktree under target/), adapted where b7ee137 lacks an API (below);
# runs each bench alternately (this tree, b7ee137, b7ee137, this tree; `hotpath` and the 10M `millions` once more
# the other way round), and prints the tables (`issue24_table.py`). Reports; never fails on a figure.
# About 45 minutes and 10 GB of memory on a 2-core machine.
#   benches/scripts/issue24_before_after.sh
#
# The adaptations of the b7ee137 build: it has no `Wheel::prefetch`, so `timers`' hinted batches run unhinted
# there (the hint is one of the issue's changes); it has no `Stats::commands_queued`, so `millions`' head-of-line
# probes run 3 s instead of while the backlog lasts, its second engine waits a fixed 5 s for the tick thread to
# place the queue before the drop, and `memory`'s largest backlog reads 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
before=b7ee137
tree="target/issue24-before"
bins=(hotpath millions memory timers)
[ -d "$tree" ] || git worktree add -q --detach "$tree" "$before"
git -C "$tree" checkout -q --force --detach "$before"
for source in lib.rs scale.rs bin/hotpath.rs bin/millions.rs bin/memory.rs bin/timers.rs; do
  cp "benches/src/$source" "$tree/benches/src/$source"
done
sed -i 's|self.0.prefetch(\*key);|let _ = key; // b7ee137 has no Wheel::prefetch: hinted batches run unhinted|' \
  "$tree/benches/src/lib.rs"
sed -i -e 's|while engine.stats().commands_queued > 0 && woken_at.elapsed() < Duration::from_secs(600)|while woken_at.elapsed() < Duration::from_secs(5)|' \
  -e 's|let backlog = engine.stats().commands_queued;|let backlog = 0; // b7ee137 has no Stats::commands_queued|' \
  -e 's/|| engine.stats().commands_queued == 0 {/|| started.elapsed() >= submit + Duration::from_secs(3) {/' \
  "$tree/benches/src/bin/millions.rs"
sed -i 's|largest = largest.max(engine.stats().commands_queued);|largest = largest.max(engine.stats().pending * 0); // b7ee137 has no Stats::commands_queued|' \
  "$tree/benches/src/bin/memory.rs"
if grep -q "engine.stats().commands_queued\|self.0.prefetch(" "$tree/benches/src/lib.rs" "$tree/benches/src/bin/millions.rs" \
  "$tree/benches/src/bin/memory.rs"; then
  echo "the adaptation of the b7ee137 build no longer applies: update $0" >&2
  exit 1
fi
(cd "$tree" && cargo build --release -q -p taskwheel-benches "${bins[@]/#/--bin=}")
cargo build --release -q -p taskwheel-benches "${bins[@]/#/--bin=}"
out="target/issue24-ab"
rm -rf "$out" && mkdir -p "$out"
binary() { if [ "$1" = head ]; then echo "target/release/$2"; else echo "$tree/target/release/$2"; fi; }
run() { # BUILD NAME [VAR=VALUE...] BIN
  local build=$1 name=$2 n
  shift 2
  n=$(find "$out" -name "${name}_${build}_*.log" | wc -l)
  env "${@:1:$#-1}" timeout 1500 "$(binary "$build" "${!#}")" > "$out/${name}_${build}_${n}.log" 2>&1
}
for build in head before before head; do run "$build" millions TASKWHEEL_MILLIONS=1000000,10000000 TASKWHEEL_ROUNDS=1 millions; done
for build in head before before head; do
  for tasks in 1000000 10000000; do run "$build" "memory_$tasks" TASKWHEEL_MEMORY_TASKS=$tasks memory; done
done
for build in head before before head before head head before; do run "$build" hotpath hotpath; done
for build in head before before head; do
  run "$build" timers TASKWHEEL_SCALE_ONLY=1 TASKWHEEL_SCALE_SIZES=1000000,10000000 TASKWHEEL_SCALE_BASELINES=heap,btree timers
done
for build in before head head before; do run "$build" m10 TASKWHEEL_MILLIONS=10000000 TASKWHEEL_ROUNDS=1 millions; done
python3 benches/scripts/issue24_table.py "$out"
