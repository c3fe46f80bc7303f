#!/usr/bin/env python3
"""Tables of issue 24's goals from the logs `issue24_before_after.sh` writes: this tree ("head") against b7ee137
("b7ee137"), every run of each, and the ratios each run's own baselines give. Reads only; prints Markdown.

    python3 benches/scripts/issue24_table.py target/issue24-ab
"""
import glob
import math
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hotpath_table import parse as parse_hotpath  # noqa: E402  (the one parser of `--bin hotpath` output)

BUILDS = ("before", "head")
NAMES = {"before": "b7ee137", "head": "head"}


def log_paths(directory, name, build):
    paths = glob.glob(os.path.join(directory, f"{name}_{build}_*.log"))
    return sorted(paths, key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0]))


def logs(directory, name, build):
    return [open(p).read() for p in log_paths(directory, name, build)]


def table_rows(text, first_cell_prefix):
    return [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines()
            if line.startswith("| " + first_cell_prefix)]


def millions(directory):
    print("### Head of line, shutdown, drop, `stats()` (`millions`, one round a run)\n")
    print("| pending | build | submit (ns each) | probes | immediate start behind it: p50 / p99 / max | `stats()` | "
          "`shutdown(CancelPending)` (ms) | drop after it (ms) | drop alone (ms) | floor: free N blocks (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("millions", "m10"):
        for size in ("1000000", "10000000"):
            for build in BUILDS:
                for run, text in enumerate(logs(directory, name, build), 1):
                    for c in table_rows(text, size + " "):
                        print(f"| {int(size):,} | {NAMES[build]} ({name} {run}) | {c[1]} | {c[3]} | {c[4]} | {c[5]} | "
                              f"{c[6]} | {c[7]} | {c[8]} | {c[9]} |")
    print()
    for build in BUILDS:
        for name in ("millions", "m10"):
            for run, text in enumerate(logs(directory, name, build), 1):
                floor = re.search(r"starts (\S+) \(p50\) / (\S+) \(p99\)", text)
                groups = re.search(r"pending: (\S+) with no concurrency group, (\S+) with (\d+) groups", text)
                if floor and groups:
                    print(f"- {NAMES[build]} ({name} {run}): idle floor p50 / p99 {floor.group(1)} / {floor.group(2)}; "
                          f"`stats()` {groups.group(1)} with no group, {groups.group(2)} with {int(groups.group(3)):,}")
    print()


def memory(directory):
    print("### Bytes per pending task (`memory`)\n")
    print("| pending | build | counting allocator | RSS growth | bare wheel | tokio (same run) |")
    print("|---|---|---|---|---|---|")
    for size in ("1000000", "10000000"):
        for build in BUILDS:
            for text in logs(directory, f"memory_{size}", build):
                cell = lambda prefix: table_rows(text, prefix)[0][1]
                print(f"| {int(size):,} | {NAMES[build]} | {cell('taskwheel engine, everything')} | "
                      f"{cell('taskwheel engine: the process')} | {cell('a bare')} | {cell('tokio')} |")
    print()


def number(cell):
    try:
        return float(cell.split()[0].rstrip("×"))
    except (ValueError, IndexError):
        return None


def hotpath(directory):
    runs = {build: [parse_hotpath(path) for path in log_paths(directory, "hotpath", build)] for build in BUILDS}
    if not runs["head"] or not runs["before"]:
        return
    count = {build: len(runs[build]) for build in BUILDS}
    print(f"### The hot path (`hotpath`; medians of {count['before']} / {count['head']} runs, the range in brackets)\n")
    print("| case | b7ee137 | head | head / b7ee137 | b7ee137 / raw pool | head / raw pool | b7ee137 / tokio | "
          "head / tokio | CPU per task: b7ee137 / head (raw pool) |")
    print("|---|---|---|---|---|---|---|---|---|")

    def spread(values, unit=""):
        values = [v for v in values if not math.isnan(v)]
        if not values:
            return "—"
        return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}–{max(values):.2f})"

    for case in runs["head"][0]:
        column = lambda build, key: [run[case][key] for run in runs[build] if case in run]
        ours = {build: statistics.median(column(build, "ours")) for build in BUILDS}
        raw_cpu = [v for build in BUILDS for v in column(build, "cpu_raw") if not math.isnan(v)]
        cpu = f"{statistics.median(column('before', 'cpu')):.0f} / {statistics.median(column('head', 'cpu')):.0f}"
        if raw_cpu:
            cpu += f" ({statistics.median(raw_cpu):.0f})"
        print(f"| {case} | {spread(column('before', 'ours'), ' M/s')} | {spread(column('head', 'ours'), ' M/s')} | "
              f"{ours['head'] / ours['before']:.2f}× | {spread(column('before', 'raw_ratio'), '×')} | "
              f"{spread(column('head', 'raw_ratio'), '×')} | {spread(column('before', 'tokio_ratio'), '×')} | "
              f"{spread(column('head', 'tokio_ratio'), '×')} | {cpu} |")
    print()


def timers(directory):
    print("### The wheel at 1M / 10M pending (`timers`; ns per operation, ratio to the baseline of the same run)\n")
    print("| build (run) | insert (heap) | cancel, hinted batch (independent-load floor) | reschedule, hinted batch "
          "(heap) | cascaded expiry (B-tree) | expiry armed just before (B-tree) |")
    print("|---|---|---|---|---|---|")
    for build in BUILDS:
        for run, text in enumerate(logs(directory, "timers", build), 1):
            floors = [float(re.search(rf"over {size} MiB:.*?independent random load \(misses overlapped\) ([\d.]+) ns",
                                      text).group(1)) for size in (32, 320)]
            sections = text.split("\n### ")

            def row(title, queue):
                for section in sections:
                    if section.startswith(title):
                        for c in table_rows(section, queue + " "):
                            return [number(x) for x in c[1:3]]
                return None

            def cell(mine, theirs):
                return " / ".join(f"{m} ({t}, {m / t:.2f}×)" for m, t in zip(mine, theirs))

            print(f"| {NAMES[build]} ({run}) | "
                  f"{cell(row('insert, filling', 'taskwheel'), row('insert, filling', 'binary-heap'))} | "
                  f"{cell(row('cancel of random pending timers, a batch', 'taskwheel'), floors)} | "
                  f"{cell(row('reschedule of random pending timers, a batch', 'taskwheel'), row('reschedule of random pending timers, a batch', 'binary-heap'))} | "
                  f"{cell(row('expiry of timers due over 1,000 ticks an hour ahead', 'taskwheel'), row('expiry of timers due over 1,000 ticks an hour ahead', 'btreemap'))} | "
                  f"{cell(row('expiry of timers due over the next', 'taskwheel'), row('expiry of timers due over the next', 'btreemap'))} |")
    print()


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "target/issue24-ab"
    millions(directory)
    memory(directory)
    hotpath(directory)
    timers(directory)


if __name__ == "__main__":
    main()
