"""The budget control (train.budget_factor): its config checks, the long runs it trains, the summary's
long-budget columns and the Claims' budget-limited rule.

References by other routes: the lr selection against the summary's own (pandas) rule on the same
records; the long runs against ``train.train_run`` of specs written out by hand; the claim's verdicts
on synthetic summaries built to fall on each side of the rule.
"""

import copy
import math

import numpy as np
import pandas as pd
import pytest

from shiftbench import aggregation, budget, claims, config, jobs, train

TINY = config.load_config("configs/tiny.yaml")


def with_factor(value, block="projected"):
    c = copy.deepcopy(TINY)
    c["blocks"][block]["train"]["budget_factor"] = value
    return c


@pytest.mark.parametrize("value", [1, 0, -2, 2.5, 2.0, float("nan"), True, "2"])
def test_a_bad_budget_factor_is_refused_naming_the_key(value):
    with pytest.raises(config.ConfigError, match=r"blocks\.projected\.train\.budget_factor"):
        config.validate_config(with_factor(value))


def test_a_good_budget_factor_and_none_are_accepted():
    config.validate_config(with_factor(3))
    config.validate_config(with_factor(None))
    assert config.defaults("train")["budget_factor"] is None


def test_a_block_that_trains_no_steps_is_refused():
    """A block with no run (no objective to train) has nothing to train longer."""
    block = config.blocks(with_factor(2))[1]
    empty = config.Block(block.name, block.grid, [], block.variants, {**block.train, "budget_factor": 2})
    with pytest.raises(config.ConfigError, match=r"budget_factor.*trains no steps"):
        config._check_budget_factor(empty, ["blocks", "projected", "train", "budget_factor"])


def job(**train_over):
    variants = {
        "uncertainty": {"init": "uncertainty", "params": {"alpha": 1.0}, "readout": "optimal", "family": "complex"},
        "lru-ring": {"init": "lru-ring", "params": {"r_min": 0.5, "r_max": 0.95}, "readout": "random",
                     "family": "complex"},
    }  # fmt: skip
    t = {**config.defaults("train"), "methods": ["joint", "projected"], "seeds": [3, 4], "lr": [0.01, 0.03],
         "steps": 12, "log_every": 4, "budget_factor": 2, **train_over}  # fmt: skip
    return {"block": "b", "objective": "exact", "rho": 0.5, "S": 4, "Ks": [8, 16], "variants": variants,
            "data_seed": 0, "train": t, "t_eval": 16, "burn_in": 0}  # fmt: skip


