"""Wall time of `shiftbench evaluate --per-pole ... --ladder-plot ...` as a user runs it: a subprocess,
start-up and imports included, on one core (OMP_NUM_THREADS=1). Target: under 5 s at S = 64.

The layer is a real lru-pytorch ``LRU(1, 1, 32)`` state_dict (32 complex modes, S = 64, moduli in
[0.9, 0.999], torch.manual_seed(0)); the command prints the per-unit table and the grades and writes
the per-unit CSV, the ladder CSV and the ladder figure, at one lag and one rho per run. The figures are
the medians of ``--repeats`` runs: wall time (the target) and the child's CPU time (user + sys). Then,
in this process, the parts of the work (per-unit table, greedy ladder, grades) for the same layer.

    OMP_NUM_THREADS=1 python benchmarks/bench_pruning.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 5.0
CELLS = [("128", "0.7"), ("512", "0")]


def make_layer(directory: Path) -> Path:
    import torch
    from LRU_pytorch import LRU

    torch.manual_seed(0)
    path = directory / "lru64.pt"
    torch.save(LRU(1, 1, 32, rmin=0.9, rmax=0.999).state_dict(), path)
    return path


def timed(argv) -> tuple[float, float]:
    """(wall s, child cpu s) of one subprocess run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    load = os.getloadavg()[0]
    print(f"bench_pruning: {time.strftime('%Y-%m-%d %H:%M')}, nproc={os.cpu_count()}, 1-min load {load:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        layer = make_layer(tmp)
        print(f"{'cell':<18} {'wall s':>7} {'cpu s':>6}  runs, wall (s)              verdict")
        for K, rho in CELLS:
            argv = [sys.executable, "-m", "shiftbench", "evaluate", str(layer), "--K", K, "--rho", rho,
                    "--per-pole", str(tmp / "pp.csv"), "--ladder", str(tmp / "ladder.csv"),
                    "--ladder-plot", str(tmp / "ladder.png")]  # fmt: skip
            runs = [timed(argv) for _ in range(args.repeats)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            verdict = "PASS" if wall < TARGET_S else "FAIL"
            shown = " ".join(f"{r[0]:.2f}" for r in runs)
            print(f"K={K:<5} rho={rho:<6} {wall:7.2f} {cpu:6.2f}  {shown:<27} {verdict} (< {TARGET_S} s)")

        from shiftbench import pruning, readers
        from shiftbench.targets import Shift

        lay = readers.read_layer(layer)
        print(f"\nparts, in process (S = {lay.S}, {len(pruning.units(lay.a))} units), median of {args.repeats}:")
        for K, rho in CELLS:
            target, rho = Shift(int(K)), float(rho)
            parts = {"per_pole": [], "ladder": [], "grades": []}
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                table = pruning.per_pole(lay, target, rho)
                t1 = time.perf_counter()
                steps = pruning.ladder(lay, target, rho)
                t2 = time.perf_counter()
                pruning.grade(lay, target, rho, table, steps)
                t3 = time.perf_counter()
                for name, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                    parts[name].append(value)
            shown = ", ".join(f"{name} {statistics.median(v):.3f} s" for name, v in parts.items())
            print(f"K={K:<5} rho={rho:<6} {shown}")
    print(f"1-min load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
