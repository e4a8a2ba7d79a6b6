"""The optimum of a set of poles over the span they reach, by dense least squares (tests' own route).

Distinct poles span their powers a^k. Poles that coincide (within ``tol``; a reference of the real family
may sit at m coinciding poles, a limit a diagonal layer only approaches) span the Jordan chain
binom(k + j - 1, j - 1) q^k, j = 1..m, at their common pole q. The loss of predicting sum_k d_k x_{t-k}
from AR(1) input is min_w |C^T (Phi w - d)|^2 / |C^T d|^2 on the truncated lags of ``d``, C the Cholesky
factor of the Toeplitz covariance (``dense.colour_t``), solved by numpy's complex least squares.
"""

import math

import dense
import numpy as np


def groups(a, tol: float = 1e-9) -> list[tuple[complex, int]]:
    """[(pole, multiplicity)]: poles within ``tol`` of an earlier one count as that one."""
    out = []
    for z in np.asarray(a, dtype=complex):
        for i, (q, m) in enumerate(out):
            if abs(z - q) <= tol:
                out[i] = (q, m + 1)
                break
        else:
            out.append((z, 1))
    return out


def span_basis(a, n: int, tol: float = 1e-9) -> np.ndarray:
    """(n, S): the basis of the span of the poles a on lags k < n (Jordan chains where poles coincide)."""
    k = np.arange(n)
    columns = []
    for q, m in groups(a, tol):
        powers = dense.powers([q], n)[:, 0]
        columns += [
            np.array([math.comb(int(i) + j - 1, j - 1) for i in k], dtype=float) * powers for j in range(1, m + 1)
        ]
    return np.stack(columns, axis=1)


def span_optimum(a, d, rho: float, tol: float = 1e-9) -> float:
    """L* of the span of the poles a for the target kernel d (its length: the truncation)."""
    A = dense.colour_t(span_basis(a, len(d), tol), rho)
    y = dense.colour_t(np.asarray(d, dtype=complex), rho)
    w, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(np.sum(np.abs(A @ w - y) ** 2) / np.sum(np.abs(y) ** 2))
