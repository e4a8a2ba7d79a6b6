"""Stationary, zero-mean, unit-variance input models.

A signal is anything with an autocovariance, a spectral density, a sampler and the closed-form
Gram matrix / cross term of the quadratic shift-K loss (``gram_and_cross``). A bare float ``rho``
everywhere means ``AR1(rho)``, and white noise is ``AR1(0)``.

What takes any signal of this interface (a new model, say band-limited noise, is one new class here):
``theory.exact_loss``, ``theory.finite_window_loss``, ``theory.finite_window_optimum`` and
``theory.optimal_loss`` (by a pseudo-inverse of G; its fast orthonormal-basis route is AR(1)'s).

What is AR(1)-only, because its formula is: ``theory.optimal_readout`` and everything built on the
orthonormal (Takenaka-Malmquist) basis of docs/theory.md section 3 (``orthonormal_coordinates``,
``optimal_loss(repeated="jordan")``, ``laguerre_limit``); ``theory.lower_bound``; the model's
differentiable losses (``LinearRNN.exact_loss`` passes AR(1)'s factored ``white_form``,
``LinearRNN.window_loss`` takes rho); ``projection`` (its readout is ``theory.optimal_readout``, its
re-seeding moves use ``AR1.gram``, ``gram_entries`` and ``cross``); the reference search and its cells,
keyed by rho; ``evaluate``'s feed-through terms; and the datasets, sampled by ``AR1.sample``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.signal import lfilter


class StationarySignal(ABC):
    """Interface of a stationary input process with gamma(0) = 1."""

    @abstractmethod
    def autocovariance(self, lags) -> np.ndarray:
        """gamma(j) = E[x_t x_{t-j}] at integer lags."""

    @abstractmethod
    def spectral_density(self, omega) -> np.ndarray:
        """Gamma(w) = sum_j gamma(j) e^{-ijw}."""

    @abstractmethod
    def sample(self, n_sequences: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """Stationary float64 samples of shape (n_sequences, length)."""

    @abstractmethod
    def gram_and_cross(self, a, K: int):
        """(G, v) of L(b) = 1 - 2 Re(v^H b) + b^H G b for the kernel c_k = sum_s b_s a_s^k."""

    def quadratic_loss(self, a, b, K: int):
        """L(b) = 1 - 2 Re(v^H b) + b^H G b; subclasses may factor G to save work in training.

        ``a`` and ``b`` may carry leading (run) axes: the loss is then one value per run.
        """
        x = a.conj()
        G, v = self._gram(x[..., :, None], a[..., None, :]), self.cross(x, K)
        return 1 - 2 * (v.conj() * b).sum(-1).real + (b.conj() * (G @ b[..., None])[..., 0]).sum(-1).real


@dataclass(frozen=True)
class AR1(StationarySignal):
    """x_t = rho x_{t-1} + sqrt(1 - rho^2) eps_t, so gamma(j) = rho^|j|; rho = 0 is white noise."""

    rho: float = 0.0
    # Names the sampler in every dataset's sidecar. Change it whenever ``sample`` changes what it
    # draws: datasets made by another sampler are then rebuilt or refused, never reused.
    SAMPLER: ClassVar[str] = "ar1-stationary-start/2"

    def __post_init__(self):
        if not (np.isfinite(self.rho) and 0.0 <= self.rho < 1.0):
            raise ValueError(f"AR(1) autocorrelation rho must lie in [0, 1), got {self.rho!r}")

    def autocovariance(self, lags) -> np.ndarray:
        return self.rho ** np.abs(np.asarray(lags, dtype=float))

    def spectral_density(self, omega) -> np.ndarray:
        r = self.rho
        return (1 - r**2) / (1 - 2 * r * np.cos(np.asarray(omega, dtype=float)) + r**2)

    def sample(self, n_sequences: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """Stationary from the first step (docs/theory.md section 7): x_0 ~ N(0, 1), then the recursion.

        ``lfilter`` computes y_n = s e_n + rho y_{n-1} from the state zi = rho y_{-1}; running it on
        e_1 .. e_{length-1} from zi = rho x_0 continues the recursion from x_0 itself.
        """
        r = self.rho
        eps = rng.standard_normal((n_sequences, length))
        x0 = eps[:, :1]
        rest, _ = lfilter([np.sqrt(1 - r**2)], [1.0, -r], eps[:, 1:], axis=1, zi=r * x0)
        return np.concatenate([x0, rest], axis=1)

    def gram_and_cross(self, a, K: int):
        """Closed forms of docs/theory.md section 2 (duck-typed: works on numpy arrays and torch tensors).

        With x = conj(a_s), y = a_s':
          white:  G = 1/(1 - x y),  v_s = x^K
          AR(1):  G = (1 - r^2 x y)/((1 - x y)(1 - r x)(1 - r y)),
                  v_s = (r^{K+1} - x^{K+1})/(r - x) + r x^{K+1}/(1 - r x).
        The first term of v is the finite geometric sum sum_{k<=K} x^k r^{K-k}. Its quotient form
        cancels when x is close to r (only a real pole can be): its relative error is about
        eps r / (K |r - x|). So where (K+1)|r - x| < 1e-4 r we use the second-order Taylor expansion
        around x = r, whose error there is below (1e-4)^3; both sides are accurate to ~1e-12.
        """
        x = a.conj()
        return self._gram(x[:, None], a[None, :]), self.cross(x, K)

    def gram(self, p, q) -> np.ndarray:
        """G(p_i, q_j): the Gram matrix between two sets of poles (numpy)."""
        return self._gram(np.conj(p)[:, None], np.asarray(q)[None, :])

    def gram_entries(self, p, q) -> np.ndarray:
        """G(p_i, q_i) for equally long sets of poles (numpy)."""
        return self._gram(np.conj(p), np.asarray(q))

    def _gram(self, x, y):
        """(1 - r^2 x y) / ((1 - x y)(1 - r x)(1 - r y)) elementwise, x = conj(a_s), y = a_s'."""
        r = self.rho
        return (1 - r**2 * x * y) / ((1 - x * y) * (1 - r * x) * (1 - r * y))

    def cross(self, x, K: int):
        """v_s for x = conj(a_s) (see gram_and_cross)."""
        r = self.rho
        if r == 0.0:
            return x**K
        d = x - r
        near = abs(d) * (K + 1) < 1e-4 * r
        quotient = (r ** (K + 1) - x ** (K + 1)) / (r - x + near)  # "+ near" keeps 0/0 out of the graph
        taylor = (K + 1) * r**K + (K + 1) * K / 2 * r ** (K - 1) * d + (K + 1) * K * (K - 1) / 6 * r ** (K - 2) * d**2
        geometric = taylor * near + quotient * ~near
        return geometric + r * x ** (K + 1) / (1 - r * x)

    def quadratic_loss(self, a, b, K: int | None = None, white_form=None, v=None):
        """The same loss with one S x S matrix instead of several (the training hot path).

        G = diag(conj w) G0 diag(w) with w = 1/(1 - r a) and G0 = r^2 + (1 - r^2) C, where
        C = 1/(1 - conj(a) a^T) is the white-noise Gram matrix. With beta = w * b:
        b^H G b = r^2 |sum beta|^2 + (1 - r^2) beta^H C beta. Leading (run) axes of ``a`` and ``b``
        give one loss per run (duck-typed: numpy arrays and torch tensors). ``white_form(a, beta)``,
        if given, computes beta^H C beta (the model passes one with a closed-form gradient). ``v``, if
        given, is the cross term of another target than the shift at lag K (``targets.torch_loss``).
        """
        r = self.rho
        beta = b / (1 - r * a)  # (..., S)
        v = self.cross(a.conj(), K) if v is None else v  # (..., S)
        return (
            1
            - 2 * (v.conj() * b).sum(-1).real
            + r**2 * abs(beta.sum(-1)) ** 2
            + (1 - r**2) * (white_form or self.white_form)(a, beta)
        )

    @staticmethod
    def white_form(a, beta):
        """beta^H C beta with C_st = 1/(1 - conj(a_s) a_t), per run: (..., S) -> (...)."""
        C = 1.0 / (1.0 - a.conj()[..., :, None] * a[..., None, :])  # (..., S, S)
        return (beta.conj() * (C @ beta[..., None])[..., 0]).sum(-1).real


def as_signal(signal) -> StationarySignal:
    """A StationarySignal as is; a number as AR1(rho)."""
    if isinstance(signal, StationarySignal):
        return signal
    return AR1(float(signal))


def autocovariance(rho, lags) -> np.ndarray:
    return as_signal(rho).autocovariance(lags)


def spectral_density(rho, omega) -> np.ndarray:
    return as_signal(rho).spectral_density(omega)


def sample_ar1(rho: float, n_sequences: int, length: int, seed: int) -> np.ndarray:
    """Deterministic stationary AR(1) samples, float64 of shape (n_sequences, length)."""
    return AR1(rho).sample(n_sequences, length, np.random.default_rng(seed))
