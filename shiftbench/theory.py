"""Closed-form theory of the shift-K problem (float64 / complex128, numpy + scipy).

Conventions (docs/theory.md section 1): ``a`` and ``b`` are 1-D complex arrays of the S poles and
readout coefficients of the causal filter ``c_k = sum_s b_s a_s^k``, conjugate pairs written out, so
that a real filter is ``kernel(a, b, n).real``. The target is ``d_k = 1[k == K]``. ``signal`` is a
``signals.StationarySignal`` or a number rho meaning AR(1) (0 is white noise).

Every loss here is the normalised MSE of predicting x_{t-K}: the trivial filter c = 0 scores 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import cholesky
from scipy.optimize import brentq, minimize_scalar
from scipy.signal import fftconvolve

from . import basis, formulas
from .formulas import check_poles, check_readout, window_weights
from .signals import AR1, as_signal

# ----------------------------------------------------------------------------------------------
# Input checks: garbage in must not become a plausible-looking number out.


def _check_lag(K) -> int:
    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    return int(K)


def _check_window(K: int, length: int, t_eval: int):
    if not 0 < t_eval <= length - K:
        raise ValueError(
            f"need 0 < t_eval <= length - K so every scored target x_(t-K) exists; "
            f"got t_eval={t_eval}, length={length}, K={K}"
        )


def window_target(target, length: int, t_eval: int) -> np.ndarray:
    """The window's target kernel d_0 .. d_{length-1}: ``target`` is a lag K (the shift, d = delta_K,
    every scored step t >= K) or the kernel itself (an array of ``length`` numbers: any memory kernel,
    ``targets.Target.sequence``), which like the model sees the sequence from its start only."""
    if np.ndim(target) == 0:
        K = _check_lag(target)
        _check_window(K, length, t_eval)
        d = np.zeros(length)
        d[K] = 1.0
        return d
    d = np.asarray(target, dtype=float)
    if d.shape != (length,) or not np.all(np.isfinite(d)) or not np.any(d):
        raise ValueError(f"a window target must be {length} finite numbers, not all 0; got shape {d.shape}")
    if not 0 < t_eval <= length:
        raise ValueError(f"need 0 < t_eval <= length; got t_eval={t_eval}, length={length}")
    return d


def window_times(d, rho, t_eval: int) -> np.ndarray:
    """M d, M_kk' = gamma(k - k') omega_max(k,k') the window's weight matrix (section 4): a sum over the
    non-zero lags of d (exact for the shift: its one column of M), or M's dense product for a long d."""
    n, signal = d.size, as_signal(rho)
    k, omega = np.arange(n), window_weights(n, t_eval)
    nonzero = np.flatnonzero(d)
    if nonzero.size > 64:
        return _window_matrix(signal, n, t_eval) @ d
    return sum(d[j] * signal.autocovariance(np.abs(k - j)) * omega[np.maximum(k, j)] for j in nonzero)


def window_energy(d, rho, t_eval: int) -> float:
    """d^T M d: the window loss of the zero filter, which normalises every window loss (1 for the shift)."""
    return float(d @ window_times(d, rho, t_eval))


# ----------------------------------------------------------------------------------------------
# The filter


def kernel(a, b, n: int) -> np.ndarray:
    """c_k = sum_s b_s a_s^k for k < n (complex; real up to rounding for conjugate pairs).

    Split powers, as in the model (``formulas.split_power_kernel``): S (n/m + m) complex
    exponentials and one (n/m x S) @ (S x m) product, m = isqrt(n).
    """
    a = check_poles(a)
    b = check_readout(b, a)
    log_a = np.log(np.where(a == 0, 1e-300, a))  # a pole at 0 contributes only at k = 0
    return formulas.split_power_kernel(log_a, b, n)


def frequency_response(a, b, omega) -> np.ndarray:
    """C(e^{iw}) = sum_k c_k e^{-ikw} = sum_s b_s / (1 - a_s e^{-iw})."""
    a = check_poles(a)
    b = check_readout(b, a)
    z = np.exp(-1j * np.asarray(omega, dtype=float))
    return (b[:, None] / (1 - a[:, None] * z[None, :])).sum(axis=0)


# ----------------------------------------------------------------------------------------------
# Losses


def exact_loss(a, b, K: int, rho=0.0) -> float:
    """Stationary expected loss E|y_t - x_{t-K}|^2 in closed form, O(S^2) and no data."""
    a = check_poles(a)
    b = check_readout(b, a)
    K = _check_lag(K)
    G, v = as_signal(rho).gram_and_cross(a, K)
    with np.errstate(over="ignore", invalid="ignore"):  # huge b: judged by the rounding estimate below
        loss = float(1 - 2 * np.real(np.vdot(v, b)) + np.real(np.vdot(b, G @ b)))
    rounding = formulas.rounding(G, v, b)
    # The quadratic form cancels when b is huge (optimal readouts of crowded poles reach 1e6+): its
    # rounding error is about eps |b|^T |G| |b|. When that could exceed 1e-9, evaluate the same loss
    # on the kernel instead, truncated where every pole has decayed below 1e-17 (the finite-window
    # loss at the last lag of a long window is the stationary loss). That route is only accurate
    # while the kernel itself is, i.e. while eps sum|b_s| is small; beyond, no float64 route is.
    if rounding < 1e-9:
        return loss
    r = max(np.abs(a).max(), getattr(as_signal(rho), "rho", 0.0))
    n = max(2 * K + 2, int(np.log(1e-17) / np.log(r)) + 1)
    if n > 2**22 or 1e-16 * np.abs(b).sum() > 1e-7:
        raise FloatingPointError(
            f"exact_loss: the readout (|b| up to {np.abs(b).max():.3g}) is too large to "
            "evaluate the loss in float64 for these poles"
        )
    return finite_window_loss(a, b, K, rho, length=n, t_eval=1)


def finite_window_loss(a, b, K, rho, length: int, t_eval: int) -> float:
    """Exact expected MSE with zero initial state, averaged over the last ``t_eval`` of ``length`` steps,
    normalised by that of the zero filter (``window_energy``; 1 for the shift).

    ``K``: the lag of the shift, or a target kernel of ``length`` numbers (``window_target``).
    At position t the filter only sees x_0..x_t, so its error kernel is e = c - d truncated at k <= t,
    and L_t = sum_{k,k' <= t} e_k e_k' gamma(k - k'). Adding lag t to the window adds
    e_t^2 + 2 e_t u_t with u_t = sum_{k<t} e_k gamma(t - k), so all L_t come from one causal
    convolution (FFT), and their mean weighs lag k by ``window_weights`` (``formulas.window_loss``,
    the model's formula too): O(S n) for the kernel plus O(n log n), a few tens of ms at S = 256,
    length = 4096 (no O(n^2) Toeplitz forms). A complex kernel (not conjugate-symmetric) scores
    E|y - x|^2 = E(Re y - x)^2 + E(Im y)^2: its real and imaginary parts add.
    """
    d = window_target(K, length, t_eval)
    e = kernel(a, b, length) - d
    gamma_f, omega = formulas.window_terms(as_signal(rho).autocovariance(np.arange(length)), t_eval)
    return float(formulas.window_loss(np.stack([e.real, e.imag]), gamma_f, omega).sum()) / window_energy(d, rho, t_eval)


# ----------------------------------------------------------------------------------------------
# Optimal readout for fixed poles


def orthonormal_coordinates(a, K: int, rho: float):
    """Coordinates (f, l) of the whitened AR(1) shift problem in the Takenaka-Malmquist basis of the
    poles (rho, a_1, ..., a_S): f those of the coloured target (``basis.shift_coordinates``), l the
    feed-through functional (``basis.feedthrough_functional``). docs/theory.md section 3."""
    if np.any(a == 0):
        raise ValueError("the orthonormal-basis route needs every pole != 0")
    return basis.shift_coordinates(a, K, rho), basis.feedthrough_functional(a, rho)


REPEATED = ("merge", "jordan")


def optimal_loss(a, K: int, rho=0.0, repeated="merge") -> float:
    """min_b L(a, b) for fixed poles, L*(a) = 1 - v^H G^{-1} v, without forming G^{-1}.

    White noise: L* = sum_{n<=K} |beta_n|^2, the energy that the all-pass filter of the poles
    delivers before lag K (O(S K)). AR(1): the orthonormal-basis recurrence (O(S K)),
    L* = 1 - |f|^2 + |f . l|^2 / |l|^2. Other signals fall back to a pseudo-inverse of G.

    ``repeated`` says what a pole that occurs m times means. ``merge`` (a diagonal layer): the span of
    {a_s^k} sees it once. ``jordan``: the optimum over the span of k^j a^k, j < m, which a Jordan
    chain of length m realises (and a diagonal layer only approaches, with a readout that grows
    without bound, as its poles coalesce). The orthonormal (Takenaka-Malmquist) basis takes repeated
    poles as they are, so ``jordan`` is the same recursion without the merge (docs/theory.md section 11);
    it is defined for AR(1) signals only.
    """
    if repeated not in REPEATED:
        raise ValueError(f"repeated must be one of {REPEATED}, got {repeated!r}")
    a = check_poles(a)
    if repeated == "merge":
        a, _ = formulas.distinct(a)
    K = _check_lag(K)
    signal = as_signal(rho)
    if not isinstance(signal, AR1):
        if repeated == "jordan":
            raise ValueError("repeated='jordan' needs an AR(1) signal (the orthonormal-basis route)")
        G, v = signal.gram_and_cross(a, K)
        return float(1 - np.real(np.vdot(v, np.linalg.lstsq(G, v, rcond=None)[0])))
    if signal.rho == 0.0:
        return float(np.sum(np.abs(basis.allpass_impulse(a, K + 1)) ** 2))
    return basis.optimal_loss(*orthonormal_coordinates(a, K, signal.rho))


def laguerre_limit(S: int, K: int, rho=0.0) -> tuple[float, float]:
    """(L, p): the best single real pole p repeated S times, with its Jordan (Laguerre) optimum L.

    The model class is the span of the Laguerre functions of pole p (equivalently of the kernels
    C(k+j-1, j-1) p^k, j = 1..S), and L(p) = optimal_loss([p] * S, K, rho, repeated="jordan"). The
    search is one-dimensional over p in (-1, 1): a coarse grid (200 points evenly spaced on
    [-0.995, 0.995], none at 0, plus 40 geometrically closer to 1, down to 1 - 1e-5) picks the best
    point, and a bounded Brent search (``minimize_scalar``) between its two grid neighbours refines it.
    L(p) is smooth; the grid guards against a second local minimum far from the best one.
    """
    if not (int(S) == S and S >= 1):
        raise ValueError(f"S must be a positive integer, got {S!r}")
    S, K = int(S), _check_lag(K)

    def loss(p):  # the orthonormal-basis route needs p != 0
        return optimal_loss(np.full(S, p if p != 0 else 1e-12, dtype=complex), K, rho, repeated="jordan")

    grid = np.concatenate([np.linspace(-0.995, 0.995, 200), 1 - np.geomspace(4e-3, 1e-5, 40)])
    values = np.array([loss(p) for p in grid])
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    best = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    if best.fun < values[i]:
        return float(best.fun), float(best.x)
    return float(values[i]), float(grid[i])


def optimal_readout(a, K: int, rho=0.0) -> np.ndarray:
    """b*(a) = argmin_b L(a, b), from the orthonormal coordinates by exact partial fractions.

    The optimal filter in the orthonormal basis is w = f - (f . l / |l|^2) conj(l) (projection onto
    the model class). Un-colouring it and reading off the residue at each pole gives

      b_s = (z_s - rho)/sqrt(1-rho^2) [ w_s sqrt(1-|a_s|^2) P_s(s)
             + (z_s - conj a_s) sum_{n>s} w_n sqrt(1-|a_n|^2) / (1 - a_n z_s) P_s(n) ],

    with z_s = 1/a_s and P_s(n) = prod_{j<n, j!=s} (z_s - conj a_j)/(1 - a_j z_s). Each factor is a
    difference of nearby poles computed to full relative precision, so b* comes out accurately even
    where G is numerically singular; b* itself can still be huge (that is the problem's own
    ill-conditioning), and then only the kernel and the loss are meaningful. O(S^2).
    Repeated poles share their coefficient equally (so conjugate symmetry is kept).
    """
    return optimal_filter(a, K, rho)[0]


def optimal_filter(a, K: int, rho=0.0) -> tuple[np.ndarray, float]:
    """(b*(a), L*(a)) from one computation of the orthonormal coordinates (``optimal_readout``,
    and ``optimal_loss`` with distinct poles merged): what projected training needs at every step.
    L* = 1 - |f|^2 + |f . l|^2 / |l|^2 is computed from the coordinates, accurately even where the
    quadratic form at b* cancels (huge readouts)."""
    a_all = check_poles(a)
    a, index = formulas.distinct(a_all)
    K = _check_lag(K)
    rho = as_signal(rho).rho
    f, l = orthonormal_coordinates(a, K, rho)
    return basis.share(basis.readout(a, f, l, rho), index), basis.optimal_loss(f, l)


# ----------------------------------------------------------------------------------------------
# The optimum of a finite window (docs/theory.md section 4)

WINDOW_CUTOFFS = (1e-8, 1e-10, 1e-12, 1e-14)  # relative eigenvalue cutoffs tried, best explicit loss kept
WINDOW_RESOLVED_RCOND = 1e-10  # below it a direction is too weak in the window for the value to be exact
WINDOW_RESOLVED_COND = 1e5  # the float64 least squares holds to ~4 eps cond (5e-11) where U Phi is no worse


@dataclass(frozen=True)
class WindowOptimum:
    """The best readout found for fixed poles on a finite window, and how far it can be trusted.

    ``loss`` is ``finite_window_loss`` of ``readout``: an achievable value, hence an upper bound on
    the window optimum, with a readout whose kernel float64 evaluates (||b||_1 <= 1e9). ``quadratic``
    is the same minimum by the quadratic form in the orthonormal basis. ``rcond`` is the smallest over
    the largest eigenvalue of the window's Gram matrix in that basis. ``resolved``: float64 resolves ``value``
    to 1e-9 by its own first-order a-posteriori bound (a check, not a certificate: ``shiftbench.precise``
    certifies): nothing was cut (rcond >= 1e-10), the two routes agree to
    1e-9, and the least squares of ``infimum`` is resolved (``infimum_cond``, the condition number of
    U Phi, at most ``WINDOW_RESOLVED_COND``: its residual is then accurate to about 4 eps cond, the
    first-order bound of least squares). Where it is not (crowded slow poles on a short window) float64
    can land below the optimum; ``shiftbench.precise`` gives the value that holds.

    ``infimum`` is the infimum over every readout, however large (the window rule, section 4): the
    residual of the dense least squares in the orthonormal basis, whose coordinates stay moderate
    where the readout ``infimum_readout`` that realises them does not (it may overflow: inf).
    ``value`` = min(loss, infimum) is what the study calls the window optimum of the poles.
    """

    loss: float
    readout: np.ndarray
    quadratic: float
    rcond: float
    resolved: bool
    infimum: float
    infimum_readout: np.ndarray
    infimum_cond: float = np.nan

    @property
    def value(self) -> float:
        return min(self.loss, self.infimum)

    @property
    def value_readout(self) -> np.ndarray:
        """The readout of ``value``: the least-squares one where it is lower and finite."""
        lower = self.infimum < self.loss and np.all(np.isfinite(self.infimum_readout))
        return self.infimum_readout if lower else self.readout


def finite_window_optimum(a, K, rho, length: int, t_eval: int) -> WindowOptimum:
    """min_b of ``finite_window_loss`` for fixed poles, solved in an orthonormal basis (section 4).

    In the white-noise Takenaka-Malmquist basis Phi of the poles, the window loss of the kernel
    Phi w is 1 - 2 Re(v^H w) + w^H G w with G = Phi^H M Phi, v = Phi^H m, where
    M_kk' = gamma(k - k') omega_max(k,k') and m = M d (d = delta_K for the shift, or any target kernel:
    ``window_target``; every value normalised by d^T M d). G is assembled from one causal
    convolution per basis function (O(S n log n + S^2 n)) and eigen-decomposed; for each relative
    cutoff of WINDOW_CUTOFFS the kept directions give w, its readout by partial fractions, and
    the explicit window loss of that readout. The lowest explicit loss is returned.
    """
    a_all = check_poles(a)
    if np.any(a_all == 0):
        raise ValueError("the orthonormal-basis route needs every pole != 0")
    a, index = formulas.distinct(a_all)
    d = window_target(K, length, t_eval)
    signal = as_signal(rho)
    energy = window_energy(d, signal, t_eval)
    phi = basis.orthonormal_basis(a, length)
    omega = window_weights(length, t_eval)[:, None]
    gamma = signal.autocovariance(np.arange(length))
    u = fftconvolve(phi, np.concatenate([[0.0], gamma[1:]])[:, None], axes=0)[:length]
    weighted = omega * phi
    cross = u.conj().T @ weighted
    G = gamma[0] * (phi.conj().T @ weighted) + cross + cross.conj().T
    v = phi.conj().T @ window_times(d, signal, t_eval)
    infimum, w_ls, infimum_cond = _window_least_squares(phi, d, signal, t_eval)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        b_ls = basis.residues(a, w_ls)
    b_ls = b_ls[index] / np.bincount(index)[index]  # share, keeping inf where it overflows
    lam, Q = np.linalg.eigh(G)
    coords = Q.conj().T @ v
    rcond = max(lam[0], 0.0) / lam[-1]
    best = None
    for cutoff in WINDOW_CUTOFFS:
        keep = lam > cutoff * lam[-1]
        w = Q[:, keep] @ (coords[keep] / lam[keep])
        quadratic = float(1 - np.sum(np.abs(coords[keep]) ** 2 / lam[keep]) / energy)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            b = basis.residues(a, w)
        if not np.all(np.isfinite(b)) or 1e-16 * np.abs(b).sum() > 1e-7:
            continue  # the kernel of such a readout cannot be evaluated in float64 (see exact_loss)
        b = basis.share(b, index)
        loss = finite_window_loss(a_all, b, d, signal, length, t_eval)
        if best is None or loss < best.loss:
            resolved = bool(keep.all() and rcond >= WINDOW_RESOLVED_RCOND and abs(loss - quadratic) <= 1e-9
                             and infimum_cond <= WINDOW_RESOLVED_COND and abs(loss - infimum) <= 1e-9)  # fmt: skip
            best = WindowOptimum(loss, b, quadratic, rcond, resolved, infimum, b_ls, infimum_cond)
        if keep.all():
            break  # every further cutoff keeps the same directions
    if best is None:  # no readout float64 can evaluate: the infimum alone
        nan = np.full(a_all.size, np.nan, dtype=complex)
        return WindowOptimum(np.inf, nan, np.nan, rcond, False, infimum, b_ls, infimum_cond)
    return best


@lru_cache(maxsize=4)
def _window_matrix(signal, length: int, t_eval: int) -> np.ndarray:
    """The window's weight matrix M_kk' = gamma(k - k') omega_max(k,k') (section 4), dense."""
    k = np.arange(length)
    gamma = signal.autocovariance(k)
    return gamma[np.abs(k[:, None] - k[None, :])] * window_weights(length, t_eval)[np.maximum.outer(k, k)]


@lru_cache(maxsize=4)
def _window_factor(signal, length: int, t_eval: int) -> np.ndarray:
    """Upper Cholesky factor U of the window's weight matrix M (``_window_matrix``): the window loss of
    an error kernel e is |U e|^2 (section 4). O(n^3) once per window."""
    return cholesky(_window_matrix(signal, length, t_eval), lower=False)


def _window_least_squares(phi, d, signal, t_eval: int) -> tuple[float, np.ndarray, float]:
    """(min_w |U (phi w - d)|^2 / |U d|^2, w, cond): the window's infimum over every readout of the span
    of the basis phi (n, S), by a dense least-squares solve (numpy's SVD): the residual is computed from
    w, which is moderate in an orthonormal basis, so it stays accurate where the readout does not, up to
    about 4 eps cond, cond = the condition number of U phi (from the same SVD; inf where it is singular).
    Beyond 1e13 the solve fits rounding noise and can land below the infimum (``shiftbench.precise``)."""
    U = _window_factor(signal, d.size, t_eval)
    A, y = U @ phi, U @ d  # (n, S), (n,)
    w, _, _, sv = np.linalg.lstsq(A, y.astype(complex), rcond=None)
    r = A @ w - y
    cond = float(sv[0] / sv[-1]) if sv.size and sv[-1] > 0 else np.inf
    return float(np.vdot(r, r).real) / window_energy(d, signal, t_eval), w, cond


def window_jordan_infimum(a, K, rho, length: int, t_eval: int) -> float:
    """The window infimum over the span that repeated poles reach as a Jordan chain (the span of
    k^j a^k, j < multiplicity): the Takenaka-Malmquist basis of the poles as they are, unmerged (it
    holds that span), and the dense least squares of ``finite_window_optimum``'s infimum. The real
    family's closure at coinciding poles, for a window (docs/theory.md section 11). ``K``: the shift's
    lag or a target kernel (``window_target``)."""
    a = check_poles(a)
    if np.any(a == 0):
        raise ValueError("the orthonormal-basis route needs every pole != 0")
    d = window_target(K, length, t_eval)
    return _window_least_squares(basis.orthonormal_basis(a, length), d, as_signal(rho), t_eval)[0]


def finite_window_optimal_loss(a, K, rho, length: int, t_eval: int) -> float:
    """The window optimum of the poles: the infimum over readouts (``WindowOptimum.value``)."""
    return finite_window_optimum(a, K, rho, length, t_eval).value


def finite_window_optimal_readout(a, K, rho, length: int, t_eval: int) -> np.ndarray:
    """The best readout found for ``finite_window_loss`` with these poles whose kernel float64 evaluates
    (``finite_window_optimum``); FloatingPointError where there is none."""
    b = finite_window_optimum(a, K, rho, length, t_eval).readout
    if not np.all(np.isfinite(b)):
        raise FloatingPointError("window-optimal readout overflows for these poles (exceeds float64 range)")
    return b


# ----------------------------------------------------------------------------------------------
# The paper's explicit filter (Theorem 1) and its asymptotics


def kappa(alpha: float) -> float:
    """kappa_alpha = (1 - e^{-4 alpha})/2: the construction's white-noise loss is 1 - kappa S/K + o(S/K)."""
    return (1 - np.exp(-4 * alpha)) / 2


def construction(S: int, K: int, alpha: float = 1.0, spacing: float = 1.0):
    """Regularly spaced phases: a_s = e^{-alpha/K} e^{i pi s spacing/K}, b_s = beta e^{-i pi s}.

    s runs over {-(S-1)/2, ..., (S-1)/2} (integers for odd S, half-integers for even S), and
    beta = e^{-alpha} sinh(2 alpha)/K. ``spacing`` = 1 is the paper's; other values are only
    starting points for the numerical best-known search.
    """
    if S < 1 or K < 1 or alpha <= 0:
        raise ValueError(f"construction needs S >= 1, K >= 1, alpha > 0; got S={S}, K={K}, alpha={alpha}")
    s = np.arange(S) - (S - 1) / 2
    a = np.exp(-alpha / K) * np.exp(1j * np.pi * s * spacing / K)
    beta = np.exp(-alpha) * np.sinh(2 * alpha) / K
    return a, beta * np.exp(-1j * np.pi * s)


def construction_loss_asymptotic(S: int, K: int, alpha: float = 1.0) -> float:
    """1 - kappa_alpha S / K (white noise, S/K -> 0)."""
    return 1 - kappa(alpha) * S / K


# ----------------------------------------------------------------------------------------------
# Bounds


def lower_bound(S: int, K: int, rho: float = 0.0) -> float:
    """Rigorous lower bound on the *stationary* loss of any order-S filter, clipped at 0.

    White noise: 1 - S/(K+1) (all-pass group delay + Markov). AR(1): 1 - (S+1)/(K+1) (1+rho)/(1-rho).
    0 means "no informative bound". A finite-window loss may legitimately lie below it.
    """
    if rho == 0:
        bound = 1 - S / (K + 1)
    else:
        bound = 1 - (S + 1) / (K + 1) * (1 + rho) / (1 - rho)
    return max(0.0, float(bound))


# ----------------------------------------------------------------------------------------------
# The uncertainty principle: how wide is the filter around lag K?


def filter_width(c, K: int) -> float:
    """Full width at half maximum (in lags) of the kernel's main lobe around lag K.

    The peak is the largest |c_k| with |k - K| <= K/2; the lobe is followed left and right until
    the (signed) kernel drops below half the peak, with linear interpolation between lags. FWHM is
    chosen because it needs no lobe boundary (unlike a second moment) and is robust to the ripples
    of learned kernels. For the construction's Dirichlet kernel it is 2 * 1.8955... K/(pi S) * 2
    ~ 2.41 K/S, i.e. proportional to K/S. Returns NaN when no half-maximum crossing lies within
    the search window (no localised lobe).
    """
    c = np.real(np.asarray(c))
    lo, hi = max(0, K - K // 2), min(len(c) - 1, K + K // 2)
    if hi <= lo:
        return float("nan")
    p = lo + int(np.argmax(np.abs(c[lo : hi + 1])))
    y = c * np.sign(c[p])
    half = y[p] / 2

    def crossing(step):
        i = p
        while lo <= i + step <= hi:
            if y[i + step] < half:
                return i + step * (y[i] - half) / (y[i] - y[i + step])
            i += step
        return None

    left, right = crossing(-1), crossing(+1)
    return float("nan") if left is None or right is None else float(right - left)


def dirichlet_fwhm(S: int, K: int) -> float:
    """FWHM of sin(pi S x/(2K))/sin(pi x/(2K)) (the construction's envelope-free kernel)."""
    theta = brentq(lambda t: np.sin(S * t) / (S * np.sin(t)) - 0.5, 1e-12, np.pi / S)
    return 2 * theta * 2 * K / np.pi
