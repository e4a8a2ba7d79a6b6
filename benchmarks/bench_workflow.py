"""Wall time of a whole study, per-rule cost from Snakemake's own benchmark files, and start-up share.

Every rule has a `benchmark:` file (results/benchmarks/<rule>/...tsv: wall seconds `s`, `cpu_time`,
`max_rss` in MB), and every `shiftbench` subcommand ends its log with
`timing: startup X s, work Y s`, where startup runs from process creation to the end of its heavy
imports (torch, scipy, pandas). This script runs a study in a fresh directory with the real
snakemake and adds both up per rule:

    python benchmarks/bench_workflow.py                     # default config.yaml, --cores 2
    python benchmarks/bench_workflow.py --configfile configs/tiny.yaml
    python benchmarks/bench_workflow.py --workdir .         # only summarise an existing run
    python benchmarks/bench_workflow.py --configfile configs/paper.yaml --config 'train={device: cuda}'
                                                            # the paper config on a GPU

Targets: the default study under 10 minutes wall on 2 cores; start-up at most 10% of job time;
configs/paper.yaml at most 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
TIMING = re.compile(r"timing: startup ([0-9.]+) s, work ([0-9.]+) s")


def rule_of(path: Path, root: Path) -> str:
    return path.relative_to(root).parts[0].split(".")[0]


def summarise(workdir: Path) -> pd.DataFrame:
    """One row per rule: jobs, wall/CPU seconds and peak RSS (benchmark files), start-up/work (logs)."""
    bench_root, log_root = workdir / "results" / "benchmarks", workdir / "logs"
    rows = [
        {"rule": rule_of(p, bench_root), **pd.read_csv(p, sep="\t").iloc[0][["s", "cpu_time", "max_rss"]]}
        for p in bench_root.rglob("*.tsv")
    ]
    timing = []
    for p in log_root.rglob("*.log"):
        m = TIMING.search(p.read_text(errors="ignore"))
        if m:
            timing.append({"rule": rule_of(p, log_root), "startup": float(m.group(1)), "work": float(m.group(2))})
    per_rule = (
        pd.DataFrame(rows)
        .groupby("rule")
        .agg(jobs=("s", "size"), wall_s=("s", "sum"), cpu_s=("cpu_time", "sum"), max_rss_mb=("max_rss", "max"))
    )
    per_rule = per_rule.join(pd.DataFrame(timing).groupby("rule")[["startup", "work"]].sum())
    per_rule.loc["all"] = per_rule.sum().where(per_rule.columns != "max_rss_mb", per_rule.max_rss_mb.max())
    per_rule["startup_pct"] = 100 * per_rule.startup / (per_rule.startup + per_rule.work)
    print(per_rule.round(1).to_string())
    return per_rule


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", default=str(REPO / "config.yaml"))
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--workdir", help="summarise this finished run (its logs/ and results/benchmarks/)")
    p.add_argument("--config", nargs="+", default=[], help="passed on as snakemake --config ('train={device: cuda}')")
    args = p.parse_args()
    if args.workdir:
        summarise(Path(args.workdir))
        return
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    snakemake = str(Path(sys.executable).parent / "snakemake")
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        cmd = [snakemake, "-s", str(REPO / "Snakefile"), "--directory", workdir, "--configfile", args.configfile]
        extra = ["--config", *args.config] if args.config else []
        subprocess.run([*cmd, *extra, "--cores", str(args.cores), "--quiet", "all"], check=True, env=env)
        wall = time.perf_counter() - start
        print(f"study {Path(args.configfile).name}: {wall:.0f} s wall on {args.cores} cores ({os.cpu_count()} CPUs)")
        share = summarise(Path(workdir)).loc["all", "startup_pct"]
    print(f"wall {wall:.0f} s (target < 600 s)  {'PASS' if wall < 600 else 'FAIL'}")
    print(f"start-up share {share:.1f}% (target <= 10%)  {'PASS' if share <= 10 else 'FAIL'}")


if __name__ == "__main__":
    main()
