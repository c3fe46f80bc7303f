#!/usr/bin/env python3
"""Medians of interleaved `--bin hotpath` runs (hotpath_before_after.sh): before-N.txt and after-N.txt in DIR."""
import glob
import statistics as st
import sys


def parse(path):
    rows = {}
    for line in open(path):
        if line.startswith("| ") and "M/s" in line:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            ours, tokio = float(cells[1].split()[0]), float(cells[3].split()[0])
            raw = float(cells[2].split()[0]) if "M/s" in cells[2] else float("nan")
            cpu = float(cells[6].split("/")[0])
            rows[cells[0]] = (ours, ours / tokio, cpu, ours / raw)
    return rows


def main():
    folder, label = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "before"
    runs = {side: [parse(p) for p in sorted(glob.glob(f"{folder}/{side}-*.txt"))] for side in ("before", "after")}
    print(f"{len(runs['before'])} runs each, interleaved; medians\n")
    print(f"| case | before ({label}) | after | after / before | before / tokio | after / tokio | before / raw pool | after / raw pool | CPU per task before / after (ns) |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratio = lambda x: "—" if x != x else f"{x:.2f}×"  # NaN: no raw pool for the delayed cases
    for case in runs["before"][0]:
        med = {side: [st.median(run[case][i] for run in runs[side]) for i in range(4)] for side in runs}
        b, a = med["before"], med["after"]
        print(f"| {case} | {b[0]:.2f} M/s | {a[0]:.2f} M/s | {a[0] / b[0]:.2f}× | {b[1]:.2f}× | {a[1]:.2f}× | {ratio(b[3])} | {ratio(a[3])} | {b[2]:.0f} / {a[2]:.0f} |")


if __name__ == "__main__":
    main()
