"""Every closed form of shiftbench.theory against an independent brute-force computation."""

import dense
import numpy as np
import pytest
from scipy.linalg import cholesky, toeplitz
from scipy.signal import lfilter

from shiftbench import reference, signals, theory


def random_poles(S, rng, r_max=0.99):
    """S poles in conjugate pairs (plus one real pole when S is odd), moduli up to r_max."""
    half = S // 2
    p = np.sqrt(rng.uniform(0.05, r_max**2, half)) * np.exp(1j * rng.uniform(0.01, np.pi - 0.01, half))
    real = [rng.uniform(-r_max, r_max)] if S % 2 else []
    return np.concatenate([p, p.conj(), real])


def pair_readout(a, rng):
    half = len(a) // 2
    b = rng.standard_normal(half) + 1j * rng.standard_normal(half)
    return np.concatenate([b, b.conj(), rng.standard_normal(len(a) % 2)]) / len(a)


def truncation(a, rho=0.0, tol=1e-18):
    """Number of lags after which both the kernel and the AR(1) colouring filter are below tol."""
    r = max(np.abs(a).max(), rho)
    return int(np.ceil(np.log(tol) / np.log(r))) + 1


def colour(x, rho):
    """Convolution with the AR(1) colouring filter sqrt(1-rho^2) rho^k: Gamma = |colouring|^2."""
    return lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], x)


def brute_loss(c, K, rho):
    """sum_{k,k'} e_k conj(e_k') gamma(k-k') on a long truncated error kernel, via colouring."""
    e = np.asarray(c, dtype=complex).copy()
    e[K] -= 1
    pad = truncation(np.array([0.0]), rho) if rho else 0
    return float(np.sum(np.abs(colour(np.concatenate([e, np.zeros(pad)]), rho)) ** 2))


def dense_least_squares(a, K, rho):
    """Optimal loss and kernel from a dense, coloured, truncated least-squares problem."""
    n = max(truncation(a, rho), 2 * K)
    Phi = a[None, :] ** np.arange(n)[:, None]
    d = np.zeros(n)
    d[K] = 1
    A, y = colour(Phi.T, rho).T, colour(d, rho)
    b, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(np.sum(np.abs(A @ b - y) ** 2)), Phi @ b


RHOS = [0.0, 0.5, 0.9]


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("S", [1, 2, 5, 16, 32])
def test_exact_loss_matches_truncated_kernel(S, rho):
    rng = np.random.default_rng(S)
    a = random_poles(S, rng)
    b = pair_readout(a, rng)
    K = 3 * S + 2
    c = theory.kernel(a, b, truncation(a))
    assert np.max(np.abs(c.imag)) < 1e-12  # conjugate pairs give a real filter
    assert theory.exact_loss(a, b, K, rho) == pytest.approx(brute_loss(c, K, rho), rel=1e-10)


def test_exact_loss_real_pole_at_rho():
    """The AR(1) cross term has a 0/0 at a real pole equal to rho: check the limit and its neighbourhood."""
    rho, K = 0.7, 40
    for pole in [rho, rho + 1e-9, rho - 1e-7, rho + 1e-4]:
        a, b = np.array([pole + 0j]), np.array([0.3 + 0j])
        c = theory.kernel(a, b, truncation(a))
        assert theory.exact_loss(a, b, K, rho) == pytest.approx(brute_loss(c, K, rho), rel=1e-11)


