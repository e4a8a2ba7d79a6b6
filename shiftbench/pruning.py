"""What each pole of a layer is worth: exact leave-one-out costs, the k-unit ladder, and the field's
heuristic pruning scores graded against them (docs/pruning.md).

A *unit* is what a diagonal layer can drop: a conjugate pair (a, conj a) with its readouts (b, conj b),
or one real pole. For a target d and AR(1) input with autocorrelation rho:

- ``exact_cost`` of unit u: L*(a without u) - L*(a), L* the stationary optimum of the poles with the
  readout re-optimised (``theory.optimal_loss`` for the shift, ``targets.optimal_loss`` otherwise), no
  feed-through (the study's model);
- ``kept_readout_cost``: loss(a without u, b without u) - loss(a, b), the user's own readout and
  feed-through d kept;
- the field's per-mode scores (``SCORES``): the H-infinity norm of the mode (LAST), its impulse-response
  energy (AIRE-Prune), its share of the Hankel singular values (Hankel-spectrum pruning), each in
  closed form for a single mode.

``ladder`` removes units greedily (backward elimination on the exact L*) and gives the best sublayer of
every size it finds; ``grade`` sets every score against the exact costs (Kendall's tau) and the sublayer
each score keeps (its lowest-scored units dropped) against the greedy one. ``study_table`` does the
same for the learned layers of a block of the study (``shiftbench pruning``, workflow/rules/pruning.smk).
Everything is float64 / complex128, numpy + scipy.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import targets, theory
from .readers import Layer, LayerError, make_layer

log = logging.getLogger("shiftbench")

PAIR_TOL = 1e-9  # a pole and the conjugate of its partner agree to this, relative to max(1, |a|)
EXHAUSTIVE_MAX = 16  # ``exhaustive`` refuses more units (2^16 subsets)


# ----------------------------------------------------------------------------------------------
# Units


def units(a) -> list[tuple[int, ...]]:
    """The units of the poles a, as tuples of indices into a, ordered by their first index: (i, j) for a
    conjugate pair (a_i in the upper half plane, a_j its conjugate), (i,) for a real pole.

    LayerError where a complex pole has no conjugate partner (a layer whose kernel is real pairs them)."""
    a = np.asarray(a, dtype=complex)
    lower = [j for j in range(a.size) if a[j].imag < 0]
    found = []
    for i in range(a.size):
        if a[i].imag == 0:
            found.append((i,))
        elif a[i].imag > 0:
            if not lower:
                raise LayerError(f"pole {i} ({a[i]:.6g}) has no conjugate partner: no unit to drop it with")
            j = min(lower, key=lambda j: abs(a[j] - np.conj(a[i])))
            if abs(a[j] - np.conj(a[i])) > PAIR_TOL * max(1.0, abs(a[i])):
                raise LayerError(f"pole {i} ({a[i]:.6g}) has no conjugate partner: no unit to drop it with")
            lower.remove(j)
            found.append((i, j))
    if lower:
        raise LayerError(f"pole {lower[0]} ({a[lower[0]]:.6g}) has no conjugate partner: no unit to drop it with")
    return found


def _select(unit_list, keep) -> np.ndarray:
    """The pole indices of the units ``keep`` (indices into ``unit_list``), in pole order."""
    return np.array(sorted(i for u in keep for i in unit_list[u]), dtype=int)


# ----------------------------------------------------------------------------------------------
# The objective


def as_target(target, K: int | None = None):
    """A targets.Target; None means the shift delta_K (then K is required)."""
    if target is None:
        if K is None:
            raise ValueError("pruning: give a target or a lag K (the shift)")
        return targets.Shift(K)
    return targets.as_target(target)


def target_label(target) -> str:
    """'shift(K=64)', 'exp(lam=0.9)': the target in a table cell."""
    spec = dict(target.spec)
    name = spec.pop("name")
    return f"{name}({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in spec.items())})"


def optimal_loss(a, target, rho) -> float:
    """L*(a): the stationary optimum of the poles a for the target, readout re-optimised, no feed-through.
    The empty layer scores 1 (the zero filter). ``theory.optimal_loss`` for the shift (it needs non-zero
    poles at rho > 0: otherwise ``targets.optimal_loss``, another route to the same number)."""
    a = np.asarray(a, dtype=complex)
    if a.size == 0:
        return 1.0
    if isinstance(target, targets.Shift) and (rho == 0 or np.all(a != 0)):
        return theory.optimal_loss(a, target.K, rho)
    return targets.optimal_loss(a, target, rho)


def layer_loss(a, b, d: float, target, rho) -> float:
    """The stationary loss of the filter (a, b) with the feed-through d (a pole at 0 with readout d),
    normalised by the target's energy; NaN where float64 cannot evaluate it (a huge readout)."""
    a, b = np.asarray(a, dtype=complex), np.asarray(b, dtype=complex)
    if d != 0:
        a, b = np.append(a, 0.0), np.append(b, d)
    if a.size == 0:
        return 1.0
    try:
        if isinstance(target, targets.Shift):
            return theory.exact_loss(a, b, target.K, rho)
        return targets.loss(a, b, target, rho)
    except FloatingPointError:
        return float("nan")


