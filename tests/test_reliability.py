"""What shiftbench guarantees: bad input refused, failures recorded, interruptions and reruns harmless."""

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY, assert_tables_equal, read_tables, snakemake, snakemake_env

from shiftbench import aggregation, cli, jobs, selection, storage, theory
from shiftbench.config import ConfigError, load_config

# -- 1. bad configuration -------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")
BAD_CONFIGS = [
    (lambda c: c["grid"].update(rho=[0.3, 1.0]), "grid.rho.1", "[0, 1)"),
    (lambda c: c["grid"].update(rho=[-0.1]), "grid.rho.0", "[0, 1)"),
    (lambda c: c["grid"].update(S=[0]), "grid.S.0", "Positive integers"),
    (lambda c: c["grid"].update(K=[2.5]), "grid.K.0", "Positive integers"),
    (lambda c: c["data"].update(t_eval=0), "data.t_eval", "minimum"),
    (lambda c: c["data"].update(n_train=-3), "data.n_train", "minimum"),
    (lambda c: c["data"].update(n_test=1.5), "data.n_test", "integer"),
    (lambda c: c["inits"]["lru-ring"].update(init="gaussian"), "inits.lru-ring.init", "uncertainty"),
    (lambda c: c["inits"]["lru-ring"].update(readout="best"), "inits.lru-ring.readout", "optimal"),
    (lambda c: c["inits"]["lru-ring"].update(readout="paper"), "inits.lru-ring", "only applies"),
    (lambda c: c["inits"]["lru-ring"]["params"].update(r_min=0.99, r_max=0.5), "r_min", "r_max"),
    (lambda c: c["train"].update(lr=[0.0]), "train.lr.0", "> 0"),
    (lambda c: c["train"].update(steps=0), "train.steps", ">= 1"),
    (lambda c: c["grid"].update(S=[]), "grid.S", "at least one"),
    (lambda c: c.update(inits={}), "inits", "should be non-empty"),
    (lambda c: c["train"].update(seeds=[1, 1]), "train.seeds", "Distinct"),
    (lambda c: c["train"].update(steps="many"), "train.steps", "integer"),
    (lambda c: c["grid"].update(rho="0.5"), "grid.rho", "array"),
    (lambda c: c["train"].update(stpes=10), "train", "'stpes' was unexpected"),
    (lambda c: c.update(grdi={}), "top level", "'grdi' was unexpected"),
    (lambda c: c["figures"].update(curves={"S": 4, "K": 12, "rho": 0.7}), "figures.curves", "not a (rho, S, K) cell"),
    # NaN and infinities pass JSON-schema range checks; every numeric key refuses them by name
    (lambda c: c["train"].update(lr=[NAN]), "train.lr.0", "Adam learning rates (> 0)"),
    (lambda c: c["train"].update(clip=INF), "train.clip", "not a finite number"),
    (lambda c: c["grid"].update(rho=[0.0, NAN]), "grid.rho.1", "[0, 1)"),
    (lambda c: c["theory"].update(alphas=[INF]), "theory.alphas.0", "alpha > 0"),
    (lambda c: c["theory"]["reference"].update(spacings=[1.0, NAN]), "theory.reference.spacings.1", "finite"),
    # the reference search: at least one start, a positive budget
    (lambda c: c["theory"]["reference"].update(iterations=0), "theory.reference.iterations", ">= 1"),
    (lambda c: c["theory"]["reference"].update(hops=-1), "theory.reference.hops", ">= 0"),
    (lambda c: c["theory"]["reference"].update(hop_size=-0.5), "theory.reference.hop_size", "> 0"),
    (
        lambda c: c["theory"]["reference"].update(construction_starts=0, random_starts=0),
        "theory.reference",
        "at least one start",
    ),  # fmt: skip
    (lambda c: c["inits"]["lru-ring"]["params"].update(max_phase=INF), "inits.lru-ring.params.max_phase", "finite"),
    (lambda c: c["inits"]["uncertainty"]["params"].update(alpha=NAN), "inits.uncertainty.params.alpha", "finite"),
    (lambda c: c["figures"]["curves"].update(rho=NAN), "figures.curves.rho", "not a finite number"),
    (lambda c: c["data"].update(t_eval=NAN), "data.t_eval", "integer"),
    # burn-in: a non-negative integer that keeps sequences within data.max_length
    (lambda c: c["data"].update(burn_in=-1), "data.burn_in", "integer >= 0"),
    (lambda c: c["data"].update(burn_in=2.5), "data.burn_in", "integer >= 0"),
    (lambda c: c["data"].update(burn_in=70000), "data.burn_in", "exceed data.max_length = 65536"),
    # methods, and projected only where b*(a) exists
    (lambda c: c["train"].update(methods=["newton"]), "train.methods.0", "joint"),
    (lambda c: c["train"].update(methods=["projected"]), "train.methods", "put those runs in a block"),
    (
        lambda c: c["blocks"]["projected"].update(objectives=["sampled"]),
        "blocks.projected.train.methods",
        "'projected'",
    ),
    # a block is refused where the main study would be, with its own key
    (lambda c: c["blocks"]["projected"]["grid"].update(rho=[1.5]), "blocks.projected.grid.rho.0", "[0, 1)"),
    (lambda c: c["blocks"]["projected"]["grid"].update(S=[0]), "blocks.projected.grid.S.0", "Positive integers"),
    (lambda c: c["blocks"]["projected"]["train"].update(lr=[-1.0]), "blocks.projected.train.lr.0", "> 0"),
    (lambda c: c["blocks"]["projected"]["train"].update(lr=[NAN]), "blocks.projected.train.lr.0", "finite"),
    (lambda c: c["blocks"]["projected"]["train"].update(stpes=3), "blocks.projected.train", "'stpes' was unexpected"),
    (lambda c: c["blocks"]["projected"].update(inits=["ghost"]), "blocks.projected.inits", "not variants of inits"),
    (lambda c: c["blocks"].update(main={"grid": c["grid"]}), "blocks", "main"),
    (lambda c: c.update(claims={"slope_tolerance": 0}), "claims.slope_tolerance", "A number > 0"),
    # the batched model's memory, estimated before any job: the keys that make it large are named
    (lambda c: c["data"].update(max_batch_mb=NAN), "data.max_batch_mb", "finite"),
    (lambda c: c["data"].update(max_batch_mb=1e-3), "data.max_batch_mb", "init variants x train.seeds x train.lr"),
    (
        lambda c: (c["data"].update(max_batch_mb=1), c["train"].update(seeds=list(range(400)), lr=[0.01, 0.02, 0.03])),
        "data.max_batch_mb",
        "train.seeds x train.lr (3 x 400 x 3 runs), train.batch_size",
    ),  # fmt: skip
]


