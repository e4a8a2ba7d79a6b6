"""The reference of each cell: an independent global search over poles, frozen as data (docs/theory.md section 9).

Every verdict of the study compares a learned filter with a reference of the objective it was trained
on. A reference is never made by what it judges: this module imports the theory, the signals and the
objectives, never ``model``, ``projection`` or ``train``, and no learned run ever changes its value.
A run that beats it is flagged (``beats_reference``), and the fix is a stronger search here.

**The search.** Multi-start L-BFGS-B (scipy) on the optimal loss of the poles, L*(a) = min_b L(a, b),
for the objective of the cell:

- the value is the objective's own optimum for fixed poles (``objectives.Stationary.optimum``: the
  O(S K) orthonormal-basis route; ``objectives.Window.optimum``: the window's readout and its loss);
- the gradient is the envelope theorem's: that of L(a, b) at b = b*(a) held fixed, by torch
  autograd of the closed-form quadratic (stationary) or of the window loss of the kernel (a window);
- the variables are the log-decays nu = log(-log|a|) and the phases in units of pi/K, so one unit
  is one spacing of the construction; bounds keep every decay in [1e-3/K, 30];
- the starts are the construction family (every alpha of ``alphas`` times every phase spacing: the
  ``spacings`` in units of pi/K and the ``circle_fractions`` of the spacing 2K/S that fills the
  circle; the best ``construction_starts`` of them by their optimum) and ``random_starts`` seeded random starts:
  phases uniform on (0, pi) and decay rates log-uniform in [0.25/K, 8/K] (the lag's time scale).
  Their random stream is this module's own (seeded by ``seed`` and the cell), never an init's. For
  a window, the committed stationary reference of the same cell (if any) is one more start;
- then ``hops`` rounds of monotonic basin hopping (scipy's ``basinhopping``) from the best end:
  every variable perturbed uniformly by up to ``hop_size`` (phases in units of pi/K, log-decays),
  minimised again, kept if lower.

The result records the value, the poles (and, for a window, the readout: the value is then the
window loss of that explicit filter), the method and its options, the number of starts, the basin
count (starts that ended within ``BASIN_TOL`` of the best), the gradient norm at the best, and the
gap to the rigorous lower bound. ``verify`` recomputes the value from the stored poles (O(S K)).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from importlib import resources
from pathlib import Path, PurePath

import numpy as np
import scipy.optimize

from . import config, formulas, inits, objectives, precise, targets, theory
from .layout import FAMILIES, Layout
from .signals import as_signal

METHOD = "multi-start L-BFGS-B on L*(a), envelope gradient (shiftbench.reference)"
BASIN_TOL = 1e-6  # starts ending within this of the best count as the same basin
VERIFY_TOL = 1e-9  # a stored value must equal its recomputation from the stored poles to this
COMMITTED = "references"  # package folder of the committed references (shiftbench/references/)
WINDOW_RULE = "infimum over readouts"  # a window reference's value (docs/theory.md section 4)
NO_BOUND = ("no rigorous lower bound is known for this target: the bound of docs/theory.md section 5 rests on "
            "the shift's all-pass structure (docs/targets.md)")  # fmt: skip
CERTIFY_TOL = precise.TOLERANCE  # certified: extended precision confirms the stored value to this
CERTIFY_DPS = ((precise.DPS, precise.CHECK_DPS), (2 * precise.DPS, 2 * precise.CHECK_DPS))  # tried in turn


class InvalidReference(ValueError):
    """A stored reference whose value does not match its own poles, or that is not for its cell."""


# -- the cell and its objective -------------------------------------------------------------------


def cell_key(objective: str, rho: float, S: int, K: int, window=None, family: str = "complex") -> str:
    """The file stem of a reference: family, objective, rho, S, K and, for the sampled objective, its window."""
    key = f"{family}_{objective}_rho{config.float_label(rho)}_S{S}_K{K}"
    if objective == "sampled":
        key += f"_n{window['burn_in'] + K + window['t_eval']}_t{window['t_eval']}"
    return key


def population(objective: str, K, rho: float, window=None):
    """The population loss of a config objective for the shift at lag K, or for a target (``K`` a
    ``targets.Target``); ``window`` = {"t_eval", "burn_in"} for ``sampled``."""
    if objective == "sampled":
        return objectives.population(objective, K, rho, window["t_eval"], window["burn_in"])
    return objectives.population(objective, K, rho, 1, 0)


# -- extended precision: the value that holds, and the certificate ------------------------------------


def precise_optimum(objective: str, a, repeated: str, K: int, rho: float, window=None, dps: int = precise.DPS):
    """The optimum of the poles ``a`` (repeated poles ``merge``d or as ``jordan`` chains) for the objective
    of the cell, at ``dps`` digits (``shiftbench.precise``): an mpf; PrecisionError where ``dps`` does not
    resolve the span. A window's: the infimum over readouts for d = e_K on its n = burn_in + K + t_eval lags."""
    if objective == "sampled":
        n = window["burn_in"] + K + window["t_eval"]
        return precise.window_infimum_mp(a, precise.shift(K, n), rho, window["t_eval"], dps, repeated)
    return precise.stationary_shift_optimum_mp(a, K, rho, dps, repeated)


