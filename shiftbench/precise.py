"""Extended-precision optima of fixed poles (mpmath): the route that float64 rounding cannot fool.

The float64 routes of ``theory`` solve in an orthonormal basis and are accurate wherever the span of
the poles is well resolved inside the loss. Where it is not (a window of n lags that holds only the
start of many slow, crowded poles: 16 real poles within 3.4e-3 of each other at K = 128, n = 192), the
float64 least squares fits rounding noise and returns a value *below* the optimum of the poles. This
module computes the same optima from their definitions, in ``mpmath`` at ``dps`` decimal digits,
and says how far the value can be trusted by computing it twice (``certify``):

- ``window_infimum(a, d, rho, t_eval)``: the infimum over every readout of the window loss
  ``e^T M e / d^T M d`` of the error kernel ``e = c - d`` (docs/theory.md section 4.1), with
  ``M_kk' = rho^|k-k'| omega_max(k,k')``, ``omega_m = #{scored t >= m} / t_eval``, the last ``t_eval``
  of ``n = len(d)`` positions scored. The zero filter scores 1; for the shift ``d = e_K`` with
  ``K <= n - t_eval`` the normaliser ``M_KK`` is 1, as the project normalises. The span is that of
  the poles: ``binom(k, j) p^(k-j)``, ``j < m``, for a pole p of multiplicity m (``repeated="jordan"``,
  the Jordan chain), or ``p^k`` once per distinct pole (``repeated="merge"``, a diagonal layer; poles
  within ``formulas.distinct``'s 1e-12 are one). Normal equations ``G w = Phi^T M d`` in that basis,
  each column scaled to unit norm, ``M x`` by two first-order recursions (no n x n matrix), a
  Cholesky factorisation of G: O(n S^2) operations at ``dps`` digits.
- ``stationary_shift_optimum(a, K, rho)``: the stationary optimum L*(a) of the shift by the
  Takenaka-Malmquist recursion of docs/theory.md section 3 (``theory.orthonormal_coordinates``)
  carried out at ``dps`` digits; repeated poles as Jordan chains or merged. O(S K).
- ``stationary_infimum(a, d, rho)``: the stationary optimum of any finite target d over the span of the
  distinct poles by the closed-form Gram matrix of AR(1) (a second route, used by the tests).

Every pole is the float64 number it is (``mpmath.mpf`` of a float is exact), so the value is that of
the very poles a reference stores. The normal equations square the condition number of the basis,
which is why the default is 120 digits: at S = 16 crowded real poles, 60 digits are still off by 0.03.
``certify`` computes the value at ``DPS`` and at ``CHECK_DPS`` digits: their difference bounds the
rounding of the first (the second is far more accurate still), and a Cholesky pivot that is not
positive at either precision means the precision does not resolve the span (no value, no certificate).

Cost (pure-Python mpmath): about 0.1 s per precision at S = 16, n = 192; it grows as n S^2, so the
study certifies S <= ``MAX_S`` only (docs/theory.md section 9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np

from . import formulas

DPS = 120  # digits of a value
CHECK_DPS = 160  # digits of the second computation that bounds the rounding of the first
TOLERANCE = 1e-9  # a value is certified when the two computations agree to this (they agree to ~1e-60)
MAX_S = 16  # extended precision is affordable up to this many poles (seconds per cell)


class PrecisionError(ArithmeticError):
    """The working precision does not resolve the span of the poles (a Cholesky pivot <= 0)."""


@dataclass(frozen=True)
class Certificate:
    """A value computed at two precisions: ``value`` (at ``dps[1]``, rounded to float64) and
    ``error = |value(dps[0]) - value(dps[1])|``, which bounds the rounding of the lower precision."""

    value: float
    error: float
    dps: tuple[int, int]

    def holds(self, tol: float = TOLERANCE) -> bool:
        return bool(math.isfinite(self.value) and self.error <= tol)

    def describe(self) -> str:
        return f"mpmath at {self.dps[0]} and {self.dps[1]} digits agree to {self.error:.1e}"


# -- the basis of the span of the poles -----------------------------------------------------------------


def groups(a, repeated: str = "jordan", tol: float = 1e-12):
    """[(pole, multiplicity)] of the distinct poles of a conjugation-closed set (a real kernel), the
    real ones as real numbers and one representative (Im > 0) per conjugate pair. ``repeated="merge"``
    counts every distinct pole once (a diagonal layer), ``"jordan"`` with its multiplicity."""
    if repeated not in ("merge", "jordan"):
        raise ValueError(f"repeated must be 'merge' or 'jordan', got {repeated!r}")
    a = np.asarray(a, dtype=complex)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(np.abs(a) >= 1):
        raise ValueError("poles must be a non-empty 1-D array of finite numbers inside the unit disk")
    reps, index = formulas.distinct(a, tol)
    counts = np.bincount(index) if repeated == "jordan" else np.ones(reps.size, dtype=int)
    out, upper, lower = [], {}, {}
    for p, m in zip(reps, counts):
        if abs(p.imag) <= tol:
            out.append((complex(p.real, 0.0), int(m)))
        elif p.imag > 0:
            upper[complex(p)] = int(m)
        else:
            lower[complex(p)] = int(m)
    for p, m in upper.items():
        match = [q for q in lower if abs(q - p.conjugate()) <= tol]
        if len(match) != 1 or lower.pop(match[0]) != m:
            raise ValueError(f"poles are not closed under conjugation (pole {p!r}): the kernel is not real")
        out.append((p, m))
    if lower:
        raise ValueError(f"poles are not closed under conjugation (pole {next(iter(lower))!r})")
    return out


def _columns(a, n: int, repeated: str):
    """The real columns (lists of n mpf) spanning the kernels of the poles on lags 0..n-1, at the
    current precision: binom(k, j) p^(k-j), j < m (Re and Im for a pair), each scaled to unit norm."""
    columns = []
    for p, m in groups(a, repeated):
        z = mpmath.mpf(p.real) if p.imag == 0 else mpmath.mpc(p.real, p.imag)
        powers = [mpmath.mpf(1)]
        for _ in range(1, n):
            powers.append(powers[-1] * z)
        for j in range(m):
            col = [0] * j + [math.comb(k, j) * powers[k - j] for k in range(j, n)]
            parts = [col] if p.imag == 0 else [[mpmath.re(x) for x in col], [mpmath.im(x) for x in col]]
            for part in parts:
                part = [mpmath.mpf(x) for x in part]
                norm = mpmath.sqrt(mpmath.fdot(part, part))
                if norm == 0:
                    raise PrecisionError(f"a kernel of pole {p!r} vanishes on the window at this precision")
                columns.append([x / norm for x in part])
    return columns


def _least_squares(G, v, c):
    """c - v^T G^-1 v by a Cholesky factorisation of G (lists of mpf); PrecisionError on a pivot <= 0."""
    S = len(v)
    L = [[mpmath.mpf(0)] * S for _ in range(S)]
    for i in range(S):
        for j in range(i + 1):
            s = G[i][j] - mpmath.fdot(L[i][:j], L[j][:j])
            if i == j:
                if not s > 0:
                    raise PrecisionError(f"the Gram matrix is not positive definite at {mpmath.mp.dps} digits")
                L[i][i] = mpmath.sqrt(s)
            else:
                L[i][j] = s / L[j][j]
    y = []
    for i in range(S):  # y = L^-1 v, and v^T G^-1 v = |y|^2
        y.append((v[i] - mpmath.fdot(L[i][:i], y)) / L[i][i])
    return c - mpmath.fdot(y, y)


# -- the window (docs/theory.md section 4) ----------------------------------------------------------------


def _window_operator(n: int, t_eval: int, rho):
    """x -> M x for M_kk' = rho^|k-k'| omega_max(k,k'): (M x)_k = omega_k sum_{k'<=k} rho^(k-k') x_k'
    + sum_{k'>k} rho^(k'-k) omega_k' x_k', two first-order recursions, O(n)."""
    omega = [mpmath.mpf(n - max(k, n - t_eval)) / t_eval for k in range(n)]
    if rho == 0:  # white noise: M is the diagonal of the weights
        return lambda x: [w * y for w, y in zip(omega, x)]

    def apply(x):
        left, acc = [], mpmath.mpf(0)
        for k in range(n):
            acc = rho * acc + x[k]
            left.append(acc)
        right, acc = [mpmath.mpf(0)] * n, mpmath.mpf(0)
        for k in range(n - 2, -1, -1):
            acc = rho * (acc + omega[k + 1] * x[k + 1])
            right[k] = acc
        return [omega[k] * left[k] + right[k] for k in range(n)]

    return apply


def window_infimum_mp(a, d, rho, t_eval: int, dps: int = DPS, repeated: str = "jordan"):
    """``window_infimum`` as an mpf at ``dps`` digits (PrecisionError where they do not resolve the span)."""
    n = len(d)
    if not 0 < t_eval <= n:
        raise ValueError(f"need 0 < t_eval <= len(d); got t_eval={t_eval}, len(d)={n}")
    if not -1 < float(rho) < 1:
        raise ValueError(f"rho must lie in (-1, 1), got {rho!r}")
    with mpmath.workdps(dps):
        apply = _window_operator(n, t_eval, mpmath.mpf(float(rho)))
        target = [mpmath.mpf(float(x)) for x in d]
        Md = apply(target)
        energy = mpmath.fdot(target, Md)
        if not energy > 0:
            raise ValueError("the target has no energy in the window (d^T M d = 0)")
        columns = _columns(a, n, repeated)
        if len(columns) > n:
            raise ValueError(f"{len(columns)} basis kernels on a window of {n} lags: not independent")
        images = [apply(x) for x in columns]
        G = [[mpmath.fdot(columns[i], images[j]) for j in range(i + 1)] for i in range(len(columns))]
        v = [mpmath.fdot(x, Md) for x in columns]
        return +(_least_squares(G, v, energy) / energy)


def window_infimum(a, d, rho, t_eval: int, dps: int = DPS, repeated: str = "jordan") -> float:
    """inf over readouts of the window loss (module docstring) of poles ``a`` for the target ``d``
    (length n = the window; the shift is d = e_K), AR(1) ``rho``, the last ``t_eval`` positions scored,
    computed at ``dps`` digits and rounded to float64."""
    return float(window_infimum_mp(a, d, rho, t_eval, dps, repeated))


def shift(K: int, n: int) -> np.ndarray:
    """The target of the shift on a window of n lags: d = e_K."""
    d = np.zeros(n)
    d[K] = 1.0
    return d


# -- the stationary loss (docs/theory.md section 3) ------------------------------------------------------


def stationary_shift_optimum_mp(a, K: int, rho, dps: int = DPS, repeated: str = "merge"):
    """L*(a) of the stationary shift by the Takenaka-Malmquist recursion at ``dps`` digits (an mpf).

    The recursion of ``theory.orthonormal_coordinates``: r(z) = sqrt(1 - rho^2) sum_{m<K} rho^(K-1-m) z^m,
    f_0 = rho^K, l_0 = 1; for each pole, f_n = sqrt(1 - |a|^2) r(conj a), r <- the polynomial part of
    r(z)(1 - a z)/(z - conj a), l_n = -sqrt(1 - |a_n|^2)/(sqrt(1 - rho^2) a_n) prod_{j<n}(-1/a_j); then
    L* = 1 - |f|^2 + |f . l|^2 / |l|^2. Repeated poles: as they are (``jordan``) or once (``merge``)."""
    a = np.asarray(a, dtype=complex)
    if repeated == "merge":
        a, _ = formulas.distinct(a)
    elif repeated != "jordan":
        raise ValueError(f"repeated must be 'merge' or 'jordan', got {repeated!r}")
    if np.any(a == 0) or np.any(np.abs(a) >= 1):
        raise ValueError("the recursion needs poles with 0 < |a| < 1")
    with mpmath.workdps(dps):
        rho = mpmath.mpf(float(rho))
        s2 = mpmath.sqrt(1 - rho**2)
        r = [s2 * rho ** (K - 1 - m) for m in range(K)]
        f, l, prefix = [rho**K], [mpmath.mpf(1)], mpmath.mpf(1)
        for pole in a:
            p = mpmath.mpc(pole.real, pole.imag)
            c = mpmath.conj(p)
            t = [r[0]] + [r[m] - p * r[m - 1] for m in range(1, K)] + [-p * r[K - 1]]  # r(z)(1 - a z)
            u = [t[K]]  # synthetic division by (z - c) from the top; u[K] = t(c)
            for m in range(K - 1, -1, -1):
                u.append(t[m] + c * u[-1])
            r = u[-2::-1]
            scale = mpmath.sqrt(1 - abs(p) ** 2)
            f.append(u[K] / scale)
            l.append(-scale / (s2 * p) * prefix)
            prefix *= -1 / p
        fl = mpmath.fsum(x * y for x, y in zip(f, l))
        ll = mpmath.fsum(abs(y) ** 2 for y in l)
        return +(1 - mpmath.fsum(abs(x) ** 2 for x in f) + abs(fl) ** 2 / ll)


def stationary_shift_optimum(a, K: int, rho, dps: int = DPS, repeated: str = "merge") -> float:
    return float(stationary_shift_optimum_mp(a, K, rho, dps, repeated))


def stationary_infimum_mp(a, d, rho, dps: int = DPS):
    """The stationary optimum over the span of the distinct poles (merged) of a finite target d, an mpf:
    (d^T T d - v^H G^-1 v) / d^T T d with T_kk' = rho^|k-k'| on all lags k >= 0 and the closed forms
    G(x, y) = sum_{k,k'} x^k y^k' rho^|k-k'| = (1 + rho x/(1 - rho x) + rho y/(1 - rho y)) / (1 - x y),
    (T d)_k = rho^(k - n + 1) (T d)_(n-1) for k >= n - 1 (the tail of v in closed form)."""
    with mpmath.workdps(dps):
        rho = mpmath.mpf(float(rho))
        poles = []
        for p, _ in groups(a, "merge"):
            poles += [mpmath.mpf(p.real)] if p.imag == 0 else [mpmath.mpc(p.real, p.imag), mpmath.mpc(p.real, -p.imag)]
        n = len(d)
        dd = [mpmath.mpf(float(x)) for x in d]
        Td = [mpmath.fsum(rho ** abs(k - j) * dd[j] for j in range(n) if dd[j]) for k in range(n)]
        energy = mpmath.fdot(dd, Td)
        S = len(poles)

        def gram(x, y):
            return (1 + rho * x / (1 - rho * x) + rho * y / (1 - rho * y)) / (1 - x * y)

        G = [[gram(mpmath.conj(poles[i]), poles[j]) for j in range(S)] for i in range(S)]
        v = []
        for p in poles:
            q = mpmath.conj(p)
            head = mpmath.fsum(q**k * Td[k] for k in range(n - 1))
            v.append(head + Td[n - 1] * q ** (n - 1) / (1 - q * rho))  # k >= n - 1 in closed form
        w = mpmath.lu_solve(mpmath.matrix(G), mpmath.matrix(v))
        explained = mpmath.re(mpmath.fsum(mpmath.conj(v[i]) * w[i] for i in range(S)))
        return +((energy - explained) / energy)


def stationary_infimum(a, d, rho, dps: int = DPS) -> float:
    return float(stationary_infimum_mp(a, d, rho, dps))


# -- certificates -------------------------------------------------------------------------------------------


def certify(compute, dps: tuple[int, int] = (DPS, CHECK_DPS)) -> Certificate:
    """``compute(dps) -> mpf`` at both precisions: the value at the higher, the difference as its error
    bound (inf where either precision does not resolve the problem)."""
    try:
        low, high = compute(dps[0]), compute(dps[1])
    except PrecisionError:
        return Certificate(math.nan, math.inf, dps)
    with mpmath.workdps(dps[1]):
        return Certificate(float(high), float(abs(high - low)), dps)


def certify_window(a, d, rho, t_eval: int, repeated: str = "jordan", dps=(DPS, CHECK_DPS)) -> Certificate:
    return certify(lambda p: window_infimum_mp(a, d, rho, t_eval, p, repeated), dps)


def certify_stationary_shift(a, K: int, rho, repeated: str = "merge", dps=(DPS, CHECK_DPS)) -> Certificate:
    return certify(lambda p: stationary_shift_optimum_mp(a, K, rho, p, repeated), dps)
