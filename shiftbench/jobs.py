"""The workflow's jobs as library functions: build and run one dataset, training or theory job.

Each rule of the workflow is one ``shiftbench`` subcommand, and each subcommand is one function here
(``cli.py`` only parses its arguments). A job's numbers come from its JSON job description or its
arguments, which the workflow takes from the config, never from file names.
"""

from __future__ import annotations

import dataclasses
import logging
import time

log = logging.getLogger("shiftbench")


def versions() -> dict:
    """Versions of the packages that produce the numbers (recorded in every run and the report)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ["shiftbench", "torch", "numpy", "snakemake"]:
        try:
            out[f"{pkg}_version"] = version(pkg)
        except PackageNotFoundError:
            out[f"{pkg}_version"] = "not installed"
    return out


def dataset_job(rho: float, lengths, n_train: int, n_test: int, seed: int, outdir):
    """Train and test AR(1) datasets for every sequence length, from distinct streams of one seed."""
    from .storage import dataset_file, write_dataset

    for length in lengths:
        for split, n in [("train", n_train), ("test", n_test)]:
            path = dataset_file(outdir, length, split, seed)
            meta = write_dataset(path, rho, n, length, 2 * seed + (split == "test"))
            log.info("wrote %s: %s", path, meta)


def load_for(path, rho: float, length: int):
    """A dataset, checked (checksum, shape) and matched to the job (rho, length): no stale inputs."""
    from .storage import CorruptDataset, load_dataset

    x, meta = load_dataset(path)
    if meta["rho"] != rho or meta["length"] != length:
        raise CorruptDataset(
            f"{path}: holds rho={meta['rho']}, length={meta['length']}; the job needs rho={rho}, length={length}"
        )
    return x


def run_specs(job: dict) -> dict:
    """{K: [RunSpec for every lr and seed]} of a training job; building them validates the job."""
    from .train import RunSpec

    sweeps = {"K", "lr", "seed"}
    fixed = {
        "S": job["S"],
        "rho": job["rho"],
        "objective": job["objective"],
        "init": job["init"]["init"],
        "readout": job["init"]["readout"],
        "init_params": job["init"]["params"],
        "t_eval": job["t_eval"],
    }
    options = {f.name for f in dataclasses.fields(RunSpec)} - sweeps - set(fixed)
    fixed.update({k: v for k, v in job["train"].items() if k in options})
    train = job["train"]
    return {
        K: [RunSpec(**fixed, K=K, lr=lr, seed=seed) for lr in train["lr"] for seed in train["seeds"]] for K in job["Ks"]
    }


def train_job(job: dict, train_paths=None, test_paths=None, threads: int = 1) -> dict:
    """Train every (K, lr, seed) of one (objective, rho, S, variant); diverged runs are data.

    The log shows progress after each run: runs done out of the total, elapsed and time left.
    """
    import torch
    from tqdm import tqdm

    from .train import train_run

    torch.set_num_threads(threads)  # results must not depend on where the job runs
    Ks = job["Ks"]
    train_paths, test_paths = train_paths or [None] * len(Ks), test_paths or [None] * len(Ks)
    if not len(train_paths) == len(test_paths) == len(Ks):
        raise ValueError(f"need one train and one test dataset per K in {Ks}")
    specs = run_specs(job)  # every spec is checked before any data is read: a bad job fails in a second
    total, runs, start = sum(map(len, specs.values())), [], time.time()
    for K, train_path, test_path in zip(Ks, train_paths, test_paths):
        N = K + job["t_eval"]
        train_x = load_for(train_path, job["rho"], N) if train_path else None
        test_x = load_for(test_path, job["rho"], N) if test_path else None
        for spec in specs[K]:
            rec = train_run(spec, train_x, test_x)
            rec.update(variant=job["variant"], data_seed=job["data_seed"], threads=threads, **versions())
            runs.append(rec)
            log.info(
                "%s K=%d lr=%g seed=%d: %s exact_loss=%.6g (%.1fs) | %s",
                job["variant"],
                K,
                spec.lr,
                spec.seed,
                rec["status"],
                rec["exact_loss"],
                rec["wall_time"],
                tqdm.format_meter(len(runs), total, time.time() - start, unit="run"),
            )
    return {"job": job, "runs": runs}


def theory_cell(S: int, K: int, rho: float, alphas, best_known_options: dict) -> dict:
    """Closed-form quantities of one (S, K, rho): bound, construction per alpha, best known."""
    from . import inits, theory, train

    rows = []
    for alpha in alphas:
        a, b = theory.construction(S, K, alpha)
        rows.append({"alpha": alpha, "readout": "paper", "loss": theory.exact_loss(a, b, K, rho)})
        rows.append({"alpha": alpha, "readout": "optimal", "loss": theory.optimal_loss(a, K, rho)})
    start = time.perf_counter()
    best = train.best_known(S, K, rho, **best_known_options)
    return {
        "S": S,
        "K": K,
        "rho": rho,
        "lower_bound": theory.lower_bound(S, K, rho),
        "construction": rows,
        "construction_asymptotic": {str(al): theory.construction_loss_asymptotic(S, K, al) for al in alphas},
        "best_known": best,
        "best_known_seconds": time.perf_counter() - start,
        "init_optimal_loss": {
            name: theory.optimal_loss(inits.initialise(name, S, K, 0, "zero")[0], K, rho)
            for name in ["uncertainty", "s4d-lin", "s4d-inv"]
        },
    }


def theory_job(rho: float, cells, alphas, best_known_options: dict) -> dict:
    """``theory_cell`` for every (S, K) of one rho."""
    return {"cells": [theory_cell(S, K, rho, alphas, best_known_options) for S, K in cells]}