def test_an_absent_device_is_refused_before_any_job():
    import torch

    cfg = yaml.safe_load(TINY.read_text())
    cfg["train"]["device"] = "cuda"
    if torch.cuda.is_available():
        assert load_config(cfg)["train"]["device"] == "cuda"
        return
    with pytest.raises(ConfigError, match="train.device: cuda is asked for but torch sees no CUDA device"):
        load_config(cfg)


@pytest.mark.parametrize("mutate,key,allowed", BAD_CONFIGS)
def test_bad_config_names_key_and_allowed_values(mutate, key, allowed):
    cfg = yaml.safe_load(TINY.read_text())
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert key in str(err.value) and allowed in str(err.value), str(err.value)


def test_valid_config_gets_defaults():
    cfg = load_config(yaml.safe_load(TINY.read_text()))
    assert cfg["train"]["device"] == "cpu" and cfg["train"]["clip"] is None
    assert load_config(REPO / "config.yaml")["data"]["t_eval"] > 0
    assert load_config(REPO / "configs" / "paper.yaml")


def test_theory_and_cli_refuse_bad_inputs(tmp_path, caplog):
    with pytest.raises(ValueError, match="unit disk"):
        theory.optimal_readout([0.5, 1.0], 4)
    with pytest.raises(ValueError, match="NaN"):
        theory.kernel([0.5, np.nan], [1, 1], 5)
    job = json.loads((REPO / "tests" / "data" / "job.json").read_text())
    job["rho"] = 1.5
    assert cli.main(["train", "--job", json.dumps(job), "--test", "x.npy", "--out", str(tmp_path / "o.json")]) == 2
    assert "rho" in caplog.text
    assert not (tmp_path / "o.json").exists()


# -- 2. divergence is data --------------------------------------------------------------------------


SMALL_SEARCH = {"construction_starts": 1, "random_starts": 0, "iterations": 20, "hops": 0}  # a quick reference