# ----------------------------------------------------------------------------------------------
# The field's per-mode scores, in closed form for one unit (docs/pruning.md section 2)


def hinf_norm(a, b) -> float:
    """max over w of |sum_s b_s / (1 - a_s e^{-iw})| over the unit's poles: the H-infinity norm of its
    real mode. A real pole: |b| / (1 - |a|). A pair: H(z) = (alpha - beta z)/(1 - 2 Re(a) z + |a|^2 z^2),
    alpha = 2 Re b, beta = 2 Re(b conj a); on the circle |H|^2 = N(x)/D(x) with x = cos w, N linear and D
    quadratic, so the maximum is at x = +-1 or at a root in [-1, 1] of n1 d2 x^2 + 2 n0 d2 x + n0 d1 - n1 d0;
    |H| is evaluated at each candidate from the partial fractions themselves."""
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    if a.size == 1:
        return float(abs(b[0]) / (1 - abs(a[0])))
    p, c = a[0], b[0]
    r, theta = abs(p), np.angle(p)
    alpha, beta = 2 * c.real, 2 * (c * np.conj(p)).real
    n0, n1 = alpha**2 + beta**2, -2 * alpha * beta
    d0 = (1 + r**2) ** 2 - 4 * r**2 * math.sin(theta) ** 2
    d1, d2 = -4 * r * (1 + r**2) * math.cos(theta), 4 * r**2
    coeffs = [n1 * d2, 2 * n0 * d2, n0 * d1 - n1 * d0]
    roots = np.roots(coeffs) if np.any(np.array(coeffs) != 0) else np.array([])
    x = [1.0, -1.0] + [float(z.real) for z in roots if abs(z.imag) <= 1e-12 * max(1.0, abs(z)) and -1 <= z.real <= 1]
    z = np.exp(-1j * np.arccos(np.clip(x, -1, 1)))
    values = np.abs(sum(bs / (1 - s * z) for s, bs in zip(a, b)))
    return float(values.max())


def energy(a, b) -> float:
    """sum_k c_k^2 of the unit's real kernel c_k = sum_s b_s a_s^k (its H2 norm squared): b^2 / (1 - a^2)
    for a real pole; 2 |b|^2 / (1 - |a|^2) + 2 Re(b^2 / (1 - a^2)) for a pair (the kernel 2 Re(b a^k))."""
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    p, c = a[0], b[0]
    if a.size == 1:
        return float(abs(c) ** 2 / (1 - abs(p) ** 2))
    return float(2 * abs(c) ** 2 / (1 - abs(p) ** 2) + 2 * (c**2 / (1 - p**2)).real)


