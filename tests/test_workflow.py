"""The Snakemake study end to end, through the real snakemake, on configs/tiny.yaml."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY, read_tables, snakemake

from shiftbench import aggregation, plots
from shiftbench.config import load_config

pytestmark = pytest.mark.slow


def test_lint(tmp_path):
    proc = snakemake(REPO, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_lists_the_dag(tmp_path):
    out = snakemake(tmp_path, "-n").stdout
    for rule in ["dataset", "train", "theory", "aggregate", "figures", "provenance"]:
        assert rule in out
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c["grid"].update(rho=[0.5, 1.2]), ["grid.rho.1", "[0, 1)"]),
        (lambda c: c["train"].update(lr=[float("nan")]), ["train.lr.0", "not a finite number"]),
    ],
)
def test_bad_config_is_rejected_before_any_job(tmp_path, mutate, message):
    cfg = yaml.safe_load(TINY.read_text())
    mutate(cfg)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "--cores", "1", configfile=bad, check=False)
    assert proc.returncode != 0
    assert all(m in proc.stderr for m in message), proc.stderr[-2000:]
    assert not (tmp_path / "results").exists()


def test_rho_values_reach_every_table_unchanged(tmp_path):
    """Two rhos that agree to eight digits: their own files, their exact values in every table."""
    rhos = [0.95123456, 0.951234561]
    cfg = {
        "grid": {"S": [2], "K": [2], "rho": rhos},
        "inits": {"uncertainty": {"init": "uncertainty"}},
        "objectives": ["sampled"],
        "train": {"seeds": [0], "lr": [0.01], "steps": 4, "batch_size": 4, "log_every": 2},
        "data": {"n_train": 8, "n_test": 8, "t_eval": 4},
        "theory": {"alphas": [1.0], "best_known": {"spacings": [1.0], "refine_starts": 1, "iterations": 2}},
        "figures": {
            "kernels_S": 2,
            "curves": {"S": 2, "K": 4, "rho": rhos[1]},
            "frequency": {"S": 5, "K": 20},
            "terms": {"S": 5, "K": 20},
        },
    }
    path = tmp_path / "rho.yaml"
    path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, "--cores", "2", configfile=path)
    tables = read_tables(tmp_path)
    for name, table in tables.items():
        if "rho" in table:
            assert set(table.rho) == set(rhos), name
    assert tables["runs"].run_id.is_unique and len(tables["runs"]) == 2


def test_tables_have_their_schema_and_rows(tiny_run):
    t = read_tables(tiny_run)
    cfg = yaml.safe_load(TINY.read_text())
    g, tr = cfg["grid"], cfg["train"]
    n_cells = len(g["rho"]) * len(g["S"]) * len(g["K"])
    n_runs = n_cells * len(cfg["objectives"]) * len(cfg["inits"]) * len(tr["seeds"]) * len(tr["lr"])
    runs = t["runs"]
    assert len(runs) == n_runs and runs.run_id.is_unique
    for col in [
        "S",
        "K",
        "rho",
        "objective",
        "variant",
        "init",
        "readout",
        "init_params",
        "lr",
        "seed",
        "status",
        "exact_loss",
        "finite_window_loss",
        "test_mse",
        "initial_optimal_loss",
        "filter_width",
        "steps_done",
        "wall_time",
        "torch_version",
        "numpy_version",
        "snakemake_version",
        "shiftbench_version",
    ]:
        assert col in runs.columns, col
    assert set(runs.status) <= {"ok", "diverged"}
    ok = runs[runs.status == "ok"]
    assert len(ok) > 0.9 * len(runs)
    assert np.all(np.isfinite(ok[["exact_loss", "finite_window_loss", "test_mse", "initial_optimal_loss"]]))
    # every learned stationary loss respects the rigorous bound
    lb = t["theory"][t["theory"].quantity == "lower_bound"].set_index(["S", "K", "rho"]).value
    merged = ok.join(lb.rename("lb"), on=["S", "K", "rho"])
    assert not (merged.exact_loss < merged.lb - 1e-9).any()
    # curves: one point every log_every steps; params: S poles per ok run
    points = tr["steps"] // tr["log_every"] + 1
    assert len(t["curves"]) == points * len(ok)
    assert len(t["params"]) == ok.S.sum()
    # theory: per cell, a bound row, construction rows for both readouts and every alpha, best known
    q = t["theory"].groupby("quantity").size()
    assert q["lower_bound"] == q["best_known"] == n_cells
    assert q["construction_paper"] == q["construction_optimal"] == n_cells * len(cfg["theory"]["alphas"])
    s = t["summary"]
    assert len(s) == n_cells * len(cfg["objectives"]) * len(cfg["inits"])
    for col in [
        "n",
        "mean",
        "std",
        "ci_low",
        "ci_high",
        "min",
        "max",
        "best_known",
        "best_construction",
        "lower_bound",
        "gap",
        "recovered",
        "n_diverged",
        "best_lr",
    ]:
        assert col in s.columns, col
    np.testing.assert_allclose(s.gap, s["mean"] - s.best_known)
    assert (s.best_known <= s.best_construction + 1e-12).all()


def test_every_job_has_a_benchmark_file(tiny_run):
    """Snakemake's own instruments: wall time, CPU time and peak memory of every job."""
    logs = list((tiny_run / "logs").rglob("*.log"))
    benchmarks = list((tiny_run / "results" / "benchmarks").rglob("*.tsv"))
    assert len(benchmarks) == len(logs) > 0
    for path in benchmarks:
        assert {"s", "cpu_time", "max_rss"} <= set(pd.read_csv(path, sep="\t").columns), path


def test_claims_follow_the_init_not_the_variant_id(tiny_run):
    """Renamed variants keep their claim: inits are found by what they are."""
    t = aggregation.load_tables(Path(tiny_run) / "results" / "tables")
    names = {"uncertainty": "regular-phases", "lru-ring": "ring"}
    renamed = {k: v.replace({"variant": names}) if "variant" in v else v for k, v in t.items()}
    claims = plots.claims_table(renamed, load_config(TINY))
    assert claims.claim.str.contains("regular-phases").any() and claims.claim.str.contains("ring").any()


def test_datasets_have_checksummed_sidecars(tiny_run):
    metas = list((Path(tiny_run) / "results" / "data").rglob("*.json"))
    assert metas
    for m in metas:
        meta = json.loads(m.read_text())
        assert {"rho", "length", "seed", "sha256", "sample_autocovariance"} <= set(meta)
        assert meta["sample_autocovariance"][0] == pytest.approx(1, abs=0.2)


def test_figures_and_report(tiny_run):
    figs = Path(tiny_run) / "reports" / "figures"
    pngs = sorted(figs.glob("*.png"))
    assert len(pngs) == 8 and all(p.stat().st_size > 10_000 for p in pngs)
    claims = (figs / "claims.html").read_text()
    assert "slope" in claims and "lru-ring" in claims
    prov = (figs / "provenance.html").read_text()
    assert "config hash" in prov and "torch_version" in prov
    snakemake(tiny_run, "--report", "reports/report.html")
    report = Path(tiny_run) / "reports" / "report.html"
    assert report.stat().st_size > 100_000
    assert "Claims" in report.read_text(errors="ignore")
