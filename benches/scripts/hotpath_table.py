#!/usr/bin/env python3
"""Medians of interleaved `--bin hotpath` runs (hotpath_before_after.sh): before-N.txt and after-N.txt in DIR."""
import glob
import statistics as st
import sys


def parse(path):
    """Each case of one `--bin hotpath` run: its throughputs (M/s), the ratios the run printed, and CPU per task (ns).
    NaN where the case has no raw pool (the delayed cases). `issue24_table.py` reads runs with this too."""
    nan = float("nan")
    number = lambda cell: float(cell.split()[0].rstrip("×")) if cell[:1].isdigit() else nan
    rows = {}
    for line in open(path):
        if line.startswith("| ") and "M/s" in line:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            cpu = [number(part.strip()) for part in cells[6].split("/")]
            rows[cells[0]] = dict(ours=number(cells[1]), raw=number(cells[2]), tokio=number(cells[3]),
                                  raw_ratio=number(cells[4]), tokio_ratio=number(cells[5]), cpu=cpu[0], cpu_raw=cpu[1])
    return rows


def main():
    folder, label = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "before"
    runs = {side: [parse(p) for p in sorted(glob.glob(f"{folder}/{side}-*.txt"))] for side in ("before", "after")}
    print(f"{len(runs['before'])} runs each, interleaved; medians\n")
    print(f"| case | before ({label}) | after | after / before | before / tokio | after / tokio | before / raw pool | after / raw pool | CPU per task before / after (ns) |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratio = lambda x: "—" if x != x else f"{x:.2f}×"  # NaN: no raw pool for the delayed cases
    for case in runs["before"][0]:
        figures = lambda row: (row["ours"], row["ours"] / row["tokio"], row["cpu"], row["ours"] / row["raw"])
        med = {side: [st.median(figures(run[case])[i] for run in runs[side]) for i in range(4)] for side in runs}
        b, a = med["before"], med["after"]
        print(f"| {case} | {b[0]:.2f} M/s | {a[0]:.2f} M/s | {a[0] / b[0]:.2f}× | {b[1]:.2f}× | {a[1]:.2f}× | {ratio(b[3])} | {ratio(a[3])} | {b[2]:.0f} / {a[2]:.0f} |")


if __name__ == "__main__":
    main()