def test_frequency_response_is_fourier_transform_of_kernel():
    rng = np.random.default_rng(1)
    a = random_poles(7, rng, r_max=0.9)
    b = pair_readout(a, rng)
    c = theory.kernel(a, b, truncation(a))
    omega = np.linspace(-np.pi, np.pi, 9)
    direct = np.exp(-1j * np.outer(omega, np.arange(len(c)))) @ c
    np.testing.assert_allclose(theory.frequency_response(a, b, omega), direct, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("S", [1, 3, 8, 21, 32])
def test_optimal_loss_and_kernel_match_dense_least_squares(S, rho):
    rng = np.random.default_rng(100 + S)
    a = random_poles(S, rng, r_max=0.97)
    K = 2 * S + 5
    ref_loss, ref_kernel = dense_least_squares(a, K, rho)
    assert theory.optimal_loss(a, K, rho) == pytest.approx(ref_loss, rel=1e-9, abs=1e-13)
    b = theory.optimal_readout(a, K, rho)
    kernel = theory.kernel(a, b, len(ref_kernel))
    np.testing.assert_allclose(kernel, ref_kernel, atol=1e-9)
    assert theory.exact_loss(a, b, K, rho) == pytest.approx(ref_loss, rel=1e-9, abs=1e-13)


@pytest.mark.parametrize("rho", RHOS)
def test_optimal_readout_agrees_with_gram_solve_when_well_conditioned(rho):
    rng = np.random.default_rng(7)
    a = random_poles(6, rng, r_max=0.8)
    G, v = signals.as_signal(rho).gram_and_cross(a, 15)
    assert np.linalg.cond(G) < 1e8
    np.testing.assert_allclose(theory.optimal_readout(a, 15, rho), np.linalg.solve(G, v), rtol=1e-7)
    assert theory.optimal_loss(a, 15, rho) == pytest.approx(1 - np.real(np.vdot(v, np.linalg.solve(G, v))), rel=1e-10)


@pytest.mark.parametrize("rho", [0.0, 0.7])
def test_optimal_loss_stable_where_gram_solve_breaks_down(rho):
    """LRU-default poles (uniform on the disk) at S = 64: G is numerically singular, the stable routes are not.

    (The construction's own poles keep G well-conditioned, cond ~ 50, because their phases are
    regularly spaced; random poles that crowd together are what break the Gram route.)
    """
    S, K = 64, 520
    rng = np.random.default_rng(2)
    p = np.sqrt(rng.uniform(0, 0.99**2, S // 2)) * np.exp(1j * rng.uniform(0, np.pi, S // 2))
    a = np.concatenate([p, p.conj()])
    G, v = signals.as_signal(rho).gram_and_cross(a, K)
    assert np.linalg.cond(G) > 1e16  # the Gram route has no digits left
    ref_loss, ref_kernel = dense_least_squares(a, K, rho)
    gram_loss = 1 - np.real(np.vdot(v, np.linalg.solve(G, v)))
    assert theory.optimal_loss(a, K, rho) == pytest.approx(ref_loss, abs=1e-10)
    b = theory.optimal_readout(a, K, rho)
    kernel = theory.kernel(a, b, len(ref_kernel))
    # Here the optimal kernel itself is ill-conditioned in directions that carry ~1e-13 of loss
    # (the dense solver's truncated SVD drops them), so compare kernels loosely and losses tightly:
    np.testing.assert_allclose(kernel.real, ref_kernel.real, atol=1e-6)
    assert brute_loss(kernel, K, rho) <= ref_loss + 1e-12
    assert np.abs(b).max() > 1e5  # b* is huge here, so exact_loss must avoid the cancelling quadratic form
    assert theory.exact_loss(a, b, K, rho) == pytest.approx(brute_loss(kernel, K, rho), abs=1e-10)
    # the stable route is at least as good as the (unreliable) Gram solve
    assert theory.optimal_loss(a, K, rho) <= gram_loss + 1e-10


def test_white_noise_routes_agree():
    """All-pass energy (white route) against the orthonormal-basis recurrence evaluated at rho = 0."""
    rng = np.random.default_rng(3)
    a = random_poles(9, rng)
    f, l = theory.orthonormal_coordinates(a, 25, 0.0)
    tm = 1 - np.sum(np.abs(f) ** 2) + abs(np.sum(f * l)) ** 2 / np.sum(np.abs(l) ** 2)
    assert theory.optimal_loss(a, 25, 0.0) == pytest.approx(tm, abs=1e-13)


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_optimal_loss_large_S_within_bounds_and_monotone(rho):
    """Up to S = 1024: L* equals the dense Gram solve 1 - v^H G^-1 v (by another route: the Gram matrix
    of regularly spaced poles is well conditioned, and that of a subset no worse, by interlacing), stays
    in [lower_bound, 1] and never increases when poles are added."""
    rng = np.random.default_rng(11)
    K = 8192
    a_full, _ = theory.construction(1024, K, alpha=1.0)
    pairs = rng.permutation(512)
    previous = 1.0
    for S in [16, 64, 256, 1024]:
        idx = np.concatenate([pairs[: S // 2], 1023 - pairs[: S // 2]])  # s <-> -s are conjugates
        L = theory.optimal_loss(a_full[idx], K, rho)
        G, v = signals.AR1(rho).gram_and_cross(a_full[idx], K)
        assert np.linalg.cond(G) < 1e4
        assert L == pytest.approx(1 - np.real(np.vdot(v, np.linalg.solve(G, v))), abs=1e-10)
        assert theory.lower_bound(S, K, rho) - 1e-12 <= L <= 1.0
        assert L <= previous + 1e-12
        previous = L


def test_repeated_poles_count_once():
    a = np.array([0.9, 0.9, 0.5 + 0.3j, 0.5 - 0.3j])
    distinct = np.array([0.9, 0.5 + 0.3j, 0.5 - 0.3j])
    assert theory.optimal_loss(a, 10, 0.4) == pytest.approx(theory.optimal_loss(distinct, 10, 0.4), abs=1e-14)
    b = theory.optimal_readout(a, 10, 0.4)
    assert b[0] == pytest.approx(b[1])
    assert theory.exact_loss(a, b, 10, 0.4) == pytest.approx(theory.optimal_loss(distinct, 10, 0.4), abs=1e-12)


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_finite_window_loss_matches_monte_carlo(rho):
    """Empirical MSE of the filtered AR(1) samples; tolerance: 4 standard errors over sequences."""
    rng = np.random.default_rng(5)
    a = random_poles(6, rng)
    a = 0.95 * a / np.abs(a)  # slow poles, so the short window truncates the kernel noticeably
    b = pair_readout(a, rng) * 3
    K, length, t_eval = 12, 40, 20
    x = signals.sample_ar1(rho, 20000, length, seed=1)
    c = theory.kernel(a, b, length).real
    y = np.stack([np.convolve(row, c)[:length] for row in x])
    err = (y[:, -t_eval:] - x[:, length - t_eval - K : length - K]) ** 2
    per_seq = err.mean(axis=1)
    se = per_seq.std(ddof=1) / np.sqrt(len(per_seq))
    expected = theory.finite_window_loss(a, b, K, rho, length, t_eval)
    assert abs(per_seq.mean() - expected) < 4 * se
    # ... and its ingredients are not trivially equal to the stationary loss at this short length
    assert abs(expected - theory.exact_loss(a, b, K, rho)) > 10 * se


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_finite_window_loss_converges_to_stationary(rho):
    rng = np.random.default_rng(6)
    a = random_poles(5, rng, r_max=0.9)
    b = pair_readout(a, rng)
    stationary = theory.exact_loss(a, b, 10, rho)
    gaps = [abs(theory.finite_window_loss(a, b, 10, rho, start + 5, 5) - stationary) for start in [15, 40, 100, 400]]
    assert all(g2 < g1 for g1, g2 in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-12


def dirichlet_closed_form(S, K, alpha, k):
    """c_k = beta e^{-alpha k/K} sin(pi S (k-K)/(2K)) / sin(pi (k-K)/(2K)), with its 0/0 limits."""
    beta = np.exp(-alpha) * np.sinh(2 * alpha) / K
    theta = np.pi * (k - K) / (2 * K)
    m = np.round(theta / np.pi)
    singular = np.isclose(theta, m * np.pi)
    ratio = np.where(singular, S * (-1.0) ** (m * (S - 1)), np.sin(S * theta) / np.where(singular, 1, np.sin(theta)))
    return beta * np.exp(-alpha * k / K) * ratio


@pytest.mark.parametrize("S,K,alpha", [(21, 400, 1.0), (20, 300, 0.5), (51, 500, 1.5), (4, 9, 1.0)])
def test_construction_kernel_is_dirichlet_window(S, K, alpha):
    a, b = theory.construction(S, K, alpha)
    k = np.arange(4 * K + 3)
    c = theory.kernel(a, b, len(k))
    assert np.max(np.abs(c.imag)) < 1e-12
    np.testing.assert_allclose(c.real, dirichlet_closed_form(S, K, alpha, k), atol=1e-13)
    # peak at lag K equal to kappa-independent beta S e^{-alpha}; alias lobe at 3K relative e^{-2 alpha}
    assert c.real[3 * K] / c.real[K] == pytest.approx((-1) ** (S - 1) * np.exp(-2 * alpha), rel=1e-10)


@pytest.mark.parametrize("S,K,expected", [(21, 400, 0.97503), (41, 4000, 0.99505)])
def test_construction_reference_values(S, K, expected):
    a, b = theory.construction(S, K, 1.0)
    assert theory.exact_loss(a, b, K) == pytest.approx(expected, abs=5e-6)


def test_construction_approaches_asymptotic_loss():
    """(1 - L)/(kappa S/K) -> 1 as S grows with S/K -> 0."""
    ratios = []
    for S in [11, 41, 161, 641]:
        K = 20 * S
        a, b = theory.construction(S, K, 1.0)
        ratios.append((1 - theory.exact_loss(a, b, K)) / (theory.kappa(1.0) * S / K))
    errors = [abs(r - 1) for r in ratios]
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:]))
    assert errors[-1] < 0.01


def test_reference_lower_bound_and_s1_optimum():
    assert theory.lower_bound(21, 400) == pytest.approx(0.94763, abs=5e-6)
    assert theory.lower_bound(1000, 10, 0.9) == 0.0  # clipped: no informative bound
    # S = 1 exact optimum 1 - (1/(K+1)) (K/(K+1))^K, reached at the real pole a = sqrt(K/(K+1))
    K = 20
    exact = 1 - (1 / (K + 1)) * (K / (K + 1)) ** K
    assert exact == pytest.approx(0.98205, abs=5e-6)
    grid = np.linspace(0.5, 0.999, 4000)
    assert min(theory.optimal_loss([r], K) for r in grid) == pytest.approx(exact, abs=1e-8)
    assert theory.optimal_loss([np.sqrt(K / (K + 1))], K) == pytest.approx(exact, abs=1e-14)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.9])
def test_lower_bound_below_optimal_loss(rho):
    """Every draw has an informative bound (K past (S+1)(1+rho)/(1-rho)), so none passes by the clip at 0;
    random poles near the circle, and the reference search's near-optimal poles, stay above it."""
    rng = np.random.default_rng(int(rho * 10))
    for _ in range(20):
        S = int(rng.integers(1, 6))
        K = int(rng.integers(2, 4) * (S + 1) * (1 + rho) / (1 - rho))
        bound = theory.lower_bound(S, K, rho)
        assert bound > 0
        a = random_poles(S, rng, r_max=0.999)
        assert bound <= theory.optimal_loss(a, K, rho) + 1e-12
    for S in [2, 3]:
        K = int(3 * (S + 1) * (1 + rho) / (1 - rho))
        best = reference.search("exact", S, K, rho, random_starts=1, construction_starts=1, hops=0)["value"]
        assert 0 < theory.lower_bound(S, K, rho) <= best


@pytest.mark.parametrize("S,K", [(21, 400), (51, 2000), (101, 2000)])
def test_filter_width_of_construction(S, K):
    a, b = theory.construction(S, K, 1.0)
    width = theory.filter_width(theory.kernel(a, b, 2 * K), K)
    assert width == pytest.approx(theory.dirichlet_fwhm(S, K), rel=0.02)
    assert width == pytest.approx(2.4135 * K / S, rel=0.03)  # u with sin(u)/u = 1/2 is 1.8955; 4u/pi


def test_filter_width_nan_without_lobe():
    assert np.isnan(theory.filter_width(np.ones(100), 40))


@pytest.mark.parametrize("bad", [[1.0], [0.5, 1.2j], [np.nan], []])
def test_bad_poles_are_refused(bad):
    with pytest.raises(ValueError):
        theory.exact_loss(bad, np.ones(len(bad)), 5)
    with pytest.raises(ValueError):
        theory.optimal_loss(bad, 5)


def test_bad_lag_and_window_are_refused():
    with pytest.raises(ValueError, match="K must be a positive integer"):
        theory.exact_loss([0.5], [1.0], 0)
    with pytest.raises(ValueError, match="t_eval"):
        theory.finite_window_loss([0.5], [1.0], 10, 0.0, length=15, t_eval=10)


def test_kernel_with_a_pole_at_zero():
    np.testing.assert_allclose(theory.kernel([0.0, 0.5], [2.0, 1.0], 4), [3.0, 0.5, 0.25, 0.125], atol=1e-15)


# -- the optimum of a finite window (docs/theory.md section 4) -------------------------------------


def dense_window_optimum(a, K, rho, n, T):
    """The window optimum by brute force: the explicit n x n covariance of the window, then least squares.

    x = L xi with Gamma_n = L L^T (Cholesky) and xi white, so the error at a scored position t is the
    row (sum_s b_s a_s^{t-j} - 1[t - j = K])_{j <= t} times L; stacking the T rows gives an ordinary
    least-squares problem in b, solved by numpy's lstsq (complex b).
    """
    L = cholesky(toeplitz(signals.autocovariance(rho, np.arange(n))), lower=True)
    lag = np.arange(n - T, n)[:, None] - np.arange(n)[None, :]  # (T, n): t - j
    columns = [(np.where(lag >= 0, p ** np.maximum(lag, 0), 0) @ L).ravel() for p in a]
    A = np.stack(columns, axis=1) / np.sqrt(T)
    y = ((lag == K) @ L).ravel() / np.sqrt(T)
    b, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(np.sum(np.abs(A @ b - y) ** 2)), b


def dense_window_loss(a, b, K, rho, n, T):
    """The window loss of the readout b by brute force: the mean over the last T positions t of
    e_t^T Gamma_(t+1) e_t, e_t = (c - delta_K) truncated at lag t, on the explicit Toeplitz covariance."""
    e = dense.kernel(a, b, n)
    e[K] -= 1.0
    Gamma = toeplitz(signals.autocovariance(rho, np.arange(n)))
    return float(np.mean([e[: t + 1] @ Gamma[: t + 1, : t + 1] @ e[: t + 1] for t in range(n - T, n)]))


@pytest.mark.parametrize("rho", [0.0, 0.6])
@pytest.mark.parametrize("S", [1, 2, 3, 4, 7, 8])
def test_finite_window_optimum_matches_dense_least_squares(S, rho):
    rng = np.random.default_rng(200 + S)
    a = random_poles(S, rng, r_max=0.97)
    K, n, T = 2 * S + 3, 4 * S + 20, S + 7
    ref_loss, ref_b = dense_window_optimum(a, K, rho, n, T)
    best = theory.finite_window_optimum(a, K, rho, n, T)
    assert best.resolved and best.rcond > 1e-6
    assert best.loss == pytest.approx(ref_loss, abs=1e-9)
    assert best.quadratic == pytest.approx(ref_loss, abs=1e-9)
    assert best.infimum == pytest.approx(ref_loss, abs=1e-9)  # the least-squares route, per item
    # the public functions, each against the dense route (not against finite_window_optimum, which they call)
    assert theory.finite_window_optimal_loss(a, K, rho, n, T) == pytest.approx(ref_loss, abs=1e-9)
    b = theory.finite_window_optimal_readout(a, K, rho, n, T)
    np.testing.assert_allclose(theory.kernel(a, b, n), theory.kernel(a, ref_b, n), atol=1e-9)
    assert dense_window_loss(a, b, K, rho, n, T) == pytest.approx(ref_loss, abs=1e-9)  # its loss, by brute force
    np.testing.assert_allclose(theory.kernel(a, best.readout, n), theory.kernel(a, ref_b, n), atol=1e-9)
    np.testing.assert_allclose(best.readout, ref_b, rtol=1e-7, atol=1e-9)
    # the window favours the window: below the window loss of the stationary optimum's readout
    assert best.loss <= theory.finite_window_loss(a, theory.optimal_readout(a, K, rho), K, rho, n, T) + 1e-12


@pytest.mark.parametrize("rho", [0.0, 0.7])
def test_window_optimum_tends_to_the_stationary_one_with_burn_in(rho):
    """Leading steps that are never scored: as they grow, the window optimum tends to L*(a)."""
    rng = np.random.default_rng(9)
    a = random_poles(6, rng, r_max=0.9)
    K, T = 20, 4
    stationary = theory.optimal_loss(a, K, rho)
    gaps = [abs(theory.finite_window_optimal_loss(a, K, rho, B + K + T, T) - stationary) for B in [0, 10, 40, 280]]
    assert all(g2 < g1 for g1, g2 in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-12


def test_ill_conditioned_window_is_reported_as_such():
    """Construction poles with a short window and no burn-in: directions that carry almost no energy in
    the window move the computed optimum, so the value is only an achievable upper bound, not resolved."""
    a, _ = theory.construction(24, 200)
    best = theory.finite_window_optimum(a, 200, 0.7, 220, 20)
    assert not best.resolved and best.rcond < theory.WINDOW_RESOLVED_RCOND
    assert best.loss == theory.finite_window_loss(a, best.readout, 200, 0.7, 220, 20)  # achievable, by construction
    assert best.loss < theory.finite_window_loss(a, theory.optimal_readout(a, 200, 0.7), 200, 0.7, 220, 20)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_optimal_filter_is_the_dense_least_squares_optimum(rho):
    """optimal_filter's (b*, L*) from one pass of the orthonormal recursion, against dense least squares on
    the whitened truncated system (tests/dense.py), pole set by pole set."""
    rng = np.random.default_rng(11)
    for S, K in [(4, 9), (7, 20), (10, 40)]:
        p = rng.uniform(0.3, 0.9, S // 2) * np.exp(1j * rng.uniform(0.1, 3.0, S // 2))
        a = np.concatenate([p, p.conj(), rng.uniform(-0.8, 0.8, S % 2)])
        b, loss = theory.optimal_filter(a, K, rho)
        b_dense = dense.optimal_readout(a, K, rho)
        np.testing.assert_allclose(b, b_dense, rtol=1e-7, atol=1e-8)
        assert loss == pytest.approx(dense.stationary_loss(a, b_dense, K, rho), abs=1e-10)
