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

import numpy as np

from . import targets
from .config import SHIFT
from .layout import BASELINE
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


def units(job: dict) -> list[tuple[int, str, dict | None]]:
    """(K, target id, spec) of every unit of a training job: the shift at each K (spec None), or each
    target of a target block (``job["targets"]``) with K its lag scale."""
    from .config import SHIFT

    found = job.get("targets") or [None] * len(job["Ks"])
    if len(found) != len(job["Ks"]):
        raise ValueError(f"a training job needs one K per target; got Ks {job['Ks']} and {len(found)} targets")
    return [(K, SHIFT, None) if t is None else (K, t[0], t[1]) for K, t in zip(job["Ks"], found)]


def run_specs(job: dict) -> list[list]:
    """For every unit of a training job (``units``), [(variant, RunSpec, seed_invariant)] of every variant,
    method, lr and seed; building them validates the job.

    A run that its seed cannot change (a deterministic init, readout included, on the exact objective:
    ``seed_invariant``) is built for the first seed only.
    """
    from .train import RunSpec

    sweeps = {"K", "lr", "seed", "method", "target_spec"}
    out = [[] for _ in job["Ks"]]
    for variant, init in job["variants"].items():
        fixed = {
            "S": job["S"],
            "rho": job["rho"],
            "objective": job["objective"],
            "init": init["init"],
            "readout": init["readout"],
            "init_params": init["params"],
            "t_eval": job["t_eval"],
            "burn_in": job["burn_in"],
        }
        fixed.update({k: init[k] for k in ["family"] if k in init})  # the init variant's family
        options = {f.name for f in dataclasses.fields(RunSpec)} - sweeps - set(fixed)
        fixed.update({k: v for k, v in job["train"].items() if k in options})
        for i, (K, _, spec) in enumerate(units(job)):
            for method, lr in itertools.product(job["train"]["methods"], job["train"]["lr"]):
                runs = [RunSpec(**fixed, K=K, target_spec=spec, method=method, lr=lr, seed=seed)
                        for seed in job["train"]["seeds"]]  # fmt: skip
                once = seed_invariant(runs[0])
                out[i] += [(variant, run, once) for run in (runs[:1] if once else runs)]
    return out


def seed_invariant(spec) -> bool:
    """Whether the run's seed changes nothing: an objective without minibatches (not trained on stored
    sequences) and an init whose poles, readout and step come out the same for two seeds."""
    from . import inits
    from .layout import PARAMETERISATIONS
    from .objectives import OBJECTIVES

    if OBJECTIVES[spec.objective].sequences:
        return False
    draws = []
    for seed in (0, 1):
        a, b = inits.initialise(spec.init, spec.S, spec.K, seed, spec.readout, spec.rho, spec.family,
                                **spec.init_params)  # fmt: skip
        delta = PARAMETERISATIONS[spec.parameterisation].needs_delta
        dt = inits.init_dt(spec.init, spec.S, spec.K, seed, **spec.init_params) if delta else 0
        draws.append((a, b, dt))
    (a0, b0, dt0), (a1, b1, dt1) = draws
    return bool(np.array_equal(a0, a1) and np.array_equal(b0, b1) and dt0 == dt1)


def train_job(job: dict, train_paths=None, test_paths=None, threads: int = 1) -> dict:
    """Train every (K, variant, method, lr, seed) of one (block, objective, rho, S); diverged runs are data.

    The runs of one K that share a pole family and options train as one batched model
    (``train.train_runs``), whatever their init, lr and seed. The log shows progress after each K:
    runs done out of the total, elapsed and time left.
    """
    import torch

    torch.set_num_threads(threads)  # results must not depend on where the job runs
    specs = run_specs(job)  # every spec is checked before any data is read: a bad job fails in a second
    return {"job": job, "runs": train_units(job, specs, train_paths, test_paths, threads)}