def hankel_nuclear(a, b) -> float:
    """sigma_1 + sigma_2: the sum of the Hankel singular values of the unit's own mode (Hankel operator
    H_ij = c_{i+j}, rank 1 or 2). A real pole: |b| / (1 - a^2). A pair, in the realisation
    A = diag(a, conj a), B = (1, 1), C = (b, conj b): Gramians P_ij = 1/(1 - a_i conj a_j),
    Q_ij = conj(c_i) c_j / (1 - conj(a_i) a_j), sigma^2 the eigenvalues of PQ, so
    sigma_1 + sigma_2 = sqrt(tr PQ + 2 sqrt(det P det Q)) with det Q = |b|^4 det P."""
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    if a.size == 1:
        return float(abs(b[0]) / (1 - abs(a[0]) ** 2))
    p, c = a[:2], b[:2]
    P = 1 / (1 - p[:, None] * np.conj(p)[None, :])
    trace = float(np.real(np.sum(c[:, None] * np.conj(c)[None, :] * P**2)))
    det_P = max(0.0, 1 / (1 - abs(p[0]) ** 2) ** 2 - 1 / abs(1 - p[0] ** 2) ** 2)
    return float(math.sqrt(max(0.0, trace + 2 * abs(c[0]) ** 2 * det_P)))


@dataclass(frozen=True)
class Score:
    """A per-unit heuristic score: its function of (poles, readouts) of one unit, what it is, its source.
    ``share``: the column is the unit's value over the sum over units (same ranking)."""

    function: object
    summary: str
    source: str
    share: bool = False


SCORES = {
    "hinf": Score(hinf_norm, "H-infinity norm of the unit's real mode", "LAST, arXiv 2411.02824"),
    "energy": Score(energy, "impulse-response energy of the unit's real mode", "AIRE-Prune, arXiv 2602.00534"),
    "hankel": Score(
        hankel_nuclear,
        "share of the Hankel singular values: the mode's own sigma_1 + sigma_2 over their sum over units",
        "Hankel-spectrum pruning, arXiv 2510.22951",
        share=True,
    ),
}
KEPT = "kept_readout"  # the kept-readout leave-one-out cost, graded beside the field's scores
GRADED = (*SCORES, KEPT)


def check_scores(names) -> list[str]:
    """The score names, checked (ValueError naming the unknown ones); None: all of ``GRADED``."""
    if names is None:
        return list(GRADED)
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in GRADED]
    if unknown or not names:
        raise ValueError(f"unknown score(s) {unknown or '(none given)'}; known: {', '.join(GRADED)}")
    return names


# ----------------------------------------------------------------------------------------------
# Per-unit table, ladder, grades


def _check_layer(layer: Layer) -> list[tuple[int, ...]]:
    found = units(layer.a)
    if len(found) < 2:
        raise LayerError(f"{layer.source}: the layer has a single unit ({layer.S} pole(s)): nothing to remove")
    return found


def per_pole(layer: Layer, target, rho: float, scores=None) -> pd.DataFrame:
    """One row per unit: its upper-half-plane pole and readout, size (1 or 2), ``exact_cost``,
    ``kept_readout_cost`` and one column per score of ``SCORES`` asked for (``scores``: names, None: all)."""
    names = [n for n in check_scores(scores) if n in SCORES]
    found = _check_layer(layer)
    rho = float(rho)
    a, b = layer.a, layer.b
    full = optimal_loss(a, target, rho)
    own = layer_loss(a, b, layer.d, target, rho)
    rows = []
    for u, idx in enumerate(found):
        rest = _select(found, [v for v in range(len(found)) if v != u])
        i = idx[0]
        row = {"target": target_label(target), "rho": rho, "unit": u, "size": len(idx),
               "a_re": a[i].real, "a_im": a[i].imag, "b_re": b[i].real, "b_im": b[i].imag,
               "exact_cost": optimal_loss(a[rest], target, rho) - full,
               "kept_readout_cost": layer_loss(a[rest], b[rest], layer.d, target, rho) - own}  # fmt: skip
        for n in names:
            row[n] = SCORES[n].function(a[list(idx)], b[list(idx)])
        rows.append(row)
    table = pd.DataFrame(rows)
    for n in names:
        if SCORES[n].share:
            table[n] = table[n] / table[n].sum()
    return table