def certification(objective: str, a, repeated: str, K: int, rho: float, window, value: float, kernel=None):
    """(value, certified, certificate) of a reference at poles ``a`` whose float64 value is ``value``.

    Certified only where extended precision confirms it: the optimum of the poles computed at two
    precisions (``CERTIFY_DPS``, the higher pair where the first does not resolve the span) agrees to
    ``CERTIFY_TOL``; the value is then the extended-precision one (float64 may be off by 1e-4 and more at
    crowded poles on a short window, and below the optimum). Affordable for S <= ``precise.MAX_S`` and the
    shift; elsewhere the float64 value, not certified, and the certificate says why."""
    S = len(a)
    if kernel is not None:
        return value, False, "not certified: no extended-precision route for a memory kernel other than the shift"
    if S > precise.MAX_S:
        return value, False, (f"not certified: S = {S} > {precise.MAX_S}, extended precision is not affordable "
                              "(float64 value)")  # fmt: skip
    for dps in CERTIFY_DPS:
        try:
            cert = precise.certify(lambda p: precise_optimum(objective, a, repeated, K, rho, window, p), dps)
        except ValueError as err:  # poles the extended-precision route does not take
            return value, False, f"not certified: extended precision cannot evaluate these poles ({err})"
        if cert.holds(CERTIFY_TOL):
            return cert.value, True, (f"{cert.describe()} (tolerance {CERTIFY_TOL:g}; float64 gave {value!r})")
    return value, False, f"not certified: {cert.describe()}, not within {CERTIFY_TOL:g} (float64 value)"


# -- poles <-> search variables ---------------------------------------------------------------------


def _poles_torch(x, pairs: int, signs, K: int):
    """(a, log a) of the poles [p, conj p, r] from x = (nu of the pairs, K theta / pi of the pairs, nu of
    the real poles), by the exp-exp map (``formulas.exp_exp_log``); a negative real pole has phase pi."""
    import torch  # here, not at the top: reading and verifying references needs no torch

    log_p = formulas.exp_exp_log(x[:pairs], x[pairs : 2 * pairs] * math.pi / K)  # (pairs,)
    log_r = formulas.exp_exp_log(x[2 * pairs :])  # log|r|, (n_real,)
    p, r = torch.exp(log_p), (signs * torch.exp(log_r)).to(log_p.dtype)
    log_a = torch.cat([log_p, log_p.conj(), torch.complex(log_r, math.pi * (signs < 0).to(log_r.dtype))])
    return torch.cat([p, p.conj(), r]), log_a  # (S,), (S,)


def to_variables(a, pairs: int, K: int):
    """(x, signs) of poles a in the layout [p, conj p, r] (the inverse of ``_poles_torch``)."""
    p, r = a[:pairs], a[2 * pairs :].real
    x = formulas.exp_exp_params(p, r)
    x[pairs : 2 * pairs] *= K / math.pi
    return x, np.where(r < 0, -1.0, 1.0)


def _bounds(pairs: int, n_real: int, K: int):
    nu = (math.log(1e-3 / K), math.log(30.0))
    return [nu] * pairs + [(None, None)] * pairs + [nu] * n_real


def _window_loss_torch(log_a, b, window: objectives.Window):
    """The window loss of the kernel of (a, b), a = exp(log_a) (docs/theory.md section 4: the
    formulas of theory.finite_window_loss), differentiable in log_a."""
    import torch  # here, not at the top: reading and verifying references needs no torch

    n = window.length
    e = formulas.split_power_kernel(log_a, b, n).real - torch.from_numpy(window.d)  # (n,) error kernel
    gamma = as_signal(window.rho).autocovariance(np.arange(n))
    gamma_f, omega = (torch.from_numpy(t) for t in formulas.window_terms(gamma, window.t_eval))
    return formulas.window_loss(e, gamma_f, omega) / window.energy


