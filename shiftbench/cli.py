"""Command line: one subcommand per workflow step, so each runs (and is tested) without Snakemake.

This module only parses arguments; every subcommand calls one function of ``shiftbench.jobs``,
``shiftbench.aggregation``, ``shiftbench.plots`` or ``shiftbench.evaluate``.

    shiftbench dataset   --rho 0.7 --lengths 96 192 --n-train 256 --n-test 512 --seed 0 --outdir results/data/rho0.7
    shiftbench train     --job '{"S": 8, "Ks": [16, 32], ...}' --train tr16.npy tr32.npy --test ... --out runs.json
    shiftbench theory    --rho 0.7 --S 8 --Ks 16 32 --alphas 0.5 1 --window '{"t_eval": 64, "burn_in": 0}' --out th.json
    shiftbench reference --objective exact --rho 0.7 --cells '[[8, 16], [8, 32]]' --options '{"hops": 5}' --out ref.json
    shiftbench aggregate --runs runs/*.json --theory theory/*.json --references ref/*.json --outdir results/tables
    shiftbench figures   --tables results/tables --config config.yaml --outdir reports/figures
    shiftbench provenance --config config.yaml --commit abc123 --out reports/figures/provenance.html
    shiftbench evaluate  layer.pt --format lru-pytorch --channel 0,0 --K 64 256 --rho 0 0.9 --out eval.csv
    shiftbench pruning   --runs results/runs/zoh/*/*/*/*.json --options '{"block": "zoh"}' --out pruning.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from .config import defaults, load_config
from .layout import BASELINE, FAMILIES
from .objectives import OBJECTIVES

log = logging.getLogger("shiftbench")


def _dataset(args):
    from .jobs import dataset_job

    dataset_job(args.rho, args.lengths, args.n_train, args.n_test, args.seed, args.outdir)


def _train(args):
    from .jobs import train_job
    from .storage import write_json

    write_json(train_job(json.loads(args.job), args.train, args.test, args.threads), args.out)


def _train_long(args):
    from .budget import long_job
    from .storage import write_json

    write_json(long_job(json.loads(args.job), args.runs, args.train, args.test, args.threads), args.out)


def _theory(args):
    from .jobs import theory_job
    from .storage import write_json

    window = json.loads(args.window) if args.window else None
    write_json(theory_job(args.rho, args.S, args.Ks, args.alphas or defaults("theory")["alphas"], window), args.out)


def _reference(args):
    from .jobs import reference_job

    window = json.loads(args.window) if args.window else None
    reference_job(args.objective, args.rho, json.loads(args.cells), json.loads(args.options), window, args.family,
                  args.recompute, args.save, args.out)  # fmt: skip


def _kernel(args):
    from .kernels import job
    from .storage import write_json

    k = json.loads(args.job)
    write_json(job(k["target"], k["spec"], k["S"], k["rho"], k["inits"], k["seeds"], k["reference"]), args.out)


def _kernel_report(args):
    from .config import kernel_section
    from .kernels import report

    cfg = read_config(args.config)
    report(args.jobs, kernel_section(cfg), cfg["claims"]["significance"], args.outdir, args.figure)


def _aggregate(args):
    from .aggregation import aggregate

    aggregate(args.runs, args.theory, args.references, args.outdir)


def read_config(text_or_path: str) -> dict:
    """A config given as JSON text (what the workflow passes, validated) or as a YAML file (validated here)."""
    return json.loads(text_or_path) if text_or_path.lstrip().startswith("{") else load_config(text_or_path)


def _figures(args):
    from .plots import make_figures

    make_figures(args.tables, read_config(args.config), args.outdir)


def _provenance(args):
    from .plots import write_provenance

    write_provenance(read_config(args.config), args.commit, args.out)


def _evaluate(args):
    from .evaluate import evaluate_command

    evaluate_command(args)


def _pruning(args):
    from .pruning import parse_options, study_job

    study_job(args.runs, parse_options(args.options), args.out)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="shiftbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "dataset", help="sample train and test AR(1) datasets (one per length) with checksummed sidecars"
    )
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
    t.add_argument("--test", nargs="*", help="test datasets, one per K of the job, in order (sampled objective)")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--out", required=True)
    t.set_defaults(func=_train, imports=("torch", "shiftbench.train"))

    tl = sub.add_parser(
        "train-long", help="the budget control: a training job's first seeds again, budget_factor x steps"
    )
    tl.add_argument("--job", required=True, help="the training job's JSON (as `shiftbench train --job`)")
    tl.add_argument("--runs", required=True, help="the training job's output (its runs select the lrs)")
    tl.add_argument("--train", nargs="*", help="training datasets, one per K (sampled objective)")
    tl.add_argument("--test", nargs="*", help="test datasets, one per K")
    tl.add_argument("--threads", type=int, default=1)
    tl.add_argument("--out", required=True)
    tl.set_defaults(func=_train_long, imports=("torch", "shiftbench.budget"))

    th = sub.add_parser("theory", help="closed-form quantities of the (S, K) cells of one rho and S")
    th.add_argument("--rho", type=float, required=True)
    th.add_argument("--S", type=int, required=True)
    th.add_argument("--Ks", type=int, nargs="+", required=True)
    th.add_argument("--alphas", type=float, nargs="+", help="default: theory.alphas of the config schema")
    th.add_argument("--window", help='JSON {"t_eval": T, "burn_in": B} of the sampled objective, if it is trained')
    th.add_argument("--out", required=True)
    th.set_defaults(func=_theory, imports=("shiftbench.theory",))

    rf = sub.add_parser(
        "reference",
        help="the reference of (S, K) cells of one objective and rho: committed and re-verified, or searched",
    )
    rf.add_argument("--objective", choices=list(OBJECTIVES), required=True)
    rf.add_argument("--rho", type=float, required=True)
    rf.add_argument("--cells", required=True, help="JSON [[S, K], ...]: the cells, e.g. '[[250, 250], [250, 500]]'")
    rf.add_argument("--family", choices=list(FAMILIES), default=BASELINE)
    rf.add_argument("--options", default="{}", help="JSON options of the search (theory.reference)")
    rf.add_argument("--window", help='JSON {"t_eval": T, "burn_in": B} of the sampled objective')
    rf.add_argument("--recompute", action="store_true", help="search even where a reference is committed")
    rf.add_argument("--save", action="store_true", help="commit each searched reference to shiftbench/references/")
    rf.add_argument("--out", help="the job's JSON output")
    rf.set_defaults(func=_reference, imports=("torch", "shiftbench.reference"))  # torch: the search's gradients

    ag = sub.add_parser("aggregate", help="build the pandas tables")
    ag.add_argument("--runs", nargs="+", required=True)
    ag.add_argument("--theory", nargs="+", required=True)
    ag.add_argument("--references", nargs="+", required=True)
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

    kj = sub.add_parser("kernel", help="one memory kernel: its references and every rule's score at initialisation")
    kj.add_argument("--job", required=True, help='JSON {"target", "spec", "S", "rho", "inits", "seeds", "reference"}')
    kj.add_argument("--out", required=True)
    kj.set_defaults(func=_kernel, imports=("torch", "shiftbench.kernels"))

    kr = sub.add_parser("kernel-report", help="the kernel tables, their claims and their figure")
    kr.add_argument("--jobs", nargs="+", required=True, help="the kernel jobs' JSON files")
    kr.add_argument("--config", required=True, help="the validated config, as JSON text or a YAML file")
    kr.add_argument("--outdir", required=True, help="writes kernel_{scores,references,claims}.csv")
    kr.add_argument("--figure", required=True)
    kr.set_defaults(func=_kernel_report, imports=("shiftbench.kernels",))

    from .readers import READERS  # numpy only: cheap

    ev = sub.add_parser(
        "evaluate", help="losses of one trained diagonal layer vs the optimum of its poles, reference and bound"
    )
    ev.add_argument("layer", help="the layer file (docs/layers.md: npz, csv, lru-pytorch or s4d state_dict)")
    ev.add_argument(
        "--format",
        choices=list(READERS),  # register a reader there and it is a format here
        help="default: from the suffix (.npz, .csv); a .pt/.pth/.ckpt/.bin state_dict by its keys",
    )
    ev.add_argument("--K", type=int, nargs="+", help="lags of the shift to copy (>= 1); not with --target")
    ev.add_argument(
        "--target",
        help="a memory target instead of the shift: the id of a target of --config's "
        'targets map, or a JSON spec such as \'{"name": "exp", "lam": 0.9}\' (docs/targets.md)',
    )
    ev.add_argument("--config", help="the config whose targets map --target names (default: config.yaml)")
    ev.add_argument(
        "--reference",
        nargs="+",
        help="reference files of a study (results/reference/**/*.json) that "
        "hold the family's reference where none is committed",
    )
    ev.add_argument("--rho", type=float, nargs="+", default=[0.0], help="AR(1) autocorrelations (default 0)")
    ev.add_argument("--channel", help="lru-pytorch: 'i,j' (input i, output j); s4d: 'h'")
    ev.add_argument("--window", type=int, help="also the finite-window loss: zero state, last T of K+T steps")
    ev.add_argument("--out", help="write the table as CSV")
    ev.add_argument("--plot", help="draw the kernels around each lag K into this file (.png, .pdf)")
    ev.add_argument("--per-pole", help="what each unit (pair or real pole) is worth: exact and kept-readout "
                    "leave-one-out costs and the field's scores, one row per unit (docs/pruning.md)")  # fmt: skip
    ev.add_argument("--ladder", help="the best sublayer of k units for every k (greedy on the exact L*), as CSV")
    ev.add_argument("--ladder-plot", help="draw the ladder with every score's sublayers into this file (.png, .pdf)")
    ev.add_argument("--grades", help="each score against the exact costs (Kendall tau, excess loss), as CSV")
    ev.add_argument("--scores", nargs="+", help="the scores to grade (default: all; docs/pruning.md)")
    ev.add_argument("--prune", nargs=2, metavar=("k", "OUT.npz"), help="write the ladder's sublayer of k units "
                    "(readout re-fit, no feed-through) as npz; one --K and one --rho")  # fmt: skip
    ev.set_defaults(func=_evaluate, imports=("shiftbench.evaluate",))

    pr = sub.add_parser("pruning", help="the study's pruning table: scores graded on the learned layers of a block")
    pr.add_argument("--runs", nargs="+", required=True, help="the runs JSON of the block (results/runs/BLOCK/...)")
    pr.add_argument("--options", required=True, help='JSON {"block": ..., "scores": [...]} (config pruning)')
    pr.add_argument("--out", required=True, help="results/tables/pruning.csv")
    pr.set_defaults(func=_pruning, imports=("shiftbench.pruning",))

    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    import importlib

    try:
        for module in args.imports:  # heavy imports first, so the timing line separates them from work
            importlib.import_module(module)  # (an import may read the config schema: package data)
        started = time.time()
        args.func(args)
    except (ValueError, FileNotFoundError) as err:  # bad input or package data: one clear line, no traceback soup
        log.error("%s", err)
        return 2
    # Interpreter start-up and imports vs the work itself (benchmarks/bench_workflow.py reads this).
    import psutil

    log.info("timing: startup %.3f s, work %.3f s", started - psutil.Process().create_time(), time.time() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
