"""The objective a run is trained on, as its population (data-free) loss.

A config objective names how a run is trained; each has a population loss, and that is what a
learned filter is compared with:

- ``sampled``: minibatches of stored sequences of ``burn_in + K + t_eval`` steps, zero initial state,
  the last ``t_eval`` steps scored. Its population loss is the finite-window loss of that window
  (``Window``, docs/theory.md section 4).
- ``exact``: the stationary loss itself (``Stationary``, section 2).

Each gives, for poles ``a`` and readout ``b``, the loss; for fixed poles, the optimum (with whether
it is certified), the optimal readout, and both from one solve (``optimum_and_readout``); and the
same loss as a differentiable function of a ``LinearRNN``. The config objectives, with their
properties, are ``OBJECTIVES`` (one entry each, at the end of this module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from . import targets, theory
from .signals import as_signal


@dataclass(frozen=True)
class Stationary:
    """The stationary loss: an endless stream (section 2)."""

    K: int
    rho: float

    def loss(self, a, b) -> float:
        return theory.exact_loss(a, b, self.K, self.rho)

    def optimum(self, a) -> tuple[float, bool]:
        """(min_b loss, certified): always certified, the closed form is exact."""
        return theory.optimal_loss(a, self.K, self.rho), True

    def optimal_readout(self, a):
        return theory.optimal_readout(a, self.K, self.rho)

    def optimum_and_readout(self, a):
        """(min_b loss, the optimal readout): two O(S^2) closed forms."""
        return self.optimum(a)[0], self.optimal_readout(a)

    def torch_loss(self, model):
        return model.exact_loss(self.K, self.rho)


@dataclass(frozen=True)
class TargetStationary:
    """The stationary loss of a memory kernel other than the shift (``targets``, docs/targets.md),
    normalised by the target's energy. ``K`` is the target's lag scale (``targets.scale``): where the
    reference search places its starts."""

    target: object  # a targets.Target
    rho: float
    K: int
    GRADIENT_LAGS: ClassVar[int] = 2048  # lags of Gamma d in the search's gradient (its value is exact)

    def loss(self, a, b) -> float:
        return targets.loss(a, b, self.target, self.rho)

    def optimum(self, a) -> tuple[float, bool]:
        return targets.optimal_loss(a, self.target, self.rho), True

    def optimal_readout(self, a):
        return targets.optimal_readout(a, self.target, self.rho)

    def optimum_and_readout(self, a):
        return self.optimum(a)[0], self.optimal_readout(a)

    def differentiable(self, a, b):
        """(E - 2 Re(v^H b) + b^H G b) / E in torch (a, b: (S,) complex tensors), v_s = sum_k conj(a_s)^k
        (Gamma d)_k over the first ``GRADIENT_LAGS`` lags: the envelope gradient of the reference search."""
        import torch

        energy, w = self._weights
        n = w.size
        v = (a.conj()[:, None] ** torch.arange(n, dtype=torch.float64)[None, :]) @ torch.from_numpy(w).to(a.dtype)
        G, _ = as_signal(self.rho).gram_and_cross(a, 1)  # (S, S)
        return (energy - 2 * (v.conj() * b).sum().real + (b.conj() @ (G @ b)).real) / energy  # v: (S,)

    @cached_property
    def _weights(self):
        """(E, (Gamma d)_k for k < n): computed once per objective."""
        n = min(self.target.length(self.rho, 1e-12), self.GRADIENT_LAGS)
        return self.target.energy(self.rho), targets.gamma_times(self.target, self.rho, n)


@dataclass(frozen=True)
class Window:
    """The finite-window loss of the paper's protocol: ``length`` steps, the last ``t_eval`` scored."""

    K: int
    rho: float
    length: int
    t_eval: int

    def loss(self, a, b) -> float:
        return theory.finite_window_loss(a, b, self.K, self.rho, self.length, self.t_eval)

    def optimum(self, a) -> tuple[float, bool]:
        """(the infimum of the window loss over every readout, True): the window rule (section 4)."""
        return theory.finite_window_optimum(a, self.K, self.rho, self.length, self.t_eval).value, True

    def optimal_readout(self, a):
        """The best readout whose kernel float64 evaluates (an init's readout)."""
        return theory.finite_window_optimal_readout(a, self.K, self.rho, self.length, self.t_eval)

    def optimum_and_readout(self, a):
        """(the infimum, a readout that realises it): one eigendecomposition and one least squares;
        FloatingPointError where no such readout is finite in float64."""
        best = theory.finite_window_optimum(a, self.K, self.rho, self.length, self.t_eval)
        if not np.all(np.isfinite(best.value_readout)):
            raise FloatingPointError("no finite readout realises the window optimum of these poles")
        return best.value, best.value_readout

    def torch_loss(self, model):
        return model.window_loss(self.K, self.rho, self.length, self.t_eval)


# -- the registry of config objectives -----------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """A config objective, defined once with its properties.

    ``make(K, rho, t_eval, burn_in)``: its population loss at lag K (``Stationary`` or ``Window``);
    ``sequences``: trained on minibatches of stored sequences of burn_in + K + t_eval steps (it needs
    datasets, and its population loss is that window's); ``closed_form_readout``: its optimal readout
    is the closed-form stationary b*(a) that projected methods hold the readout at
    (``methods.Method.projected``, ``projection.fit``); ``loss_name``: what its population loss is
    called in the figures; ``summary``: one line for the schema and the docs.
    """

    name: str
    summary: str
    loss_name: str
    make: Callable
    sequences: bool
    closed_form_readout: bool


OBJECTIVES = {
    o.name: o
    for o in (
        Objective(
            "sampled",
            "minibatches of stored AR(1) sequences of burn_in + K + t_eval steps, zero initial state, loss on the "
            "last t_eval steps (its population loss is that window's)",
            "finite-window loss",
            lambda K, rho, t_eval, burn_in: Window(K, rho, burn_in + K + t_eval, t_eval),
            sequences=True,
            closed_form_readout=False,
        ),
        Objective(
            "exact",
            "the closed-form stationary loss",
            "stationary loss",
            lambda K, rho, t_eval, burn_in: Stationary(K, rho),
            sequences=False,
            closed_form_readout=True,
        ),
    )
}
# The objective whose population loss is the stationary loss: every cell has its reference, and the
# stationary columns of the tables are set against it.
STATIONARY = "exact"


def population(objective: str, K: int, rho: float, t_eval: int, burn_in: int):
    """The population loss of a config objective at lag K (sequences of burn_in + K + t_eval steps)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; known: {list(OBJECTIVES)}")
    return OBJECTIVES[objective].make(K, rho, t_eval, burn_in)
