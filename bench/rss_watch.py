"""RSS, PSS and anonymous memory of a process and all its children, every second, as CSV.

Used to look for the 4.9 GB of issue #13 (bench/RESULTS.md): start ``kefu run`` on empty model,
data and media folders and point this at the launcher's pid; it stops after ``seconds`` or when
``<out>.stop`` exists. Figures come from ``/proc/<pid>/smaps_rollup`` (PSS splits shared pages).

Usage: ``python bench/rss_watch.py <pid> <out.csv> <seconds>``
"""
from __future__ import annotations

import csv
import os
import sys
import time

import psutil


def rollup(pid: int) -> dict[str, int]:
    """kB figures of /proc/<pid>/smaps_rollup (Rss, Pss, Anonymous, ...)."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 3 and parts[0].endswith(":"):
                    values[parts[0][:-1]] = int(parts[1])
    except OSError:
        pass
    return values


def main() -> None:
    root, out, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    started = time.time()
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t", "pid", "ppid", "name", "rss_mb", "pss_mb", "anon_mb", "threads"])
        while time.time() - started < seconds and not os.path.exists(out + ".stop"):
            try:
                family = [psutil.Process(root)] + psutil.Process(root).children(recursive=True)
            except psutil.NoSuchProcess:
                break
            for process in family:
                try:
                    sizes = rollup(process.pid)
                    writer.writerow([round(time.time() - started, 1), process.pid, process.ppid(),
                                     " ".join(process.cmdline()[1:4])[:60], sizes.get("Rss", 0) // 1024,
                                     sizes.get("Pss", 0) // 1024, sizes.get("Anonymous", 0) // 1024,
                                     process.num_threads()])
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            handle.flush()
            time.sleep(1)


if __name__ == "__main__":
    main()
