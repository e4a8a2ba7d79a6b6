"""The claims on memory kernels beyond the shift (``claims.target_claims``), each on tables where it holds
and on tables where it is false."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shiftbench import claims

ALPHA = 0.05
CFG = {
    "targets": {
        "bump-a": {"name": "bump", "K": 32, "sigma": 2.0},
        "bump-b": {"name": "bump", "K": 32, "sigma": 4.0},
        "pol": {"name": "power", "tau": 10.0, "p": 1.1},
    },
    "kernels": {"collapse_tolerance": 0.05},
}


def summary_row(target, S, variant, init, mean, block="memory"):
    return {"block": block, "S": S, "K": 32, "rho": 0.7, "target": target,
            "target_spec": json.dumps(CFG["targets"][target], sort_keys=True), "objective": "exact",
            "method": "joint", "variant": variant, "init": init, "mean": mean}  # fmt: skip


def run_rows(target, S, variant, init, losses):
    return [{**summary_row(target, S, variant, init, loss), "objective_loss": loss, "seed": i}
            for i, loss in enumerate(losses)]  # fmt: skip


def one(rows, text):
    found = [r for r in rows if text in r[0]]
    assert len(found) == 1, [r[0] for r in rows]
    return found[0]


@pytest.mark.parametrize("second, verdict", [(0.30, "supported"), (0.50, "contradicted")])
def test_bump_collapse_of_learned_losses(second, verdict):
    """sigma S / K = 1 at (bump-a, S = 16) and (bump-b, S = 8): the same best loss supports the collapse, a loss
    0.2 apart contradicts it."""
    s = pd.DataFrame([summary_row("bump-a", 16, "u", "uncertainty", 0.30), summary_row("bump-b", 8, "u", "uncertainty",
                      second)])  # fmt: skip
    row = one(claims.target_claims(pd.DataFrame(columns=s.columns), s, CFG, ALPHA), "sigma S / K alone")
    assert row[1] == verdict


def test_bump_collapse_without_shared_values_has_no_data():
    s = pd.DataFrame([summary_row("bump-a", 16, "u", "uncertainty", 0.3), summary_row("bump-b", 16, "u", "uncertainty",
                      0.2)])  # fmt: skip
    row = one(claims.target_claims(pd.DataFrame(columns=s.columns), s, CFG, ALPHA), "sigma S / K alone")
    assert row[1] == "no data"


@pytest.mark.parametrize("geo, rnd, verdict", [(0.1, 0.2, "supported"), (0.2, 0.1, "contradicted")])
def test_post_ordering_after_training(geo, rnd, verdict):
    """post-geometric below real-ring in every seed of 4 cells: supported; the labels swapped: contradicted."""
    runs, s = [], []
    for S in (4, 8, 16, 32):
        for variant, init, loss in (("geo", "post-geometric", geo), ("rr", "real-ring", rnd)):
            runs += run_rows("pol", S, variant, init, [loss - 0.01, loss, loss + 0.01])
            s.append(summary_row("pol", S, variant, init, loss))
    rows = claims.target_claims(pd.DataFrame(runs), pd.DataFrame(s), CFG, ALPHA)
    assert one(rows, "PoST after training")[1] == verdict
    winner = one(rows, "(lowest mean loss)")
    assert winner[1] == "supported" and winner[0].startswith(f"[pol, exact, joint] {'geo' if geo < rnd else 'rr'}")
