#!/usr/bin/env bash
# The hot path of two commits, interleaved on the same machine: builds `--bin hotpath` at BEFORE (in a git
# worktree under target/) and at the working tree, runs them alternately ROUNDS times each, and prints the table of
# medians (throughput, ratio to tokio in the same run, CPU per task). Reports; never fails on a figure.
#   benches/scripts/hotpath_before_after.sh d0a66b7 13
set -euo pipefail
cd "$(dirname "$0")/../.."
before="${1:?usage: hotpath_before_after.sh BEFORE_COMMIT [ROUNDS]}"
rounds="${2:-7}"
tree="target/hotpath-before"
[ -d "$tree" ] || git worktree add -q --detach "$tree" "$before"
git -C "$tree" checkout -q --detach "$before"
(cd "$tree" && cargo build --release -q -p taskwheel-benches --bin hotpath)
cargo build --release -q -p taskwheel-benches --bin hotpath
out="target/hotpath-ab"
rm -rf "$out" && mkdir -p "$out"
for round in $(seq "$rounds"); do
  "$tree/target/release/hotpath" > "$out/before-$round.txt"
  target/release/hotpath > "$out/after-$round.txt"
done
python3 benches/scripts/hotpath_table.py "$out" "$before"
