"""The orthonormal rational basis of a set of poles: every route of the project that avoids the Gram matrix.

G_ss' = 1/(1 - conj(a_s) a_s') of crowded poles is numerically singular long before the optimum of
those poles stops being well defined. The Takenaka-Malmquist basis of the poles p_1, p_2, ...,

    psi_j(z) = sqrt(1 - |p_j|^2) / (1 - p_j z) prod_{i<j} (z - conj p_i) / (1 - p_i z),

is orthonormal in l2 (of the impulse responses) and spans what the poles span, repeated poles
included (a pole met m times spans its Jordan chain). Everything that theory (the shift) and targets
(any kernel) compute for fixed poles goes through it (docs/theory.md section 3):

- ``allpass_impulse``: the impulse response of B(z) = prod_s (z - conj a_s)/(1 - a_s z);
- ``orthonormal_basis``: the basis functions as impulse responses (the window's least squares);
- ``cascade``: the coordinates of any finite sequence in the basis, and what lies outside its span;
- ``shift_coordinates``: the coordinates of the coloured shift delta_K, by synthetic division (O(S K));
- ``feedthrough_functional``: the functional l whose kernel is the model class (no feed-through);
- ``readout``: the optimal readout b of the distinct poles from coordinates f: projection onto the
  model class, un-colouring and exact partial fractions (``residues``), and ``share`` among repeats.

Conventions as in ``theory``: 1-D complex arrays, float64 / complex128, numpy + scipy.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter


def allpass_impulse(a, n: int) -> np.ndarray:
    """Impulse response (n taps) of B(z) = prod_s (z - conj a_s)/(1 - a_s z), z the unit delay."""
    x = np.zeros(n, dtype=complex)
    x[0] = 1.0
    for pole in a:
        x = lfilter([-np.conj(pole), 1.0], [1.0, -pole], x)
    return x


def orthonormal_basis(a, n: int) -> np.ndarray:
    """(n, S): the white-noise Takenaka-Malmquist basis of the poles, phi_j = sqrt(1-|a_j|^2)
    (all-pass of a_1..a_{j-1}) / (1 - a_j z), as impulse responses: 2 S first-order IIR filters."""
    x = np.zeros(n, dtype=complex)
    x[0] = 1.0
    columns = []
    for pole in a:
        columns.append(np.sqrt(1 - abs(pole) ** 2) * lfilter([1.0], [1.0, -pole], x))
        x = lfilter([-np.conj(pole), 1.0], [1.0, -pole], x)
    return np.stack(columns, axis=1)


def cascade(p, g):
    """(f, R, c) for the poles p = (rho, a_1, ..., a_S) and a finite sequence g_0 .. g_{n-1}.

    With psi_0 the colouring filter itself, the all-pass B = prod_j (z - conj p_j)/(1 - p_j z) and its
    impulse response beta, passing the reversed g (one zero appended) through the conjugate sections
    gives y_m = sum_i conj(beta_i) g_{n-1-m+i}, so that
      f_j = <g, psi_j>                  (each before its section: one more first-order filter),
      R   = sum_{m<n} |y_m|^2          = ||P_{B H^2} g||^2, the energy outside the basis' span,
      c   = y_n = sum_k g_k conj(beta_{k+1}) = <g, u>,  u = (B - B(0))/z.
    Exact for the finite g, whatever the poles (no truncation of the basis).
    """
    n = g.size
    y = np.concatenate([g[::-1], [0.0]]).astype(complex)
    f = np.empty(p.size, dtype=complex)
    for j, pole in enumerate(p):
        c = np.conj(pole)
        f[j] = math.sqrt(1 - abs(pole) ** 2) * lfilter([1.0], [1.0, -c], y[:n])[-1]
        y = lfilter([-pole, 1.0], [1.0, -c], y)
    return f, float(np.sum(np.abs(y[:n]) ** 2)), y[n]


def shift_coordinates(a, K: int, rho: float) -> np.ndarray:
    """Coordinates f of the coloured shift delta_K * h (h_k = sqrt(1 - rho^2) rho^k) in the basis of the
    poles (rho, a_1, ..., a_S), rho first so psi_0 is the colouring filter itself (docs/theory.md
    section 3): f_0 = rho^K, then one synthetic division per pole, each one IIR filter (O(S K))."""
    s2 = np.sqrt(1 - rho**2)
    # q(z) = sqrt(1 - rho^2) sum_{m<K} rho^{K-1-m} z^m, coefficients in increasing powers of z.
    r = s2 * rho ** np.arange(K - 1, -1, -1, dtype=float) + 0j
    f = np.empty(a.size + 1, dtype=complex)
    f[0] = rho**K
    t = np.empty(K + 1, dtype=complex)
    for n, pole in enumerate(a, start=1):
        c = np.conj(pole)
        t[:K], t[K] = r, 0.0
        t[1:] -= pole * r  # r(z) (1 - a z), K + 1 coefficients
        # Synthetic division by (z - c) from the top: p_{m-1} = t_m + c p_m; what is left is t(c).
        u = lfilter([1.0], [1.0, -c], t[::-1])
        r = u[-2::-1]
        # t(c) = r(c)(1 - |a|^2), and f_n = sqrt(1 - |a|^2) r(c).
        f[n] = u[-1] / np.sqrt(1 - abs(pole) ** 2)
    return f


def feedthrough_functional(a, rho: float) -> np.ndarray:
    """l_n, n = 0..S, of the basis (rho, a_1, ..., a_S): the functional whose kernel is the model class
    (the filters without feed-through), up to a common factor (docs/theory.md section 3):
    l_0 = 1, l_n = -sqrt(1-|a_n|^2) / (sqrt(1-rho^2) a_n) prod_{j<n} (-1/a_j), kept in logs (the raw
    products overflow when some |a_j| are small) and scaled so the largest is 1. Needs every a != 0."""
    if np.any(a == 0):
        raise ValueError("the orthonormal-basis route needs every pole != 0")
    s2 = np.sqrt(1 - rho**2)
    log_l = np.empty(a.size + 1, dtype=complex)
    log_l[0] = 0.0
    prefix = np.concatenate([[0.0], np.cumsum(np.log(-1 / a))[:-1]])
    log_l[1:] = np.log(-np.sqrt(1 - np.abs(a) ** 2) / (s2 * a) + 0j) + prefix
    return np.exp(log_l - log_l.real.max())


def optimal_loss(f, l) -> float:
    """1 - |f|^2 + |f . l|^2 / |l|^2: the optimum of the normalised target of coordinates f without
    feed-through (the first two terms alone: with a free feed-through)."""
    return float(1 - np.sum(np.abs(f) ** 2) + abs(np.sum(f * l)) ** 2 / np.sum(np.abs(l) ** 2))


def readout(a, f, l, rho: float) -> np.ndarray:
    """The readout of the distinct, non-zero poles a whose filter is the projection of the target of
    coordinates f onto the model class: w = f - (f . l / |l|^2) conj(l), un-coloured, and read off
    at each pole by exact partial fractions (``residues``). May overflow (inf) where poles crowd."""
    w = (f - np.sum(f * l) / np.sum(np.abs(l) ** 2) * np.conj(l))[1:]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return (1 / a - rho) / math.sqrt(1 - rho**2) * residues(a, w)


def residues(a, w) -> np.ndarray:
    """Partial-fraction coefficients r of sum_n w_n phi_n(z) = sum_s r_s / (1 - a_s z) (distinct poles).

    phi_n is the white-noise Takenaka-Malmquist basis of the poles in their order (section 3):
    r_s = w_s sqrt(1-|a_s|^2) P_s(s) + (z_s - conj a_s) sum_{n>s} w_n sqrt(1-|a_n|^2)/(1 - a_n z_s) P_s(n),
    z_s = 1/a_s, P_s(n) = prod_{j<n, j!=s} (z_s - conj a_j)/(1 - a_j z_s): each factor a difference of
    nearby poles computed to full relative precision. O(S^2).
    """
    z = 1 / a
    allpass = (z[:, None] - np.conj(a)[None, :]) / (1 - a[None, :] * z[:, None])  # [s, j]
    np.fill_diagonal(allpass, 1.0)
    P = np.cumprod(np.concatenate([np.ones((a.size, 1)), allpass[:, :-1]], axis=1), axis=1)  # prod_{j<n}
    term = (w * np.sqrt(1 - np.abs(a) ** 2))[None, :] * P
    cross = (z - np.conj(a))[:, None] / (1 - a[None, :] * z[:, None])
    np.fill_diagonal(cross, 1.0)
    return np.sum(np.triu(term * cross), axis=1)


def share(b, index) -> np.ndarray:
    """Readout of every input pole from that of the distinct ones: repeated poles share it equally."""
    if not np.all(np.isfinite(b)):
        raise FloatingPointError("optimal readout overflows for these poles (b* exceeds float64 range)")
    counts = np.bincount(index)
    return b[index] / counts[index]
