"""Targets: the kernel d that the filter should reproduce, each defined once (docs/targets.md).

The filter c_k = sum_s b_s a_s^k (poles in the unit disk, conjugate pairs written out) predicts
y*_t = sum_k d_k x_{t-k} from a stationary AR(1) input with gamma(j) = rho^|j| (rho = 0: white noise).
Its loss is the stationary MSE normalised by the target's energy d^T Gamma d, so the zero filter
scores 1. The shift (d = delta_K) is the study's original target; this module adds the exponential
forgetting kernel, a power law (long memory) and a blurred delay, and computes for any of them the
loss of a filter, the best loss L*(a) of fixed poles and its readout.

Conventions as in ``theory`` (docs/theory.md section 1): ``a`` and ``b`` are 1-D complex arrays; a
number ``rho`` means AR(1). Everything is float64 / complex128, numpy + scipy.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import ClassVar

import numpy as np
from scipy.signal import fftconvolve, lfilter

from . import basis, formulas
from .formulas import check_poles, check_readout
from .signals import AR1, as_signal

TOL = 1e-10  # what ``optimum`` aims its rigorous truncation bound at
RTOL = 1e-12  # relative accuracy aimed at by the power target's energy and cross term
MAX_LENGTH = 2**21  # longest target sequence evaluated (power target: energy and cross term)
MAX_ROUTE = 2**20  # longest sequence passed through the all-pass cascade of ``optimum``


def ar1(rho) -> float:
    """The AR(1) coefficient of ``rho`` (a number or ``signals.AR1``), validated by ``signals.AR1``."""
    signal = as_signal(rho)
    if not isinstance(signal, AR1):
        raise ValueError(f"targets are defined for AR(1) inputs only, got {type(signal).__name__}")
    return float(signal.rho)


# ----------------------------------------------------------------------------------------------
# Parameter checks: each error names the target, the key and the allowed range.


def _real(target: str, key: str, value, ok, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{target} target: {key} must be a real number {allowed}, got {value!r}")
    x = float(value)
    if not (math.isfinite(x) and ok(x)):
        raise ValueError(f"{target} target: {key} must be a finite number {allowed}, got {value!r}")
    return x


def _lag(target: str, key: str, value) -> int:
    x = _real(target, key, value, lambda x: x >= 1 and x == int(x), "that is an integer >= 1")
    return int(x)


# ----------------------------------------------------------------------------------------------
# The interface, with the generic formulas of a finitely supported kernel


class Target(ABC):
    """A target kernel d_k, k >= 0. Subclasses are frozen dataclasses of their parameters.

    ``support`` is (first, last) nonzero lag, last = None for an infinite support. The generic methods
    here are exact for a finite support; infinite supports override them.
    """

    name: ClassVar[str]

    @property
    @abstractmethod
    def support(self) -> tuple[int, int | None]: ...

    @abstractmethod
    def sequence(self, n: int) -> np.ndarray:
        """d_0 .. d_{n-1} (float64)."""

    @property
    def spec(self) -> dict:
        """{"name": ..., parameters}: ``make_target(**spec)`` rebuilds the target."""
        return {"name": self.name, **asdict(self)}

    def coloured(self, rho, n: int) -> np.ndarray:
        """g_0 .. g_{n-1} of g = d * h, h_k = sqrt(1 - rho^2) rho^k: the energy of g is d^T Gamma d."""
        rho = ar1(rho)
        return lfilter([math.sqrt(1 - rho**2)], [1.0, -rho], self.sequence(n))

    def energy(self, rho=0.0) -> float:
        """E = d^T Gamma d = sum_{k,k'} d_k d_k' rho^|k-k'|, the loss normalisation."""
        lo, hi = self.tail_energy(rho, 0)
        return float((lo + hi) / 2)

    def energy_bound(self, rho=0.0) -> float:
        """A bound on |energy(rho) - E| from truncation (0 where it is a closed form or exact)."""
        return 0.0

    def tail_energy(self, rho, n: int) -> tuple[float, float]:
        """(lo, hi) enclosing sum_{k>=n} g_k^2, the energy of the coloured target beyond lag n.

        Finite support [first, last]: g_k = g_last rho^(k - last) for k >= last, so the sum is
        sum_{n<=k<=last} g_k^2 + g_last^2 rho^(2 (m - last)) / (1 - rho^2), m = max(n, last + 1): exact.
        """
        rho, last = ar1(rho), self.support[1]
        g = self.coloured(rho, last + 1)
        tail = float(np.sum(g[n:] ** 2) + g[last] ** 2 * rho ** (2 * (max(n, last + 1) - last)) / (1 - rho**2))
        return tail, tail

    def length(self, rho=0.0, tol: float = TOL) -> int:
        """A number n of lags with sum_{k>=n} g_k^2 <= tol E (how far back the target reaches)."""
        rho, last = ar1(rho), self.support[1]
        g_last = self.coloured(rho, last + 1)[last]
        if rho == 0.0 or g_last == 0.0:
            return last + 1
        extra = math.log(tol * self.energy(rho) * (1 - rho**2) / g_last**2) / (2 * math.log(rho))
        return last + 1 + max(0, math.ceil(extra))

    def cross(self, a, rho=0.0) -> np.ndarray:
        """v_s = sum_{k,j} conj(a_s)^k gamma(k - j) d_j, the cross term of the loss (complex, per pole)."""
        return finite_cross(self.sequence(self.support[1] + 1), check_poles(a), ar1(rho))

    def cross_bound(self, a, rho=0.0) -> np.ndarray:
        """Bounds on |cross(a, rho) - v| from truncation (0 where cross is exact)."""
        return np.zeros(np.shape(a))

    def outputs(self, x: np.ndarray, t_eval: int) -> np.ndarray:
        """y*_t = sum_{j<=t} d_j x_{t-j} at the last t_eval steps of each sequence x (n, N): the target,
        like the model, sees each sequence from its start only (zero initial state). By FFT (float64)."""
        N = x.shape[-1]
        y = fftconvolve(x, self.sequence(N)[None, :], axes=-1)[..., :N]
        return np.ascontiguousarray(y[..., N - t_eval :])

    @property
    def horizon(self) -> int:
        """The lags a stored sequence gives the target before its scored steps (sampled objective:
        sequences of burn_in + horizon + t_eval steps): the last lag of a finite support, else the
        lag scale (``scale``). The shift's is K, as in the paper's protocol."""
        last = self.support[1]
        return int(last) if last is not None else scale(self)

    def torch_cross(self, a, rho):
        """v_s of ``cross`` as a differentiable torch function of the poles a (..., S) (training and the
        reference search): sum_k conj(a_s)^k (Gamma d)_k by split powers (``formulas.split_power_kernel``
        with the roles of poles and lags exchanged), cut at the lag n (a power of two, at least 2048,
        at most 2^20) where every pole has decayed below 1e-12. Its value is within the poles' tail of
        the exact ``cross``, which every recorded loss uses; targets with a closed form override it."""
        import torch

        r = float(a.detach().abs().max())
        n = 2048 if r < 1e-300 else 2 ** min(20, max(11, math.ceil(math.log2(math.log(1e-12) / math.log(r) + 1))))
        m = 2 ** (n.bit_length() // 2)  # lag k = j m + i
        W = torch.from_numpy(_gamma_weights(self, ar1(rho), n).reshape(n // m, m)).to(a.device, a.dtype)  # (J, m)
        log_x = torch.log(a.conj())[..., None, :]  # (..., 1, S)
        arange = functools.partial(torch.arange, dtype=torch.float64, device=a.device)
        inner = torch.exp(arange(m)[:, None] * log_x)  # x^i: (..., m, S)
        outer = torch.exp(m * arange(n // m)[:, None] * log_x)  # x^(jm): (..., J, S)
        return (outer * (W @ inner)).sum(-2)  # (..., S)


def gamma_times(target, rho, n: int) -> np.ndarray:
    """(Gamma d)_k = sum_j rho^|k - j| d_j for k < n, from d cut at lag n (a causal plus an anti-causal
    first-order filter): the weights of the cross term v_s = sum_k conj(a_s)^k (Gamma d)_k."""
    rho, d = ar1(rho), as_target(target).sequence(n)
    causal = lfilter([1.0], [1.0, -rho], d)
    return causal + lfilter([1.0], [1.0, -rho], d[::-1])[::-1] - d


@lru_cache(maxsize=32)
def _gamma_weights(target, rho: float, n: int) -> np.ndarray:
    """(Gamma d)_k, k < n (``gamma_times``), kept for the training steps of one target."""
    return gamma_times(target, rho, n)


def finite_cross(d, a, rho: float) -> np.ndarray:
    """v_s for a finite kernel d_0 .. d_m: sum_k conj(a_s)^k w_k with w = Gamma d.

    w_k = sum_j rho^|k-j| d_j is a causal plus an anti-causal first-order filter of d (O(m)); beyond
    m it is w_m^+ rho^(k-m), w^+ the causal part, whose sum is the closed form x^(m+1) w_m^+ rho/(1 - rho x).
    The polynomial sum_{k<=m} w_k x^k is one IIR filter per pole (``_polyval``): no cancellation.
    """
    d = np.asarray(d, dtype=float)
    forward = lfilter([1.0], [1.0, -rho], d)
    w = forward + lfilter([1.0], [1.0, -rho], d[::-1])[::-1] - d
    x = np.conj(a)
    return _polyval(w, x) + x**d.size * forward[-1] * rho / (1 - rho * x)


def _polyval(w, x) -> np.ndarray:
    """sum_k w_k x^k for each x: the last output of 1/(1 - x z) run on the reversed coefficients."""
    w = np.asarray(w, dtype=complex)[::-1]
    return np.array([lfilter([1.0], [1.0, -xi], w)[-1] for xi in x], dtype=complex)


# ----------------------------------------------------------------------------------------------
# The targets


@dataclass(frozen=True)
class Shift(Target):
    """d = delta_K: the output should be x_{t-K} (the study's original task)."""

    K: int
    name: ClassVar[str] = "shift"

    def __post_init__(self):
        object.__setattr__(self, "K", _lag(self.name, "K", self.K))

    @property
    def support(self):
        return self.K, self.K

    def sequence(self, n):
        d = np.zeros(n)
        if self.K < n:
            d[self.K] = 1.0
        return d

    def energy(self, rho=0.0):
        ar1(rho)
        return 1.0

    def cross(self, a, rho=0.0):
        return AR1(ar1(rho)).cross(np.conj(check_poles(a)), self.K)

    def torch_cross(self, a, rho):
        return AR1(ar1(rho)).cross(a.conj(), self.K)  # the closed form, duck-typed (``signals.AR1.cross``)

    def outputs(self, x, t_eval):
        N = x.shape[-1]
        return x[..., N - t_eval - self.K : N - self.K]  # x_{t-K}, exactly


@dataclass(frozen=True)
class Exp(Target):
    """d_k = lam^k, k >= 0 (exponential forgetting; lam real, |lam| < 1; lam = 0 is delta_0)."""

    lam: float
    name: ClassVar[str] = "exp"

    def __post_init__(self):
        object.__setattr__(self, "lam", _real(self.name, "lam", self.lam, lambda x: abs(x) < 1, "with |lam| < 1"))

    @property
    def support(self):
        return 0, None

    def sequence(self, n):
        return self.lam ** np.arange(n, dtype=float)

    def energy(self, rho=0.0):
        """(1 + rho lam) / ((1 - lam^2)(1 - rho lam)): the AR(1) Gram entry G(lam, lam)."""
        rho, lam = ar1(rho), self.lam
        return (1 + rho * lam) / ((1 - lam**2) * (1 - rho * lam))

    def cross(self, a, rho=0.0):
        """G(conj a_s, lam) = (1 - rho^2 x lam) / ((1 - x lam)(1 - rho x)(1 - rho lam)), x = conj a_s."""
        return AR1(ar1(rho)).gram(check_poles(a), np.array([self.lam]))[:, 0]

    def _crude_tail(self, rho: float, n: int) -> float:
        """A bound on sum_{k>=n} g_k^2: |g_k| <= sqrt(1 - rho^2) (k + 1) r^k, r = max(|lam|, rho), and the
        ratio of consecutive terms of (k+1)^2 r^(2k) is at most theta = ((n+2)/(n+1))^2 r^2 from k = n on."""
        r = max(abs(self.lam), rho)
        theta = ((n + 2) / (n + 1)) ** 2 * r**2
        if r == 0.0:
            return 0.0 if n >= 1 else 1.0
        if theta >= 1:
            return self.energy(rho)
        return min(self.energy(rho), (1 - rho**2) * (n + 1) ** 2 * r ** (2 * n) / (1 - theta))

    def tail_energy(self, rho, n):
        """E - E_n (closed-form energy minus the exact partial sum) within its rounding allowance,
        capped by ``_crude_tail``."""
        rho = ar1(rho)
        E = self.energy(rho)
        diff = E - float(np.sum(self.coloured(rho, n) ** 2))
        slack = 16 * np.finfo(float).eps * E * (1 / (1 - rho) + math.log2(n + 1))
        return max(0.0, diff - slack), min(self._crude_tail(rho, n), diff + slack)

    def length(self, rho=0.0, tol=TOL):
        rho = ar1(rho)
        r = max(abs(self.lam), rho)
        n = 1 if r == 0 else math.ceil(math.log(tol) / (2 * math.log(r)))
        while self._crude_tail(rho, n) > tol * self.energy(rho):
            n = 2 * n
        return n


@dataclass(frozen=True)
class Bump(Target):
    """A delay blurred by a Gaussian window: d_k = exp(-(k - K)^2 / (2 sigma^2)) / Z for |k - K| <= W,
    W = ceil(4 sigma), 0 elsewhere, Z making sum_k d_k = 1. sigma = 0 is exactly the shift delta_K.
    The window must fit lags >= 0: K >= W."""

    K: int
    sigma: float
    name: ClassVar[str] = "bump"

    def __post_init__(self):
        object.__setattr__(self, "K", _lag(self.name, "K", self.K))
        sigma = _real(self.name, "sigma", self.sigma, lambda x: x >= 0, ">= 0")
        if math.ceil(4 * sigma) > self.K:
            raise ValueError(
                f"bump target: sigma must satisfy ceil(4 sigma) <= K so the window stays at lags >= 0; "
                f"got sigma={self.sigma!r} with K={self.K} (sigma <= K/4 fits)"
            )
        object.__setattr__(self, "sigma", sigma)

    @property
    def half_width(self) -> int:
        return math.ceil(4 * self.sigma)

    @property
    def support(self):
        return self.K - self.half_width, self.K + self.half_width

    def weights(self) -> np.ndarray:
        """The window d_{K-W} .. d_{K+W}."""
        if self.sigma == 0:
            return np.ones(1)
        j = np.arange(-self.half_width, self.half_width + 1)
        w = np.exp(-(j**2) / (2 * self.sigma**2))
        return w / w.sum()

    def sequence(self, n):
        d = np.zeros(max(n, self.K + self.half_width + 1))
        d[self.support[0] : self.support[1] + 1] = self.weights()
        return d[:n]

    def energy(self, rho=0.0):
        """sum_{i,j} w_i w_j rho^|i-j| over the window (a finite double sum)."""
        rho, w = ar1(rho), self.weights()
        j = np.arange(w.size)
        return float(w @ (rho ** np.abs(j[:, None] - j[None, :])) @ w)

    def cross(self, a, rho=0.0):
        """sum_j d_j v_shift(j): a finite sum of the shift's closed form."""
        x, signal = np.conj(check_poles(a)), AR1(ar1(rho))
        lags = range(self.support[0], self.support[1] + 1)
        return sum(w * signal.cross(x, k) for w, k in zip(self.weights(), lags))


@dataclass(frozen=True)
class Power(Target):
    """d_k = (1 + k/tau)^(-p), k >= 0 (long memory; tau > 0, p > 1/2 so that d has finite energy).

    No closed form: energy, cross term and tail energy are truncated sums with rigorous bounds
    (docs/targets.md, "The power target"). Curse-of-memory's "pol" kernel is tau = 10, p = 1.1.
    """

    tau: float
    p: float
    name: ClassVar[str] = "power"

    def __post_init__(self):
        object.__setattr__(self, "tau", _real(self.name, "tau", self.tau, lambda x: x > 0, "> 0"))
        object.__setattr__(self, "p", _real(self.name, "p", self.p, lambda x: x > 0.5, "> 1/2"))

    @property
    def support(self):
        return 0, None

    def sequence(self, n):
        return (1 + np.arange(n, dtype=float) / self.tau) ** -self.p

    def _hsum(self, e: float, n: int) -> tuple[float, float]:
        """(lo, hi) enclosing H_e(n) = sum_{k>=n} (1 + k/tau)^(-e), e > 1. The summand f is convex and
        decreasing, so int_n^inf f + f(n)/2 <= H <= int_{n-1/2}^inf f, int_c^inf f = tau/(e-1) (1 + c/tau)^(1-e)."""
        tau = self.tau
        lo = tau / (e - 1) * (1 + n / tau) ** (1 - e) + (1 + n / tau) ** -e / 2
        return lo, tau / (e - 1) * (1 + (n - 0.5) / tau) ** (1 - e)

    def _tail_bounds(self, rho: float, n: int) -> tuple[float, float]:
        """(lo, hi) enclosing sum_{k>=n} g_k^2 (n >= 1) from sums H alone (docs/targets.md, "The power
        target"): for k >= n, d_k (al + bl/(tau+k)) <= g_k <= d_k (a + b/(tau+k) + c/(tau+k)^2) + r_k."""
        tau, p = self.tau, self.p
        H = [self._hsum(2 * p + m, n) for m in range(5)]  # sum_{k>=n} d_k^2 / (tau + k)^m = tau^-m H_{2p+m}
        if rho == 0.0:
            return H[0]
        s2 = math.sqrt(1 - rho**2)
        al = s2 * (1 - rho ** (n + 1)) / (1 - rho)
        bl = s2 * p * max(0.0, rho - rho ** (n + 1) * (n + 1)) / (1 - rho) ** 2
        a, b = s2 / (1 - rho), s2 * p * rho / (1 - rho) ** 2
        c = s2 * p * (p + 1) * 2 ** (p + 1) * rho * (1 + rho) / (1 - rho) ** 3
        lo = al**2 * H[0][0] + 2 * al * bl * H[1][0] / tau + bl**2 * H[2][0] / tau**2
        quad = a**2 * H[0][1] + 2 * a * b * H[1][1] / tau + (b**2 + 2 * a * c) * H[2][1] / tau**2
        quad += 2 * b * c * H[3][1] / tau**3 + c**2 * H[4][1] / tau**4
        return lo, (math.sqrt(quad) + s2 * rho ** (n / 2) / (1 - rho) ** 1.5) ** 2

    def _truncation(self, rho: float) -> int:
        """N: the sandwich of sum_{k>=N} g_k^2 is below RTOL E (doubling from 4096; at most MAX_LENGTH)."""
        e0 = float(np.sum(self.coloured(rho, 4096) ** 2))  # <= E
        N = 4096
        while N < MAX_LENGTH:
            lo, hi = self._tail_bounds(rho, N)
            if hi - lo <= RTOL * e0:
                break
            N *= 2
        return N

    def energy(self, rho=0.0):
        return _power_energy(self, ar1(rho))[1]

    def energy_bound(self, rho=0.0):
        return _power_energy(self, ar1(rho))[2]

    def tail_energy(self, rho, n):
        """(lo, hi) of sum_{k>=n} g_k^2: below the truncation N of ``energy``, the exact sum up to N
        (as E_N - E_n) plus the sandwich at N; beyond, the sandwich at n."""
        rho = ar1(rho)
        N, _, _, e_N, lo, hi = _power_energy(self, rho)
        if n >= N:
            return self._tail_bounds(rho, max(n, 1))
        head = e_N - float(np.sum(self.coloured(rho, n) ** 2))
        return head + lo, head + hi

    def length(self, rho=0.0, tol=TOL):
        rho = ar1(rho)
        n, e = 4096, self.energy(rho)
        while self._tail_bounds(rho, n)[1] > tol * e and n < 2**62:
            n *= 2
        return n

    def cross(self, a, rho=0.0):
        return self._cross(check_poles(a), ar1(rho))[0]

    def cross_bound(self, a, rho=0.0):
        return self._cross(check_poles(a), ar1(rho))[1]

    def _cross(self, a, rho: float):
        """(v of d truncated at N, bound on the rest), N doubled until the bound is below
        RTOL sqrt(E G_ss) (the Cauchy-Schwarz size of v_s) or N = MAX_LENGTH."""
        x = np.conj(a)
        N = 4096
        scale = np.sqrt(self.energy(rho) * np.real(AR1(rho).gram_entries(a, a)))
        while True:
            bound = self._cross_tail(x, rho, N)
            if np.all(bound <= RTOL * scale) or N >= MAX_LENGTH:
                break
            N *= 2
        return finite_cross(self.sequence(N), a, rho), bound

    def _cross_tail(self, x, rho: float, N: int) -> np.ndarray:
        """Bound on |v_s(t)| for the tail t_j = d_j, j >= N (docs/targets.md): the smaller of
        Cauchy-Schwarz, sqrt(t^T Gamma t G_ss) with t^T Gamma t <= (1+rho)/(1-rho) H_2p(N), and Abel's
        bound on v(t) = [rho (1 - rho x) T(rho) - (1 - rho^2) x T(x)] / ((rho - x)(1 - rho x)),
        T(z) = sum_{j>=N} t_j z^j, |T(x)| <= d_N |x|^N min(2/|1-x|, 1/(1-|x|)), T(rho) <= d_N rho^N/(1-rho)."""
        d_N = (1 + N / self.tau) ** -self.p
        gram = np.real((1 - rho**2 * x * np.conj(x)) / ((1 - x * np.conj(x)) * np.abs(1 - rho * x) ** 2))
        cs = np.sqrt((1 + rho) / (1 - rho) * self._hsum(2 * self.p, N)[1] * gram)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t_x = d_N * np.abs(x) ** N * np.minimum(2 / np.abs(1 - x), 1 / (1 - np.abs(x)))
            if rho == 0.0:
                abel = t_x
            else:
                t_rho = d_N * rho**N / (1 - rho)
                abel = (rho * np.abs(1 - rho * x) * t_rho + (1 - rho**2) * np.abs(x) * t_x) / (
                    np.abs(rho - x) * np.abs(1 - rho * x)
                )
        return np.fmin(cs, abel)


@lru_cache(maxsize=16)
def _power_energy(target: Power, rho: float):
    """(N, E estimate, its bound, E_N = sum_{k<N} g_k^2, lo, hi) with [lo, hi] enclosing the rest."""
    N = target._truncation(rho)
    e_N = float(np.sum(target.coloured(rho, N) ** 2))
    lo, hi = target._tail_bounds(rho, N)
    return N, e_N + (lo + hi) / 2, (hi - lo) / 2, e_N, lo, hi


TARGETS: dict[str, type[Target]] = {cls.name: cls for cls in (Shift, Exp, Power, Bump)}


def scale(target) -> int:
    """The target's lag scale: K for the shift and the bump; otherwise the lag by which 90% of its
    white-noise energy is in (at least 1). Inits that place poles for a lag (``uncertainty``) and the
    reference search's starts and bounds use it as their K."""
    target = as_target(target)
    if hasattr(target, "K"):
        return int(target.K)
    energy, n = target.energy(0.0), 64
    while True:  # the first n with sum_{k<n} d_k^2 >= 0.9 E (white noise)
        reached = np.cumsum(target.sequence(n) ** 2)
        if reached[-1] >= 0.9 * energy:
            return max(1, int(np.searchsorted(reached, 0.9 * energy)) + 1)
        n *= 2


def make_target(name: str, **params) -> Target:
    """The target ``name`` with its parameters: ``make_target("power", tau=10, p=1.1)``."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}: the known targets are {', '.join(sorted(TARGETS))}")
    cls = TARGETS[name]
    keys = {f.name for f in fields(cls)}
    if set(params) != keys:
        raise ValueError(
            f"{name} target takes the parameters {sorted(keys)}; missing {sorted(keys - set(params))}, "
            f"unknown {sorted(set(params) - keys)}"
        )
    return cls(**params)


def as_target(target) -> Target:
    """A Target as is; a spec dict {"name": ..., parameters} through ``make_target``; a lag K as Shift(K)."""
    if isinstance(target, Target):
        return target
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return Shift(int(target))  # a lag is the shift at that lag
    if isinstance(target, dict) and "name" in target:
        return make_target(**target)
    raise ValueError(f"target must be a Target or a dict with a 'name' key, got {target!r}")


# ----------------------------------------------------------------------------------------------
# The loss of a filter


def loss(a, b, target, rho=0.0) -> float:
    """(E - 2 Re(v^H b) + b^H G b) / E: the stationary loss of the filter (a, b), normalised by the
    target's energy E (the zero filter scores 1). G is the AR(1) Gram matrix (``signals.AR1.gram``).
    For the power target v is truncated, with ``cross_bound``. Raises FloatingPointError where the
    quadratic form may lose more than 1e-9 to rounding (huge readouts; docs/theory.md section 2)."""
    target = as_target(target)
    a = check_poles(a)
    b = check_readout(b, a)
    rho = ar1(rho)
    G, v, E = AR1(rho).gram(a, a), target.cross(a, rho), target.energy(rho)
    with np.errstate(over="ignore", invalid="ignore"):
        value = E - 2 * np.real(np.vdot(v, b)) + np.real(np.vdot(b, G @ b))
    if not formulas.rounding(G, v, b) <= 1e-9 * E:
        raise FloatingPointError(f"loss: the readout (|b| up to {np.abs(b).max():.3g}) is too large for float64")
    return float(value / E)


def torch_loss(a, b, target, rho, white_form=None):
    """``loss`` as a differentiable torch function of poles and readouts (..., S): one value per leading
    index. The Gram part is ``signals.AR1.quadratic_loss``'s (``white_form`` as there), the cross term
    the target's ``torch_cross``; for the shift exactly the closed form of docs/theory.md section 2."""
    target, rho = as_target(target), ar1(rho)
    E = target.energy(rho)
    q = AR1(rho).quadratic_loss(a, b, white_form=white_form, v=target.torch_cross(a, rho))
    return (q + (E - 1)) / E  # E = 1 for the shift: q itself


# ----------------------------------------------------------------------------------------------
# The optimum for fixed poles


@dataclass(frozen=True)
class Optimum:
    """L*(a) = min_b loss(a, b) for a target, with a rigorous bound on its truncation error.

    ``loss`` is within ``bound`` of L*(a) (plus rounding, of order 1e-16 S sqrt(length)); ``bound <= tol`` where
    reachable with ``length`` <= MAX_ROUTE (and the power target's energy within MAX_LENGTH lags).
    ``coordinates`` are those of the truncated coloured target in the orthonormal basis (rho, a_1, ...)
    of the distinct poles ``poles``.
    """

    loss: float
    bound: float
    length: int
    poles: np.ndarray
    coordinates: np.ndarray
    with_feedthrough: float  # the optimum with a free feed-through d x_t as well (within ``bound`` too)


def _shift_matrix(p) -> np.ndarray:
    """A: the backward shift (f(z) - f(0))/z on span{psi_j} in the basis psi, lower triangular with
    A_jj = p_j and A_ij = sqrt(1-|p_i|^2) sqrt(1-|p_j|^2) prod_{j<k<i} (-conj p_k) for i > j.
    psi[k] = A^k psi[0], so ||A^n||_2 bounds how much of the span lives beyond lag n."""
    s = np.sqrt(1 - np.abs(p) ** 2)
    A = np.diag(p).astype(complex)
    for j in range(p.size):
        A[j + 1 :, j] = s[j + 1 :] * s[j] * np.cumprod(np.concatenate([[1.0], -np.conj(p[j + 1 : -1])]))
    return A


def optimum(a, target, rho=0.0, tol: float = TOL, n: int | None = None, repeated: str = "merge") -> Optimum:
    """L*(a) for any target, stably for crowded poles (docs/targets.md, "The optimum").

    The coloured target g = d * h is cut at lag n: g = g_n + g_tail. With E_n = |g_n|^2 and
    dE = |g_tail|^2 (``tail_energy``), E L* = R + |c|^2/(1 - |B(0)|^2) + dE - X, where R and c come from
    ``basis.cascade`` on g_n and |X| <= 2 sqrt(E_n) e + e^2, e = ||A^n|| |g_tail| (the part of g_tail that
    the poles can see). n is the target's own length where its tail is negligible; otherwise (power
    target) the lag where ||A^n||_2 <= tol/8, found by doubling (at most MAX_ROUTE). Pass n to force it.
    ``repeated``: ``merge`` (a diagonal layer: a repeated pole counts once) or ``jordan`` (the span of
    k^j a^k, j below its multiplicity, that a Jordan chain reaches: the basis takes the poles as they are).
    """
    target = as_target(target)
    if repeated not in ("merge", "jordan"):
        raise ValueError(f"repeated must be 'merge' or 'jordan', got {repeated!r}")
    a = check_poles(a) if repeated == "jordan" else formulas.distinct(check_poles(a))[0]
    rho = ar1(rho)
    p = np.concatenate([[rho], a])
    norm = 1.0  # ||A^n||_2 <= 1 always; computed only where the tail of the target needs it
    if n is None:
        n = target.length(rho, (tol / 1000) ** 2)  # where the tail is negligible: ||A^n|| <= 1 does
        if n > 4096:  # a long (or infinite) memory: cut where the poles cannot see the tail instead
            n_poles, norm = _pole_length(p, tol / 8)
            n, norm = (n_poles, norm) if n_poles < n else (n, 1.0)
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    g = target.coloured(rho, n)
    f, R, c = basis.cascade(p, g)
    with np.errstate(divide="ignore"):
        u2 = -math.expm1(2 * float(np.sum(np.log(np.abs(p)))))  # |u|^2 = 1 - |B(0)|^2
    e_n = float(np.sum(g**2))
    lo, hi = target.tail_energy(rho, n)
    mid, delta = (lo + hi) / 2, (hi - lo) / 2
    e_lo = e_n + lo
    if norm == 1.0 and 3 * math.sqrt(hi * e_n) + hi > tol * e_lo / 2:
        norm = _tail_norm(p, n)
    e = math.sqrt(hi) * norm
    x = 2 * math.sqrt(e_n) * e + e**2
    value = (R + abs(c) ** 2 / u2 + mid) / (e_n + mid)
    bound = x / e_lo + delta * e_n / e_lo**2
    return Optimum(float(value), float(bound), n, a, f, float((R + mid) / (e_n + mid)))


def _tail_norm(p, n: int) -> float:
    """||A^n||_2 plus an allowance for rounding (A is a contraction; about log2(n) products)."""
    return _norm(_matrix_power(_shift_matrix(p), n), n)


def _norm(A_n, n: int) -> float:
    scale = float(np.max(np.abs(A_n)))  # the SVD of the scaled matrix meets no subnormal number
    norm = scale * float(np.linalg.norm(A_n / scale, 2)) if scale > 0 else 0.0
    return norm + 4 * A_n.shape[0] * (math.log2(n) + 1) * np.finfo(float).eps


def _matrix_power(A, n: int) -> np.ndarray:
    """A^n by repeated squaring. Entries below 1e-150 are set to 0 after each product, so that no product
    of two entries underflows: the norm moves by at most 1e-147 per product, and no arithmetic on
    subnormal numbers (100 times slower) is left."""
    result, base = np.eye(A.shape[0], dtype=complex), A
    while n:
        if n & 1:
            result = _flush(result @ base)
        n >>= 1
        if n:
            base = _flush(base @ base)
    return result


def _flush(M):
    M[np.abs(M) < 1e-150] = 0.0
    return M


def _pole_length(p, eta: float) -> tuple[int, float]:
    """(n, ||A^n||): the first n = n0 2^j with ||A^n||_2 <= eta (n0 from the largest pole), or MAX_ROUTE."""
    r = float(np.max(np.abs(p)))
    n = p.size if r == 0 else max(1, min(MAX_ROUTE, math.ceil(math.log(eta) / math.log(r))))
    A_n = _matrix_power(_shift_matrix(p), n)
    while _norm(A_n, n) > eta and 2 * n <= MAX_ROUTE:
        A_n, n = _flush(A_n @ A_n), 2 * n
    return n, _norm(A_n, n)


def optimal_loss(a, target, rho=0.0) -> float:
    """L*(a) (``optimum(a, target, rho).loss``); for the shift, ``theory.optimal_loss`` by another route."""
    return optimum(a, target, rho).loss


def optimal_readout(a, target, rho=0.0) -> np.ndarray:
    """b*(a) from the coordinates of ``optimum``: the projection w = f - (f.l/|l|^2) conj(l) onto the
    model class (l the feedthrough functional, ``basis.feedthrough_functional``) and the exact partial
    fractions (``basis.readout``) (docs/theory.md section 3). Needs every pole != 0; repeated
    poles share their coefficient. For the power target, the readout of the target truncated at
    ``optimum(...).length``."""
    rho = ar1(rho)
    a_all = check_poles(a)
    a, index = formulas.distinct(a_all)
    if np.any(a == 0):
        raise ValueError("optimal_readout needs every pole != 0")
    f = optimum(a_all, target, rho).coordinates
    return basis.share(basis.readout(a, f, basis.feedthrough_functional(a, rho), rho), index)
