"""The numerical best known: the lowest value of an objective found over poles (docs/theory.md section 9).

No closed form gives the optimum over poles. The search scores the construction's poles for every
(alpha, phase spacing) with the objective's optimal readout and refines the best few; for the
stationary loss it also starts from a few random poles near the unit disk (seeded). Refinement is
projected training (``projection.fit``) for the stationary loss, whose optimal readout has a closed
form, and L-BFGS over poles and readout for a window. Every candidate is re-scored by the
objective's optimum for its poles. The result is an achievable value, never a bound; the tables say
where it came from, and learned runs that do better replace it (``aggregation.learned_best_known``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import config, inits, objectives, projection, theory
from .model import LinearRNN


def _refine(a, objective, iterations):
    """The poles after ``iterations`` steps of projected training (stationary) or L-BFGS (a window)."""
    b = objective.optimal_readout(a)
    model = LinearRNN(a, inits.pair_layout(b[: a.size // 2], b[2 * (a.size // 2) :].real))
    if isinstance(objective, objectives.Stationary):
        projection.fit(model, objective.K, objective.rho, iterations)
        return model.poles()
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective.torch_loss(model)
        loss.backward()
        return loss

    try:
        opt.step(closure)
    except (RuntimeError, ValueError):  # a blow-up inside the line search: keep the start
        return a
    a_new = model.poles()
    return a_new if np.all(np.isfinite(a_new)) and np.all(np.abs(a_new) < 1) else a


def best_known(objective, S: int, alphas=None, **options) -> dict:
    """The lowest ``objective.optimum`` found from construction-like and random starts.

    ``options`` are those of the config's ``theory.best_known`` (spacings, refine_starts, iterations,
    random_starts, seed), with the schema's defaults; ``alphas`` defaults to those of
    ``theory.alphas``. Returns the value, whether it is certified as the optimum of its poles (always,
    for the stationary loss), where it came from, and its poles.
    """
    alphas = config.defaults("theory")["alphas"] if alphas is None else alphas
    options = {**config.defaults("theory", "best_known"), **options}
    K = objective.K
    starts = []
    for alpha in alphas:
        for spacing in options["spacings"]:
            a = theory.construction(S, K, alpha, spacing)[0][inits.construction_order(S)]  # pair layout
            starts.append((*objective.optimum(a), f"construction alpha={alpha:g} spacing={spacing:g}", a))
    starts.sort(key=lambda c: c[0])
    refine = starts[: options["refine_starts"]]
    if isinstance(objective, objectives.Stationary):
        for i in range(options["random_starts"]):
            a = inits.initialise("lru-ring", S, K, options["seed"] + i, "zero", r_min=0.9, r_max=0.999)[0]
            refine.append((math.inf, False, f"lru-ring poles (seed {options['seed'] + i})", a))
    best = starts[0]
    for _, _, source, a in refine:
        try:
            refined = _refine(a, objective, options["iterations"])
            value, certified = objective.optimum(refined)
        except FloatingPointError:  # a start whose optimum float64 cannot evaluate
            continue
        if math.isfinite(value) and value < best[0]:
            how = "projected training" if isinstance(objective, objectives.Stationary) else "L-BFGS"
            best = (value, certified, f"{source}, refined by {how}", refined)
    value, certified, source, a = best
    return {"value": value, "certified": certified, "source": source, "poles": [[z.real, z.imag] for z in a]}
