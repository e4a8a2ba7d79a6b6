"""shiftbench.kernels: the memory kernels scored at initialisation, their references and their claims.

Every L* here is checked against the dense least squares of tests/test_targets.py (a long truncated
Toeplitz system, another route than the all-pass cascade of ``targets.optimum``); every claim is fed
data on which it is false.
"""

import numpy as np
import pandas as pd
import pytest
import span
import yaml
from conftest import REPO
from test_targets import dense_optimum

from shiftbench import config, kernels, precise, targets

RULES = {
    "uncertainty": {"init": "uncertainty", "params": {}, "family": "complex"},
    "real-ring": {"init": "real-ring", "params": {}, "family": "real"},
    "post-geometric": {"init": "post-geometric", "params": {}, "family": "real"},
}
LIGHT = {"construction_starts": 1, "random_starts": 1, "iterations": 60, "hops": 0}


@pytest.fixture(scope="module")
def bump_job():
    return kernels.job("bump", {"name": "bump", "K": 12, "sigma": 1.0}, [4], [0.0, 0.7], RULES, [0, 1], LIGHT)


def test_scores_are_the_dense_optimum_of_each_rules_poles(bump_job):
    """Per item: L*(a_init) against dense least squares on the same poles; a rule that draws nothing is
    scored once, a random one at every seed; the reference of its family is at or below every rule."""
    target = targets.make_target("bump", K=12, sigma=1.0)
    d = target.sequence(20000)  # every pole (|a| <= 0.999) decayed below 1e-8 by then
    refs = {(r["family"], r["rho"]): r["value"] for r in bump_job["references"]}
    seeds = {rule: sorted({s["seed"] for s in bump_job["scores"] if s["init"] == rule}) for rule in RULES}
    assert seeds == {"uncertainty": [0], "real-ring": [0, 1], "post-geometric": [0]}
    for row in bump_job["scores"]:
        a = kernels.poles(RULES[row["init"]], row["S"], row["K_scale"], row["seed"])
        assert row["init_loss"] == pytest.approx(dense_optimum(a, d, row["rho"])[0], abs=1e-9)
        assert row["reference"] == refs[(row["family"], row["rho"])] <= row["init_loss"] + 1e-12
        # recovered_at_init from the poles alone, both optima by dense least squares: the init's own poles and
        # the poles of its family's reference at that rho, over the span they reach (a Jordan chain where the
        # reference's poles coincide), not the row's init_loss and reference typed again
        (ref,) = [r for r in bump_job["references"] if (r["family"], r["rho"], r["S"]) == (row["family"], row["rho"],
                                                                                          row["S"])]  # fmt: skip
        ref_poles = np.array([complex(re, im) for re, im in ref["poles"]])
        own, best = dense_optimum(a, d, row["rho"])[0], span.span_optimum(ref_poles, d, row["rho"])
        assert row["recovered_at_init"] == pytest.approx((1 - own) / (1 - best), rel=1e-8, abs=1e-9)


def test_reference_value_is_the_dense_optimum_of_its_poles(bump_job):
    """Per reference, against the optimum of its poles at 60 digits: ``precise.stationary_infimum``, the
    closed-form AR(1) Gram matrix over every lag (another route than the all-pass cascade of
    ``targets.optimum``; against mpmath's dense Toeplitz system in tests/test_precise.py), accurate far below
    1e-9. A float64 dense least squares on 20000 truncated lags is not: 2.3e-9 off on these poles."""
    d = targets.make_target("bump", K=12, sigma=1.0).sequence(20000)
    support = d[: np.flatnonzero(d).max() + 1]  # the bump's support; the lags beyond are in closed form
    for ref in bump_job["references"]:
        a = np.array([complex(re, im) for re, im in ref["poles"]])
        if span.groups(a) != [(z, 1) for z in a]:  # the real family's closure: coinciding poles, a Jordan span
            # float64 dense least squares on the Jordan chains (tests/span.py, itself held to mpmath to 1e-10)
            assert ref["value"] == pytest.approx(span.span_optimum(a, d[:4000], ref["rho"]), abs=1e-8)
            continue
        assert ref["value"] == pytest.approx(precise.stationary_infimum(a, support, ref["rho"], dps=60), abs=1e-9)


def test_exp_check_is_zero_and_fails_on_another_pole():
    assert abs(kernels.exp_check({"name": "exp", "lam": 0.8}, 0.7)) <= kernels.CHECK_TOL
    wrong = targets.optimal_loss(np.array([0.7 + 0j]), targets.make_target("exp", lam=0.8), 0.7)
    assert wrong > 1e-3  # a pole elsewhere does not reproduce lambda^k: the check can fail


