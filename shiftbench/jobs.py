"""The workflow's jobs as library functions: build and run one dataset, training or theory job.

Each rule of the workflow is one ``shiftbench`` subcommand, and each subcommand is one function here
(``cli.py`` only parses its arguments). A job's numbers come from its JSON job description or its
arguments, which the workflow takes from the config, never from file names.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time

from .storage import write_json

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
    """{K: [RunSpec for every method, lr and seed]} of a training job; building them validates the job."""
    from .train import RunSpec

    sweeps = {"K", "lr", "seed", "method"}
    fixed = {
        "S": job["S"],
        "rho": job["rho"],
        "objective": job["objective"],
        "init": job["init"]["init"],
        "readout": job["init"]["readout"],
        "init_params": job["init"]["params"],
        "t_eval": job["t_eval"],
        "burn_in": job["burn_in"],
    }
    fixed.update({k: job["init"][k] for k in ["family"] if k in job["init"]})  # the init variant's family
    options = {f.name for f in dataclasses.fields(RunSpec)} - sweeps - set(fixed)
    fixed.update({k: v for k, v in job["train"].items() if k in options})
    sweep = list(itertools.product(job["train"]["methods"], job["train"]["lr"], job["train"]["seeds"]))
    return {K: [RunSpec(**fixed, K=K, method=m, lr=lr, seed=seed) for m, lr, seed in sweep] for K in job["Ks"]}


def train_job(job: dict, train_paths=None, test_paths=None, threads: int = 1) -> dict:
    """Train every (K, method, lr, seed) of one (block, objective, rho, S, variant); diverged runs are data.

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
        N = job["burn_in"] + K + job["t_eval"]
        train_x = load_for(train_path, job["rho"], N) if train_path else None
        test_x = load_for(test_path, job["rho"], N) if test_path else None
        for spec in specs[K]:
            rec = train_run(spec, train_x, test_x)
            rec.update(block=job["block"], variant=job["variant"], data_seed=job["data_seed"], threads=threads)
            rec.update(versions())
            runs.append(rec)
            log.info(
                "%s K=%d %s lr=%g seed=%d: %s objective_loss=%.6g (%.1fs) | %s",
                *(job["variant"], K, spec.method, spec.lr, spec.seed, rec["status"], rec["objective_loss"]),
                rec["wall_time"],
                tqdm.format_meter(len(runs), total, time.time() - start, unit="run"),
            )
    return {"job": job, "runs": runs}


def reference_job(objective: str, rho: float, cells, options: dict, window=None, family="complex",
                  recompute: bool = False, save: bool = False, out=None) -> dict:  # fmt: skip
    """The reference of every (S, K) of ``cells`` at one (objective, rho, family): committed and
    re-verified, or searched.

    ``recompute`` searches even where a reference is committed; ``save`` writes each searched one into
    the package's committed references, with the command line, options and commit that made it;
    ``out``, if given, receives the job's JSON.
    """
    import shlex
    import sys

    from . import reference

    command = "shiftbench " + shlex.join(sys.argv[1:])
    if not cells:
        raise ValueError("a reference job needs at least one (S, K) cell")
    found = []
    for S, K in cells:
        ref = None if recompute else reference.lookup(S, K, rho, objective, family, window)
        if ref is not None:
            found.append({**ref, "committed": True})
            continue
        ref = reference.search(objective, S, K, rho, window, family, **options)
        log.info("reference %s: %.8g (%d starts, %d in the best basin, %.0f s)", reference.cell_key_of(ref),
                 ref["value"], ref["n_starts"], ref["basins"], ref["seconds"])  # fmt: skip
        if save:
            ref = {**ref, "command": command, "commit": git_commit(), "created": time.strftime("%Y-%m-%d %H:%M")}
            write_json(ref, reference.committed_path(reference.cell_key_of(ref)))
        found.append({**ref, "committed": False})
    job = {"references": found}
    if out is not None:
        write_json(job, out)
    return job


def git_commit() -> str:
    """The commit of the working tree that runs this (with -dirty for uncommitted changes), or 'unknown'."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def theory_cell(S: int, K: int, rho: float, alphas, window=None) -> dict:
    """Closed-form quantities of one (S, K, rho): bound, construction, inits' optima (the references
    are ``reference_job``'s).

    ``window`` ({"t_eval", "burn_in"}) is the window of the sampled objective, or None when no block
    trains it at this cell; then only the stationary quantities are computed.
    """
    from . import inits, objectives, reference, theory

    stationary = objectives.Stationary(K, rho)
    rows = []
    for alpha in alphas:
        a, b = theory.construction(S, K, alpha)
        rows.append({"alpha": alpha, "readout": "paper", "loss": stationary.loss(a, b)})
        rows.append({"alpha": alpha, "readout": "optimal", "loss": stationary.optimum(a)[0]})
    start = time.perf_counter()
    cell = {
        "S": S,
        "K": K,
        "rho": rho,
        "lower_bound": theory.lower_bound(S, K, rho),
        "construction": rows,
        "construction_asymptotic": {str(al): theory.construction_loss_asymptotic(S, K, al) for al in alphas},
        "init_optimal_loss": {},
        "init_readout_max": {},
        "laguerre_limit": dict(zip(["value", "pole"], theory.laguerre_limit(S, K, rho))),
    }
    for name, family in [("uncertainty", "complex"), ("s4d-lin", "complex"), ("s4d-inv", "complex"),
                         ("s4d-real", "real")]:  # fmt: skip
        a = inits.initialise(name, S, K, 0, "zero", family=family)[0]  # seed 0 where the init is seeded
        cell["init_optimal_loss"][name] = stationary.optimum(a)[0]
        cell["init_readout_max"][name] = reference.conditioning(a, K, rho)[0]
    if window is not None:
        objective = objectives.population("sampled", K, rho, window["t_eval"], window["burn_in"])
        a, _ = theory.construction(S, K, 1.0)
        value, certified = objective.optimum(a)
        cell["window"] = {
            "length": objective.length,
            "t_eval": objective.t_eval,
            "construction_optimal": {"value": value, "certified": certified},
        }
    cell["seconds"] = time.perf_counter() - start
    return cell


def theory_job(rho: float, S: int, Ks, alphas, window=None) -> dict:
    """``theory_cell`` for every K of one (rho, S)."""
    return {"cells": [theory_cell(S, K, rho, alphas, window) for K in Ks]}