def job(**over):
    j = json.loads((REPO / "tests" / "data" / "job.json").read_text())
    j.update(over)
    return j


def test_diverged_runs_are_counted_and_excluded(tmp_path):
    out = jobs.train_job(job(train={**job()["train"], "lr": [0.01, 1e6]}))
    storage.write_json(out, tmp_path / "runs.json")
    storage.write_json({"cells": [jobs.theory_cell(4, 8, 0.5, [1.0])]}, tmp_path / "th.json")
    storage.write_json(jobs.reference_job("exact", 0.5, [[4, 8]], SMALL_SEARCH), tmp_path / "ref.json")
    t = aggregation.aggregate(
        [tmp_path / "runs.json"], [tmp_path / "th.json"], [tmp_path / "ref.json"], tmp_path / "tables"
    )
    runs, summary = t["runs"], t["summary"]
    assert (runs[runs.lr == 1e6].status == "diverged").all()
    assert runs[runs.lr == 1e6].objective_loss.isna().all()
    row = summary.iloc[0]
    assert row.n_diverged == 2 and row.n == 2 and row.lr == 0.01
    assert row["mean"] == pytest.approx(runs[runs.lr == 0.01].objective_loss.mean())
    assert pd.read_parquet(tmp_path / "tables" / "summary.parquet").n_diverged.iloc[0] == 2


def test_train_job_logs_its_progress(tmp_path, caplog):
    """Runs done out of the total, with the time elapsed and left, after every K (a batch of runs)."""
    caplog.set_level(logging.INFO, logger="shiftbench")
    data = [tmp_path / "K8.npy", tmp_path / "K16.npy"]
    storage.write_dataset(data[0], 0.5, 8, 24, seed=1)  # K + t_eval = 8 + 16
    storage.write_dataset(data[1], 0.5, 8, 32, seed=1)  # K + t_eval = 16 + 16
    args = ["train", "--job", json.dumps(job(objective="sampled", Ks=[8, 16])), "--train", *map(str, data),
            "--test", *map(str, data)]  # fmt: skip
    assert cli.main([*args, "--out", str(tmp_path / "runs.json")]) == 0
    progress = [line for line in caplog.messages if "run/s" in line or "s/run" in line]
    assert len(progress) == 2 and "2/4" in progress[0] and "4/4" in progress[1]
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", progress[0]), progress[0]  # [elapsed<left]


def test_bound_violation_fails_loudly():
    runs = pd.DataFrame(
        {
            "run_id": ["x"],
            "S": [4],
            "K": [8],
            "rho": [0.0],
            "target": ["shift"],
            "status": ["ok"],
            "stationary_loss": [0.5],
            "objective_loss": [0.7],
            "objective_optimal_loss": [0.65],
            "objective_optimal_resolved": [True],
        }
    )
    th = pd.DataFrame(
        {"S": [4], "K": [8], "rho": [0.0], "quantity": ["lower_bound"], "value": [theory.lower_bound(4, 8)]}
    )
    with pytest.raises(aggregation.BoundViolation, match="below the rigorous lower bound"):
        aggregation.check_bounds(runs, th)
    aggregation.check_bounds(runs.assign(stationary_loss=0.6), th)  # 0.6 > 1 - 4/9: fine
    # a filter below the float64-resolved optimum of its own poles is a bug; below an unresolved value it is not
    below = runs.assign(stationary_loss=0.6, objective_loss=0.6)
    with pytest.raises(aggregation.BoundViolation, match="below the float64-resolved optimum"):
        aggregation.check_bounds(below, th)
    aggregation.check_bounds(below.assign(objective_optimal_resolved=False), th)


