"""The numerical best known: the lowest value of an objective found over poles (docs/theory.md section 9).

No closed form gives the optimum over poles. The search scores the construction's poles for every
(alpha, phase spacing) with the objective's optimal readout, refines the best few by L-BFGS on the
objective over poles and readout, and re-scores every candidate by the objective's optimum for its
poles. The result is an achievable value, never a bound; the tables say where it came from.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import config, inits, theory
from .model import LinearRNN


def _refine(a, objective, iterations):
    """L-BFGS on the objective over poles and readout, from (a, b*(a)); returns the refined poles."""
    b = objective.optimal_readout(a)
    model = LinearRNN(a, inits.pair_layout(b[: a.size // 2], b[2 * (a.size // 2) :].real))
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
    """The lowest ``objective.optimum`` found from construction-like starts.

    ``options`` are those of the config's ``theory.best_known`` (spacings, refine_starts,
    iterations), with the schema's defaults; ``alphas`` defaults to those of ``theory.alphas``.
    Returns the value, whether it is certified as the optimum of its poles (always, for the
    stationary loss), where it came from, and its poles.
    """
    alphas = config.defaults("theory")["alphas"] if alphas is None else alphas
    options = {**config.defaults("theory", "best_known"), **options}
    K = objective.K
    candidates = []
    for alpha in alphas:
        for spacing in options["spacings"]:
            a, _ = theory.construction(S, K, alpha, spacing)
            a = a[inits._construction_order(S)]
            candidates.append((*objective.optimum(a), f"construction alpha={alpha:g} spacing={spacing:g}", a))
    candidates.sort(key=lambda c: c[0])
    best = candidates[0]
    for _, _, source, a in candidates[: options["refine_starts"]]:
        refined = _refine(a, objective, options["iterations"])
        value, certified = objective.optimum(refined)
        if math.isfinite(value) and value < best[0]:
            best = (value, certified, f"{source}, refined by L-BFGS", refined)
    value, certified, source, a = best
    return {"value": value, "certified": certified, "source": source, "poles": [[z.real, z.imag] for z in a]}
