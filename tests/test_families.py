"""Pole families (complex, real), the field's real inits, the zoh parameterisation and the repeated-pole
(Jordan, Laguerre) optimum, each against an independent computation (docs/theory.md section 11)."""

import math

import numpy as np
import pytest
import torch
import yaml
from conftest import TINY
from scipy.special import comb

from shiftbench import inits, jobs, layout, model, objectives, projection, theory, train
from shiftbench.config import ConfigError, load_config
from shiftbench.layout import Layout

COMBINATIONS = [(f, p) for f in layout.FAMILIES for p in layout.PARAMETERISATIONS]


def real_poles(S, seed=0, signed=False):
    """S distinct real poles, well apart (so that dense least squares stays accurate): positive (the
    real family's), or of both signs (what the theory and the kernel formulas take as they are)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.uniform(0.3, 0.95, S)) * (rng.choice([-1, 1], S, p=[0.3, 0.7]) if signed else 1)


def build(family, parameterisation, S=5, K=12, seed=0):
    """A model of the family and parameterisation, from an init that can produce both, readout random."""
    name = {"complex": "s4d-lin", "real": "s4d-real"}[family]
    a, b = inits.initialise(name, S, K, seed, "random", family=family, dt=0.05)
    log_dt = math.log(inits.init_dt(name, S, K, seed, dt=0.05)) if parameterisation == "zoh" else None
    return model.LinearRNN(a, 5 * b, family, parameterisation, log_dt)


# -- the layout --------------------------------------------------------------------------------------


def test_layout_of_each_family_and_its_round_trip():
    assert Layout.of("complex", 7) == Layout(3, 1) and Layout.of("complex", 8) == Layout(4, 0)
    assert Layout.of("real", 7) == Layout(0, 7, positive=True) and Layout.of("real", 7).order == 7
    lay = Layout(2, 1)
    a = lay.assemble([0.5 + 0.2j, -0.1 + 0.7j], [0.3])
    np.testing.assert_array_equal(a, [0.5 + 0.2j, -0.1 + 0.7j, 0.5 - 0.2j, -0.1 - 0.7j, 0.3])
    p, r = lay.split(a)
    np.testing.assert_array_equal(lay.assemble(p, r), a)
    lay.check(a, a)
    with pytest.raises(ValueError, match="unknown pole family"):
        Layout.of("quaternion", 3)


def test_layout_check_refuses_what_the_family_cannot_hold():
    with pytest.raises(ValueError, match="must be real"):
        Layout.of("real", 2).check(np.array([0.5 + 0.1j, 0.5 - 0.1j]), np.ones(2))
    with pytest.raises(ValueError, match="pair layout"):
        Layout.of("complex", 2).check(np.array([0.5 + 0.1j, 0.5 + 0.1j]), np.ones(2))
    with pytest.raises(ValueError, match="do not fill"):
        Layout.of("complex", 3).check(np.array([0.5, 0.4]), np.ones(2))
    with pytest.raises(ValueError, match="must be real"):
        model.LinearRNN(np.array([0.5 + 0.1j, 0.5 - 0.1j]), np.ones(2), family="real")
    with pytest.raises(ValueError, match="must be positive"):  # the real family's stated sign
        model.LinearRNN(np.array([0.5, -0.4]), np.ones(2), family="real")
    Layout.of("complex", 1).check(np.array([-0.4]), np.ones(1))  # a complex family's real pole: either sign


# -- the model in every family and parameterisation ---------------------------------------------------


@pytest.mark.parametrize("parameterisation", layout.PARAMETERISATIONS)
def test_real_family_kernel_is_the_direct_sum(parameterisation):
    """c_k = sum_s b_s a_s^k by numpy powers, with the real family's positive poles; and the FFT forward pass
    against the step-by-step recurrence."""
    a = real_poles(6, seed=1)
    b = np.random.default_rng(2).standard_normal(6)
    log_dt = math.log(0.03) if parameterisation == "zoh" else None
    m = model.LinearRNN(a, b, "real", parameterisation, log_dt)
    assert m.layout == Layout(0, 6, positive=True)
    k = np.arange(300)
    direct = (b[:, None] * a[:, None] ** k[None, :]).sum(axis=0)
    np.testing.assert_allclose(m.kernel(300).detach().numpy(), direct, rtol=0, atol=1e-13)
    np.testing.assert_allclose(m.poles(), a, atol=1e-15)
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 200)))
    with torch.no_grad():
        y = m(x)
    np.testing.assert_allclose(y.numpy(), model.sequential_forward(a, b, x).numpy(), atol=1e-12)


@pytest.mark.parametrize("family,parameterisation", COMBINATIONS)
def test_every_combination_matches_theory_and_its_gradient_finite_differences(family, parameterisation):
    """exact_loss and window_loss against the numpy theory, autograd against central differences."""
    m = build(family, parameterisation)
    a, b = m.poles(), m.readout()
    m.layout.check(a, b)
    K, rho, n, T = 12, 0.6, 30, 9
    assert m.exact_loss(K, rho).item() == pytest.approx(theory.exact_loss(a, b, K, rho), abs=1e-12)
    assert objectives.Window(K, rho, n, T).torch_loss(m).item() == pytest.approx(
        theory.finite_window_loss(a, b, K, rho, n, T), abs=1e-12
    )
    np.testing.assert_allclose(m.kernel(50).detach().numpy(), theory.kernel(a, b, 50).real, atol=1e-13)
    m.exact_loss(K, rho).backward()
    h = 1e-6
    for p in m.parameters():
        for i in range(p.numel()):
            with torch.no_grad():
                p.view(-1)[i] += h
                up = theory.exact_loss(m.poles(), m.readout(), K, rho)
                p.view(-1)[i] -= 2 * h
                down = theory.exact_loss(m.poles(), m.readout(), K, rho)
                p.view(-1)[i] += h
            assert p.grad.view(-1)[i].item() == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9)


def test_zoh_poles_are_exp_dt_A_with_one_shared_step():
    """s4d-lin: A = -1/2 + i pi n (and -1/2 for the real pole); s4d-real: A = -n. The poles are exp(dt A),
    and changing the one log Delta moves every pole to exp(dt' A)."""
    S, K, dt = 7, 40, 0.02
    for name, family, A in [
        ("s4d-lin", "complex", np.r_[-0.5 + 1j * np.pi * np.arange(3), -0.5 - 1j * np.pi * np.arange(3), -0.5]),
        ("s4d-real", "real", -np.arange(1.0, S + 1)),
    ]:
        a, b = inits.initialise(name, S, K, 0, "zero", family=family, dt=dt)
        assert inits.init_dt(name, S, K, 0, dt=dt) == dt
        m = model.LinearRNN(a, b, family, "zoh", math.log(dt))
        pairs, reals = (3, 1) if family == "complex" else (0, S)
        assert [p.numel() for p in m.pole_parameters()] == [1, pairs, pairs, reals]  # log Delta, A_log, A_im, real
        np.testing.assert_allclose(m.poles(), np.exp(dt * A), rtol=0, atol=1e-14)
        np.testing.assert_allclose(-torch.exp(m.A_log_real).detach().numpy()[0], A.real[2 * pairs :], rtol=1e-12)
        with torch.no_grad():
            m.log_dt.fill_(math.log(3 * dt))
        np.testing.assert_allclose(m.poles(), np.exp(3 * dt * A), rtol=0, atol=1e-14)
        np.testing.assert_allclose(
            m.pole_values(m.poles()),
            torch.cat([p.reshape(-1) for p in m.pole_parameters()]).detach().numpy(),
            atol=1e-10,
        )


@pytest.mark.parametrize("family", layout.FAMILIES)
def test_zoh_trains_in_both_families(family):
    """A few Adam steps (joint) and a few projected steps each lower the exact loss."""
    K, rho = 24, 0.5
    m = build(family, "zoh", S=6, K=K)
    start = m.exact_loss(K, rho).item()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(20):
        opt.zero_grad()
        loss = m.exact_loss(K, rho)
        loss.backward()
        opt.step()
    assert m.exact_loss(K, rho).item() < start - 1e-3
    assert m.log_dt.grad is not None and m.log_dt.grad.abs().item() > 0  # the shared step is learned

    m = build(family, "zoh", S=6, K=K)
    before = theory.optimal_loss(m.poles(), K, rho)
    projection.fit(
        m, objectives.Stationary(K, rho), steps=30, lr=0.02, moves=True
    )  # the real family has no pairs: no moves
    assert theory.optimal_loss(m.poles(), K, rho) < before - 1e-4
    np.testing.assert_allclose(m.readout(), theory.optimal_readout(m.poles(), K, rho), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("moves", [False, True])
def test_projected_training_of_real_poles_lowers_the_optimal_loss(moves):
    K, rho = 32, 0.7
    a, _ = inits.initialise("real-ring", 5, K, 0, "zero", family="real")
    m = model.LinearRNN(a, np.zeros(5), "real")
    curve = []
    projection.fit(
        m, objectives.Stationary(K, rho), steps=40, log=lambda step, loss: curve.append(loss), log_every=10, moves=moves
    )
    assert curve[-1] < curve[0] - 1e-3
    assert np.all(m.poles().imag == 0) and np.all(np.abs(m.poles()) < 1)


@pytest.mark.parametrize("family,parameterisation", COMBINATIONS)
def test_train_run_carries_family_and_parameterisation(family, parameterisation):
    name = {"complex": "s4d-inv", "real": "s4d-real"}[family]
    spec = train.RunSpec(S=4, K=8, rho=0.5, init=name, init_params={"dt": 0.1}, readout="random", family=family,
                         objective="exact", method="joint", lr=0.01, steps=20, log_every=10, seed=0,
                         parameterisation=parameterisation)  # fmt: skip
    rec = train.train_run(spec)
    assert rec["status"] == "ok" and rec["family"] == family and rec["parameterisation"] == parameterisation
    assert rec["objective_loss"] < rec["initial_objective_loss"]
    a = np.array([complex(*z) for z in rec["learned_poles"]])
    Layout.of(family, 4).check(a, np.array([complex(*z) for z in rec["learned_readout"]]))


def test_run_spec_refuses_pairings_that_cannot_hold():
    common = dict(S=4, K=8, rho=0.0, objective="exact", method="joint", lr=0.01, seed=0)
    with pytest.raises(ValueError, match="cannot produce"):
        train.RunSpec(init="lru-ring", family="real", **common)
    with pytest.raises(ValueError, match="step Delta"):
        train.RunSpec(init="real-ring", family="real", parameterisation="zoh", **common)
    with pytest.raises(ValueError, match="family must be one of"):
        train.RunSpec(init="s4d-real", family="imaginary", **common)


# -- the field's inits, each by its own formula ---------------------------------------------------------


def test_s4d_real_is_mambas_A_log_at_frozen_input():
    """Mamba: A_log = log(1..N), A = -exp(A_log), a = exp(Delta A); S4D-Real: a_n = exp(-dt n)."""
    S, K, dt = 9, 50, 0.013
    a, _ = inits.initialise("s4d-real", S, K, 0, "zero", family="real", dt=dt)
    A_log = np.log(np.arange(1, S + 1))
    np.testing.assert_allclose(a, np.exp(dt * -np.exp(A_log)), rtol=1e-14)
    np.testing.assert_allclose(a, [math.exp(-dt * n) for n in range(1, S + 1)], rtol=1e-14)
    a, _ = inits.initialise("s4d-real", S, K, 0, "zero", family="real", dt="1/K")
    assert a[0] == pytest.approx(math.exp(-1 / K))
    dts = {inits.init_dt("s4d-real", S, K, s) for s in range(6)}  # log-uniform, seeded
    assert len(dts) == 6 and all(1e-3 <= d <= 1e-1 for d in dts)
    for s in range(3):
        a, _ = inits.initialise("s4d-real", S, K, s, "zero", family="real")
        assert -math.log(a[0].real) == pytest.approx(inits.init_dt("s4d-real", S, K, s), rel=1e-12)


def test_s4d_lin_exposes_the_step_it_used():
    for s in range(3):
        a, _ = inits.initialise("s4d-lin", 5, 30, s, "zero")
        assert -2 * math.log(a[-1].real) == pytest.approx(inits.init_dt("s4d-lin", 5, 30, s), rel=1e-12)
    with pytest.raises(ValueError, match="no step Delta"):
        inits.init_dt("lru-ring", 5, 30, 0)


def test_real_ring_is_uniform_in_area_on_its_ring():
    a, _ = inits.initialise("real-ring", 4000, 100, 3, "zero", family="real")
    assert np.all(a.imag == 0) and np.all(a.real > 0)
    r = a.real
    assert 0.9 <= r.min() and r.max() <= 0.999  # the defaults
    u = (r**2 - 0.9**2) / (0.999**2 - 0.9**2)  # uniform in area: |a|^2 uniform on [r_min^2, r_max^2]
    for q in [0.1, 0.25, 0.5, 0.75, 0.9]:
        assert abs(np.mean(u < q) - q) < 4 * math.sqrt(q * (1 - q) / u.size)
    a, _ = inits.initialise("real-ring", 50, 100, 3, "zero", family="real", r_min=0.5, r_max=0.6)
    assert np.all((a.real >= 0.5) & (a.real <= 0.6))


@pytest.mark.parametrize("name", ["s4d-real", "real-ring"])
def test_real_inits_optimal_and_random_readouts(name):
    a, b = inits.initialise(name, 6, 30, 1, "optimal", rho=0.7, family="real")
    Layout.of("real", 6).check(a, b)
    assert theory.exact_loss(a, b, 30, 0.7) == pytest.approx(theory.optimal_loss(a, 30, 0.7), abs=1e-9)
    _, b = inits.initialise(name, 6, 30, 1, "random", family="real")
    assert np.all(b.imag == 0) and 0 < np.abs(b).max() < 0.2


# -- the config refuses what cannot hold, naming the key ----------------------------------------------


def tiny():
    """The tiny study, without its theory section (its defaults do; these tests are about inits and train)."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg.pop("theory", None)
    return cfg


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c["inits"]["uncertainty"].update(family="real"), "invalid config key inits.uncertainty: "),
        (lambda c: c["inits"].update(r={"init": "s4d-real"}), "invalid config key inits.r: "),
        (lambda c: c["inits"]["lru-ring"].update(family="imaginary"), "invalid config key inits.lru-ring.family"),
        (lambda c: c["train"].update(parameterisation="euler"), "invalid config key train.parameterisation"),
        (lambda c: c["train"].update(parameterisation="zoh"), "invalid config key train.parameterisation: zoh"),
        (
            lambda c: c["blocks"]["projected"]["train"].update(parameterisation="zoh"),
            "invalid config key blocks.projected.train.parameterisation: zoh",
        ),
    ],
)
def test_config_refuses_bad_families_and_parameterisations(mutate, message):
    cfg = tiny()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert message in str(err.value), str(err.value)


def test_config_accepts_real_and_zoh_blocks_and_jobs_pass_them_on():
    cfg = tiny()
    cfg["inits"]["mamba"] = {"init": "s4d-real", "family": "real", "params": {"dt": "1/K"}}
    cfg["inits"]["rglru"] = {"init": "real-ring", "family": "real"}
    cfg["blocks"]["zoh"] = {"grid": {"S": [4], "K": [2], "rho": [0.7]}, "objectives": ["exact"], "inits": ["mamba"],
                            "train": {"parameterisation": "zoh", "methods": ["joint", "projected"]}}  # fmt: skip
    cfg = load_config(cfg)
    assert cfg["inits"]["uncertainty"]["family"] == "complex" and cfg["train"]["parameterisation"] == "exp-exp"
    job = {"S": 4, "rho": 0.7, "objective": "exact", "Ks": [8], "variants": {"mamba": cfg["inits"]["mamba"]},
           "t_eval": 16, "burn_in": 0, "train": {**cfg["train"], **cfg["blocks"]["zoh"]["train"]}}  # fmt: skip
    specs = jobs.run_specs(job)[0]
    assert {(v, s.family, s.parameterisation) for v, s, _ in specs} == {("mamba", "real", "zoh")}


# -- theory: real poles and the repeated-pole (Jordan) optimum ------------------------------------------


def ar1_gram(n, rho):
    k = np.arange(n)
    return rho ** np.abs(k[:, None] - k[None, :])


def dense_optimum(X, K, rho):
    """min_b of the stationary loss of the kernel X b (lags 0..n-1) by dense least squares with the
    AR(1) covariance rho^|k-k'| on the truncated window: (loss, b)."""
    n = X.shape[0]
    Gam = ar1_gram(n, rho)
    G, v = X.T @ Gam @ X, X.T @ Gam[:, K]
    b = np.linalg.solve(G, v)
    return 1 - v @ b, b


def binomial_kernels(p, S, n):
    """Columns C(k+j-1, j-1) p^k, j = 1..S: the impulse responses of 1/(1 - p z)^j."""
    k = np.arange(n)
    return np.stack([comb(k + j - 1, j - 1) * p**k for j in range(1, S + 1)], axis=1)


def laguerre_functions(p, S, n):
    """Discrete Laguerre functions sqrt(1-p^2)/(1-pz) ((z-p)/(1-pz))^j, j < S, by explicit convolutions
    of the truncated sequences p^k and of the all-pass (z - p)/(1 - p z): -p, (1-p^2) p^(k-1)."""
    k = np.arange(n)
    first = math.sqrt(1 - p**2) * p**k
    allpass = np.r_[-p, (1 - p**2) * p ** k[:-1]]
    columns = [first]
    for _ in range(S - 1):
        columns.append(np.convolve(columns[-1], allpass)[:n])
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("rho", [0.0, 0.7])
def test_real_distinct_poles_optimum_and_readout_match_dense_least_squares(rho):
    """S = 5 distinct real poles of both signs: L* and b* against dense least squares on a^k (tolerance:
    loss 1e-10 absolute, readout 1e-7 relative; the Gram matrix has cond ~1e5 here)."""
    a, K, n = real_poles(5, seed=4, signed=True), 20, 1500
    X = (a[None, :] ** np.arange(n)[:, None]).real
    loss, b = dense_optimum(X, K, rho)
    assert theory.optimal_loss(a, K, rho) == pytest.approx(loss, abs=1e-10)
    np.testing.assert_allclose(theory.optimal_readout(a, K, rho).real, b, rtol=1e-7)
    assert np.abs(theory.optimal_readout(a, K, rho).imag).max() < 1e-12


@pytest.mark.parametrize("S,K,rho,p", [(4, 32, 0.0, 0.85), (16, 64, 0.7, 0.756), (6, 20, 0.3, -0.4)])
def test_jordan_optimum_matches_dense_least_squares_on_the_laguerre_functions(S, K, rho, p):
    """optimal_loss(repeated='jordan') of one pole repeated S times against the dense least squares on
    the Laguerre functions (window of 2000 lags: p^2000 is negligible); tolerance 1e-10."""
    dense, _ = dense_optimum(laguerre_functions(p, S, 2000), K, rho)
    assert theory.optimal_loss(np.full(S, p), K, rho, repeated="jordan") == pytest.approx(dense, abs=1e-10)
    assert theory.optimal_loss(np.full(S, p), K, rho) == pytest.approx(theory.optimal_loss([p], K, rho), abs=1e-14)


def test_laguerre_functions_span_the_binomial_kernels():
    """Same model class: the binomial kernels C(k+j-1, j-1) p^k give the same optimum (S = 4, where
    their Gram matrix is still well enough conditioned for a dense solve; tolerance 1e-10)."""
    for rho in [0.0, 0.7]:
        via_binomial, _ = dense_optimum(binomial_kernels(0.8, 4, 1500), 24, rho)
        via_laguerre, _ = dense_optimum(laguerre_functions(0.8, 4, 1500), 24, rho)
        assert via_binomial == pytest.approx(via_laguerre, abs=1e-10)
        assert theory.optimal_loss(np.full(4, 0.8), 24, rho, repeated="jordan") == pytest.approx(
            via_binomial, abs=1e-10
        )


def test_jordan_is_the_limit_of_coalescing_distinct_poles():
    """Distinct poles p (1 + j eps) tend to the Jordan value linearly in eps (the gap shrinks tenfold per
    decade, to within 2%), while the merged value of the repeated poles is far above it."""
    S, K, rho, p = 3, 16, 0.5, 0.8
    jordan = theory.optimal_loss(np.full(S, p), K, rho, repeated="jordan")
    gaps = [theory.optimal_loss(p * (1 + eps * np.arange(S)), K, rho) - jordan for eps in [1e-4, 1e-5, 1e-6]]
    assert abs(gaps[-1]) < 1e-6
    assert gaps[0] / gaps[1] == pytest.approx(10, rel=0.02) and gaps[1] / gaps[2] == pytest.approx(10, rel=0.02)
    assert theory.optimal_loss(np.full(S, p), K, rho) > jordan + 1e-3
    with pytest.raises(ValueError, match="repeated"):
        theory.optimal_loss([p], K, rho, repeated="both")


@pytest.mark.parametrize("S,K,rho,value,pole", [(16, 64, 0.7, 0.589, 0.756), (16, 50, 0.0, 1 - 0.106, 0.705)])
def test_laguerre_limit_is_the_best_repeated_real_pole(S, K, rho, value, pole):
    """The values of the issue's measurement (3 digits), the value against the dense Laguerre least
    squares at the returned pole (1e-10), and no pole of a fine grid around it does better (1e-12)."""
    L, p = theory.laguerre_limit(S, K, rho)
    assert L == pytest.approx(value, abs=5e-4) and p == pytest.approx(pole, abs=5e-4)
    dense, _ = dense_optimum(laguerre_functions(p, S, 2000), K, rho)
    assert L == pytest.approx(dense, abs=1e-10)
    for q in p + np.linspace(-0.05, 0.05, 41):
        assert theory.optimal_loss(np.full(S, q), K, rho, repeated="jordan") >= L - 1e-12
    assert L < theory.optimal_loss(real_poles(S, seed=5), K, rho)  # beats distinct random real poles
