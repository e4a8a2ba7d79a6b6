"""shiftbench.targets against independent routes: dense least squares on a long truncated Toeplitz system
(tests/dense.py's Cholesky colouring), direct truncated sums, Monte Carlo on sampled AR(1) data."""

import math
from dataclasses import dataclass

import dense
import numpy as np
import pytest
from scipy.signal import fftconvolve

from shiftbench import targets, theory
from shiftbench.signals import AR1
from shiftbench.targets import Bump, Exp, Power, Shift

RHOS = [0.0, 0.7]


def pole_set(kind: str, seed: int = 0) -> np.ndarray:
    """Poles with |a| <= 0.95: 'pairs' (3 conjugate pairs), 'real' (4 real poles), 'mixed' (2 pairs + 1 real)."""
    rng = np.random.default_rng(seed)
    pairs = {"pairs": 3, "real": 0, "mixed": 2}[kind]
    reals = {"pairs": 0, "real": 4, "mixed": 1}[kind]
    p = np.sqrt(rng.uniform(0.05, 0.9, pairs)) * np.exp(1j * rng.uniform(0.05, np.pi - 0.05, pairs))
    return np.concatenate([p, p.conj(), rng.uniform(-0.95, 0.95, reals)])


def dense_optimum(a, d, rho):
    """(L*, b*) by dense complex least squares min_b |C^T (Phi b - d)|^2 / |C^T d|^2 on n = len(d) lags,
    C the Cholesky factor of the n x n AR(1) Toeplitz covariance (``dense.colour_t``)."""
    A = dense.colour_t(dense.powers(a, d.size), rho)
    y = dense.colour_t(np.asarray(d, dtype=complex), rho)
    b, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(np.sum(np.abs(A @ b - y) ** 2) / np.sum(np.abs(y) ** 2)), b


def dense_energy(d, rho):
    """d^T T d on the truncated Toeplitz system."""
    y = dense.colour_t(np.asarray(d, dtype=float), rho)
    return float(y @ y)


def dense_cross(a, d, rho):
    """v_s = conj(phi_s)^T T d = (C^T conj phi_s)^T (C^T d) on the truncated Toeplitz system."""
    return dense.colour_t(dense.powers(np.conj(a), d.size), rho).T @ dense.colour_t(np.asarray(d, dtype=float), rho)


@dataclass(frozen=True)
class Finite(targets.Target):
    """Any finite kernel, through the generic methods of targets.Target."""

    d: tuple
    name = "finite"

    @property
    def support(self):
        return 0, len(self.d) - 1

    def sequence(self, n):
        out = np.zeros(max(n, len(self.d)))
        out[: len(self.d)] = self.d
        return out[:n]


# Targets whose tail beyond 8000 lags is negligible (< 1e-24 in energy): the dense system sees all of it.
SHORT = [Shift(12), Exp(0.9), Exp(-0.6), Bump(15, 2.5), Power(3.0, 4.0)]


# ----------------------------------------------------------------------------------------------
# L*(a) against dense least squares