def ladder(layer: Layer, target, rho: float) -> pd.DataFrame:
    """Greedy backward elimination on the exact L*: from all n units, drop at each step the unit whose
    removal raises L* least. One row per k = n .. 1: k, ``order`` (poles kept), ``units`` kept (space
    separated indices of ``units``), ``loss`` = L* of those poles, readout re-optimised."""
    found = _check_layer(layer)
    rho, a = float(rho), layer.a
    keep = list(range(len(found)))
    rows = [_ladder_row(found, keep, optimal_loss(a, target, rho))]
    while len(keep) > 1:
        trials = [(optimal_loss(a[_select(found, [v for v in keep if v != u])], target, rho), u) for u in keep]
        value, u = min(trials)
        keep.remove(u)
        rows.append(_ladder_row(found, keep, value))
    table = pd.DataFrame(rows[::-1])
    table.insert(0, "rho", rho)
    table.insert(0, "target", target_label(target))
    return table


def _ladder_row(found, keep, loss) -> dict:
    return {"k": len(keep), "order": sum(len(found[u]) for u in keep), "units": " ".join(map(str, keep)),
            "loss": loss}  # fmt: skip


def exhaustive(layer: Layer, target, rho: float, k: int) -> tuple[tuple[int, ...], float]:
    """The best k units by trying every subset (at most ``EXHAUSTIVE_MAX`` units): (units, L*)."""
    found = _check_layer(layer)
    n = len(found)
    if n > EXHAUSTIVE_MAX:
        raise ValueError(f"exhaustive: {n} units > {EXHAUSTIVE_MAX} (2^n subsets)")
    check_k(k, n)
    best = min(
        (optimal_loss(layer.a[_select(found, keep)], target, rho), keep) for keep in itertools.combinations(range(n), k)
    )
    return best[1], best[0]


def parse_k(text) -> int | str:
    """The k of ``--prune`` as an int where it reads as one, else as given (``check_k`` refuses it)."""
    try:
        return int(text)
    except ValueError:
        return text


