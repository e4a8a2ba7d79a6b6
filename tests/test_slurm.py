"""The tiny study through a real SLURM (a loopback cluster from scripts/slurm-up.sh) gives the local tables.

Run with `pytest -m slurm`. Needs root and Debian's packages (slurm-up.sh installs them with apt); on a
machine where the cluster cannot start the test is skipped, except in CI (any truthy CI), where it fails.
"""

import importlib.util
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from conftest import REPO, TABLES, TINY, cannot_run, read_tables, snakemake

from shiftbench.aggregation import REFERENCE_KEY

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# Rows are aligned on these columns before comparing.
KEYS = {
    "runs": ["run_id"],
    "curves": ["run_id", "step"],
    "params": ["run_id", "pole_index"],
    "theory": ["S", "K", "rho", "quantity", "alpha"],
    "reference": REFERENCE_KEY,
    "summary": ["block", "S", "K", "rho", "objective", "method", "variant"],
}


@pytest.fixture(scope="module")
def slurm():
    """A running loopback SLURM (partition `debug`, account `root`); stopped afterwards if we started it."""
    if os.geteuid() != 0:
        cannot_run("the loopback SLURM needs root (scripts/slurm-up.sh installs packages and writes /etc/slurm)")
    if not (shutil.which("apt-get") and shutil.which("dpkg-query")):
        cannot_run("the loopback SLURM needs a Debian-like system (apt-get, dpkg-query)")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        cannot_run("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    up = subprocess.run(["bash", REPO / "scripts" / "slurm-up.sh"], capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        cannot_run(f"scripts/slurm-up.sh failed ({up.returncode}):\n{up.stdout[-2000:]}\n{up.stderr[-3000:]}")
    yield
    if "already running" not in up.stdout:  # leave a cluster someone else started alone
        subprocess.run(["bash", REPO / "scripts" / "slurm-down.sh"], check=True, timeout=300)


def sacct_jobs(run_uuid):
    """SLURM's accounting rows of one Snakemake run (the plugin names every job after the run's uuid)."""
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-1days", "--name", run_uuid, "-o", "JobID,State,ExitCode,Comment"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rows = [line.split("|", 3) for line in out.splitlines() if line.strip()]
    return pd.DataFrame(rows, columns=["job_id", "state", "exit_code", "comment"])


def comparable(table, name):
    """Rows in key order, without timing columns (they differ from run to run)."""
    timing = [c for c in table.columns if c == "wall_time" or c.endswith("_seconds")]
    return table.drop(columns=timing).sort_values(KEYS[name]).reset_index(drop=True)


def assert_same_tables(local, remote):
    """Same rows and columns; non-float columns identical; float columns equal to 1e-9 relative."""
    for name in TABLES:
        a, b = comparable(local[name], name), comparable(remote[name], name)
        assert list(a.columns) == list(b.columns), name
        assert len(a) == len(b), name
        floats = [c for c in a.columns if pd.api.types.is_float_dtype(a[c])]
        others = [c for c in a.columns if c not in floats]
        pd.testing.assert_frame_equal(a[others], b[others], check_exact=True, obj=f"{name} (non-float columns)")
        pd.testing.assert_frame_equal(
            a[floats], b[floats], check_exact=False, rtol=1e-9, atol=0, obj=f"{name} (float columns)"
        )


def test_tiny_study_through_slurm_matches_the_local_run(slurm, tmp_path, request):
    proc = snakemake(
        tmp_path,
        "--profile",
        REPO / "profiles" / "slurm",
        "--default-resources",
        "slurm_partition=debug",
        "slurm_account=root",
        timeout=1200,
    )

    # Every job really went through SLURM and completed.
    run_uuid = re.search(r"SLURM run ID: (\S+)", proc.stderr)
    assert run_uuid, proc.stderr[-3000:]
    jobs = sacct_jobs(run_uuid.group(1))
    cfg = yaml.safe_load(TINY.read_text())
    # one training job per (objective, rho, S, data seed) of the main block, every init variant in it
    n_train = len(cfg["objectives"]) * len(cfg["grid"]["rho"]) * len(cfg["grid"]["S"]) * len(cfg["data"]["seeds"])
    assert (jobs.state == "COMPLETED").all(), jobs.to_string()
    assert jobs.comment.str.startswith("rule_train").sum() >= n_train, jobs.to_string()
    assert jobs.comment.str.contains("datasets").any(), jobs.to_string()  # the dataset jobs went as one group
    slurm_logs = tmp_path / ".snakemake" / "slurm_logs"
    assert len(list((slurm_logs / "rule_train").rglob("*.log"))) >= n_train

    # The same study run locally (`--cores 2`). Requested here, not as an argument: pytest would set up
    # that session fixture before the module's `slurm` one, so a skip would still cost the local run.
    tiny_run = request.getfixturevalue("tiny_run")
    assert_same_tables(read_tables(tiny_run), read_tables(tmp_path))
