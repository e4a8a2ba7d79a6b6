"""The budget control: is a variant's gap to its reference a matter of training budget?

For a block with ``train.budget_factor`` (an integer >= 2), a job after the block's training job reads
its runs, takes for each (unit, variant, method) the learning rate the study selects (the lowest mean
final training loss over its ok seeds: ``selection.select_lr``, the summary's rule, on the very runs
the summary reads) and trains the first seed again at ``budget_factor`` x steps at that lr. Only the
selected lr is trained long (one run per variant and method, not one per lr): the lr is known only
after the normal runs, so the long runs are a job of their own (docs/theory.md section 8.2). The
summary sets their recovered fraction (``recovered_long``, ``steps_long``) beside the normal one, and
the Claims say whether a gap is budget-limited.

    shiftbench train-long --job JOB --runs results/runs/BLOCK/.../data0.json --out OUT.json
"""

from __future__ import annotations

import dataclasses

from .selection import select_lr

LONG = "long"  # the ``budget`` of a long run's record and of its job (``aggregation`` routes on it)


def selected_lr(records) -> dict:
    """(target, K, variant, method) -> the lr the study selects (``selection.select_lr``) over its ok
    runs. Units without an ok run are left out."""
    pairs: dict = {}
    for r in records:
        if r["status"] == "ok":
            key = (r.get("target", "shift"), r["K"], r["variant"], r["method"])
            pairs.setdefault(key, []).append((r["lr"], r["final_train_loss"]))
    return {key: select_lr(p) for key, p in pairs.items()}


def long_specs(job: dict, records) -> list[list]:
    """For every unit of the job (``jobs.units``): [(variant, RunSpec, seed_invariant)] of the long runs:
    the first seed of each variant and method at its selected lr, at budget_factor x steps."""
    from .jobs import units
    from .train import RunSpec

    factor, first = job["train"]["budget_factor"], job["train"]["seeds"][0]
    if factor is None:
        raise ValueError(f"block {job['block']!r} has no train.budget_factor: no long runs to train")
    lrs = selected_lr(records)
    names = [f.name for f in dataclasses.fields(RunSpec)]
    out = []
    for K, target, _ in units(job):
        unit = []
        for r in records:
            key = (r.get("target", "shift"), r["K"], r["variant"], r["method"])
            if key[:2] == (target, K) and r["seed"] == first and lrs.get(key) == r["lr"]:
                spec = RunSpec(**{**{n: r[n] for n in names}, "steps": factor * r["steps"]})
                unit.append((r["variant"], spec, r.get("seed_invariant", False)))
        out.append(unit)
    return out


def long_job(job: dict, runs_path, train_paths=None, test_paths=None, threads: int = 1) -> dict:
    """Train the long runs of one training job (its JSON output ``runs_path``); records as ``jobs.train_job``'s,
    with ``budget = "long"`` and ``steps_normal`` (the block's steps)."""
    import torch

    from .jobs import train_units
    from .storage import read_json

    torch.set_num_threads(threads)
    specs = long_specs(job, read_json(runs_path)["runs"])
    runs = train_units(job, specs, train_paths, test_paths, threads,
                       extra=lambda s: {"budget": LONG, "steps_normal": s.steps // s.budget_factor})  # fmt: skip
    return {"job": {**job, "budget": LONG}, "runs": runs}
