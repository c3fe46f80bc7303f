#!/usr/bin/env python3
"""Turns criterion's estimates (target/criterion/*/new/estimates.json) into the ratio tables of BENCHMARKS.md.

Each cell is the median time per operation (per expired or per armed timer where the bench sets a throughput),
and each baseline's ratio to taskwheel from the same run: "3.2x" means the baseline takes 3.2 times as long.
Usage: python3 benches/scripts/table.py [target/criterion]
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../target/criterion")
LIBS = ["taskwheel", "binary-heap", "tokio-delayqueue", "hierarchical_hash_wheel_timer", "bitwheel"]
PER = {"advance-1k": 1000, "lifecycle": 1000}


def median_ns(group, bench):
    path = os.path.join(root, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def fmt(ns):
    return f"{ns:.1f} ns" if ns < 1000 else f"{ns / 1000:.2f} µs"


def wheel_tables(prefix="wheel", title=""):
    out = []
    for op in ["insert", "cancel", "insert+cancel", "reschedule", "advance-1k", "lifecycle"]:
        group = f"{prefix}_{op}"
        if not os.path.isdir(os.path.join(root, group)):
            continue
        per = PER.get(op, 1)
        unit = {"advance-1k": "per expired timer", "lifecycle": "per armed timer"}.get(op, "per operation")
        out.append(f"\n### {op}{title} ({unit}, median)\n")
        out.append("| pending | " + " | ".join(LIBS) + " |")
        out.append("|---|" + "---|" * len(LIBS))
        for n in ["1000", "100000", "1000000"]:
            values = [median_ns(group, f"{lib}_{n}") for lib in LIBS]
            if values[0] is None:
                continue
            base = values[0] / per
            cells = []
            for i, v in enumerate(values):
                if v is None:
                    cells.append("–")
                elif i == 0:
                    cells.append(fmt(v / per))
                else:
                    cells.append(f"{fmt(v / per)} ({(v / per) / base:.1f}x)")
            out.append(f"| {int(n):,} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def engine_tables():
    out = []
    for kind, batch_note in [("immediate", "tasks/s"), ("delayed-1ms", "tasks/s")]:
        group = f"engine_{kind}"
        if not os.path.isdir(os.path.join(root, group)):
            continue
        out.append(f"\n### engine: {kind} submit → run (median batch time → throughput)\n")
        out.append("| submitters | taskwheel | tokio | taskwheel / tokio |")
        out.append("|---|---|---|---|")
        for s in ["1-submitters", "2-submitters"]:
            tw = median_ns(group, f"taskwheel_{s}")
            tk = median_ns(group, f"tokio_{s}")
            if tw is None or tk is None:
                continue
            batch = batch_size()
            out.append(f"| {s[0]} | {batch / tw * 1e3:.2f} M/s | {batch / tk * 1e3:.2f} M/s | {tk / tw:.2f}x |")
    group = "engine_cancel-pending"
    tw, tk = median_ns(group, "taskwheel"), median_ns(group, "tokio-abort")
    if tw and tk:
        batch = batch_size()
        out.append("\n### engine: cancel of pending delayed tasks\n")
        out.append("| taskwheel `cancel()` | tokio `JoinHandle::abort()` | ratio |")
        out.append("|---|---|---|")
        out.append(f"| {batch / tw * 1e3:.1f} M/s ({tw / batch:.0f} ns each) | {batch / tk * 1e3:.1f} M/s ({tk / batch:.0f} ns each) | {tk / tw:.2f}x |")
    return "\n".join(out)


def batch_size():
    return 2_000 if os.environ.get("TASKWHEEL_BENCH_QUICK") else 20_000


print(wheel_tables())
print(wheel_tables("wheel-clustered", ", clustered deadlines"))
print(engine_tables())