def check_k(k, n: int) -> int:
    """k as an int in 1 .. n (ValueError otherwise)."""
    if isinstance(k, (bool, str)) or not float(k).is_integer() or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in 1..{n} (the layer's units), got {k!r}")
    return int(k)


def heuristic_losses(layer: Layer, target, rho: float, values) -> np.ndarray:
    """L* of the sublayer that keeps the k highest-valued units (ties: lower unit index first), k = 1 .. n."""
    found = units(layer.a)
    order = sorted(range(len(found)), key=lambda u: (-values[u], u))
    return np.array(
        [optimal_loss(layer.a[_select(found, order[:k])], target, float(rho)) for k in range(1, len(found) + 1)]
    )


TIE = 1e-12  # values closer than this, relative to the largest, are ties (rounding must not rank units)


def tied(values) -> np.ndarray:
    """The values with those within TIE of each other (relative to the largest) made equal: a layer with
    symmetric units (the construction's equal readouts) has scores equal up to rounding, and rounding
    noise must not decide a ranking or Kendall's tau. Values are snapped to a grid of TIE * max|value|."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    if scale == 0:
        return values
    step = TIE * scale
    return np.where(np.isfinite(values), np.round(values / step) * step, values)


def grade(layer: Layer, target, rho: float, table: pd.DataFrame, steps: pd.DataFrame, scores=None):
    """(ladder with a ``loss_<score>`` column per score, grades): one row per score with Kendall's tau-b
    against ``exact_cost`` and its p-value (both columns ``tied`` first; NaN where one is constant), and
    the excess of its sublayers' L* over the greedy ones (mean and max over k < n, and the number of k
    where it does better than greedy)."""
    from scipy.stats import kendalltau

    names = check_scores(scores)
    steps = steps.copy()
    rows = []
    for n in names:
        values = tied(table["kept_readout_cost" if n == KEPT else n].to_numpy())  # high: keep; low: drop first
        losses = heuristic_losses(layer, target, rho, np.nan_to_num(values, nan=-np.inf))
        steps[f"loss_{n}"] = losses
        excess = (losses - steps["loss"].to_numpy())[:-1]  # k = n keeps everything: no choice
        tau, p = kendalltau(values, tied(table["exact_cost"].to_numpy()))
        rows.append({"target": target_label(target), "rho": float(rho), "score": n, "kendall_tau": tau,
                     "p_value": p, "mean_excess": float(np.mean(excess)) if excess.size else 0.0,
                     "max_excess": float(np.max(excess)) if excess.size else 0.0,
                     "k_better_than_greedy": int(np.sum(excess < -1e-12))})  # fmt: skip
    return steps, pd.DataFrame(rows)


@dataclass
class Analysis:
    """Everything ``analyse`` computes for one layer, target and rho."""

    per_pole: pd.DataFrame
    ladder: pd.DataFrame  # greedy, with loss_<score> columns, reference and lower_bound where defined
    grades: pd.DataFrame
    target: targets.Target
    rho: float


def analyse(layer: Layer, target, rho: float, scores=None, references: bool = True) -> Analysis:
    """Per-unit table, greedy ladder (with every score's sublayer) and grades of one layer. ``target``:
    a targets.Target or spec dict. ``references``: add the family's committed reference (shift only)
    and the rigorous lower bound at each order to the ladder."""
    target = as_target(target)
    names = check_scores(scores)
    table = per_pole(layer, target, rho, names)
    steps, grades = grade(layer, target, rho, table, ladder(layer, target, rho), names)
    if references:
        steps["reference"] = [family_reference(layer.family, int(S), target, rho) for S in steps["order"]]
        steps["lower_bound"] = [
            theory.lower_bound(int(S), target.K, rho) if isinstance(target, targets.Shift) else np.nan
            for S in steps["order"]
        ]
    return Analysis(table, steps, grades, target, float(rho))


def family_reference(family: str, S: int, target, rho: float) -> float:
    """The committed reference of the family at order S (shift, exact objective), NaN where none."""
    from . import reference
    from .layout import FAMILIES
    from .objectives import STATIONARY

    if not isinstance(target, targets.Shift) or family not in FAMILIES:
        return float("nan")
    found = reference.lookup(S, target.K, rho, STATIONARY, family)
    return float("nan") if found is None else float(found["value"])


# ----------------------------------------------------------------------------------------------
# The figure


def plot_ladder(analyses: list[Analysis], layer: Layer, path) -> None:
    """One column per (target, rho). Top: L* of the greedy sublayer of k units against k, each score's
    sublayer, the family's reference and the lower bound at the same order where defined, and the layer
    as it is (own readout and feed-through) at k = n. Bottom: each score's excess over greedy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .storage import atomic_path

    n = len(analyses)
    fig, axes = plt.subplots(2, n, figsize=(5.5 * n, 6.5), squeeze=False, sharex="col",
                             gridspec_kw={"height_ratios": [3, 2]})  # fmt: skip
    for col, an in enumerate(analyses):
        top, bottom = axes[0, col], axes[1, col]
        steps = an.ladder
        k = steps["k"].to_numpy()
        top.plot(k, steps["loss"], "k-", lw=2, label="greedy, exact L* (readout re-fit)")
        for i, name in enumerate(c[5:] for c in steps if c.startswith("loss_")):
            style = {"color": f"C{i}", "ls": ("-", "--", "-.", ":")[i % 4], "lw": 1.2, "marker": "o."[i % 2], "ms": 3}
            top.plot(k, steps[f"loss_{name}"], **style, label=f"keep the top-{name} units")
            bottom.plot(k, steps[f"loss_{name}"] - steps["loss"], **style, label=name)
        if "reference" in steps and steps["reference"].notna().any():
            top.plot(k, steps["reference"], "ks", mfc="none", label=f"{layer.family} reference, same order")
        if "lower_bound" in steps and steps["lower_bound"].notna().any():
            top.plot(k, steps["lower_bound"], "k:", lw=1, label="lower bound, same order")
        own = layer_loss(layer.a, layer.b, layer.d, an.target, an.rho)
        low = float(np.nanmin(steps["loss"]))
        if np.isfinite(own) and own <= 1.05:
            top.plot([k.max()], [own], "r*", ms=10, label="the layer as it is")
            low = min(low, own)
        top.set_ylim(max(0.0, low - 0.1 * (1.02 - low)), 1.02)
        top.set_title(f"{target_label(an.target)}, rho = {an.rho:g}, S = {layer.S} ({k.max()} units)", fontsize=10)
        top.set_ylabel("L* of the sublayer")
        bottom.axhline(0, color="k", lw=1)
        bottom.set_ylabel("excess over greedy")
        bottom.set_xlabel("units kept k")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    suffix = str(path).rsplit(".", 1)[-1] if "." in str(path) else "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format=suffix)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# The command line: shiftbench evaluate LAYER --per-pole ... --ladder ... --ladder-plot ... --grades ...


def sublayer(layer: Layer, target, rho: float, keep) -> Layer:
    """The layer of the units ``keep`` (indices of ``units``) with the readout re-optimised for the target
    and rho (``theory.optimal_readout`` for the shift, ``targets.optimal_readout`` otherwise) and no
    feed-through: what the ladder's L* is the loss of. FloatingPointError where b* overflows float64."""
    found = units(layer.a)
    a = layer.a[_select(found, keep)]
    if isinstance(target, targets.Shift):
        b = theory.optimal_readout(a, target.K, float(rho))
    else:
        b = targets.optimal_readout(a, target, float(rho))
    return make_layer(a, b, 0.0, source=f"{layer.source}, units {' '.join(map(str, keep))}")


def write_layer(layer: Layer, path) -> None:
    """The layer as an npz file that ``shiftbench evaluate`` reads (a, b, d), written atomically."""
    from .storage import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, a=layer.a, b=layer.b, d=layer.d)


