"""The objective a run is trained on, as its population (data-free) loss.

A config objective names how a run is trained; each has a population loss, and that is what a
learned filter is compared with:

- ``sampled``: minibatches of stored sequences of ``burn_in + K + t_eval`` steps, zero initial state,
  the last ``t_eval`` steps scored. Its population loss is the finite-window loss of that window
  (``Window``, docs/theory.md section 4).
- ``exact``: the stationary loss itself (``Stationary``, section 2).

Each gives, for poles ``a`` and readout ``b``, the loss; for fixed poles, the optimum (with whether
it is certified), the optimal readout, and both from one solve (``optimum_and_readout``); and the
same loss as a differentiable function of a ``LinearRNN``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import theory


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
class Window:
    """The finite-window loss of the paper's protocol: ``length`` steps, the last ``t_eval`` scored."""

    K: int
    rho: float
    length: int
    t_eval: int

    def loss(self, a, b) -> float:
        return theory.finite_window_loss(a, b, self.K, self.rho, self.length, self.t_eval)

    def optimum(self, a) -> tuple[float, bool]:
        """(the window loss of the best readout found, whether it is certified as the optimum)."""
        best = theory.finite_window_optimum(a, self.K, self.rho, self.length, self.t_eval)
        return best.loss, best.certified

    def optimal_readout(self, a):
        return theory.finite_window_optimal_readout(a, self.K, self.rho, self.length, self.t_eval)

    def optimum_and_readout(self, a):
        """(the window loss of the best readout found, that readout): one eigendecomposition."""
        best = theory.finite_window_optimum(a, self.K, self.rho, self.length, self.t_eval)
        return best.loss, best.readout

    def torch_loss(self, model):
        return model.window_loss(self.K, self.rho, self.length, self.t_eval)


def population(objective: str, K: int, rho: float, t_eval: int, burn_in: int):
    """The population loss of a config objective at lag K (sequences of burn_in + K + t_eval steps)."""
    if objective == "exact":
        return Stationary(K, rho)
    if objective == "sampled":
        return Window(K, rho, burn_in + K + t_eval, t_eval)
    raise ValueError(f"unknown objective {objective!r}")