def synthetic(geo_better: bool, n_cells=6):
    """Scores where post-geometric is (or is not) below post-linear and real-ring in every cell."""
    rows = []
    for S in range(4, 4 + n_cells):
        base = 0.5 / S
        geo, lin = (base, 2 * base) if geo_better else (2 * base, base)
        rows.append({"target": "pol", "S": S, "rho": 0.7, "init": "post-geometric", "seed": 0, "init_loss": geo})
        rows.append({"target": "pol", "S": S, "rho": 0.7, "init": "post-linear", "seed": 0, "init_loss": lin})
        for seed in range(5):
            rows.append({"target": "pol", "S": S, "rho": 0.7, "init": "real-ring", "seed": seed,
                         "init_loss": lin + 0.01 * seed})  # fmt: skip
    refs = pd.DataFrame([{"target": "pol", "family": "real", "S": S, "rho": 0.7, "value": 0.1 / S**2}
                         for S in range(4, 4 + n_cells)])  # fmt: skip
    return pd.DataFrame(rows), refs


CFG = {
    "targets": {"pol": {"name": "power", "tau": 10.0, "p": 1.1}},
    "inits": {r: {"init": r, "params": {}, "family": "real"} for r in ("post-geometric", "post-linear", "real-ring")},
    "rho": [0.7],
    "collapse_tolerance": 0.05,
    "capture_level": 0.1,
}


@pytest.mark.parametrize("geo_better", [True, False])
def test_post_claims_decide_both_ways(geo_better):
    scores, refs = synthetic(geo_better)
    c = kernels.claims(scores, refs, CFG, 0.05).set_index("claim").verdict
    ordering = [v for k, v in c.items() if "than linearly spaced" in k]
    random_ = [v for k, v in c.items() if "than random ones" in k]
    assert ordering == ["supported" if geo_better else "contradicted"]
    assert random_ == ["supported" if geo_better else "contradicted"]
    rate = [v for k, v in c.items() if "shrinks" in k]
    assert rate == ["supported"]  # gaps 0.5/S - 0.1/S^2 (or 1/S - ...) shrink with S either way


def test_post_rate_is_contradicted_where_the_gap_grows():
    scores, refs = synthetic(True)
    scores.loc[scores.init == "post-geometric", "init_loss"] = 0.01 * scores.loc[scores.init == "post-geometric", "S"]
    c = kernels.claims(scores, refs, CFG, 0.05).set_index("claim").verdict
    assert [v for k, v in c.items() if "shrinks" in k] == ["contradicted"]


def bump_refs(values):
    """References of bumps K = 32 at (S, sigma) with the given values, complex family."""
    return pd.DataFrame([{"target": f"b{sigma:g}", "family": "complex", "S": S, "rho": 0.7, "value": v}
                         for (S, sigma), v in values.items()])  # fmt: skip


@pytest.mark.parametrize("spread, verdict", [(0.01, "supported"), (0.2, "contradicted")])
def test_bump_collapse_decides_both_ways(spread, verdict):
    refs = bump_refs({(4, 4.0): 0.3, (8, 2.0): 0.3 + spread, (8, 4.0): 0.05, (16, 2.0): 0.05})
    cfg = {**CFG, "targets": {f"b{s:g}": {"name": "bump", "K": 32, "sigma": s} for s in (2.0, 4.0)}}
    c = kernels.claims(pd.DataFrame(columns=kernels.COLUMNS), refs, cfg, 0.05).set_index("claim").verdict
    assert [v for k, v in c.items() if "alone" in k] == [verdict]
    capture = [v for k, v in c.items() if "captured" in k]
    assert capture == ["supported"]  # sigma S / K = 1 at (8, 4) and (16, 2): both 0.05 < 0.1
    refs.loc[(refs.S == 16), "value"] = 0.5
    c = kernels.claims(pd.DataFrame(columns=kernels.COLUMNS), refs, cfg, 0.05).set_index("claim").verdict
    assert [v for k, v in c.items() if "captured" in k] == ["contradicted"]


@pytest.mark.parametrize(
    "target, key",
    [
        ({"name": "power", "tau": 10.0, "p": 0.5}, "p must"),
        ({"name": "exp", "lam": -1.0}, "lam must"),
        ({"name": "bump", "K": 8, "sigma": -0.5}, "sigma must"),
        ({"name": "bump", "K": 8, "sigma": 3.0}, "window stays at lags >= 0"),
        ({"name": "bump", "K": 8, "sigma": float("inf")}, "targets.t"),
        ({"name": "delay", "K": 8}, "targets.t.name"),
    ],
)
def test_bad_kernel_targets_are_refused_before_any_job(target, key):
    c = yaml.safe_load((REPO / "config.yaml").read_text())
    c["targets"] = {"t": target}  # the kernels section names ids of the top-level targets map
    c["kernels"] = {"targets": ["t"], "inits": {"u": {"init": "uncertainty"}}}
    c["blocks"] = {name: b for name, b in c["blocks"].items() if "targets" not in b}
    with pytest.raises(config.ConfigError, match=key):
        config.validate_config(c)
    if "name" in key:
        return
    with pytest.raises(config.ConfigError, match=r"invalid config key targets\.t"):
        config.validate_config(c)
