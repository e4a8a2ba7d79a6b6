"""The objective a run is trained on, as its population (data-free) loss.

A config objective names how a run is trained; each has a population loss, and that is what a
learned filter is compared with:

- ``sampled``: minibatches of stored sequences of ``burn_in + K + t_eval`` steps, zero initial state,
  the last ``t_eval`` steps scored. Its population loss is the finite-window loss of that window
  (``Window``, docs/theory.md section 4).
- ``exact``: the stationary loss itself (``Stationary``, section 2).

Each gives, for poles ``a`` and readout ``b``, the loss; for fixed poles, the optimum (with whether
float64 resolves it), the optimal readout, and both from one solve (``optimum_and_readout``); and the
same loss as a differentiable function of a ``LinearRNN``. The config objectives, with their
properties, are ``OBJECTIVES`` (one entry each, at the end of this module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import targets, theory
from .signals import as_signal


def _is_shift(target) -> bool:
    """The shift's closed forms live in ``theory`` (O(S K), exact); every other target's in ``targets``."""
    return isinstance(target, targets.Shift)


@dataclass(frozen=True)
class Stationary:
    """The stationary loss of a target (``targets.Target``; a lag K is the shift at K), normalised by the
    target's energy (section 2; docs/targets.md). ``K`` is the target's lag scale (``targets.scale``):
    where inits and the reference search place their poles, and the phase unit of projected steps."""

    target: targets.Target
    rho: float

    def __post_init__(self):
        object.__setattr__(self, "target", targets.as_target(self.target))

    @property
    def K(self) -> int:
        return targets.scale(self.target)

    def loss(self, a, b) -> float:
        if _is_shift(self.target):
            return theory.exact_loss(a, b, self.target.K, self.rho)
        return targets.loss(a, b, self.target, self.rho)

    def optimum(self, a) -> tuple[float, bool]:
        """(min_b loss, resolved): always resolved, the closed form is exact."""
        if _is_shift(self.target):
            return theory.optimal_loss(a, self.target.K, self.rho), True
        return targets.optimal_loss(a, self.target, self.rho), True

    def optimal_readout(self, a):
        return self.optimal_filter(a)[0]

    def optimal_filter(self, a):
        """(b*(a), L*(a)) from one pass of the orthonormal coordinates (what projected training needs)."""
        if _is_shift(self.target):
            return theory.optimal_filter(a, self.target.K, self.rho)
        return targets.optimal_readout(a, self.target, self.rho), targets.optimal_loss(a, self.target, self.rho)

    def optimum_and_readout(self, a):
        """(min_b loss, the optimal readout)."""
        b, value = self.optimal_filter(a)
        return value, b

    def gram_and_cross(self, a):
        """(G, v) of the unnormalised quadratic E - 2 Re(v^H b) + b^H G b (projected training's moves)."""
        return as_signal(self.rho).gram(a, a), self.target.cross(a, self.rho)

    def differentiable(self, a, b, white_form=None):
        """The loss of (a, b) as a torch function ((..., S) tensors): ``targets.torch_loss``."""
        return targets.torch_loss(a, b, self.target, self.rho, white_form)

    def torch_loss(self, model):
        return model.exact_loss(self.target, self.rho)


@dataclass(frozen=True)
class Window:
    """The finite-window loss of the paper's protocol: ``length`` steps, the last ``t_eval`` scored,
    against the target's output on the same stored inputs (docs/targets.md: like the model, the target
    sees each sequence from its start), normalised by the zero filter's (1 for the shift)."""

    target: targets.Target
    rho: float
    length: int
    t_eval: int

    def __post_init__(self):
        object.__setattr__(self, "target", targets.as_target(self.target))

    @property
    def K(self) -> int:
        return targets.scale(self.target)

    @cached_property
    def d(self) -> np.ndarray:
        """The target kernel over the window (``theory.window_target``: delta_K for the shift)."""
        if _is_shift(self.target):
            return theory.window_target(self.target.K, self.length, self.t_eval)
        return theory.window_target(self.target.sequence(self.length), self.length, self.t_eval)

    @cached_property
    def energy(self) -> float:
        return theory.window_energy(self.d, self.rho, self.t_eval)

    def loss(self, a, b) -> float:
        return theory.finite_window_loss(a, b, self.d, self.rho, self.length, self.t_eval)

    def optimum(self, a) -> tuple[float, bool]:
        """(the infimum of the window loss over every readout, resolved): the window rule (section 4);
        resolved only where ``theory.WindowOptimum.resolved`` holds (nothing cut, the routes agree, the
        least squares well conditioned): at crowded poles float64 may land below the optimum."""
        best = theory.finite_window_optimum(a, self.d, self.rho, self.length, self.t_eval)
        return best.value, best.resolved

    def optimal_readout(self, a):
        """The best readout whose kernel float64 evaluates (an init's readout)."""
        return theory.finite_window_optimal_readout(a, self.d, self.rho, self.length, self.t_eval)

    def optimum_and_readout(self, a):
        """(the infimum, a readout that realises it): one eigendecomposition and one least squares;
        FloatingPointError where no such readout is finite in float64."""
        best = theory.finite_window_optimum(a, self.d, self.rho, self.length, self.t_eval)
        if not np.all(np.isfinite(best.value_readout)):
            raise FloatingPointError("no finite readout realises the window optimum of these poles")
        return best.value, best.value_readout

    def torch_loss(self, model):
        return model.window_loss(self.d, self.rho, self.t_eval, self.energy)


# -- the registry of config objectives -----------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """A config objective, defined once with its properties.

    ``make(target, rho, t_eval, burn_in)``: its population loss for a target (``Stationary`` or
    ``Window``); ``sequences``: trained on minibatches of stored sequences of burn_in + horizon + t_eval
    steps (the horizon of the shift is K; it needs
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
            lambda target, rho, t_eval, burn_in: Window(target, rho, burn_in + target.horizon + t_eval, t_eval),
            sequences=True,
            closed_form_readout=False,
        ),
        Objective(
            "exact",
            "the closed-form stationary loss",
            "stationary loss",
            lambda target, rho, t_eval, burn_in: Stationary(target, rho),
            sequences=False,
            closed_form_readout=True,
        ),
    )
}
# The objective whose population loss is the stationary loss: every cell has its reference, and the
# stationary columns of the tables are set against it.
STATIONARY = "exact"


def population(objective: str, target, rho: float, t_eval: int, burn_in: int):
    """The population loss of a config objective for a target (a ``targets.Target``, a spec or a lag K,
    the shift at K; sequences of burn_in + horizon + t_eval steps)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; known: {list(OBJECTIVES)}")
    return OBJECTIVES[objective].make(targets.as_target(target), rho, t_eval, burn_in)
