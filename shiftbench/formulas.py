"""The formulas that the theory (numpy), the model and the reference (torch) share, each written once.

Pure mathematics on arrays, no learner and no signal: every function here works on numpy arrays and
on torch tensors alike (duck typing: ``x[..., None]``, ``.sum(-1)``, ``@``, ``abs``), keeps leading
(run) axes, and lets autograd through where it is given tensors. torch is never imported here for
numpy inputs.

- the exp-exp map between poles and parameters: ``a = exp(-exp(nu) + i theta)`` (``exp_exp_log``,
  ``exp_exp_params``);
- the split-power kernel c_k = sum_s w_s a_s^k (``split_power_kernel``);
- the finite-window loss of an error kernel (``window_weights``, ``window_terms``, ``window_loss``,
  docs/theory.md section 4);
- the rounding estimate of the quadratic form of the stationary loss (``rounding``, section 2);
- which poles coincide (``distinct``).
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-16  # the unit roundoff used by the rounding estimate


def _xp(x):
    """numpy, or torch for a torch tensor (imported only then)."""
    if type(x).__module__.split(".")[0] == "torch":
        import torch

        return torch
    return np


def _arange(n: int, like):
    """0, 1, ..., n - 1 as float64, on the device of ``like`` for a tensor."""
    if isinstance(like, np.ndarray):
        return np.arange(n, dtype=float)
    import torch

    return torch.arange(n, dtype=torch.float64, device=like.device)


# -- the exp-exp map ------------------------------------------------------------------------------


def exp_exp_log(nu, theta=None):
    """log a = -exp(nu) + i theta: the log of the exp-exp pole of (nu, theta); real (-exp(nu)) without theta.

    A pair pole is ``exp(exp_exp_log(nu, theta))``, a real one ``sign * exp(exp_exp_log(nu))``; so
    |a| < 1 for every finite nu.
    """
    xp = _xp(nu)
    decay = -xp.exp(nu)
    if theta is None:
        return decay
    return decay + 1j * theta if xp is np else xp.complex(decay, theta)


def log_decay(a) -> np.ndarray:
    """nu = log(-log|a|): the exp-exp log-decay of poles a (numpy), the inverse of ``exp_exp_log``."""
    return np.log(-np.log(np.abs(a)))


def exp_exp_params(p, r) -> np.ndarray:
    """(nu of the pairs, theta of the pairs, nu of the real poles) of the upper pair poles p and the
    real poles r (their signs are not parameters): the inverse of the exp-exp map (numpy)."""
    return np.concatenate([log_decay(p), np.angle(p), log_decay(r)])


# -- the filter -----------------------------------------------------------------------------------


def split_power_kernel(log_a, w, n: int):
    """c_k = sum_s w_s exp(k log_a_s) for k < n, complex (..., n) from (..., M) logs and weights.

    Split powers: with k = j m + i (m = isqrt(n)), a^k = (a^m)^j a^i, so the kernel is one
    (n/m x M) @ (M x m) matrix product (batched over leading axes) and only M (n/m + m) complex
    exponentials, not M n.
    """
    xp = _xp(log_a)
    m = max(1, math.isqrt(n))
    j, i = _arange(-(-n // m), log_a), _arange(m, log_a)
    outer = w[..., None, :] * xp.exp(j[:, None] * (m * log_a)[..., None, :])  # w a^{jm}: (..., J, M)
    inner = xp.exp(log_a[..., :, None] * i)  # a^i: (..., M, m)
    c = outer @ inner  # (..., J, m)
    return c.reshape(*c.shape[:-2], -1)[..., :n]


# -- the finite-window loss (docs/theory.md section 4) ---------------------------------------------


def window_weights(length: int, t_eval: int) -> np.ndarray:
    """omega_k = #{scored t >= k} / t_eval: the weight of lag k in the window loss (section 4)."""
    k = np.arange(length)
    return (length - np.maximum(k, length - t_eval)) / t_eval


def window_terms(gamma, t_eval: int):
    """(rfft of gamma with gamma_0 = 0, zero-padded to 2n; the window weights omega) for the
    autocovariance ``gamma`` at lags 0..n-1 (numpy): the data-free part of ``window_loss``."""
    gamma = np.array(gamma, dtype=float)
    n = gamma.size
    gamma[0] = 0.0
    return np.fft.rfft(gamma, n=2 * n), window_weights(n, t_eval)


def window_loss(e, gamma_f, omega):
    """sum_k omega_k (e_k^2 + 2 e_k u_k) for a real error kernel e (..., n), e = c - d.

    u = e * gamma causally with gamma_0 left out, from ``gamma_f`` and ``omega`` of ``window_terms``:
    adding lag t to the window adds e_t^2 + 2 e_t u_t to the loss, so this is the mean over the scored
    positions of the loss with zero initial state. One FFT pair, O(n log n) per leading index.
    """
    fft = _xp(e).fft
    n = e.shape[-1]
    u = fft.irfft(fft.rfft(e, 2 * n) * gamma_f, 2 * n)[..., :n]
    return (e * e + 2 * e * u) @ omega


# -- the stationary loss's rounding ----------------------------------------------------------------


def rounding(G, v, b) -> float:
    """eps |b|^T |G| |b| + 2 eps |v|^T |b|: what the quadratic form 1 - 2 Re(v^H b) + b^H G b may lose
    to rounding (section 2); it cancels when b is huge (numpy)."""
    b = np.abs(b)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(EPS * (b @ np.abs(G) @ b + 2 * np.abs(v) @ b))


# -- coinciding poles -------------------------------------------------------------------------------


def distinct(a, tol: float = 1e-12):
    """(the distinct poles, for every pole the index of its representative): poles within ``tol`` of
    an earlier one are that one (the first pole within ``tol`` of each represents it). The span of
    {a_s^k} sees only the distinct poles; ``np.bincount(index)`` counts each one's multiplicity."""
    a = np.asarray(a)
    first = np.argmax(np.abs(a[:, None] - a[None, :]) <= tol, axis=1)  # the diagonal always matches
    reps, index = np.unique(first, return_inverse=True)
    return a[reps], index


# -- input checks: garbage in must not become a plausible-looking number out -------------------------


def check_poles(a) -> np.ndarray:
    a = np.asarray(a, dtype=complex)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"poles must be a non-empty 1-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("poles contain NaN or inf")
    if np.any(np.abs(a) >= 1):
        raise ValueError(f"poles must lie strictly inside the unit disk; max |a| = {np.abs(a).max():.17g}")
    return a


def check_readout(b, a) -> np.ndarray:
    b = np.asarray(b, dtype=complex)
    if b.shape != a.shape:
        raise ValueError(f"readout shape {b.shape} does not match poles shape {a.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("readout contains NaN or inf")
    return b
