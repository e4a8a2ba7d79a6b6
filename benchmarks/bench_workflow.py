"""Wall time of a whole study and the share of job time spent starting up (interpreter + imports).

Every `shiftbench` subcommand ends its log with `timing: startup X s, work Y s`, where startup runs
from process creation to the end of its heavy imports (torch, scipy, pandas). This script runs a
study in a fresh directory with the real snakemake and adds those lines up:

    python benchmarks/bench_workflow.py                     # default config.yaml, --cores 2
    python benchmarks/bench_workflow.py --configfile configs/tiny.yaml
    python benchmarks/bench_workflow.py --logs logs         # only summarise an existing run's logs

Target (issue 4): start-up under 20% of job time on the default config.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIMING = re.compile(r"timing: startup ([0-9.]+) s, work ([0-9.]+) s")


def summarise(logs: Path):
    per_rule = defaultdict(lambda: [0, 0.0, 0.0])
    for log in logs.rglob("*.log"):
        m = TIMING.search(log.read_text(errors="ignore"))
        if m:
            rule = log.relative_to(logs).parts[0].split(".")[0]
            per_rule[rule][0] += 1
            per_rule[rule][1] += float(m.group(1))
            per_rule[rule][2] += float(m.group(2))
    print(f"{'rule':<12}{'jobs':>6}{'startup s':>12}{'work s':>10}{'startup %':>11}")
    total = [0, 0.0, 0.0]
    for rule, (n, s, w) in sorted(per_rule.items()):
        print(f"{rule:<12}{n:>6}{s:>12.1f}{w:>10.1f}{100 * s / (s + w):>10.1f}%")
        total = [total[0] + n, total[1] + s, total[2] + w]
    n, s, w = total
    print(f"{'all':<12}{n:>6}{s:>12.1f}{w:>10.1f}{100 * s / (s + w):>10.1f}%")
    return s / (s + w)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", default=str(REPO / "config.yaml"))
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--logs", help="summarise this logs/ directory instead of running a study")
    args = p.parse_args()
    if args.logs:
        summarise(Path(args.logs))
        return
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", workdir,
                        "--configfile", args.configfile, "--cores", str(args.cores), "--quiet", "all"],
                       check=True, env=env)
        wall = time.perf_counter() - start
        print(f"study {Path(args.configfile).name}: {wall:.0f} s wall on {args.cores} cores ({os.cpu_count()} CPUs)")
        share = summarise(Path(workdir) / "logs")
    print(f"start-up share {100 * share:.1f}% (target < 20%)  {'PASS' if share < 0.2 else 'FAIL'}")


if __name__ == "__main__":
    main()
