"""The real family's coinciding-pole search (``reference.cluster_search``) against a reference of its own:
the optimum over the Jordan span of its stored poles, computed here in mpmath at 80 digits.

The Jordan span of m distinct real poles q_i, each repeated n_i times, is spanned by binom(k + j - 1, j - 1)
q_i^k, j = 1..n_i. Its stationary optimum for AR(1) input is a least-squares problem on the whitened,
truncated system: min_w |C^T (Phi w - delta_K)|^2, C the Cholesky factor of the Toeplitz covariance
rho^|k - k'| (C^T e by the backward recursion g_j = sum_{t >= j} rho^(t - j) e_t, as tests/dense.py), solved
by the normal equations in mpmath. The clusters the search returns can lie 1e-6 apart (a Gram condition
near 1e24), far beyond float64 and well within 80 digits; the rows stop where every basis function is
below 1e-40. No closed form, orthonormal basis or float64 of the package enters.
"""

import math

import mpmath
import numpy as np
import pytest
import scipy.optimize
import span

from shiftbench import reference

DPS = 80
TAIL = mpmath.mpf("1e-40")


def groups(a, tol=1e-9):
    """[(q, multiplicity)] of the real values a, grouped where neighbours lie within ``tol`` (as stored: equal)."""
    x = np.sort(np.real(np.asarray(a)))[::-1]
    out = []
    for v in x:
        if out and abs(out[-1][0] - v) <= tol:
            out[-1][1] += 1
        else:
            out.append([float(v), 1])
    return [(q, m) for q, m in out]


def jordan_optimum_mp(a, K: int, rho: float, dps: int = DPS, tail=TAIL) -> mpmath.mpf:
    """min over the Jordan span of the real poles a of the stationary shift-K loss, at ``dps`` digits,
    the rows cut where every basis function is below ``tail``."""
    with mpmath.workdps(dps):
        rho_, s = mpmath.mpf(rho), mpmath.sqrt(1 - mpmath.mpf(rho) ** 2)
        span = [(mpmath.mpf(q), j) for q, m in groups(a) for j in range(1, m + 1)]
        n = K + 1
        while any(math.comb(n + j - 1, j - 1) * abs(q) ** n > tail for q, j in span):
            n += 50

        def whiten(e):  # C^T e: g_j = e_j + rho g_{j+1}; (C^T e)_0 = g_0, (C^T e)_j = sqrt(1 - rho^2) g_j
            g, out = mpmath.mpf(0), [None] * n
            for j in range(n - 1, -1, -1):
                g = e[j] + rho_ * g
                out[j] = g * (s if j else 1)
            return out

        columns = []
        for q, j in span:
            col, power = [], mpmath.mpf(1)
            for k in range(n):
                col.append(math.comb(k + j - 1, j - 1) * power)  # exact integer binomials
                power *= q
            columns.append(whiten(col))
        y = whiten([mpmath.mpf(k == K) for k in range(n)])
        G = mpmath.matrix([[mpmath.fsum(u * v for u, v in zip(ci, cj)) for cj in columns] for ci in columns])
        v = mpmath.matrix([mpmath.fsum(u * t for u, t in zip(ci, y)) for ci in columns])
        w = mpmath.lu_solve(G, v)
        energy = mpmath.fsum(t * t for t in y)  # 1 up to the truncation
        return (energy - mpmath.fsum(w[i] * v[i] for i in range(len(span)))) / energy


def even_sizes(S, m):
    """The cluster sizes of m clusters of S poles, as even as S allows, largest first."""
    return sorted((S // m + (i < S % m) for i in range(m)), reverse=True)


CASES = [  # (S, K, rho, sizes): m not dividing S (unequal clusters), white noise, and a choice of m
    (5, 32, 0.7, [4]),
    (4, 16, 0.0, [1, 2]),
    (6, 24, 0.7, [1, 2, 3]),
]


@pytest.mark.parametrize("S, K, rho, sizes", CASES)
def test_cluster_search_value_is_the_jordan_optimum_of_its_stored_poles(S, K, rho, sizes):
    best = reference.cluster_search(S, K, rho, sizes)
    a = np.asarray(best["poles"])
    assert best["repeated"] == "jordan" and a.size == S
    assert np.all(a.imag == 0) and np.all((0 < a.real) & (a.real < 1))  # the real family: positive real poles
    multiplicities = sorted((m for _, m in groups(a)), reverse=True)
    assert multiplicities in [even_sizes(S, m) for m in sizes]  # m clusters as even as S allows
    # the slower poles carry the larger clusters (what the stored value was computed with)
    by_pole = groups(a)
    assert [m for _, m in by_pole] == sorted((m for _, m in by_pole), reverse=True)
    ref = jordan_optimum_mp(a, K, rho)
    assert abs(best["value"] - float(ref)) <= 1e-10, (best["value"], float(ref))


@pytest.mark.parametrize("S, K, rho, sizes", [c for c in CASES if 1 in c[3]])
def test_cluster_search_is_no_worse_than_one_repeated_pole_on_a_grid(S, K, rho, sizes):
    """Brute force: one pole repeated S times, on a grid of 40 poles where the one-pole optimum lives
    (1 - q from 1/K to 4 S/K; the Laguerre limit sits near (S + 1)/K), then refined by a bounded scalar
    search between the best point's neighbours; every value by the mpmath route (30 digits suffice for
    one chain; rows cut below 1e-25). The search over clusters must do at least as well."""

    def one_pole(q):
        return float(jordan_optimum_mp(np.full(S, q), K, rho, dps=30, tail=mpmath.mpf("1e-25")))

    best = reference.cluster_search(S, K, rho, sizes)
    grid = 1 - np.geomspace(1.0 / K, min(4.0 * S / K, 0.9), 40)
    values = [one_pole(q) for q in grid]
    i = int(np.argmin(values))
    assert 0 < i < len(grid) - 1  # an interior minimum: the grid brackets it
    refined = scipy.optimize.minimize_scalar(one_pole, bounds=(grid[i + 1], grid[i - 1]), method="bounded",
                                             options={"xatol": 1e-10})  # fmt: skip
    brute = min(values[i], refined.fun)
    assert math.isfinite(best["value"]) and best["value"] <= brute + 1e-10, (best["value"], brute)


@pytest.mark.parametrize("rho", [0.0, 0.7])
def test_the_float64_span_helper_agrees_with_the_mpmath_route(rho):
    """tests/span.py (float64 least squares over the Jordan span, used by tests/test_kernels.py) against the
    80-digit route above, on one pole repeated 4 times and on two chains of 2, for the shift at K = 12."""
    d = np.zeros(4000)
    d[12] = 1.0
    for a in (np.full(4, 0.7 + 0j), np.array([0.8, 0.8, 0.5, 0.5], dtype=complex)):
        assert span.span_optimum(a, d, rho) == pytest.approx(float(jordan_optimum_mp(a.real, 12, rho)), abs=1e-10)
