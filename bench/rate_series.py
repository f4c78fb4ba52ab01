#!/usr/bin/env python3
"""Counts the requests of an arrival-level trace per fixed window and writes the two-column CSV
(`window_start_s,requests`) that `gpulse-aggregator forecast-eval` reads.

It turns the GenTD26 request log into a third seasonal series for the forecasters, one that was not
used to choose any of their settings (NASA and ServeGen are the scored ones):

    bench/rate_series.py ../shared/data/alibaba_gentd26_requests.csv --window-s 600 > /tmp/gentd26_10min.csv
    gpulse-aggregator forecast-eval --trace /tmp/gentd26_10min.csv --horizons-minutes 10,20,60

The first column of the input is the arrival time, `YYYY-MM-DD HH:MM:SS` (read as UTC) or seconds.
Windows start at midnight of the first day, so a daily season lines up with the clock; windows with no
arrival are written as 0 (no request, not missing data).
"""
import argparse
import csv
import datetime
import sys


def seconds(cell):
    try:
        return float(cell)
    except ValueError:
        t = datetime.datetime.strptime(cell.strip(), "%Y-%m-%d %H:%M:%S")
        return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", help="arrival-level CSV with a header row; arrival time in the first column")
    ap.add_argument("--window-s", type=int, default=600, help="window length in seconds (default 600)")
    args = ap.parse_args()
    if args.window_s < 1:
        ap.error("--window-s must be at least 1")
    with open(args.trace, newline="") as f:
        rows = csv.reader(f)
        next(rows, None)
        times = []
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                times.append(seconds(row[0]))
            except ValueError:
                sys.exit(f"{args.trace}:{line}: arrival time '{row[0]}' is neither seconds nor YYYY-MM-DD HH:MM:SS")
    if not times:
        sys.exit(f"{args.trace}: no arrivals")
    start = int(min(times)) // 86400 * 86400
    counts = [0] * ((int(max(times)) - start) // args.window_s + 1)
    for t in times:
        counts[int(t - start) // args.window_s] += 1
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["window_start_s", "requests"])
    for i, c in enumerate(counts):
        out.writerow([start + i * args.window_s, c])


if __name__ == "__main__":
    main()