@dataclass
class Request:
    """What ``shiftbench evaluate`` asks of this module, checked before anything is written."""

    layer: Layer
    cells: list  # (target, rho)
    scores: list
    per_pole: str | None = None
    ladder: str | None = None
    ladder_plot: str | None = None
    grades: str | None = None
    prune: tuple | None = None  # (k, path): the greedy sublayer of k units, readout re-fit, as npz

    def run(self) -> list[Analysis]:
        """Compute everything, then write: a failure leaves none of this request's files behind."""
        from .storage import atomic_path

        analyses = [analyse(self.layer, t, rho, self.scores) for t, rho in self.cells]
        pruned = None
        if self.prune is not None:
            (target, rho), steps = self.cells[0], analyses[0].ladder
            keep = [int(u) for u in steps.loc[steps["k"] == self.prune[0], "units"].iloc[0].split()]
            pruned = sublayer(self.layer, target, rho, keep)
        for path, part in ((self.per_pole, "per_pole"), (self.ladder, "ladder"), (self.grades, "grades")):
            if path is not None:
                with atomic_path(path) as tmp:
                    pd.concat([getattr(an, part) for an in analyses]).to_csv(tmp, index=False, float_format="%.17g")
        if pruned is not None:
            write_layer(pruned, self.prune[1])
        if self.ladder_plot is not None:
            plot_ladder(analyses, self.layer, self.ladder_plot)
        return analyses


def request(path, fmt, channel, cells, scores=None, per_pole=None, ladder=None, ladder_plot=None, grades=None,
            prune=None):  # fmt: skip
    """Read and check the layer and the options (LayerError / ValueError: nothing is written). ``prune``:
    (k, path), k in 1 .. the layer's units, with exactly one (target, rho) cell."""
    from .readers import read_layer

    scores = check_scores(scores)
    cells = list(cells)
    if prune is not None and len(cells) != 1:
        raise ValueError(f"--prune writes the sublayer of one lag and one rho; got {len(cells)} (K, rho) cells")
    layer = read_layer(path, fmt, channel)
    found = _check_layer(layer)
    if prune is not None:
        prune = (check_k(prune[0], len(found)), prune[1])
    return Request(layer, cells, scores, per_pole, ladder, ladder_plot, grades, prune)


def show(analyses: list[Analysis]) -> str:
    """The per-unit tables and the grades, as printed by ``shiftbench evaluate``."""
    fmt = lambda x: f"{x:.6g}"  # noqa: E731
    parts = []
    for an in analyses:
        parts.append(an.per_pole.to_string(index=False, float_format=fmt))
        parts.append(an.grades.drop(columns=["target", "rho"]).to_string(index=False, float_format=fmt))
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------------------------
# The study: the learned layers of one block (shiftbench pruning, workflow/rules/pruning.smk)