def test_learning_rate_is_chosen_on_the_training_loss_not_a_reported_one(tmp_path):
    """lr 0.01 ends with the lower training loss, lr 0.1 with the lower objective loss: 0.01 is chosen."""
    base = dict(
        block="main",
        S=4,
        K=8,
        rho=0.0,
        target="shift",
        target_spec='{"K": 8, "name": "shift"}',
        objective="sampled",
        method="joint",
        variant="v",
        init="lru-ring",
        readout="random",
        status="ok",
        test_mse=0.9,
        filter_width=np.nan,
        objective_optimal_loss=0.5,
        objective_optimal_resolved=False,
    )
    runs = pd.DataFrame(
        [
            {
                **base,
                "run_id": f"r{i}",
                "lr": lr,
                "seed": i,
                "final_train_loss": train_loss,
                "objective_loss": loss,
                "stationary_loss": loss,
            }
            for i, (lr, train_loss, loss) in enumerate(
                [(0.01, 0.5, 0.9), (0.01, 0.5, 0.9), (0.1, 0.7, 0.6), (0.1, 0.7, 0.6)]
            )
        ]
    )
    window = {"t_eval": 16, "burn_in": 0}
    th = aggregation.theory_table([jobs.theory_cell(4, 8, 0.0, [1.0], window)])
    refs = [jobs.reference_job(o, 0.0, [[4, 8]], SMALL_SEARCH, window)["references"] for o in ["exact", "sampled"]]
    row = aggregation.summary_table(runs.assign(family="complex", parameterisation="exp-exp"), th,
                                    aggregation.reference_table(refs[0] + refs[1])).iloc[0]  # fmt: skip
    assert row.lr == 0.01 and row["mean"] == 0.9 and row.lr_selected_on == selection.LR_SELECTED_ON


# -- 5. corrupted or stale inputs --------------------------------------------------------------------


def test_corrupted_dataset_is_detected(tmp_path, caplog):
    path = tmp_path / "d.npy"
    storage.write_dataset(path, 0.5, 8, 24, seed=0)
    x, meta = storage.load_dataset(path)
    assert x.shape == (8, 24) and meta["rho"] == 0.5
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(storage.CorruptDataset, match="checksum"):
        storage.load_dataset(path)
    rc = cli.main(
        [
            "train",
            "--job",
            json.dumps(job(objective="sampled")),
            "--train",
            str(path),
            "--test",
            str(path),
            "--out",
            str(tmp_path / "runs.json"),
        ]
    )
    assert rc == 2 and "truncated, corrupted or stale" in caplog.text
    assert not (tmp_path / "runs.json").exists()


def test_dataset_from_another_sampler_is_refused(tmp_path):
    """A sidecar that names another sampler, or none (datasets of the old, non-stationary sampler)."""
    path = tmp_path / "d.npy"
    storage.write_dataset(path, 0.5, 8, 24, seed=0)
    meta = json.loads(storage.sidecar(path).read_text())
    for sampler in ["ar1-stationary-start/1", None]:
        storage.sidecar(path).write_text(
            json.dumps({**meta, "sampler": sampler} if sampler else {k: v for k, v in meta.items() if k != "sampler"})
        )
        with pytest.raises(storage.CorruptDataset, match="made by the sampler"):
            storage.load_dataset(path)


def test_stale_dataset_is_detected(tmp_path):
    path = tmp_path / "d.npy"
    storage.write_dataset(path, 0.5, 8, 24, seed=0)
    with pytest.raises(storage.CorruptDataset, match="needs rho=0.7"):
        jobs.load_for(path, 0.7, 24)
    with pytest.raises(storage.CorruptDataset, match="length=30"):
        jobs.load_for(path, 0.5, 30)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), storage.atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


# -- 3 and 4. interruption and reproducibility (end to end) -------------------------------------------


@pytest.mark.slow
@pytest.mark.long  # one more complete tiny study; the kill-and-resume test below compares a second run too
def test_same_config_same_tables(tiny_run, tmp_path):
    snakemake(tmp_path, "--cores", "2")
    assert_tables_equal(read_tables(tiny_run), read_tables(tmp_path))


@pytest.mark.slow
def test_hard_kill_then_resume_gives_the_same_tables(tiny_run, tmp_path):
    exe = shutil.which("snakemake", path=snakemake_env()["PATH"])
    cmd = [exe, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile", str(TINY), "--cores", "2"]
    proc = subprocess.Popen(
        cmd, env=snakemake_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    runs_dir = tmp_path / "results" / "runs"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(runs_dir.rglob("*.json"))) < 3:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
    proc.wait()
    assert not (tmp_path / "results" / "tables" / "runs.parquet").exists()
    for f in runs_dir.rglob("*"):  # what carries an output's name is complete: temp file + rename
        if f.is_file():
            assert f.name.startswith(".") and f.suffix == ".tmp" or json.loads(f.read_text())["runs"]
    snakemake(tmp_path, "--unlock")
    snakemake(tmp_path, "--cores", "2", "--rerun-incomplete")
    assert_tables_equal(read_tables(tiny_run), read_tables(tmp_path))