class PolesObjective:
    """x -> (L*(a(x)), grad): the objective's optimum for the poles, with the envelope gradient."""

    def __init__(self, objective, pairs: int, signs, K: int):
        import torch

        self.objective, self.pairs, self.signs, self.K = objective, pairs, torch.from_numpy(signs), K
        self.evaluations, self.best = 0, (math.inf, None)  # the best point seen: what the search keeps

    def poles(self, x) -> np.ndarray:
        import torch

        return _poles_torch(torch.from_numpy(np.asarray(x, float)), self.pairs, self.signs, self.K)[0].numpy()

    def __call__(self, x):
        import torch

        self.evaluations += 1
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        a_t, log_a = _poles_torch(xt, self.pairs, self.signs, self.K)
        a = a_t.detach().numpy()
        try:
            value, b = self.objective.optimum_and_readout(a)  # one solve (a window: one eigendecomposition)
            b = torch.from_numpy(b)
        except (FloatingPointError, ValueError):
            return 2.0, np.zeros_like(x)  # float64 cannot evaluate these poles: a wall for the line search
        if isinstance(self.objective, objectives.Window):
            loss = _window_loss_torch(log_a, b, self.objective)
        else:
            loss = self.objective.differentiable(a_t, b)
        loss.backward()
        grad = xt.grad.numpy()
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            return 2.0, np.zeros_like(x)
        if value < self.best[0]:
            self.best = (value, np.array(x, dtype=float))
        return value, grad


# -- starts -----------------------------------------------------------------------------------------


def construction_spacings(S: int, K: int, spacings, circle_fractions) -> list[float]:
    """Phase spacings in units of pi/K: ``spacings`` as given, and each of ``circle_fractions`` of the
    spacing 2K/S at which the S phases fill the whole circle (the better start where S is close to K).

    Exactly 2K/S is a poor start where S divides K: every a_s^K is then the same number, so the span
    of the kernels a_s^k cannot hold a delay by K. The default fractions stop just short of it.
    """
    return sorted({*map(float, spacings), *(float(f) * 2 * K / S for f in circle_fractions)})


def construction_starts(S: int, K: int, alphas, spacings, pairs: int):
    """(label, poles) of the construction for every (alpha, spacing), in the layout [p, conj p, r]."""
    for alpha in alphas:
        for spacing in spacings:
            a = theory.construction(S, K, alpha, spacing)[0][inits.construction_order(S)]
            if pairs == 0:  # real family: the moduli of the construction, as real positive poles
                a = np.abs(a).astype(complex)
            yield f"construction alpha={alpha:g} spacing={spacing:g}", a


def window_grid_start(S: int, K: int, alphas, length: int, pairs: int, target):
    """(label, poles) of the construction whose phases are spaced 2 pi / (length - K), the lags a window of
    ``length`` steps holds beyond K (the grid of its scored stretch: t_eval at no burn-in), at the alpha of
    ``alphas`` with the lowest optimum; None where no alpha can be evaluated. A window's optimum can sit at
    almost undamped poles on this grid, far from every construction spacing by its starting value: complex,
    rho = 0, S = 16, K = 128, t_eval = 64 (spacing 4 pi/K) ends at 0.8800594 from it, 0.8817524 from the
    best construction starts (0.8807967 by an independent multi-start). docs/theory.md section 9."""
    spacing = 2 * K / (length - K)  # in units of pi/K
    scored = []
    for label, a in construction_starts(S, K, alphas, [spacing], pairs):
        try:
            scored.append((target.optimum(a)[0], f"window grid: {label}", a))
        except (FloatingPointError, ValueError):
            continue
    return min(scored, key=lambda s: s[0])[1:] if scored else None


def random_starts(S: int, K: int, n: int, seed: int, layout: Layout, rho: float):
    """(label, poles) of ``n`` seeded random starts: phases U(0, Theta) in a band Theta log-uniform on
    [min(pi, pi S / 2K), min(pi, 2 pi S / K)] (around the band of the construction's phases: at K >> S
    phases spread over (0, pi) start in poor basins), decay rates log-U[0.25/K, 8/K],
    and random signs of the real poles where the family allows either sign (``Layout.positive``).

    The stream is this module's own: numpy's SeedSequence of (seed, S, K, rho's bits, a fixed tag),
    so no start coincides with an init of the study.
    """
    tag = int.from_bytes(b"reference", "big") % 2**32
    rng = np.random.default_rng([seed, S, K, int(np.float64(rho).view(np.int64)) % 2**32, tag])
    pairs, n_real = layout.n_pairs, layout.n_real
    for i in range(n):
        decay = np.exp(rng.uniform(np.log(0.25 / K), np.log(8.0 / K), size=pairs + n_real))
        band = np.exp(rng.uniform(np.log(min(np.pi, np.pi * S / (2 * K))), np.log(min(np.pi, 2 * np.pi * S / K))))
        phase = rng.uniform(0, band, size=pairs)
        p = np.exp(-decay[:pairs] + 1j * phase)
        r = np.exp(-decay[pairs:]) * (1 if layout.positive else np.where(rng.uniform(size=n_real) < 0.5, -1, 1))
        yield f"random {i} (seed {seed})", np.concatenate([p, p.conj(), r])


