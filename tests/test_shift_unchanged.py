"""A block that names no target trains exactly what it trained before targets became an axis of the study.

``tests/data/shift_runs_91b565c.json`` holds the records of the runs below (both objectives, both
families, joint, projected and reseed, exp-exp and zoh) as trained by main 91b565c, the commit before
the change, written by this very file:

    git worktree add /tmp/old 91b565c
    PYTHONPATH=/tmp/old:tests python tests/test_shift_unchanged.py tests/data/shift_runs_91b565c.json

The test trains the same runs with this checkout and compares every number of every run, to 1e-10.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from shiftbench import signals, train

torch.set_num_threads(1)
FIELDS = [
    "status",
    "objective_loss",
    "stationary_loss",
    "objective_optimal_loss",
    "final_train_loss",
    "test_mse",
    "initial_objective_loss",
    "learned_poles",
    "learned_readout",
    "curve",
]


def specs_and_data():
    out = []
    for obj in ["sampled", "exact"]:
        for rho in [0.0, 0.7]:
            S, K, t_eval = 4, 8, 16
            x = signals.sample_ar1(rho, 32, K + t_eval, 0) if obj == "sampled" else None
            xt = signals.sample_ar1(rho, 32, K + t_eval, 1) if obj == "sampled" else None
            specs = []
            for init, fam, ro, params in [
                ("uncertainty", "complex", "optimal", {"alpha": 1.0}),
                ("lru-ring", "complex", "random", {"r_min": 0.5, "r_max": 0.99}),
                ("s4d-real", "real", "random", {"dt": "1/K"}),
            ]:
                for seed in [0, 1]:
                    specs.append(
                        train.RunSpec(
                            S=S,
                            K=K,
                            rho=rho,
                            init=init,
                            readout=ro,
                            init_params=params,
                            family=fam,
                            objective=obj,
                            method="joint",
                            lr=0.01,
                            seed=seed,
                            steps=30,
                            batch_size=8,
                            log_every=10,
                            t_eval=t_eval,
                        )
                    )
            if obj == "exact":
                for m in ["projected", "reseed"]:
                    specs.append(
                        train.RunSpec(
                            S=6,
                            K=K,
                            rho=rho,
                            init="lru-ring",
                            readout="random",
                            init_params={"r_min": 0.5, "r_max": 0.99},
                            objective=obj,
                            method=m,
                            lr=0.01,
                            seed=0,
                            steps=120,
                            log_every=10,
                        )
                    )
                specs.append(
                    train.RunSpec(
                        S=3,
                        K=K,
                        rho=rho,
                        init="s4d-real",
                        readout="random",
                        init_params={"dt": "1/K"},
                        family="real",
                        objective=obj,
                        method="projected",
                        lr=0.01,
                        seed=0,
                        steps=30,
                        parameterisation="zoh",
                    )
                )
            out.append((specs, x, xt))
    return out


def test_runs_of_the_shift_equal_those_before_targets_became_an_axis():
    with open(Path(__file__).parent / "data" / "shift_runs_91b565c.json") as f:
        before = json.load(f)
    now = [{k: r[k] for k in FIELDS} for specs, x, xt in specs_and_data() for r in train.train_runs(specs, x, xt)]
    assert len(now) == len(before)
    for i, (a, b) in enumerate(zip(now, before)):
        assert a["status"] == b["status"], i
        for key in FIELDS[1:]:
            np.testing.assert_allclose(np.asarray(a[key], dtype=float), np.asarray(b[key], dtype=float),
                                       rtol=0, atol=1e-10, err_msg=f"run {i}: {key}")  # fmt: skip


if __name__ == "__main__":
    records = [{k: r[k] for k in FIELDS} for specs, x, xt in specs_and_data() for r in train.train_runs(specs, x, xt)]
    Path(sys.argv[1]).write_text(json.dumps(records))