@pytest.mark.parametrize("kind", ["pairs", "real", "mixed"])
@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("target", SHORT, ids=str)
def test_optimal_loss_matches_dense_least_squares(target, rho, kind):
    a = pole_set(kind, seed=len(str(target)))
    ref, b_ref = dense_optimum(a, target.sequence(8000), rho)
    opt = targets.optimum(a, target, rho)
    assert opt.bound <= targets.TOL
    assert opt.loss == pytest.approx(ref, rel=1e-9, abs=1e-10 + opt.bound)
    b = targets.optimal_readout(a, target, rho)
    np.testing.assert_allclose(b, b_ref, rtol=1e-7, atol=1e-8)
    assert targets.loss(a, b, target, rho) == pytest.approx(ref, rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("rho", RHOS)
def test_long_finite_kernel_matches_dense_least_squares(rho):
    """A power law cut at 3000 lags (long memory, exactly finite): the generic finite-support methods."""
    d = Power(10.0, 1.1).sequence(3000)
    target = Finite(tuple(d))
    a = pole_set("mixed", seed=5)
    n = 3000 + 200  # beyond it the kernel, the poles (0.95^3200) and the colouring (0.7^200) are negligible
    ref, _ = dense_optimum(a, target.sequence(n), rho)
    assert targets.optimal_loss(a, target, rho) == pytest.approx(ref, rel=1e-9, abs=1e-10)
    assert target.energy(rho) == pytest.approx(dense_energy(target.sequence(n), rho), rel=1e-12)
    np.testing.assert_allclose(target.cross(a, rho), dense_cross(a, target.sequence(n), rho), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rho", RHOS)
def test_slow_tail_is_corrected_within_the_bound(rho):
    """Exp(0.995) cut at n = 100, 400 lags (its tail carries most of its energy): optimum's tail correction
    E L* = R_n + dE - X, |X| bounded via ||A^n||, against dense least squares on 20000 lags."""
    a = pole_set("mixed", seed=2)
    target = Exp(0.995)
    ref, _ = dense_optimum(a, target.sequence(20000), rho)
    for n, worst in [(100, 1e-6), (400, 1e-12)]:
        opt = targets.optimum(a, target, rho, n=n)
        assert opt.bound < worst
        assert abs(opt.loss - ref) <= opt.bound + 1e-12


# ----------------------------------------------------------------------------------------------
# The shift: the same numbers as theory


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("S", [1, 4, 9, 16])
def test_shift_equals_theory(S, rho):
    rng = np.random.default_rng(S)
    for K in (1, 7, 40):
        a = theory.construction(S, K, alpha=0.5)[0] if S == 16 else pole_set("mixed", seed=K)[:S]
        if S == 1:
            a = np.array([rng.uniform(-0.95, 0.95)])
        assert targets.optimal_loss(a, Shift(K), rho) == pytest.approx(theory.optimal_loss(a, K, rho), abs=1e-12)
        b = targets.optimal_readout(a, Shift(K), rho)
        np.testing.assert_allclose(b, theory.optimal_readout(a, K, rho), rtol=1e-8)
        # v_s = sum_j conj(a_s)^j rho^|j - K| on the long truncated Toeplitz system (not the closed form it calls)
        n = dense.length_for(a, K)
        np.testing.assert_allclose(Shift(K).cross(a, rho), dense_cross(a, Shift(K).sequence(n), rho), rtol=1e-10,
                                   atol=1e-12)  # fmt: skip


def test_shift_equals_theory_for_crowded_poles():
    """16 poles within 0.02 of each other in angle: G is numerically singular, neither route solves with it."""
    a = 0.97 * np.exp(1j * np.linspace(0.30, 0.32, 16))
    a = np.concatenate([a, a.conj()])
    for rho in (0.0, 0.7):
        assert targets.optimal_loss(a, Shift(60), rho) == pytest.approx(theory.optimal_loss(a, 60, rho), abs=1e-12)


# ----------------------------------------------------------------------------------------------
# Closed forms


@pytest.mark.parametrize("rho", RHOS)
def test_exp_closed_forms(rho):
    for lam in (0.9, -0.6, 0.0):
        target = Exp(lam)
        d = target.sequence(4000)
        assert target.energy(rho) == pytest.approx(dense_energy(d, rho), rel=1e-12)
        a = pole_set("mixed", seed=1)
        np.testing.assert_allclose(target.cross(a, rho), dense_cross(a, d, rho), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(target.cross(a, rho), targets.finite_cross(d, a, rho), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("rho", RHOS)
def test_exp_is_reproduced_by_its_own_pole(rho):
    for lam in (0.8, -0.5, 0.99):
        assert abs(targets.optimal_loss([lam], Exp(lam), rho)) < 1e-12
        a = np.concatenate([[lam], pole_set("pairs", seed=3)])
        assert abs(targets.optimal_loss(a, Exp(lam), rho)) < 1e-12
        b = targets.optimal_readout([lam], Exp(lam), rho)
        np.testing.assert_allclose(b, [1.0], atol=1e-10)


@pytest.mark.parametrize("rho", RHOS)
def test_bump_closed_forms(rho):
    target = Bump(20, 3.3)
    d = target.sequence(600)
    assert d.sum() == pytest.approx(1.0, abs=1e-15)
    assert np.flatnonzero(d).tolist() == list(range(20 - 14, 20 + 15))
    assert target.energy(rho) == pytest.approx(dense_energy(d, rho), rel=1e-12)
    a = pole_set("mixed", seed=4)
    np.testing.assert_allclose(target.cross(a, rho), dense_cross(a, d, rho), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.7, 0.95])
def test_bump_with_zero_width_is_exactly_the_shift(rho):
    a = pole_set("mixed", seed=6)
    bump, shift = Bump(9, 0.0), Shift(9)
    assert bump.support == shift.support
    np.testing.assert_array_equal(bump.sequence(30), shift.sequence(30))
    assert bump.energy(rho) == shift.energy(rho)
    np.testing.assert_array_equal(bump.cross(a, rho), shift.cross(a, rho))
    assert targets.optimal_loss(a, bump, rho) == targets.optimal_loss(a, shift, rho)
    np.testing.assert_array_equal(targets.optimal_readout(a, bump, rho), targets.optimal_readout(a, shift, rho))


# ----------------------------------------------------------------------------------------------
# The power target: truncations and their bounds


def integral_tail(target, n):
    """sum_{k>=n} d_k^2 <= int_{n-1}^inf (1 + x/tau)^(-2p) dx (monotone tail): the brief's bound."""
    return target.tau / (2 * target.p - 1) * (1 + (n - 1) / target.tau) ** (1 - 2 * target.p)


def causal_colouring(d, rho):
    """g = d * h with h_m = sqrt(1 - rho^2) rho^m (cut where rho^m < 1e-60), by FFT: d^T Gamma d = |g|^2."""
    m = 1 if rho == 0 else int(math.log(1e-60) / math.log(rho))
    return fftconvolve(d, math.sqrt(1 - rho**2) * rho ** np.arange(m))[: d.size]


@pytest.mark.parametrize("rho", RHOS)
def test_power_energy_and_tail_bounds(rho):
    """The energy lies between the direct sum of the truncated kernel and that sum plus the crude rigorous
    tail bound (Minkowski; Cauchy-Schwarz: t^T Gamma t <= (1+rho)/(1-rho) |t|^2; integral bound of |t|^2).
    The sharp enclosure of sum_{k>=n} g_k^2 at n and at 10n must overlap once the partial sum between n
    and 10n (by FFT convolution, another route) is added: a biased enclosure would miss."""
    target = Power(10.0, 1.1)
    E, bound = target.energy(rho), target.energy_bound(rho)
    assert bound <= 1e-11 * E
    for n in (2000, 20000):
        head = dense_energy(target.sequence(n), rho)
        tail = (1 + rho) / (1 - rho) * integral_tail(target, n)
        assert head - bound <= E <= (math.sqrt(head) + math.sqrt(tail)) ** 2 + bound
    n = 20000
    g = causal_colouring(target.sequence(10 * n), rho)
    partial = float(g[n:] @ g[n:])
    (lo, hi), (lo10, hi10) = target._tail_bounds(rho, n), target._tail_bounds(rho, 10 * n)
    assert hi - lo <= 1e-6 * lo  # sharp: the crude bound above is of the order of lo itself
    assert max(lo, partial + lo10) <= min(hi, partial + hi10) + 1e-14 * E
    head = float(g[:n] @ g[:n])
    assert head + lo - 1e-14 * E <= E <= head + hi + 1e-14 * E


@pytest.mark.parametrize("rho", RHOS)
def test_power_optimum_bound_holds_from_n_to_10n(rho):
    """Long memory (tau = 10, p = 1.1): optimum forced to n and to 10n lags differ by less than the sum
    of their stated bounds, and both agree with the default route."""
    a = pole_set("mixed", seed=8)
    target = Power(10.0, 1.1)
    best = targets.optimum(a, target, rho)
    assert best.bound <= targets.TOL
    for n in (30, 60, 300):
        short, long = targets.optimum(a, target, rho, n=n), targets.optimum(a, target, rho, n=10 * n)
        assert abs(short.loss - long.loss) <= short.bound + long.bound + 1e-12
        assert abs(short.loss - best.loss) <= short.bound + best.bound + 1e-12
    assert targets.optimum(a, target, rho, n=300).bound < 1e-8  # the bound is informative, not vacuous


@pytest.mark.parametrize("rho", RHOS)
def test_power_cross_within_its_bound(rho):
    """v(a) of the power law against a direct sum long enough for every pole, including one at 0.9995
    whose sum the module truncates (at N lags, with ``cross_bound``)."""
    target = Power(10.0, 1.1)
    a = np.concatenate([pole_set("pairs", seed=9), [0.9995]])
    n = 120000  # 0.9995^n = 1e-26
    ref = dense_cross(a, target.sequence(n), rho)
    v, bound = target.cross(a, rho), target.cross_bound(a, rho)
    assert np.all(np.abs(v - ref) <= bound + 1e-10 * np.abs(ref))
    assert np.all(bound <= 1e-10 * np.abs(ref))


# ----------------------------------------------------------------------------------------------
# Monte Carlo: the loss of a filter on sampled data


MC = [Shift(9), Exp(0.8), Bump(12, 2.0), Power(3.0, 2.0)]


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("target", MC, ids=str)
def test_loss_matches_monte_carlo(target, rho):
    """16 stationary AR(1) sequences of 3000 + 8192 steps; filter and target kernels cut at 3000 lags
    (poles below 0.95^3000, target tail bounded below); the MSE of the last 8192 steps of each sequence,
    over the target's energy, averaged. Tolerance: 5 standard errors of that mean plus the truncation."""
    a = pole_set("mixed", seed=11)
    b = targets.optimal_readout(a, target, rho) * 0.6  # a filter away from the optimum too
    lags, T, runs = 3000, 8192, 16
    x = AR1(rho).sample(runs, lags + T, np.random.default_rng(12))
    c = dense.kernel(a, b, lags)
    d = target.sequence(lags)
    err = fftconvolve(x, (c - d)[None, :], axes=1)[:, lags : lags + T]
    E = target.energy(rho)
    per_run = np.mean(err**2, axis=1) / E
    se = per_run.std(ddof=1) / np.sqrt(runs)
    value = targets.loss(a, b, target, rho)
    cut = (1 + rho) / (1 - rho) * (integral_tail(target, lags) if isinstance(target, Power) else 0.0)
    truncation = (2 * math.sqrt(value * E * cut) + cut) / E
    assert abs(per_run.mean() - value) <= 5 * se + truncation
    assert 0.1 < value < 0.99  # the check has something to see: neither trivial nor the zero filter


# ----------------------------------------------------------------------------------------------
# Parameters


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: Power(10.0, 0.5), "p"),
        (lambda: Power(10.0, 0.3), "p"),
        (lambda: Power(10.0, float("nan")), "p"),
        (lambda: Power(0.0, 1.1), "tau"),
        (lambda: Power(float("inf"), 1.1), "tau"),
        (lambda: Exp(1.0), "lam"),
        (lambda: Exp(-1.2), "lam"),
        (lambda: Exp(float("nan")), "lam"),
        (lambda: Exp(0.5 + 0.1j), "lam"),
        (lambda: Bump(10, -0.5), "sigma"),
        (lambda: Bump(10, float("nan")), "sigma"),
        (lambda: Bump(4, 1.5), "sigma"),  # ceil(4 sigma) = 6 > K: the window would reach lag -2
        (lambda: Shift(0), "K"),
        (lambda: Shift(2.5), "K"),
        (lambda: Shift(float("nan")), "K"),
        (lambda: Shift(True), "K"),
        (lambda: Bump(0, 0.0), "K"),
        (lambda: targets.make_target("spline", K=3), "spline"),
        (lambda: targets.make_target("power", tau=10.0), "p"),
        (lambda: targets.make_target("shift", K=3, sigma=1.0), "sigma"),
        (lambda: targets.optimal_loss([0.5], Shift(3), rho=1.0), "rho"),
        (lambda: targets.optimal_loss([0.5], Shift(3), rho=float("nan")), "rho"),
    ],
)
def test_bad_input_is_refused_naming_the_key(make, key):
    with pytest.raises(ValueError, match=key):
        make()


def test_registry_round_trip():
    for target in [Shift(5), Exp(-0.3), Power(10.0, 1.1), Bump(8, 1.25)]:
        assert targets.make_target(**target.spec) == target
        assert targets.as_target(target.spec) == target
    assert sorted(targets.TARGETS) == ["bump", "exp", "power", "shift"]
