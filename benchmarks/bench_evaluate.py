"""Wall time of `shiftbench evaluate` as a user runs it: a subprocess, start-up and imports included.

One layer of order S = 256 at 4 lags and 2 rhos, on one core (OMP_NUM_THREADS=1). Target: under 5 s.
The layers are an lru-pytorch LRU(1, 1, 128) state_dict (128 complex modes, S = 256; it imports
torch) and the same poles and readout as an npz file (no torch), each evaluated as it is, and with
``--window`` (the finite-window loss too). The figures are the medians of ``--repeats`` runs: wall
time (the target) and the child's CPU time (user + sys), which a busy machine disturbs less.

    OMP_NUM_THREADS=1 python benchmarks/bench_evaluate.py [--repeats 5]
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

import numpy as np

TARGET_S = 5.0
KS = ["256", "512", "1024", "2048"]
RHOS = ["0", "0.9"]


def make_layers(directory: Path) -> dict[str, list[str]]:
    """{label: argv after `shiftbench evaluate`} for the benchmark's layers, written into ``directory``."""
    layers = {}
    rng = np.random.default_rng(0)
    modes = 128
    try:
        import torch
        from LRU_pytorch import LRU

        torch.manual_seed(0)
        module = LRU(1, 1, modes, rmin=0.9, rmax=0.999)  # lru-ring moduli, as trained layers have
        torch.save(module.state_dict(), directory / "lru.pt")
        layers["lru-pytorch state_dict"] = [str(directory / "lru.pt")]
    except ImportError as err:
        print(f"lru-pytorch not installed ({err}); timing the npz layer only")
    p = np.sqrt(rng.uniform(0.9**2, 0.999**2, modes)) * np.exp(1j * rng.uniform(0, np.pi, modes))
    g = (rng.standard_normal(modes) + 1j * rng.standard_normal(modes)) / np.sqrt(modes)
    np.savez(directory / "layer.npz", a=np.concatenate([p, p.conj()]), b=np.concatenate([g, g.conj()]) / 2, d=0.3)
    layers["npz"] = [str(directory / "layer.npz")]
    return layers


def time_command(argv: list[str], repeats: int) -> tuple[float, list[float], float]:
    """Median wall seconds, every run's wall seconds, and the median CPU seconds (user + sys) of the child."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    times, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    return statistics.median(times), times, statistics.median(cpu)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    exe = [sys.executable, "-m", "shiftbench", "evaluate"]
    with tempfile.TemporaryDirectory() as tmp:
        layers = make_layers(Path(tmp))
        print(f"S = 256, K in {KS}, rho in {RHOS}, OMP_NUM_THREADS=1, median of {args.repeats} runs\n")
        print(f"{'layer':<26} {'options':<12} {'wall s':>7} {'cpu s':>6}  runs, wall (s)                  verdict")
        for label, layer in layers.items():
            for options in ([], ["--window", "256"]):
                argv = [*exe, *layer, "--K", *KS, "--rho", *RHOS, *options]
                median, times, cpu = time_command(argv, args.repeats)
                verdict = f"{'PASS' if median < TARGET_S else 'FAIL'} (< {TARGET_S} s)"
                runs = " ".join(f"{t:.2f}" for t in times)
                print(f"{label:<26} {' '.join(options) or '-':<12} {median:>7.2f} {cpu:>6.2f}  {runs:<31} {verdict}")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
