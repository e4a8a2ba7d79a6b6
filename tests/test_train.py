import numpy as np
import pytest

from shiftbench import signals, theory, train


def test_short_run_from_optimal_uncertainty_init_does_not_get_worse():
    spec = train.RunSpec(
        S=9, K=60, rho=0.5, init="uncertainty", readout="optimal", objective="exact", lr=1e-3, steps=50, seed=0
    )
    rec = train.train_run(spec)
    assert rec["status"] == "ok"
    assert rec["exact_loss"] <= rec["initial_exact_loss"] + 1e-12
    assert rec["initial_exact_loss"] == pytest.approx(rec["initial_optimal_loss"], abs=1e-10)


def test_tiny_problem_recovers_95_percent_of_best_known():
    best = train.best_known(3, 12, 0.9)["best_known"]
    spec = train.RunSpec(
        S=3,
        K=12,
        rho=0.9,
        init="lru-ring",
        readout="random",
        objective="exact",
        init_params={"r_min": 0.5, "r_max": 0.99},
        lr=0.02,
        steps=1500,
        seed=0,
    )
    rec = train.train_run(spec)
    assert rec["status"] == "ok"
    assert 1 - rec["exact_loss"] >= 0.95 * (1 - best)
    assert rec["exact_loss"] >= theory.lower_bound(3, 12, 0.9)


def test_test_mse_agrees_with_finite_window_loss():
    """Empirical MSE on 4000 held-out sequences vs the exact finite-window loss: within 4 s.e."""
    K, t_eval, rho = 20, 30, 0.7
    train_x = signals.sample_ar1(rho, 64, K + t_eval, seed=1)
    test_x = signals.sample_ar1(rho, 4000, K + t_eval, seed=2)
    spec = train.RunSpec(
        S=4,
        K=K,
        rho=rho,
        init="lru-ring",
        readout="random",
        init_params={"r_min": 0.8, "r_max": 0.95},
        objective="sampled",
        lr=0.01,
        steps=100,
        batch_size=16,
        t_eval=t_eval,
        seed=0,
    )
    rec = train.train_run(spec, train_x, test_x)
    assert rec["status"] == "ok"
    # standard error of the per-sequence MSE, computed from the learned kernel
    a = np.array([complex(*z) for z in rec["learned_poles"]])
    b = np.array([complex(*z) for z in rec["learned_readout"]])
    c = theory.kernel(a, b, K + t_eval).real
    y = np.stack([np.convolve(row, c)[: K + t_eval] for row in test_x])
    per_seq = ((y[:, -t_eval:] - test_x[:, :t_eval]) ** 2).mean(axis=1)
    se = per_seq.std(ddof=1) / np.sqrt(len(per_seq))
    assert rec["test_mse"] == pytest.approx(per_seq.mean(), rel=1e-10)
    assert abs(rec["test_mse"] - rec["finite_window_loss"]) < 4 * se


def test_huge_lr_is_recorded_as_diverged():
    spec = train.RunSpec(
        S=4, K=10, rho=0.0, init="lru-ring", readout="random", objective="exact", lr=1e6, steps=200, seed=0
    )
    rec = train.train_run(spec)
    assert rec["status"] == "diverged"
    assert rec["diverged_step"] is not None and rec["diverged_step"] <= 200
    assert np.isnan(rec["exact_loss"])


def test_runs_are_reproducible():
    x = signals.sample_ar1(0.3, 32, 40, seed=0)
    spec = train.RunSpec(
        S=4, K=10, rho=0.3, init="lru-ring", readout="random", objective="sampled", lr=1e-3, steps=30, t_eval=30, seed=5
    )
    r1, r2 = train.train_run(spec, x, x), train.train_run(spec, x, x)
    assert r1["curve"] == r2["curve"] and r1["exact_loss"] == r2["exact_loss"]


def test_best_known_beats_the_construction_and_respects_the_bound():
    r = train.best_known(8, 64, 0.0)
    a, b = theory.construction(8, 64)
    assert theory.lower_bound(8, 64) <= r["best_known"] <= theory.optimal_loss(a, 64) <= theory.exact_loss(a, b, 64)
    poles = np.array([complex(*z) for z in r["poles"]])
    assert theory.optimal_loss(poles, 64) == pytest.approx(r["best_known"], abs=1e-14)


def test_unevaluable_loss_is_recorded_as_failed():
    """LRU-default poles at S = 1024 with the optimal readout: b* ~ 1e18, so the run fails numerically, no crash."""
    spec = train.RunSpec(
        S=1024, K=8192, rho=0.0, init="lru-ring", readout="optimal", objective="exact", lr=1e-3, steps=5, seed=0
    )
    rec = train.train_run(spec)
    assert rec["status"] == "failed" and "too large" in rec["error"]
    assert np.isnan(rec["exact_loss"]) and 0 <= rec["initial_optimal_loss"] <= 1


def test_exact_loss_refuses_what_float64_cannot_evaluate():
    """LRU-default poles at S = 1024: b* reaches ~1e18, and no float64 route can score it."""
    from shiftbench import inits

    a, _ = inits.initialise("lru-ring", 1024, 8192, seed=0, readout="zero")
    assert 0.0 <= theory.optimal_loss(a, 8192) <= 1.0
    with pytest.raises(FloatingPointError, match="too large"):
        theory.exact_loss(a, theory.optimal_readout(a, 8192), 8192)
