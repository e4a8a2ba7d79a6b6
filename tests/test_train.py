import dense
import numpy as np
import pytest

from shiftbench import inits, reference, signals, theory, train


def spec(**over):
    """A small exact-objective run; keyword arguments override any field."""
    fields = dict(
        S=4,
        K=10,
        rho=0.3,
        init="lru-ring",
        readout="random",
        objective="exact",
        method="joint",
        lr=1e-2,
        steps=30,
        seed=0,
        init_params={"r_min": 0.5, "r_max": 0.95},
    )
    return train.RunSpec(**{**fields, **over})


def test_short_run_from_optimal_uncertainty_init_does_not_get_worse():
    rec = train.train_run(spec(S=9, K=60, rho=0.5, init="uncertainty", readout="optimal", init_params={}, lr=1e-3))
    assert rec["status"] == "ok"
    assert rec["objective_loss"] <= rec["initial_objective_loss"] + 1e-12
    assert rec["initial_objective_loss"] == pytest.approx(rec["initial_optimal_loss"], abs=1e-10)
    # the exact objective is the stationary loss: both recorded values are E(y_t - x_(t-K))^2 of the learned
    # filter, here by another route (e^T T e on its long truncated kernel, direct powers)
    a = np.array([complex(*z) for z in rec["learned_poles"]])
    b = np.array([complex(*z) for z in rec["learned_readout"]])
    loss = dense.stationary_loss(a, b, 60, 0.5)
    assert rec["objective_loss"] == pytest.approx(loss, abs=1e-10)
    assert rec["stationary_loss"] == pytest.approx(loss, abs=1e-10)


def test_tiny_problem_recovers_95_percent_of_the_reference():
    best = reference.search("exact", 3, 12, 0.9)["value"]
    rec = train.train_run(spec(S=3, K=12, rho=0.9, init_params={"r_min": 0.5, "r_max": 0.99}, lr=0.02, steps=1500))
    assert rec["status"] == "ok"
    assert 1 - rec["objective_loss"] >= 0.95 * (1 - best)
    assert rec["stationary_loss"] >= theory.lower_bound(3, 12, 0.9)


def test_projected_run_keeps_the_readout_at_its_optimum():
    """Variable projection: after every step the readout is b*(a), so the final filter is optimal for its poles."""
    rec = train.train_run(spec(S=6, K=24, rho=0.7, method="projected", lr=1e-2, steps=60))
    assert rec["status"] == "ok"
    assert rec["objective_loss"] == pytest.approx(rec["objective_optimal_loss"], abs=1e-12)
    assert rec["objective_loss"] < rec["initial_optimal_loss"]  # the poles moved downhill
    a = np.array([complex(*z) for z in rec["learned_poles"]])
    b = np.array([complex(*z) for z in rec["learned_readout"]])
    # b*(a) by another route: dense least squares on the whitened truncated system
    np.testing.assert_allclose(b, dense.optimal_readout(a, 24, 0.7), rtol=1e-7, atol=1e-9)


def test_projected_needs_a_population_objective():
    with pytest.raises(ValueError, match="projected"):
        spec(objective="sampled", method="projected")


@pytest.mark.parametrize("burn_in", [0, 25])
def test_sampled_run_scores_its_window_and_the_test_mse_agrees(burn_in):
    """objective_loss is the exact window loss (burn-in included); the empirical MSE on 4000 held-out
    sequences agrees with it within 4 standard errors."""
    K, t_eval, rho = 20, 30, 0.7
    n = burn_in + K + t_eval
    train_x = signals.sample_ar1(rho, 64, n, seed=1)
    test_x = signals.sample_ar1(rho, 4000, n, seed=2)
    run = spec(
        S=4,
        K=K,
        rho=rho,
        init_params={"r_min": 0.8, "r_max": 0.95},
        objective="sampled",
        steps=100,
        batch_size=16,
        t_eval=t_eval,
        burn_in=burn_in,
    )
    rec = train.train_run(run, train_x, test_x)
    assert rec["status"] == "ok"
    a = np.array([complex(*z) for z in rec["learned_poles"]])
    b = np.array([complex(*z) for z in rec["learned_readout"]])
    assert rec["objective_loss"] == pytest.approx(theory.finite_window_loss(a, b, K, rho, n, t_eval), abs=1e-12)
    # per-sequence MSE on the test set, from the learned kernel by plain convolution
    c = theory.kernel(a, b, n).real
    y = np.stack([np.convolve(row, c)[:n] for row in test_x])
    per_seq = ((y[:, -t_eval:] - test_x[:, n - t_eval - K : n - K]) ** 2).mean(axis=1)
    se = per_seq.std(ddof=1) / np.sqrt(len(per_seq))
    assert rec["test_mse"] == pytest.approx(per_seq.mean(), rel=1e-10)
    assert abs(rec["test_mse"] - rec["objective_loss"]) < 4 * se
    # the learning rate is chosen on this: the MSE over the whole training set at the end
    y = np.stack([np.convolve(row, c)[:n] for row in train_x])
    train_mse = ((y[:, -t_eval:] - train_x[:, n - t_eval - K : n - K]) ** 2).mean()
    assert rec["final_train_loss"] == pytest.approx(train_mse, rel=1e-10)


def test_huge_lr_is_recorded_as_diverged():
    rec = train.train_run(spec(rho=0.0, lr=1e6, steps=200))
    assert rec["status"] == "diverged"
    assert rec["diverged_step"] is not None and rec["diverged_step"] <= 200
    assert np.isnan(rec["objective_loss"]) and np.isnan(rec["stationary_loss"])


def test_runs_are_reproducible():
    x = signals.sample_ar1(0.3, 32, 40, seed=0)
    run = spec(objective="sampled", lr=1e-3, t_eval=30, seed=5)
    r1, r2 = train.train_run(run, x, x), train.train_run(run, x, x)
    assert r1["curve"] == r2["curve"] and r1["objective_loss"] == r2["objective_loss"]


def test_unevaluable_loss_is_recorded_as_failed():
    """LRU-default poles at S = 1024 with the optimal readout: b* ~ 1e18, so the run fails numerically, no crash."""
    rec = train.train_run(spec(S=1024, K=8192, rho=0.0, readout="optimal", init_params={}, lr=1e-3, steps=5))
    assert rec["status"] == "failed" and "too large" in rec["error"]
    assert np.isnan(rec["objective_loss"]) and np.isnan(rec["initial_objective_loss"])


def test_exact_loss_refuses_what_float64_cannot_evaluate():
    """LRU-default poles at S = 1024: b* reaches ~1e18, and no float64 route can score it."""
    a, _ = inits.initialise("lru-ring", 1024, 8192, seed=0, readout="zero")
    assert 0.0 <= theory.optimal_loss(a, 8192) <= 1.0
    with pytest.raises(FloatingPointError, match="too large"):
        theory.exact_loss(a, theory.optimal_readout(a, 8192), 8192)
