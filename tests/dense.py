"""Independent routes for tests: what the package computes in closed form or by FFT, computed here by
brute force on a long truncated kernel (direct powers a_s^k, no split powers, no closed forms).

- the kernel c_k = sum_s b_s a_s^k by direct powers;
- the stationary loss e^T T e, T_kk' = rho^|k - k'|, e = c - delta_K, by the explicit AR(1) Cholesky
  factor (T = C C^T, C^T e computed by a backward recursion, ``colour_t``);
- the optimal readout by dense least squares on the same whitened, truncated system.

The truncation length is where every pole has decayed below ``TRUNCATION``.
"""

import math

import numpy as np
from scipy.signal import lfilter

TRUNCATION = 1e-15


def length_for(a, K: int) -> int:
    """n >= 4K + 8 with max|a|^n < TRUNCATION."""
    r = float(np.max(np.abs(a)))
    return max(4 * K + 8, int(math.log(TRUNCATION) / math.log(r)) + 1 if r > 0 else 0)


def powers(a, n: int) -> np.ndarray:
    """(n, S): a_s^k by repeated multiplication (cumulative products), k < n."""
    a = np.asarray(a, dtype=complex)
    P = np.empty((n, a.size), dtype=complex)
    P[0] = 1.0
    for k in range(1, n):
        P[k] = P[k - 1] * a
    return P


def kernel(a, b, n: int) -> np.ndarray:
    """c_k = Re sum_s b_s a_s^k, k < n."""
    return (powers(a, n) @ np.asarray(b, dtype=complex)).real


def colour_t(E, rho: float) -> np.ndarray:
    """C^T E along axis 0, C the lower Cholesky factor of the AR(1) covariance (x_0 = eps_0,
    x_t = rho x_{t-1} + sqrt(1 - rho^2) eps_t): e^T T e = |C^T e|^2 for every truncated e."""
    g = lfilter([1.0], [1.0, -rho], np.asarray(E)[::-1], axis=0)[::-1]  # g_j = sum_{t >= j} rho^(t - j) e_t
    out = g * math.sqrt(1 - rho**2)
    out[0] = g[0]
    return out


def stationary_loss(a, b, K: int, rho: float, n: int | None = None) -> float:
    """E(y_t - x_{t-K})^2 of the real filter of (a, b): e^T T e on the truncated kernel."""
    n = n or length_for(a, K)
    e = kernel(a, b, n)
    e[K] -= 1.0
    y = colour_t(e, rho)
    return float(y @ y)


def optimal_readout(a, K: int, rho: float, n: int | None = None) -> np.ndarray:
    """argmin_b of the stationary loss by dense (complex) least squares on the whitened truncated
    system: min |C^T (Phi b - delta_K)|^2 over b in C^S, Phi_ks = a_s^k. For poles in conjugate pairs
    the minimiser is conjugate-symmetric (unique where Phi has full column rank)."""
    n = n or length_for(a, K)
    A = colour_t(powers(a, n), rho)
    d = np.zeros(n)
    d[K] = 1.0
    b, *_ = np.linalg.lstsq(A, colour_t(d, rho), rcond=None)
    return b


# -- any memory target (targets.Target): the same routes with d in place of delta_K ----------------------


def target_stationary_loss(a, b, target, rho, n=4096):
    """(c - d)^T T (c - d) / d^T T d on kernels cut at n lags, T_kk' = rho^|k - k'|, by T's explicit
    Cholesky factor (``dense.colour_t``) and direct powers (``dense.kernel``)."""
    e, d = kernel(a, b, n) - target.sequence(n), target.sequence(n)
    ye, yd = colour_t(e, rho), colour_t(d, rho)
    return float(ye @ ye / (yd @ yd))


def target_window_loss(a, b, d, rho, T_eval):
    """The mean over the last T_eval steps t of (c - d)[:t+1]^T Gamma (c - d)[:t+1], over the same for c = 0:
    each step's own quadratic form, summed explicitly (no window weights, no FFT)."""
    n = d.size
    k = np.arange(n)
    G = rho ** np.abs(k[:, None] - k[None, :]) if rho else np.eye(n)
    c = (np.asarray(a)[None, :] ** k[:, None] @ b).real
    e = c - d
    num = sum(e[: t + 1] @ G[: t + 1, : t + 1] @ e[: t + 1] for t in range(n - T_eval, n))
    den = sum(d[: t + 1] @ G[: t + 1, : t + 1] @ d[: t + 1] for t in range(n - T_eval, n))
    return float(num / den)