def coinciding(a, tol: float = 1e-9) -> list[int]:
    """The sizes of the groups of poles that coincide (within ``tol``, ``formulas.distinct``), largest
    first; [] if none do."""
    counts = np.bincount(formulas.distinct(a, tol)[1])
    return sorted((int(c) for c in counts if c > 1), reverse=True)


def ladder_starts(S: int, K: int):
    """(label, poles) of the real family: S real positive poles with decay rates geometric between c/K
    and 8/K, for c in 0.05, 0.25 and 1 (a ladder of time scales around the lag)."""
    for c in (0.05, 0.25, 1.0):
        yield f"ladder {c:g}/K..8/K", np.exp(-np.geomspace(c / K, 8.0 / K, S)).astype(complex)


TIE = 1e-12  # values closer than this are one value (rounding of L* is ~1e-15 here)
SEPARATION = 1e-6  # clusters closer than this are one cluster
CLUSTER_CENTRES = 3  # local minima of the one-pole scan that the m-cluster searches start around


def cluster_search(S: int, K: int, rho: float, sizes, window: objectives.Window | None = None, kernel=None) -> dict:
    """The real family's limit at coinciding poles: m distinct real poles, each repeated S/m times
    (sizes as even as S allows), for each m of ``sizes``, scored by ``theory.optimal_loss`` with
    ``repeated="jordan"`` (the span of k^j p^k that a Jordan chain reaches and a diagonal layer only
    approaches). A grid scan of one common pole gives the ``CLUSTER_CENTRES`` best local minima; each m
    runs L-BFGS-B over its m poles (finite-difference gradient; m is small) from a narrow and a wide
    spread around each centre. Fewer clusters win ties: more clusters must be lower
    by more than ``TIE`` (m clusters that merge onto one pole reach the m = 1 value up to rounding).
    For a window with S <= ``precise.MAX_S`` the ends are ranked, and the value given, in extended
    precision (``_precise_ranking``): float64 cannot resolve the Jordan span of slow crowded clusters on a
    short window. The result's ``float64`` is the float64 value of its poles. ``kernel``: a target other
    than the shift (``targets.Target``, K its lag scale), scored by ``targets.optimum(..., repeated="jordan")``
    or the window infimum of its kernel over the Jordan span."""

    def poles(p, m):
        counts = np.full(m, S // m) + (np.arange(m) < S % m)
        return np.repeat(np.asarray(p, float), counts).astype(complex)

    def loss(p, m):
        try:
            if window is not None:  # the window's infimum over the Jordan span
                return theory.window_jordan_infimum(poles(p, m), window.d, rho, window.length, window.t_eval)
            if kernel is not None:
                return targets.optimum(poles(p, m), kernel, rho, repeated="jordan").loss
            return theory.optimal_loss(poles(p, m), K, rho, repeated="jordan")
        except (FloatingPointError, ValueError):
            return 2.0

    grid = 1 - np.geomspace(1e-3 / K, 1.0, 1000)  # poles near 1 where the lag's time scale lives: L(p) has
    # narrow minima between the zeros of the Laguerre-like functions at lag K; 1000 points resolve them
    scan = np.array([loss([p], 1) for p in grid])
    interior = (scan[1:-1] <= scan[:-2]) & (scan[1:-1] <= scan[2:])
    minima = np.flatnonzero(np.concatenate([[scan[0] <= scan[1]], interior, [scan[-1] <= scan[-2]]]))
    centres = grid[minima[np.argsort(scan[minima])][:CLUSTER_CENTRES]]  # the best local minima of one pole
    candidates = []  # (m, value, poles) of every end, m ascending
    for m in sorted(m for m in sizes if m <= S):
        for p0, spread in itertools.product(centres, (0.1, 0.5)):
            x0 = p0 * (1 - spread * (1 - p0) * np.linspace(-1, 1, m))  # m poles spread around the centre
            res = scipy.optimize.minimize(loss, x0, args=(m,), method="L-BFGS-B",
                                          bounds=[(1e-6, 1 - 1e-4 / K)] * m)  # the family's positive poles  # fmt: skip
            p = min((res.x, x0), key=lambda x: loss(x, m))  # a failed line search may end above its start
            p = np.sort(p)[::-1]  # the larger clusters (when m does not divide S) to the slower poles
            if m > 1 and np.min(-np.diff(p)) < SEPARATION:
                continue  # clusters that merge are the m - 1 case, and their Jordan value is ill-conditioned
            value = loss(p, m)  # scored as stored: the value of these very poles
            candidates.append((m, value, poles(p, m), value))
    if window is not None and S <= precise.MAX_S and kernel is None:
        candidates = _precise_ranking(candidates, K, rho, window)
    best = {"value": math.inf}
    for m, value, a, float64 in candidates:
        if value < best["value"] - TIE:
            best = {"value": value, "poles": a, "repeated": "jordan", "start": f"{m} coinciding cluster(s)",
                    "float64": float64}  # fmt: skip
    return best


PRECISE_FINALISTS = 2  # window cluster ends per m re-scored in extended precision (the best by float64)


def _precise_ranking(candidates, K: int, rho: float, window: objectives.Window):
    """The window cluster ends re-scored in extended precision (``precise_optimum``), the best
    ``PRECISE_FINALISTS`` of each m by float64. On a short window the Jordan span of slow crowded clusters
    has directions float64 cannot resolve (singular values below 1e-13 of the largest): its least squares
    fits rounding noise and lands up to 1e-4 below the optimum of the poles, so it cannot rank them."""
    spec = {"t_eval": window.t_eval, "burn_in": window.length - K - window.t_eval}
    out = []
    for m in sorted({c[0] for c in candidates}):
        for _, value, a, _ in sorted((c for c in candidates if c[0] == m), key=lambda c: c[1])[:PRECISE_FINALISTS]:
            try:
                out.append((m, float(precise_optimum("sampled", a, "jordan", K, rho, spec)), a, value))
            except precise.PrecisionError:
                continue
    return out


# -- relocation moves: carry pairs of poles across the circle --------------------------------------


def removal_costs(target, a, pairs: int) -> np.ndarray:
    """L*(a without pair j) for every pair j of the complex layout [p, conj p, r]."""
    p, r = a[:pairs], a[2 * pairs :]
    costs = []
    for j in range(pairs):
        q = np.delete(p, j)
        try:
            costs.append(target.optimum(np.concatenate([q, q.conj(), r]))[0])
        except (FloatingPointError, ValueError):
            costs.append(math.inf)
    return np.array(costs)


def insertion_grid(a, pairs: int, K: int) -> np.ndarray:
    """Candidate pair poles: min(K, 8 ``pairs``) phases evenly over (0, pi) (at most 8 per pair, and no
    finer than the lag's own spacing pi/K) at five moduli, the 10%, 30%, .., 90% quantiles of the
    current poles' moduli (where the poles of this cell live)."""
    radii = np.quantile(np.abs(a[:pairs]), [0.1, 0.3, 0.5, 0.7, 0.9])
    n = min(K, 8 * pairs)
    phases = np.pi * (np.arange(n) + 0.5) / n
    return (radii[:, None] * np.exp(1j * phases[None, :])).ravel()


def relocate(target, a, pairs: int, m: int, K: int) -> np.ndarray:
    """Poles a with the m pairs whose removal raises L* least taken out and m pairs put back one by one,
    each where the grid (``insertion_grid``) lowers L* most: a move across the circle, not a step."""
    p, r = a[:pairs], a[2 * pairs :]
    grid = insertion_grid(a, pairs, K)
    q = np.delete(p, np.argsort(removal_costs(target, a, pairs))[:m])
    for _ in range(m):
        values = []
        for z in grid:
            trial = np.append(q, z)
            try:
                values.append(target.optimum(np.concatenate([trial, trial.conj(), r]))[0])
            except (FloatingPointError, ValueError):
                values.append(math.inf)
        q = np.append(q, grid[int(np.argmin(values))])
    return np.concatenate([q, q.conj(), r])


def relocation_rounds(f: PolesObjective, target, rounds: int, relax: int, local: dict) -> int:
    """``rounds`` relocation moves of m = 1, 2, 4, 8 pairs in turn from the best point of ``f``, each
    relaxed by ``relax`` L-BFGS-B iterations and kept if L* is then lower (``f.best`` keeps the best
    point seen, so a rejected move changes nothing). Returns the number of moves kept."""
    kept = 0
    for i in range(rounds):
        value, x = f.best
        moved = relocate(target, f.poles(x), f.pairs, min(2 ** (i % 4), f.pairs), f.K)
        x_new, _ = to_variables(moved, f.pairs, f.K)
        scipy.optimize.minimize(f, x_new, **{**local, "options": {**local["options"], "maxiter": relax}})
        kept += f.best[0] < value
    return kept


# -- the search -------------------------------------------------------------------------------------


def search(objective: str, S: int, K: int, rho: float, window=None, family: str = "complex", kernel=None,
           **options) -> dict:  # fmt: skip
    """The reference of one cell: the best L*(a) over every start, each refined by L-BFGS-B.

    ``options`` are those of the config's ``theory.reference`` (the schema's defaults fill the rest);
    ``window`` ({"t_eval", "burn_in"}) is the sampled objective's. ``kernel``: a memory kernel other
    than the shift (``targets.Target``; either objective), with K its lag scale (``targets.scale``);
    its reference has no rigorous bound (NaN, ``bound_note`` says why).
    """
    options = {**config.defaults("theory", "reference"), **options}
    started = time.perf_counter()
    target = population(objective, K if kernel is None else kernel, rho, window)
    layout = Layout.of(family, S)
    pairs, n_real = layout.n_pairs, layout.n_real
    scored = []
    spacings = construction_spacings(S, K, options["spacings"], options["circle_fractions"])
    family_starts = construction_starts(S, K, options["alphas"], spacings, pairs) if pairs else ladder_starts(S, K)
    for label, a in family_starts:
        try:
            scored.append((target.optimum(a)[0], label, a))
        except (FloatingPointError, ValueError):
            continue
    scored.sort(key=lambda s: s[0])
    starts = [(label, a) for _, label, a in scored[: options["construction_starts"]]]
    if isinstance(target, objectives.Window) and pairs:  # the window's own phase grid, always refined
        grid = window_grid_start(S, K, options["alphas"], target.length, pairs, target)
        if grid is not None and not any(np.array_equal(grid[1], a) for _, a in starts):
            starts.append(grid)
    stationary = lookup(S, K, rho, "exact", family) if objective == "sampled" else None
    if stationary is not None and stationary.get("repeated", "merge") == "merge":  # itself a search result
        starts.append(("the committed stationary reference's poles", _complex(stationary["poles"])))
    starts += list(random_starts(S, K, options["random_starts"], options["seed"], layout, rho))
    ends, bounds = [], _bounds(pairs, n_real, K)
    local = {"method": "L-BFGS-B", "jac": True, "bounds": bounds,
             "options": {"maxiter": options["iterations"], "maxcor": 20, "ftol": 1e-15, "gtol": 1e-10}}  # fmt: skip
    for label, a in starts:
        x0, signs = to_variables(a, pairs, K)
        f = PolesObjective(target, pairs, signs, K)
        scipy.optimize.minimize(f, x0, **local)
        if f.best[1] is not None:  # else not one evaluable point along this start
            ends.append({"f": f, "start": label, "value": f.best[0]})
    if not ends:
        raise FloatingPointError(f"reference search: no start of S={S}, K={K}, rho={rho} could be evaluated")
    best = min(ends, key=lambda e: e["value"])
    if options["hops"]:  # monotonic basin hopping from the best end: perturb, minimise, keep if lower
        f = best["f"]
        scipy.optimize.basinhopping(f, f.best[1], niter=options["hops"], T=1e-12, stepsize=options["hop_size"],
                                    minimizer_kwargs=local, seed=options["seed"])  # fmt: skip
        best = {**best, "value": f.best[0], "start": f"{best['start']}, then {options['hops']} basin hops"}
    if options["relocations"] and pairs > 1:  # moves across the circle, then a full local minimisation
        f = best["f"]
        kept = relocation_rounds(f, target, options["relocations"], options["relocation_iterations"], local)
        scipy.optimize.minimize(f, f.best[1], **local)
        best = {
            **best,
            "value": f.best[0],
            "start": f"{best['start']}, then {kept}/{options['relocations']} relocations kept",
        }
    for e in ends:
        e["poles"] = e["f"].poles(e["f"].best[1])
        e["value"], e["certified"] = target.optimum(e["poles"])  # re-scored by the objective itself
    best["poles"] = best["f"].poles(best["f"].best[1])
    best["grad_norm"] = float(np.linalg.norm(best["f"](best["f"].best[1])[1]))
    best["repeated"] = "merge"
    float64 = target.optimum(best["poles"])[0]  # the ends' values are float64 too: the basin count's scale
    best["value"], best["certified"], best["certificate"] = certification(
        objective, best["poles"], "merge", K, rho, window, float64, kernel
    )
    if family == "real":  # the real family's infimum lies where poles coincide
        window_objective = target if isinstance(target, objectives.Window) else None
        clusters = cluster_search(S, K, rho, options["cluster_sizes"], window_objective, kernel)
        if clusters["value"] < best["value"]:
            cluster_float64 = clusters.pop("float64")
            value, certified, certificate = certification(objective, clusters["poles"], "jordan", K, rho, window,
                                                          cluster_float64, kernel)  # fmt: skip
            if value < best["value"]:
                best.update(clusters, value=value, certified=certified, certificate=certificate, grad_norm=np.nan)
                float64 = cluster_float64
    out = {
        "family": family,
        "real_sign": FAMILIES[family].real_sign,
        "objective": objective,
        "S": S,
        "K": K,
        "rho": rho,
        "window": window if objective == "sampled" else None,
        "value": best["value"],
        "certified": best["certified"],
        "certificate": best["certificate"],
        "poles": [[z.real, z.imag] for z in best["poles"]],
        "repeated": best["repeated"],
        "coinciding": coinciding(best["poles"]),
        "method": METHOD,
        "options": options,
        "n_starts": len(ends),
        "basins": sum(e["value"] <= float64 + BASIN_TOL for e in ends),
        "grad_norm": best["grad_norm"],
        "best_start": best["start"],
        "evaluations": sum(e["f"].evaluations for e in ends),
        "kernel": None if kernel is None else kernel.spec,
        "lower_bound": theory.lower_bound(S, K, rho) if kernel is None else math.nan,
        "lower_bound_note": NO_BOUND if kernel is not None else None,
        "seconds": time.perf_counter() - started,
    }
    if objective == "sampled" and best["repeated"] == "jordan":  # a Jordan chain's value: no diagonal readout
        out.update(window_rule=WINDOW_RULE, readout=None, readout_value=math.nan, max_readout=math.inf)
    elif objective == "sampled":  # the window rule: the value is the infimum over readouts (section 4)
        b = target.optimum_and_readout(best["poles"])[1]
        out.update(window_rule=WINDOW_RULE, readout=[[z.real, z.imag] for z in b])
        out.update(readout_value=target.loss(best["poles"], b), max_readout=float(np.abs(b).max()))
    out["gap_to_bound"] = out["value"] - out["lower_bound"]
    return out


def conditioning(a, K: int, rho: float) -> tuple[float, float]:
    """(max |b*|, cond G) at poles a: how large a diagonal layer's readout must be there, and how
    singular its Gram matrix is (inf for coinciding poles, which only a Jordan chain realises)."""
    if coinciding(a):
        return math.inf, math.inf
    G, _ = as_signal(rho).gram_and_cross(np.asarray(a), K)
    try:
        b = theory.optimal_readout(a, K, rho)
    except FloatingPointError:
        return math.inf, float(np.linalg.cond(G))
    return float(np.abs(b).max()), float(np.linalg.cond(G))


# -- stored references ------------------------------------------------------------------------------


def _complex(pairs_of_floats) -> np.ndarray:
    return np.array([complex(re, im) for re, im in pairs_of_floats])


def verify(ref: dict) -> dict:
    """``ref`` if its value equals the recomputation from its poles (and readout, for a window), else raise."""
    a = _complex(ref["poles"])
    _check_claims(ref, a)
    target = population(ref["objective"], ref["K"], ref["rho"], ref.get("window"))
    try:
        if ref["objective"] == "sampled" and ref.get("repeated") == "jordan":
            value = theory.window_jordan_infimum(a, ref["K"], ref["rho"], target.length, target.t_eval)
        elif ref["objective"] == "sampled":
            value = target.optimum(a)[0]
        else:
            value = theory.optimal_loss(a, ref["K"], ref["rho"], repeated=ref.get("repeated", "merge"))
    except (FloatingPointError, ValueError) as err:
        raise InvalidReference(f"reference {cell_key_of(ref)}: its poles cannot be evaluated ({err})") from None
    if not abs(value - ref["value"]) <= VERIFY_TOL and len(a) <= precise.MAX_S:
        # float64 cannot resolve every span (crowded poles on a short window): the stored value is then the
        # extended-precision one (``certification``), and so is its recomputation
        try:
            value = float(precise_optimum(ref["objective"], a, ref.get("repeated") or "merge", ref["K"], ref["rho"],
                                          ref.get("window")))  # fmt: skip
        except (precise.PrecisionError, ValueError) as err:
            raise InvalidReference(
                f"reference {cell_key_of(ref)}: stored value {ref['value']!r} does not match its poles in float64 "
                f"({value!r}), and extended precision fails ({err})"
            ) from None
    if not abs(value - ref["value"]) <= VERIFY_TOL:
        raise InvalidReference(
            f"reference {cell_key_of(ref)}: stored value {ref['value']!r} does not match its poles ({value!r})"
        )
    return ref


def _check_claims(ref: dict, a) -> None:
    """The family, sign and window rule a reference claims must be the registry's and hold for its poles."""
    family, key = ref.get("family", "complex"), cell_key_of(ref)
    if family not in FAMILIES:
        raise InvalidReference(f"reference {key}: unknown pole family {family!r}; known: {list(FAMILIES)}")
    sign = FAMILIES[family].real_sign
    if ref.get("real_sign") != sign:
        raise InvalidReference(f"reference {key}: claims real poles of sign {ref.get('real_sign')!r}; "
                               f"the {family} family's are {sign!r}")  # fmt: skip
    if ref["objective"] == "sampled" and ref.get("window_rule") != WINDOW_RULE:
        raise InvalidReference(f"reference {key}: claims the window rule {ref.get('window_rule')!r}, "
                               f"not the study's {WINDOW_RULE!r}")  # fmt: skip
    if ref.get("certified") and (len(a) > precise.MAX_S or not str(ref.get("certificate", "")).startswith("mpmath")):
        raise InvalidReference(f"reference {key}: claims to be certified without an extended-precision certificate "
                               f"(S <= {precise.MAX_S}; its certificate: {ref.get('certificate')!r})")  # fmt: skip
    try:
        Layout.of(family, len(a)).check(a, np.zeros_like(a))
    except ValueError as err:
        raise InvalidReference(f"reference {key}: its poles are not of the {family} family ({err})") from None


def cell_key_of(ref: dict) -> str:
    return cell_key(ref["objective"], ref["rho"], ref["S"], ref["K"], ref.get("window"), ref.get("family", "complex"))


def committed_dir():
    """The committed references as package data (an ``importlib.resources`` Traversable): what is read."""
    return resources.files("shiftbench") / COMMITTED


def committed_file(key: str):
    """The committed reference of a cell key as package data (it may not exist: no reference committed)."""
    return committed_dir() / f"{key}.json"


def save_dir() -> Path:
    """Where ``shiftbench reference --save`` writes: the source checkout's shiftbench/references/ (a
    developer action). ValueError where shiftbench does not run from a checkout (an installed wheel:
    its package data is no place to commit to)."""
    package = Path(__file__).resolve().parent
    if not (package.parent / "pyproject.toml").is_file():
        raise ValueError(
            f"--save writes into a source checkout's shiftbench/{COMMITTED}/, and this shiftbench ({package}) "
            "is not run from one: install the checkout with pip install -e ."
        )
    return package / COMMITTED


def committed_path(key: str) -> Path:
    """The file ``--save`` writes for a cell key (``save_dir``); reading goes through ``committed_file``."""
    return save_dir() / f"{key}.json"


def load(path) -> dict:
    """A stored reference, verified; InvalidReference for a file that is not one or does not match.

    ``path``: a file path or an ``importlib.resources`` Traversable (the committed references)."""
    path = Path(path) if isinstance(path, str) else path
    try:
        ref = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidReference(f"{path}: not a readable reference file ({err})") from None
    if not isinstance(ref, dict) or not {"objective", "S", "K", "rho", "value", "poles"} <= set(ref):
        raise InvalidReference(f"{path}: not a reference file (missing keys)")
    if PurePath(path.name).stem != cell_key_of(ref):
        raise InvalidReference(f"{path}: holds the reference of {cell_key_of(ref)}, not of its file name")
    try:
        return verify(ref)
    except InvalidReference as err:
        raise InvalidReference(f"{path}: {err}") from None
    except (KeyError, TypeError, ValueError) as err:  # malformed fields: poles that are no numbers, ...
        raise InvalidReference(f"{path}: not a reference file ({type(err).__name__}: {err})") from None


def lookup(S: int, K: int, rho: float, objective: str = "exact", family: str = "complex", window=None):
    """The committed reference of a cell, verified, or None where none is committed.

    InvalidReference naming the file for a committed file that is broken, and naming the folder where
    the package carries no committed references at all (a broken installation: its package data)."""
    if not committed_dir().is_dir():
        raise InvalidReference(
            f"{committed_dir()}: the committed references are missing from this shiftbench installation "
            "(package data shiftbench/references/*.json)"
        )
    found = committed_file(cell_key(objective, rho, S, K, window, family))
    return load(found) if found.is_file() else None