def test_the_long_runs_are_the_first_seed_at_the_selected_lr_and_budget_factor_steps(tmp_path):
    j = job()
    normal = jobs.train_job(j)
    path = tmp_path / "runs.json"
    from shiftbench.storage import write_json

    write_json(normal, path)
    runs = pd.DataFrame(normal["runs"])
    # the summary's rule, by pandas on the same records: lowest mean final training loss over ok seeds
    ok = runs[runs.status == "ok"]
    want = ok.groupby(["K", "variant", "method", "lr"]).final_train_loss.mean().groupby(["K", "variant", "method"])
    want = {k: g.idxmin()[-1] for k, g in want}
    got = {k[1:]: lr for k, lr in budget.selected_lr(normal["runs"]).items()}
    assert got == want
    long = budget.long_job(j, path)
    assert long["job"]["budget"] == budget.LONG
    assert len(long["runs"]) == len(want)  # one long run per (K, variant, method)
    for rec in long["runs"]:
        key = (rec["K"], rec["variant"], rec["method"])
        assert rec["lr"] == want[key] and rec["seed"] == 3 and rec["steps"] == 24 and rec["steps_normal"] == 12
        assert rec["budget"] == budget.LONG and rec["budget_factor"] == 2
        init = j["variants"][rec["variant"]]
        spec = train.RunSpec(S=4, K=rec["K"], rho=0.5, init=init["init"], readout=init["readout"],
                             init_params=init["params"], objective="exact", method=rec["method"], lr=want[key],
                             steps=24, seed=3, log_every=4, budget_factor=2)  # fmt: skip
        alone = train.train_run(spec)
        assert rec["status"] == alone["status"]
        np.testing.assert_allclose(rec["objective_loss"], alone["objective_loss"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(np.array(rec["curve"]), np.array(alone["curve"]), rtol=1e-8, atol=1e-10)
        assert rec["curve"][-1][0] == 24


def test_a_job_without_budget_factor_has_no_long_runs(tmp_path):
    with pytest.raises(ValueError, match="budget_factor"):
        budget.long_specs(job(budget_factor=None), [])


def summary_rows(first, long, reference=0.2):
    """A synthetic summary: one row per cell (K), recovered fractions at the normal and the long budget."""
    rows = []
    for K, (f, g) in enumerate(zip(first, long), start=1):
        rows.append(dict(block="b", S=4, K=K, rho=0.5, target="shift", objective="exact", method="joint",
                         variant="v", reference=reference, recovered=f, recovered_first=f, recovered_long=g,
                         steps=100, steps_long=200))  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "first,long,verdict",
    [
        ([0.6, 0.8], [0.8, 0.9], "supported"),  # closes 50% and 50% > 25%: budget-limited
        ([0.6, 0.8], [0.8, 0.84], "not supported"),  # closes 50% and 20%: the second cell is not
        ([0.6, 0.8], [0.61, 0.8], "not supported"),  # closes 2.5% and 0%
        ([0.6, 1.0], [0.75, 1.0], "supported"),  # 37.5%; the cell without a gap has no say
    ],
)
def test_budget_limited_rule(first, long, verdict):
    rows = claims.budget_claims(summary_rows(first, long), 0.25)
    assert len(rows) == 1 and rows[0][1] == verdict
    assert "budget_tolerance = 0.25" in rows[0][2]
    for f, g in zip(first, long):
        if f < 1:
            assert f"{(g - f) / (1 - f):.0%} at K" in rows[0][2]


def test_budget_closure_per_cell():
    s = summary_rows([0.5, 0.9], [0.75, 0.9])
    np.testing.assert_allclose(s.apply(claims.budget_closure, axis=1), [0.5, 0.0], atol=1e-12)
    assert math.isnan(claims.budget_closure(summary_rows([1.0], [1.0]).iloc[0]))


def test_summary_long_budget_columns_are_each_variants_own():
    """add_long_budget: per summary row, the long run of its own variant and the same seed and lr at the
    block's budget, as recovered fractions against the row's reference."""
    key = dict(block="b", S=4, rho=0.5, target="shift", objective="exact", method="joint")
    runs, long, summary = [], [], []
    for K, ref in [(8, 0.3), (16, 0.5)]:
        for variant, base in [("u", 0.6), ("l", 0.7)]:
            for seed in (0, 1):
                for lr in (0.01, 0.03):
                    loss = base + 0.01 * seed + (0.02 if lr == 0.03 else 0.0) + K / 1000
                    runs.append(dict(**key, K=K, variant=variant, seed=seed, lr=lr, status="ok", steps=10,
                                     objective_loss=loss))  # fmt: skip
            long.append(dict(**key, K=K, variant=variant, seed=0, lr=0.01, status="ok", steps=20,
                             objective_loss=base - 0.1 + K / 1000, run_id=f"{K}/{variant}/long"))  # fmt: skip
            summary.append(dict(**key, K=K, variant=variant, reference=ref, lr=0.01))
    out = aggregation.add_long_budget(pd.DataFrame(summary), pd.DataFrame(runs), pd.DataFrame(long))
    for row in out.itertuples():
        base = {"u": 0.6, "l": 0.7}[row.variant]
        assert row.steps == 10 and row.steps_long == 20 and row.long_run_id == f"{row.K}/{row.variant}/long"
        np.testing.assert_allclose(row.recovered_first, (1 - (base + row.K / 1000)) / (1 - row.reference))
        np.testing.assert_allclose(row.recovered_long, (1 - (base - 0.1 + row.K / 1000)) / (1 - row.reference))
    none = aggregation.add_long_budget(pd.DataFrame(summary), pd.DataFrame(runs), pd.DataFrame())
    assert none.recovered_long.isna().all() and none.long_run_id.isna().all() and (none.steps == 10).all()


def test_one_lr_rule_for_the_summary_and_the_long_runs():
    """``selection.select_lr`` against pandas on random tables (per item): the lr of the lowest mean final
    training loss, a tie to the smallest lr; the summary and the budget control both call it."""
    from shiftbench import selection

    rng = np.random.default_rng(7)
    for trial in range(200):
        lrs = rng.choice([1e-3, 3e-3, 1e-2, 3e-2], size=rng.integers(1, 12))
        losses = rng.choice([0.25, 0.5, 0.75], size=lrs.size)  # few values: ties are frequent
        means = pd.Series(losses).groupby(lrs).mean()
        want = means[means == means.min()].index.min()
        assert selection.select_lr(zip(lrs, losses)) == want, trial
    assert np.isnan(selection.select_lr([]))
    assert selection.select_lr([(0.01, 0.5), (0.001, 0.5)]) == 0.001  # the tie, in either order
    assert selection.select_lr([(0.001, 0.5), (0.01, 0.5)]) == 0.001
