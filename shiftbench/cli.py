"""Command line: one subcommand per workflow step, so each runs (and is tested) without Snakemake.

    shiftbench dataset   --rho 0.7 --lengths 96 192 --n-train 256 --n-test 512 --seed 0 --outdir results/data/rho0.7
    shiftbench train     --job '{"S": 8, "Ks": [16, 32], ...}' --train tr16.npy tr32.npy --test ... --out runs.json
    shiftbench theory    --rho 0.7 --cells 8:16 8:32 --alphas 0.5 1 --out theory.json
    shiftbench aggregate --runs runs/*.json --theory theory/*.json --outdir results/tables
    shiftbench figures   --tables results/tables --config config.yaml --outdir reports/figures
    shiftbench provenance --config config.yaml --commit abc123 --out reports/figures/provenance.html
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

log = logging.getLogger("shiftbench")


def _dataset(args):
    from .storage import dataset_file, write_dataset

    for length in args.lengths:
        # train and test get distinct streams of the same user seed
        for split, n in [("train", args.n_train), ("test", args.n_test)]:
            path = dataset_file(args.outdir, length, split, args.seed)
            meta = write_dataset(path, args.rho, n, length, 2 * args.seed + (split == "test"))
            log.info("wrote %s: %s", path, meta)


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ["shiftbench", "torch", "numpy", "snakemake"]:
        try:
            out[f"{pkg}_version"] = version(pkg)
        except PackageNotFoundError:
            out[f"{pkg}_version"] = "not installed"
    return out


def load_for(path, rho: float, length: int):
    """A dataset, checked (checksum, shape) and matched to the job (rho, length): no stale inputs."""
    from .storage import CorruptDataset, load_dataset

    x, meta = load_dataset(path)
    if meta["rho"] != rho or meta["length"] != length:
        raise CorruptDataset(f"{path}: holds rho={meta['rho']}, length={meta['length']}; the job needs rho={rho}, length={length}")
    return x


def train_job(job: dict, train_paths=None, test_paths=None, threads: int = 1) -> dict:
    """Train every (K, lr, seed) of one (objective, rho, S, variant); diverged runs are data."""
    import torch

    from .train import RunSpec, train_run

    torch.set_num_threads(threads)  # results must not depend on where the job runs
    Ks = job["Ks"]
    train_paths, test_paths = train_paths or [None] * len(Ks), test_paths or [None] * len(Ks)
    if not len(train_paths) == len(test_paths) == len(Ks):
        raise ValueError(f"need one train and one test dataset per K in {Ks}")
    fixed = {k: job[k] for k in ["S", "rho", "init", "readout", "init_params", "objective", "steps",
                                 "batch_size", "schedule", "clip", "log_every", "t_eval", "device"]}
    # Build (and so validate) every spec before reading any data: a bad job fails in a second.
    specs = {K: [RunSpec(**fixed, K=K, lr=lr, seed=seed) for lr in job["lrs"] for seed in job["seeds"]] for K in Ks}
    runs = []
    for K, train_path, test_path in zip(Ks, train_paths, test_paths):
        N = K + job["t_eval"]
        train_x = load_for(train_path, job["rho"], N) if train_path else None
        test_x = load_for(test_path, job["rho"], N) if test_path else None
        for spec in specs[K]:
            rec = train_run(spec, train_x, test_x)
            rec.update(variant=job["variant"], data_seed=job["data_seed"], threads=threads, **versions())
            log.info("%s K=%d lr=%g seed=%d: %s exact_loss=%.6g (%.1fs)", job["variant"], K, spec.lr, spec.seed,
                     rec["status"], rec["exact_loss"], rec["wall_time"])
            runs.append(rec)
    return {"job": job, "runs": runs}


def _train(args):
    from .storage import write_json

    write_json(train_job(json.loads(args.job), args.train, args.test, args.threads), args.out)


def theory_cell(S: int, K: int, rho: float, alphas, best_known_opts: dict) -> dict:
    """Closed-form quantities of one (S, K, rho): bound, construction per alpha, best known."""
    from . import inits, theory, train

    rows = []
    for alpha in alphas:
        a, b = theory.construction(S, K, alpha)
        rows.append({"alpha": alpha, "readout": "paper", "loss": theory.exact_loss(a, b, K, rho)})
        rows.append({"alpha": alpha, "readout": "optimal", "loss": theory.optimal_loss(a, K, rho)})
    start = time.perf_counter()
    best = train.best_known(S, K, rho, **best_known_opts)
    return {
        "S": S, "K": K, "rho": rho,
        "lower_bound": theory.lower_bound(S, K, rho),
        "construction": rows,
        "construction_asymptotic": {str(al): theory.construction_loss_asymptotic(S, K, al) for al in alphas},
        "best_known": best, "best_known_seconds": time.perf_counter() - start,
        "init_optimal_loss": {name: theory.optimal_loss(inits.initialise(name, S, K, 0, "zero")[0], K, rho)
                              for name in ["uncertainty", "s4d-lin", "s4d-inv"]},
    }


def _theory(args):
    from .storage import write_json

    opts = json.loads(args.best_known) if args.best_known else {}
    cells = [tuple(map(int, c.split(":"))) for c in args.cells]
    write_json({"cells": [theory_cell(S, K, args.rho, args.alphas, opts) for S, K in cells]}, args.out)


def _aggregate(args):
    from .aggregation import aggregate

    aggregate(args.runs, args.theory, args.outdir)


def read_config(text_or_path: str) -> dict:
    """A config given as JSON text (what the workflow passes) or as a YAML/JSON file."""
    import yaml

    return json.loads(text_or_path) if text_or_path.lstrip().startswith("{") else yaml.safe_load(open(text_or_path))


def _figures(args):
    from .plots import make_figures

    make_figures(args.tables, read_config(args.config), args.outdir)


def _provenance(args):
    from .plots import write_provenance

    write_provenance(read_config(args.config), args.commit, args.out)


def main(argv=None):
    p = argparse.ArgumentParser(prog="shiftbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("dataset", help="sample train and test AR(1) datasets (one per length) with checksummed sidecars")
    d.add_argument("--rho", type=float, required=True)
    d.add_argument("--lengths", type=int, nargs="+", required=True, help="sequence lengths N = K + t_eval")
    d.add_argument("--n-train", type=int, required=True)
    d.add_argument("--n-test", type=int, required=True)
    d.add_argument("--seed", type=int, required=True)
    d.add_argument("--outdir", required=True, help="writes OUTDIR/N<length>/{train,test}_seed<seed>.npy (+ .json)")
    d.set_defaults(func=_dataset, imports=("shiftbench.storage",))

    t = sub.add_parser("train", help="train all lrs and seeds of one cell")
    t.add_argument("--job", required=True, help="JSON job description (see workflow/rules/training.smk)")
    t.add_argument("--train", nargs="*", help="training datasets, one per K of the job, in order (sampled objective)")
    t.add_argument("--test", nargs="+", required=True, help="test datasets, one per K of the job, in order")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--out", required=True)
    t.set_defaults(func=_train, imports=("torch", "torch._dynamo", "shiftbench.train"))

    th = sub.add_parser("theory", help="closed-form quantities and best known of (S, K, rho) cells")
    th.add_argument("--cells", nargs="+", required=True, help="S:K pairs, e.g. 4:8 4:16 8:16")
    th.add_argument("--rho", type=float, required=True)
    th.add_argument("--alphas", type=float, nargs="+", default=[1.0])
    th.add_argument("--best-known", help="JSON options of train.best_known")
    th.add_argument("--out", required=True)
    th.set_defaults(func=_theory, imports=("torch", "torch._dynamo", "shiftbench.train"))

    ag = sub.add_parser("aggregate", help="build the pandas tables")
    ag.add_argument("--runs", nargs="+", required=True)
    ag.add_argument("--theory", nargs="+", required=True)
    ag.add_argument("--outdir", required=True)
    ag.set_defaults(func=_aggregate, imports=("shiftbench.aggregation",))

    fi = sub.add_parser("figures", help="draw the report's figures")
    fi.add_argument("--tables", required=True)
    fi.add_argument("--config", required=True, help="the validated config, as JSON text or a YAML file")
    fi.add_argument("--outdir", required=True)
    fi.set_defaults(func=_figures, imports=("shiftbench.plots",))

    pv = sub.add_parser("provenance", help="config, hash, commit and versions as an HTML table")
    pv.add_argument("--config", required=True, help="the validated config, as JSON text or a YAML file")
    pv.add_argument("--commit", default="unknown")
    pv.add_argument("--out", required=True)
    pv.set_defaults(func=_provenance, imports=("shiftbench.plots",))

    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    import importlib

    for module in args.imports:  # heavy imports first, so the timing line separates them from work
        importlib.import_module(module)
    started = time.time()
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:  # bad input: one clear line, no traceback soup
        log.error("%s", err)
        return 2
    # Interpreter start-up and imports vs the work itself (benchmarks/bench_workflow.py reads this).
    import psutil

    log.info("timing: startup %.3f s, work %.3f s", started - psutil.Process().create_time(), time.time() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