KEYS = ["block", "objective", "method", "variant"]  # the table's key, with "target" and "score"


def _run_target(run):
    """The target a run was trained on: its ``target_spec`` (a targets spec) where the run carries one,
    else the shift at the run's K."""
    spec = run.get("target_spec")
    if isinstance(spec, dict):
        return targets.as_target(spec)
    return targets.Shift(int(run["K"]))


def _run_target_id(run) -> str:
    """The run's target id (the config's name for it) where runs carry one, else the target's name."""
    return run["target"] if isinstance(run.get("target"), str) else _run_target(run).name


def run_grades(run, scores=None) -> pd.DataFrame:
    """The grades of one learned run's layer (its learned poles and readout, no feed-through), on the
    stationary objective of its own target and rho."""
    a = np.array([complex(re, im) for re, im in run["learned_poles"]])
    b = np.array([complex(re, im) for re, im in run["learned_readout"]])
    layer = make_layer(a, b, 0.0, source=f"run {run.get('variant')} S={run['S']} K={run['K']}")
    return analyse(layer, _run_target(run), float(run["rho"]), scores, references=False).grades


def study_table(run_files, block: str, scores=None) -> pd.DataFrame:
    """Mean Kendall tau and excess loss per score over the ok runs of ``block`` (every cell, lr and seed),
    per (block, objective, method, variant, target, score). ``target``: the run's own target id where
    runs carry one (graded on its ``target_spec``), else "shift" (graded on the shift at the run's K). n_runs,
    n_cells ((S, K, rho) cells), n_tau (runs where tau is defined)."""
    from .storage import read_json

    rows = []
    for path in sorted(map(str, run_files)):
        for run in read_json(path)["runs"]:
            if run.get("block") != block or run.get("status") != "ok" or not run.get("learned_poles"):
                continue
            if len(units(np.array([complex(re, im) for re, im in run["learned_poles"]]))) < 2:
                continue
            try:
                g = run_grades(run, scores)
            except (LayerError, FloatingPointError) as err:  # a layer float64 cannot grade: said, not hidden
                log.warning("pruning: run %s/%s S=%s K=%s lr=%s seed=%s left out: %s", run["method"], run["variant"],
                            run["S"], run["K"], run.get("lr"), run.get("seed"), err)  # fmt: skip
                continue
            for key in KEYS:
                g[key] = run[key]
            g["target"] = _run_target_id(run)
            g["cell"] = f"S{run['S']}/K{run['K']}/rho{run['rho']}"
            rows.append(g)
    columns = [*KEYS, "target", "score", "n_runs", "n_cells", "n_tau", "mean_tau", "mean_excess", "max_excess"]
    if not rows:
        return pd.DataFrame(columns=columns)
    runs = pd.concat(rows, ignore_index=True)
    grouped = runs.groupby([*KEYS, "target", "score"], sort=True)
    table = grouped.agg(n_runs=("kendall_tau", "size"), n_cells=("cell", "nunique"), n_tau=("kendall_tau", "count"),
                        mean_tau=("kendall_tau", "mean"), mean_excess=("mean_excess", "mean"),
                        max_excess=("max_excess", "max")).reset_index()  # fmt: skip
    return table[columns]


def study_job(run_files, options: dict, out) -> pd.DataFrame:
    """``shiftbench pruning``: the study table of ``options["block"]`` written (atomically) to ``out``."""
    from .storage import atomic_path

    table = study_table(run_files, options["block"], options.get("scores"))
    log.info("pruning: %d rows from %d run files of block %s", len(table), len(run_files), options["block"])
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.17g")
    return table


def parse_options(text: str) -> dict:
    options = json.loads(text)
    if not isinstance(options, dict) or not options.get("block"):
        raise ValueError(f"pruning options must be a JSON object with a block, got {text!r}")
    check_scores(options.get("scores"))
    return options