def train_units(job: dict, specs, train_paths=None, test_paths=None, threads: int = 1, extra=None) -> list[dict]:
    """Train the runs ``specs`` (one list of (variant, RunSpec, seed_invariant) per unit of ``units(job)``) on
    each unit's datasets; the records carry the job's block, data seed and target, and ``extra(spec)`` where
    given (the budget control's long runs). The log shows progress after each unit."""
    from tqdm import tqdm

    from .train import train_runs

    Ks = job["Ks"]
    train_paths, test_paths = train_paths or [None] * len(Ks), test_paths or [None] * len(Ks)
    if not len(train_paths) == len(test_paths) == len(Ks):
        raise ValueError(f"need one train and one test dataset per K in {Ks}")
    total, runs, start = sum(map(len, specs)), [], time.time()
    for (K, target, spec), unit, train_path, test_path in zip(units(job), specs, train_paths, test_paths):
        if not unit:
            continue
        N = job["burn_in"] + (K if spec is None else targets.make_target(**spec).horizon) + job["t_eval"]
        train_x = load_for(train_path, job["rho"], N) if train_path else None
        test_x = load_for(test_path, job["rho"], N) if test_path else None
        variants, batch, once = zip(*unit)
        for variant, spec_, invariant, rec in zip(variants, batch, once, train_runs(list(batch), train_x, test_x)):
            rec.update(block=job["block"], variant=variant, data_seed=job["data_seed"], threads=threads,
                       seed_invariant=invariant, target=target, **(extra(spec_) if extra else {}))  # fmt: skip
            rec.update(versions())
            runs.append(rec)
            log.info(
                "%s %s K=%d %s lr=%g seed=%d steps=%d: %s objective_loss=%.6g",
                *(variant, target, K, spec_.method, spec_.lr, spec_.seed, spec_.steps, rec["status"],
                  rec["objective_loss"]),
            )  # fmt: skip
        log.info("%s K=%d done (%d runs in batches) | %s", target, K, len(batch),
                 tqdm.format_meter(len(runs), total, time.time() - start, unit="run"))  # fmt: skip
    return runs


def reference_job(objective: str, rho: float, cells, options: dict, window=None, family=BASELINE,
                  recompute: bool = False, save: bool = False, out=None) -> dict:  # fmt: skip
    """The reference of every cell of ``cells`` at one (objective, rho, family): committed and re-verified,
    or searched. A cell is [S, K] (the shift at lag K) or [S, K, target id, spec] (a target, K its lag
    scale: ``targets.scale``; always searched, no reference of a target is committed).

    ``recompute`` searches even where a reference is committed; ``save`` writes each searched one into
    the checkout's committed references (``reference.save_dir``), with the command line, options and
    commit that made it; ``out``, if given, receives the job's JSON.
    """
    import shlex
    import sys

    from . import reference

    command = "shiftbench " + shlex.join(sys.argv[1:])
    if not cells:
        raise ValueError("a reference job needs at least one (S, K) cell")
    if save:
        reference.save_dir()  # refused outside a checkout before any search, not after it
    found = []
    for S, K, *target in cells:  # [S, K] the shift; [S, K, target id, spec] a target, K its lag scale
        ref = None if recompute or target else reference.lookup(S, K, rho, objective, family, window)
        if ref is not None:
            found.append({**ref, "committed": True, "target": SHIFT})
            continue
        kernel = targets.make_target(**target[1]) if target else None
        ref = {**reference.search(objective, S, K, rho, window, family, kernel, **options),
               "target": target[0] if target else SHIFT}  # fmt: skip
        log.info("reference %s: %.8g (%d starts, %d in the best basin, %.0f s)", reference.cell_key_of(ref),
                 ref["value"], ref["n_starts"], ref["basins"], ref["seconds"])  # fmt: skip
        if save and not target:
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
    for name in (n for n in inits.POLE_INITS if n in inits.TABULATED):  # registry order
        a = inits.initialise(name, S, K, 0, "zero", family=inits.FAMILIES[name][0])[0]  # seed 0 where seeded
        cell["init_optimal_loss"][name] = stationary.optimum(a)[0]
        cell["init_readout_max"][name] = reference.conditioning(a, K, rho)[0]
    if window is not None:
        objective = objectives.Window(K, rho, window["burn_in"] + K + window["t_eval"], window["t_eval"])
        a, _ = theory.construction(S, K, 1.0)
        value, resolved = objective.optimum(a)
        cell["window"] = {
            "length": objective.length,
            "t_eval": objective.t_eval,
            "construction_optimal": {"value": value, "resolved": resolved},
        }
    cell["seconds"] = time.perf_counter() - start
    return cell


def theory_job(rho: float, S: int, Ks, alphas, window=None) -> dict:
    """``theory_cell`` for every K of one (rho, S)."""
    return {"cells": [theory_cell(S, K, rho, alphas, window) for K in Ks]}
