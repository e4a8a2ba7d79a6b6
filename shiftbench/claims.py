"""The report's verdicts: each claim, the rule that decides it, and the number behind it.

This is analysis, not drawing: ``plots`` only draws what is decided here. Every learned number is
judged against the reference of its own objective (``shiftbench.reference``), which no learned run
made or changed. No rule takes a quantity that the judged runs define, and each can fail: a test
feeds every rule data on which its claim is false.

- Slopes (the uncertainty principle) are judged by their 95% interval against 1.
- Comparisons of learned runs (inits, methods) go **cell by cell over seeds** (``rank_test``): in
  each cell (block, S, K, rho, objective, method) an exact one-sided Mann-Whitney test of the two
  sides' ``objective_loss`` over their seeds, each at its selected lr; the cells are combined by the
  **stratified rank-sum rule**: the sum over cells of the per-cell U statistics, against its exact
  null distribution (the convolution of the per-cell permutation distributions). The cells are a
  designed grid, never pooled as i.i.d. draws. With one run per side and cell this is the sign test.
- Comparisons of references (no seeds) use an exact one-sided **sign test over cells** (``sign_test``).
- Every verdict prints the smallest p-value its design can reach. A claim is "supported" where
  p < ``significance`` for it, "contradicted" where the same holds against it, "underpowered" where
  even the most extreme outcome of its design could not reach the level (the verdict names the
  cells or seeds that would decide it), "no data" where nothing can be compared (with the reason),
  and "inconclusive" only where the design could have reached the level and did not.
- Checks of the theory (no learning in them) have their own table, ``theory_checks``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import theory
from .aggregation import CELL, VARIANT, recovered, t_interval
from .config import SHIFT, defaults
from .layout import BASELINE, FAMILIES
from .methods import METHODS
from .objectives import OBJECTIVES, STATIONARY
from .reference import WINDOW_RULE

REGULAR, RANDOM = "uncertainty", "lru-ring"  # the paper's two inits, found by what they are
WIDTH_SUBSET = 0.5  # the second width row: kernels recovering at least this share of the reference
COMPARED_CELL = ["block", "S", "K"]  # a cell of a comparison, within one (objective, method, rho)
WINDOW_RULE_TEXT = (
    f"Window references (sampled objective): the {WINDOW_RULE} of their poles, by a dense least squares, "
    "with no cap on the readout, for references and learned runs alike (docs/theory.md section 4.1)"
)
RANK_RULE = (
    "an exact one-sided Mann-Whitney test per cell over seeds (scipy.stats.mannwhitneyu), the cells combined by the "
    "stratified rank-sum rule (the sum of the per-cell U statistics against its exact null distribution)"
)
SIGN_RULE = "exact one-sided sign test over cells (ties left out)"
MAX_SEEDS = 1000  # the search for the seeds that would decide an underpowered design stops here


def selected_runs(t) -> pd.DataFrame:
    """ok runs at the lr the summary selected for their variant, with the share of the reference's
    signal of their own objective that they recover."""
    chosen = t["summary"][[*VARIANT, "lr", "reference"]]
    runs = t["runs"][t["runs"].status == "ok"].merge(chosen, on=[*VARIANT, "lr"])
    return runs.assign(recovered=recovered(runs.objective_loss, runs.reference))


def variants_with_init(runs: pd.DataFrame, init: str) -> list[str]:
    """Ids of the variants whose pole init is ``init``, whatever they are called (sorted)."""
    return sorted(runs.loc[runs.init == init, "variant"].unique())


def frequency_ratio(S, K, omega):
    """C/D = C(e^{iw}) e^{iKw} for the construction with beta(-1)^s and with b*(a)."""
    a, b = theory.construction(S, K, 1.0)
    d = np.exp(1j * K * omega)
    return {
        "beta (-1)^s": theory.frequency_response(a, b, omega) * d,
        "optimal readout": theory.frequency_response(a, theory.optimal_readout(a, K), omega) * d,
    }


# -- rules -------------------------------------------------------------------------------------------


def width_fit(runs: pd.DataFrame, column: str = "filter_width"):
    """OLS of log width on log K/S over the runs with a finite width: slope, 95% CI, n."""
    d = runs[np.isfinite(runs[column]) & (runs[column] > 0)]
    if d[["K", "S"]].drop_duplicates().shape[0] < 2:
        return np.nan, (np.nan, np.nan), len(d)
    fit = stats.linregress(np.log(d.K / d.S), np.log(d[column]))
    return fit.slope, t_interval(fit.slope, fit.stderr, len(d) - 2), len(d)


def slope_verdict(lo, hi, tolerance):
    """Supported: the CI contains 1 and lies within 1 ± tolerance; contradicted: it excludes 1; no data
    without an interval (``_width_claims`` says why)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no data"
    if lo > 1 or hi < 1:
        return "contradicted"
    return "supported" if 1 - tolerance <= lo and hi <= 1 + tolerance else "inconclusive"


def decide(p_for, p_against, min_p, significance) -> str:
    """The verdict of a one-sided test of a claim: "underpowered" where even the design's most extreme
    outcome (``min_p``) cannot reach ``significance``, else supported / contradicted / inconclusive."""
    if not min_p < significance:
        return "underpowered"
    if p_for < significance:
        return "supported"
    return "contradicted" if p_against < significance else "inconclusive"


def sign_min_p(n: int) -> float:
    """The smallest one-sided p of an exact sign test over n untied cells: 0.5^n (all on one side)."""
    return 0.5**n


def rank_min_p(n1: int, n2: int) -> float:
    """The smallest one-sided p of an exact Mann-Whitney test of n1 against n2 untied values:
    1/C(n1 + n2, n1) (every value of one side below every value of the other)."""
    return 1 / math.comb(n1 + n2, n1)


@dataclass(frozen=True)
class Comparison:
    """A one-sided comparison "A below B" (losses; for references: B - A > 0) over cells, decided."""

    verdict: str
    p_for: float  # one-sided p of the claim
    p_against: float  # one-sided p of its opposite
    min_p: float  # the smallest p the design can reach (either side)
    cells: int  # cells compared
    wins: float  # sign test: cells for the claim; rank test: within-cell pairs of runs for it (ties 1/2)
    pairs: int  # sign test: untied cells; rank test: within-cell pairs of runs
    sizes: tuple = ()  # rank test: (n_A, n_B) per cell
    alone: int = 0  # rank test: cells whose own one-sided p is below the level
    left_out: int = 0  # cells with data on one side only (rank test) or tied (sign test)
    needs: str = ""  # what would decide an underpowered design
    reason: str = ""  # why there is no data


def _no_data(reason: str, left_out: int = 0) -> Comparison:
    return Comparison("no data", np.nan, np.nan, np.nan, 0, 0, 0, left_out=left_out, reason=reason)


def _binomial_p(wins: int, n: int) -> tuple[float, float]:
    return (
        stats.binomtest(wins, n, 0.5, alternative="greater").pvalue,
        stats.binomtest(wins, n, 0.5, alternative="less").pvalue,
    )


def _cells_needed(cell_min_p: float, significance: float) -> int:
    """The fewest cells, each able to reach ``cell_min_p``, whose combination can reach the level."""
    k = 1
    while cell_min_p**k >= significance:
        k += 1
    return k


def sign_test(diffs, significance) -> Comparison:
    """The claim "diffs > 0" by an exact one-sided sign test over cells (ties and missing cells left out)."""
    diffs = pd.Series(diffs, dtype=float).dropna()
    ties = int((diffs == 0).sum())
    diffs = diffs[diffs != 0]
    n, wins = len(diffs), int((diffs > 0).sum())
    if n == 0:
        return _no_data("no cell with a non-zero difference" if ties else "no cell to compare", ties)
    p_for, p_against = _binomial_p(wins, n)
    min_p = sign_min_p(n)
    verdict = decide(p_for, p_against, min_p, significance)
    needs = f"needs >= {_cells_needed(0.5, significance)} untied cells" if verdict == "underpowered" else ""
    return Comparison(verdict, p_for, p_against, min_p, n, wins, n, left_out=ties, needs=needs)


def rank_sum_null(x, y) -> tuple[int, np.ndarray]:
    """Twice the rank sum of ``x`` in the pooled sample (midranks for ties) and its exact permutation
    distribution when x and y are exchangeable: pmf[v] = P(twice the rank sum = v)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ranks = np.rint(2 * stats.rankdata(np.concatenate([x, y]))).astype(int)  # integers, midranks included
    n1 = len(x)
    counts = np.zeros((n1 + 1, int(ranks.sum()) + 1))  # counts[k, v]: subsets of k values whose sum is v
    counts[0, 0] = 1.0
    for r in ranks:
        counts[1:, r:] = counts[1:, r:] + counts[:-1, :-r]
    return int(ranks[:n1].sum()), counts[n1] / math.comb(len(ranks), n1)


def stratified_rank_p(cells) -> tuple[float, float]:
    """One-sided p-values (x lower, x higher) of the stratified rank-sum rule over cells of (x, y): the
    sum of the cells' rank sums of x (equivalently of their U statistics) against its exact null
    distribution, the convolution of the per-cell permutation distributions."""
    observed, pmf = 0, np.ones(1)
    for x, y in cells:
        obs, cell_pmf = rank_sum_null(x, y)
        observed, pmf = observed + obs, np.convolve(pmf, cell_pmf)
    return min(1.0, float(pmf[: observed + 1].sum())), min(1.0, float(pmf[observed:].sum()))


def _seeds_needed(sizes, once: int | None, significance: float) -> int | None:
    """The fewest seeds per cell (of every side not trained once) at which these cells can reach the level."""
    for m in range(2, MAX_SEEDS):
        raised = [(a if once == 0 else max(a, m), b if once == 1 else max(b, m)) for a, b in sizes]
        if math.prod(rank_min_p(a, b) for a, b in raised) < significance:
            return m
    return None


def rank_test(cells, significance, names=("A", "B")) -> Comparison:
    """The claim "A's losses are lower than B's", cell by cell over seeds: an exact one-sided Mann-Whitney
    test per cell, combined over cells by the stratified rank-sum rule (``RANK_RULE``).

    ``cells``: (x, y) per cell, the losses of A's and of B's runs (one per seed). A cell with no run on
    one side is left out. A side with one run in every cell while the other has more is taken as
    trained once (a deterministic init): only the other side's seeds can then decide the design.
    """
    cells = [(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for x, y in cells]
    both = [(x, y) for x, y in cells if len(x) and len(y)]
    left_out = len(cells) - len(both)
    if not both:
        return _no_data("no cell has runs of both " + " and ".join(names) if cells else "no cell to compare", left_out)
    sizes = tuple((len(x), len(y)) for x, y in both)
    pairs = sum(a * b for a, b in sizes)
    per_cell = [stats.mannwhitneyu(x, y, alternative="less", method="exact") for x, y in both]
    wins = pairs - float(sum(r.statistic for r in per_cell))  # U counts the pairs with x above y (ties 1/2)
    alone = sum(r.pvalue < significance for r in per_cell)
    p_for, p_against = stratified_rank_p(both)
    min_p = math.prod(rank_min_p(a, b) for a, b in sizes)
    verdict = decide(p_for, p_against, min_p, significance)
    needs = ""
    if verdict == "underpowered":
        weakest = max(sizes, key=lambda s: rank_min_p(*s))
        needs = (
            f"needs >= {_cells_needed(rank_min_p(*weakest), significance)} cells of n = {weakest[0]} vs {weakest[1]}"
        )
        ones = [all(s[i] == 1 for s in sizes) for i in (0, 1)]
        once = next((i for i in (0, 1) if ones[i] and not ones[1 - i]), None)
        m = _seeds_needed(sizes, once, significance)
        if m is not None:
            needs += (
                f", or >= {m} seeds "
                + (
                    f"of {names[1 - once]} per cell ({names[once]} is trained once)"
                    if once is not None
                    else "per side and cell"
                )
                + f" in these {len(both)} cells"
            )
    return Comparison(verdict, p_for, p_against, min_p, len(both), wins, pairs, sizes, alone, left_out, needs)


def _sizes_text(sizes) -> str:
    a, b = sorted({s[0] for s in sizes}), sorted({s[1] for s in sizes})
    span = lambda v: f"{v[0]}" if len(v) == 1 else f"{v[0]}-{v[-1]}"  # noqa: E731
    return f"n = {span(a)} vs {span(b)} runs per cell"


def evidence(c: Comparison, what: str, significance: float) -> str:
    """The evidence text of a comparison: the data, the test, its p-values, the smallest p its design
    can reach, and the rule (``what``: the claim's side, e.g. "uncertainty lower")."""
    if c.verdict == "no data":
        return f"No data: {c.reason}" + (f" ({c.left_out} cell(s) left out)" if c.left_out else "") + "."
    head = ""
    if c.verdict == "underpowered":
        head = (
            f"Underpowered: the smallest p this design can reach is {c.min_p:.3g}, not below significance = "
            f"{significance:g}; {c.needs}. "
        )
    if c.sizes:
        data = (
            f"{what} in {c.wins:g}/{c.pairs} within-cell pairs of runs over {c.cells} cells ({_sizes_text(c.sizes)}"
            + (f"; {c.left_out} cell(s) with one side only left out" if c.left_out else "")
            + f"); alone, {c.alone}/{c.cells} cells reach p < {significance:g}. Test: {RANK_RULE}"
        )
    else:
        data = (
            f"{what} in {c.wins}/{c.pairs} cells"
            + (f" ({c.left_out} tied left out)" if c.left_out else "")
            + f". Test: {SIGN_RULE}"
        )
    return (
        f"{head}{data}: one-sided p = {c.p_for:.3g} for, {c.p_against:.3g} against; smallest reachable "
        f"p = {c.min_p:.3g}. Rule: supported if p < significance = {significance:g} for the claim, contradicted "
        "if so against it, underpowered if the smallest reachable p is not below it, inconclusive otherwise"
    )


def _cells(rows: pd.DataFrame, value: str, limit: int = 5) -> str:
    named = [f"S = {r.S}, K = {r.K}, rho = {r.rho:g} ({r[value]:.4g})" for _, r in rows.head(limit).iterrows()]
    return "; ".join(named) + (" ..." if len(rows) > limit else "")


def paired_cells(runs: pd.DataFrame, a: pd.Series, b: pd.Series, by=COMPARED_CELL, value="objective_loss"):
    """(x, y) per cell of ``by`` where either side has a run: the values of the runs selected by the
    masks ``a`` and ``b`` (empty where a side has none; a missing value is no run)."""
    keys = sorted(set(map(tuple, runs.loc[a | b, by].itertuples(index=False))))
    ga, gb = runs[a].dropna(subset=[value]).groupby(by)[value], runs[b].dropna(subset=[value]).groupby(by)[value]
    da, db = {k: v.to_numpy() for k, v in ga}, {k: v.to_numpy() for k, v in gb}
    return [(da.get(k, np.empty(0)), db.get(k, np.empty(0))) for k in keys]


# -- claims about learning ---------------------------------------------------------------------------

# The questions the Claims answer, in the report's order: every row of ``claims_table`` answers one.
QUESTIONS = {
    "width": "Is the learned filter's width proportional to K/S (the uncertainty principle)?",
    "phases": "Do regularly spaced phases beat random init near the unit disk?",
    "best-init": "Which init reaches the lowest loss, cell by cell?",
    "reference": "Do the learned runs reach the reference of their objective, and none beat it?",
    "methods": "What do the methods win: the readout coupling (projected) and the search (reseed)?",
    "families": "What do complex poles buy over the other pole families at equal state size?",
    "targets": "On memory kernels beyond the shift: which init wins, does the bump collapse on sigma S / K, "
    "does PoST's ordering survive training?",
    "health": "How many training runs diverged or failed?",
}


def budget_closure(row) -> float:
    """The share of a variant's gap to its reference that the long budget closes, same seed and lr:
    (recovered_long - recovered_first)/(1 - recovered_first); NaN without a long run or a gap."""
    gap = 1 - row.recovered_first
    return (row.recovered_long - row.recovered_first) / gap if gap > 1e-12 else np.nan


def budget_claims(summary: pd.DataFrame, tolerance: float) -> list[tuple]:
    """Per (target, objective, method, variant) with long-budget runs (train.budget_factor): is its gap to the
    reference budget-limited? Rule: supported if in every cell with a gap the long budget closes more than
    ``tolerance`` of it (``budget_closure``); not supported if in some cell it closes at most that."""
    rows = []
    have = summary.dropna(subset=["recovered_long", "recovered_first"])
    for (target, objective, method, variant), g in have.groupby(["target", "objective", "method", "variant"]):
        closure = g.apply(budget_closure, axis=1).dropna()
        where = f"{objective}, {method}" if target == SHIFT else f"{target}, {objective}, {method}"
        if closure.empty:
            continue
        cells = g.loc[closure.index]
        worst = closure.idxmin()
        limited = bool((closure > tolerance).all())
        rows.append((
            f"[{where}] {variant}'s gap to the reference is budget-limited (a longer budget closes it)",
            "supported" if limited else "not supported",
            f"the first seed at {int(cells.steps_long.iloc[0])} steps instead of {int(cells.steps.iloc[0])} closes "
            + ", ".join(f"{c:.0%} at K = {r.K}, rho = {r.rho:g}" for c, (_, r) in zip(closure, cells.iterrows()))
            + f" of its gap (1 - recovered; least {closure[worst]:.0%}). Rule: budget-limited if the long budget "
            f"closes more than budget_tolerance = {tolerance:g} of the gap in every cell",
        ))  # fmt: skip
    return rows


def claims_table(t, cfg) -> pd.DataFrame:
    """Each claim with the objective (and method) it is measured on, a verdict by a stated rule, and the number;
    ``question``: the key of ``QUESTIONS`` that the row answers."""
    rules, rows, asked = cfg["claims"], [], []

    def answer(question):  # the rows added since the last call answer ``question``
        asked.extend([question] * (len(rows) - len(asked)))

    all_runs, all_s = selected_runs(t), t["summary"]
    runs, s = all_runs[all_runs.target == SHIFT], all_s[all_s.target == SHIFT]  # the shift's own claims
    alpha = rules["significance"]
    rows += _width_claims(runs, rules["slope_tolerance"])
    answer("width")

    for (objective, method, rho), g in s.groupby(["objective", "method", "rho"]):
        here = runs[(runs.objective == objective) & (runs.method == method) & (runs.rho == rho)]
        for regular in variants_with_init(g, REGULAR):
            for random_ in variants_with_init(g, RANDOM):
                c = rank_test(paired_cells(here, here.variant == regular, here.variant == random_), alpha,
                              (regular, random_))  # fmt: skip
                rows.append((
                    f"[{objective}, {method}] Regularly spaced phases ({regular}) reach a lower loss than random "
                    f"init near the unit disk ({random_}) at rho = {rho:g}",
                    c.verdict,
                    evidence(c, f"{regular} lower", alpha),
                ))  # fmt: skip
    answer("phases")

    for (objective, method), g in s.dropna(subset=["mean"]).groupby(["objective", "method"]):
        best = g.loc[g.groupby(["block", *CELL])["mean"].idxmin()]
        wins = best.variant.value_counts()
        others = best[best.init != REGULAR]
        rows.append((
            f"[{objective}, {method}] Which init variant reaches the lowest loss, cell by cell",
            "measured",
            "best in " + ", ".join(f"{v}: {n}/{len(best)} cells" for v, n in wins.items())
            + (f". Another init wins: {_cells(others, 'mean')}" if len(others) else ""),
        ))  # fmt: skip
    answer("best-init")

    reach = rules["reach_fraction"]
    by = ["target", "objective", "method", "variant"]
    for (target, objective, method, variant), g in all_s.dropna(subset=["recovered"]).groupby(by):
        worst = g.loc[g.recovered.idxmin()]
        uncertified = int((~g.reference_certified.astype(bool)).sum())
        where = f"{objective}, {method}" if target == SHIFT else f"{target}, {objective}, {method}"
        rows.append((
            f"[{where}] {variant} reaches the reference of its objective in every cell",
            "supported" if worst.recovered >= reach else "not supported",
            f"lowest mean recovered fraction {worst.recovered:.3f} at S = {worst.S}, K = {worst.K}, "
            f"rho = {worst.rho:g} (over {len(g)} cells"
            + (f"; {uncertified} with a reference not certified as the optimum of its poles" if uncertified else "")
            + f"). Rule: supported if every cell recovers >= reach_fraction = {reach:g}"
            + (f". {WINDOW_RULE_TEXT}" if _windowed(objective) else ""),
        ))  # fmt: skip

    if "recovered_long" in all_s:
        rows += budget_claims(all_s, rules.get("budget_tolerance", 0.25))

    beaten = all_s[all_s.beats_reference.astype(bool)]
    rows.append((
        "No learned run is below the reference of its objective (the reference is independent of the runs)",
        "supported" if beaten.empty else "contradicted",
        "none of the runs' filters, nor the float64-resolved optima of their poles, is below its reference"
        + (f". {WINDOW_RULE_TEXT}" if any(map(_windowed, s.objective)) else "")
        if beaten.empty
        else f"{len(beaten)} variant cell(s) beat their reference, which is therefore weak there and must be made "
        f"stronger by the reference search, never lowered to the run: "
        + "; ".join(f"{r.target}/{r.objective}/{r.method}/{r.variant} at S = {r.S}, K = {r.K}, rho = {r.rho:g}"
                    for _, r in beaten.head(8).iterrows()),  # fmt: skip
    ))  # fmt: skip
    answer("reference")

    rows += _method_claims(t["runs"][t["runs"].target == SHIFT], runs, s, alpha)
    answer("methods")
    rows += family_claims(t["reference"][t["reference"].target == SHIFT], alpha, rules["slope_tolerance"])
    answer("families")
    rows += target_claims(all_runs, all_s, cfg, alpha)
    answer("targets")
    status = t["runs"].status.value_counts()
    rows.append((
        "Diverged or numerically failed training runs (excluded from every mean)",
        "count",
        f"{status.get('diverged', 0)} diverged, {status.get('failed', 0)} failed, of {len(t['runs'])} runs",
    ))  # fmt: skip
    answer("health")
    return pd.DataFrame(rows, columns=["claim", "verdict", "evidence"]).assign(question=asked)


def _width_claims(runs: pd.DataFrame, tol: float) -> list[tuple]:
    """The width slope on every ok learned kernel, on those recovering >= 50%, and of their initial kernels."""
    rows = []
    rule = (
        f"Rule: supported if the CI contains 1 and lies within 1 ± slope_tolerance = {tol:g}; contradicted if it "
        "excludes 1; inconclusive otherwise (an interval test: no p-value)"
    )
    for objective, g in runs.groupby("objective"):
        subsets = [
            ("every ok learned kernel", g, "filter_width"),
            (f"learned kernels recovering >= {WIDTH_SUBSET:.0%} of the reference", g[g.recovered >= WIDTH_SUBSET],
             "filter_width"),
            ("control: the initial kernels of the same runs (what training started from)", g,
             "initial_filter_width"),
        ]  # fmt: skip
        for what, d, column in subsets:
            slope, (lo, hi), n = width_fit(d, column)
            verdict = slope_verdict(lo, hi, tol)
            text = f"slope {slope:.3f}, 95% CI [{lo:.3f}, {hi:.3f}], n = {n} kernels. {rule}"
            if verdict == "no data":
                finite = d[np.isfinite(d[column]) & (d[column] > 0)]
                ratios = (finite.K / finite.S).nunique()
                if d.empty:
                    text = f"No data: none of the {len(g)} ok runs of this objective is in this set."
                elif finite.empty:
                    text = f"No data: none of the {len(d)} kernels has a finite, positive width."
                else:
                    verdict = "underpowered"
                    text = (
                        f"Underpowered: {len(finite)} kernel(s) at {ratios} K/S ratio(s) give no interval; needs >= 3 "
                        f"kernels at >= 2 K/S ratios. {rule}"
                    )
            rows.append((f"[{objective}] Width of the filter is proportional to K/S (slope 1 in log-log): {what}",
                         verdict, text))  # fmt: skip
    return rows


def _windowed(objective: str) -> bool:
    """Whether an objective's references follow the window rule: it is trained on stored sequences."""
    return objective in OBJECTIVES and OBJECTIVES[objective].sequences


def _method_claims(all_runs: pd.DataFrame, runs: pd.DataFrame, s: pd.DataFrame, alpha: float) -> list[tuple]:
    """The gap to the reference, decomposed by method: each method against the one it improves on
    (``methods.Method.improves_on``: readout coupling, joint -> projected; what the re-seeding search
    wins back, projected -> reseed), on every objective where both are trained. Cell by cell over seeds
    (``rank_test``): a lower objective loss is a higher recovered fraction (one reference per cell)."""
    rows = []
    for objective in sorted(s.objective.unique()):
        here, trained = runs[runs.objective == objective], all_runs[all_runs.objective == objective]
        mine_s = s[s.objective == objective]
        # A cell is (S, K, rho), whatever block trained each method there: a config may train each
        # method in a block of its own, at its own lr (configs/paper.yaml)
        recovered_ = mine_s.pivot_table(index=[*CELL, "variant"], columns="method", values="recovered")
        for method in METHODS.values():
            better, worse = method.name, method.improves_on
            if worse is None or not {better, worse} <= set(mine_s.method):
                continue
            for variant in sorted(mine_s.variant.unique()):
                mine = here[here.variant == variant]
                cells = paired_cells(mine, mine.method == better, mine.method == worse, by=CELL)
                c = rank_test(cells, alpha, (better, worse))
                if c.verdict == "no data":
                    c = _no_data(_why_no_runs(trained[trained.variant == variant], (better, worse)) or c.reason)
                    text = evidence(c, "", alpha)
                else:
                    r = recovered_.xs(variant, level="variant")[[worse, better]].dropna()
                    text = (
                        f"mean recovered over the {len(r)} cells with both: {worse} {r[worse].mean():.3f}, {better} "
                        f"{r[better].mean():.3f}. " + evidence(c, f"{better} lower loss", alpha)
                    )
                claim = f"{better} ({method.summary}) recovers more than {worse}"
                rows.append((f"[{objective}] {claim}, from {variant}", c.verdict, text))
    return rows


def _why_no_runs(trained: pd.DataFrame, methods) -> str:
    """Why there is nothing to compare: a method never run, or none of its runs ok ("" if both have ok runs)."""
    for method in methods:
        m = trained[trained.method == method]
        if m.empty:
            return f"{trained.variant.iloc[0] if len(trained) else 'this variant'} was not trained with {method}"
        if not (m.status == "ok").any():
            counts = m.status.value_counts()
            return (
                f"no ok run with {method} ({counts.get('diverged', 0)} diverged, {counts.get('failed', 0)} failed "
                f"of {len(m)})"
            )
    return ""


def family_gains(reference: pd.DataFrame, objective: str = STATIONARY) -> pd.DataFrame:
    """Per cell and family other than the baseline (``layout.BASELINE``), where both have a reference:
    the family's value, the baseline's and family_gain = (1 - L_family)/(1 - L_baseline)."""
    r = reference[reference.objective == objective].pivot_table(index=CELL, columns="family", values="value")
    columns = [*CELL, "family", "value", "baseline", "family_gain", "K_over_S"]
    if BASELINE not in r.columns:
        return pd.DataFrame(columns=columns)
    long = r.drop(columns=BASELINE).stack().dropna().rename("value").reset_index()
    long = long.join(r[BASELINE].rename("baseline"), on=CELL).dropna(subset=["baseline"])
    long = long.assign(family_gain=(1 - long.value) / (1 - long.baseline), K_over_S=long.K / long.S)
    return long[columns].sort_values(["family", *CELL], ignore_index=True)


def family_claims(reference: pd.DataFrame, alpha: float, tol: float) -> list[tuple]:
    """What complex poles buy over each other family, from the references (no learned run in them)."""
    rows = []
    base = FAMILIES[BASELINE]
    for family, g in family_gains(reference).groupby("family"):
        rows += _family_claims(g, family, base, alpha, tol)
    return rows


def _family_claims(g: pd.DataFrame, family: str, base, alpha: float, tol: float) -> list[tuple]:
    """The claims of one family against the baseline ``base``: a sign test over cells, and per (K/S, rho)
    whether its gain is constant in S."""
    c = sign_test(g.value - g.baseline, alpha)
    rows = [(
        f"[{STATIONARY}, references] {base.name.capitalize()} poles capture more of the signal than {family} poles "
        f"at equal state size S ({base.name}: {base.summary}; {family}: {FAMILIES[family].summary})",
        c.verdict,
        f"family_gain (1 - L_{family})/(1 - L_{base.name}) from {g.family_gain.min():.3f} to "
        f"{g.family_gain.max():.3f}. " + evidence(c, f"{base.name} lower", alpha),
    )]  # fmt: skip
    for (ratio, rho), d in g.groupby(["K_over_S", "rho"]):
        if d.S.nunique() < 3:
            continue
        fit = stats.linregress(np.log(d.S), np.log(d.family_gain))
        lo, hi = t_interval(fit.slope, fit.stderr, len(d) - 2)
        trend = "decays" if hi < 0 else "grows" if lo > 0 else "constant" if -tol <= lo and hi <= tol else "unclear"
        rows.append((
            f"[{STATIONARY}, references] At K/S = {ratio:g}, rho = {rho:g}: the {family} family's gain is constant "
            "in S",
            {"constant": "supported", "decays": "contradicted", "grows": "contradicted"}.get(trend, "inconclusive"),
            f"log family_gain on log S over S = {sorted(d.S)}: slope {fit.slope:.3f}, 95% CI [{lo:.3f}, {hi:.3f}] "
            f"({trend}). Rule: supported (constant) if the CI lies within ± slope_tolerance = {tol:g}; "
            "contradicted if it excludes 0 (decays below 0, grows above); inconclusive otherwise",
        ))  # fmt: skip
    return rows


# -- checks of the theory ------------------------------------------------------------------------------


def theory_checks(t, cfg) -> pd.DataFrame:
    """Checks of the theory itself (no learned filter in them), each with a rule that can fail."""
    rules, rows = cfg["claims"], []
    S, K = cfg["figures"]["frequency"]["S"], cfg["figures"]["frequency"]["K"]
    T = (S - 1) / 2
    Omega = np.linspace(-2 * T, 2 * T, 4001)
    r = frequency_ratio(S, K, np.pi * Omega / K)["optimal readout"]
    inside = np.median(np.abs(r[np.abs(Omega) <= 0.8 * T] - 1))
    outside = np.median(np.abs(r[np.abs(Omega) >= 1.2 * T]))
    wt = rules["window_tolerance"]
    rows.append((
        "[white noise] The construction copies the input within |w| <= pi T/K and vanishes outside",
        "supported" if inside < wt and outside < wt else "not supported",
        f"S = {S}, K = {K}, optimal readout: median |C/D - 1| inside = {inside:.3f}, median |C/D| "
        f"outside = {outside:.3f}. Rule: supported if both are below window_tolerance = {wt:g}",
    ))  # fmt: skip

    ref = t["reference"]
    ref = ref[(ref.objective == STATIONARY) & (ref.family == BASELINE)]
    white = ref[ref.rho == 0]
    if len(white):
        tight = (1 - white.value) * (white.K + 1) / white.S
        floor = rules["tightness_floor"]
        verdict = "contradicted" if tight.max() > 1 + 1e-9 else "supported" if tight.min() >= floor else "not supported"
        rows.append((
            "[white noise] L* = 1 - Theta(S/K): the bound 1 - S/(K+1) is tight up to a constant",
            verdict,
            f"tightness (1 - L_ref)(K+1)/S of the reference from {tight.min():.3f} to {tight.max():.3f} over "
            f"{len(white)} cells. Rule: supported if every cell lies in [tightness_floor = {floor:g}, 1]; "
            "contradicted if one exceeds 1 (a loss below the rigorous bound: a bug)",
        ))  # fmt: skip

    cons = t["theory"][(t["theory"].rho == 0) & (t["theory"].quantity == "construction_paper")]
    row = cons[cons.alpha == 1.0].sort_values("K").tail(1)
    if len(row):
        row = row.iloc[0]
        measured, kappa = (1 - row.value) * row.K / row.S, theory.kappa(1.0)
        kt = rules["kappa_tolerance"]
        rows.append((
            "[white noise] Construction: L = 1 - kappa_alpha S/K + o(S/K), kappa_alpha = (1 - e^{-4 alpha})/2",
            "supported" if abs(measured - kappa) <= kt * kappa else "not supported",
            f"alpha = 1: (1-L)K/S = {measured:.4f} vs kappa = {kappa:.4f} at S = {row.S}, K = {row.K} (the largest "
            f"K/S of the study). Rule: supported if within kappa_tolerance = {kt:g} relative",
        ))  # fmt: skip

    smooth = ref[(ref.rho > 0) & ((1 - ref.rho) * ref.K / ref.S <= 2)]
    if len(smooth) >= 2:
        x = (1 - smooth.rho) * smooth.K / smooth.S
        y = smooth.value
        C = float(np.sum(x * y) / np.sum(x * x))
        r2 = 1 - float(np.sum((y - C * x) ** 2) / np.sum((y - y.mean()) ** 2))
        r2_min = rules["smooth_r2"]
        rows.append((
            "[AR(1)] Smooth regime: L* ~ C (1 - rho) K/S (numerical; no rigorous bound here)",
            "supported" if r2 >= r2_min else "not supported",
            f"least-squares C = {C:.3f} through the origin over {len(smooth)} reference cells with (1-rho)K/S <= 2, "
            f"R^2 = {r2:.3f}. Rule: supported if R^2 >= smooth_r2 = {r2_min:g}",
        ))  # fmt: skip
    return pd.DataFrame(rows, columns=["check", "verdict", "evidence"])


# -- claims on memory kernels beyond the shift (the target axis) ---------------------------------------


def target_claims(runs: pd.DataFrame, s: pd.DataFrame, cfg, alpha: float) -> list[tuple]:
    """Per target other than the shift and (objective, method): which init wins cell by cell (measured) and
    whether the winner beats the runner-up (the stratified rank test of the shift's claims); the bump's
    collapse on sigma S / K for learned filters; PoST's ordering after training on power-law memory."""
    rows = []
    s, runs = s[s.target != SHIFT].dropna(subset=["mean"]), runs[runs.target != SHIFT]
    for (target, objective, method), g in s.groupby(["target", "objective", "method"]):
        here = runs[(runs.target == target) & (runs.objective == objective) & (runs.method == method)]
        best = g.loc[g.groupby(["block", *CELL])["mean"].idxmin()]
        wins = best.variant.value_counts()
        wins_text = "best in " + ", ".join(f"{v}: {n}/{len(best)} cells" for v, n in wins.items())
        rows.append((f"[{target}, {objective}, {method}] Which init variant reaches the lowest loss, cell by cell",
                     "measured", wins_text))  # fmt: skip
        ranked = g.groupby("variant")["mean"].mean().sort_values()
        if len(ranked) >= 2:
            first, second = ranked.index[:2]
            c = rank_test(paired_cells(here, here.variant == first, here.variant == second, by=["block", "S", "rho"]),
                          alpha, (first, second))  # fmt: skip
            rows.append((f"[{target}, {objective}, {method}] {first} (lowest mean loss) reaches a lower loss than "
                         f"{second} (the next)", c.verdict, evidence(c, f"{first} lower", alpha)))  # fmt: skip
    rows += _bump_collapse(s, cfg)
    rows += _post_after_training(runs, s, alpha)
    return rows


def _bump_collapse(s: pd.DataFrame, cfg) -> list[tuple]:
    """The learned filters' version of the uncertainty principle on the bump: the best learned loss of each
    cell depends on sigma S / K alone (cells sharing it at different S agree within the kernels section's
    collapse_tolerance)."""
    specs = {tid: spec for tid, spec in cfg.get("targets", {}).items() if spec["name"] == "bump"}
    bumps = s[s.target.isin(specs)]
    tol, rows = {**defaults("kernels"), **cfg.get("kernels", {})}["collapse_tolerance"], []
    for (objective, method, rho), g in bumps.groupby(["objective", "method", "rho"]):
        best = g.loc[g.groupby(["block", "S", "target"])["mean"].idxmin()].copy()
        best["x"] = [round(specs[t]["sigma"] * S / specs[t]["K"], 9) for t, S in zip(best.target, best.S)]
        groups = [d for _, d in best.groupby("x") if d.S.nunique() >= 2]
        claim = f"[bump, {objective}, {method}, rho = {rho:g}] The best learned loss depends on sigma S / K alone"
        if not groups:
            rows.append((claim, "no data", "needs two bump cells with the same sigma S / K at different S"))
            continue
        worst = max(groups, key=lambda d: d["mean"].max() - d["mean"].min())
        spread = worst["mean"].max() - worst["mean"].min()
        rows.append((claim, "supported" if spread <= tol else "contradicted",
                     f"{len(groups)} values of sigma S / K shared at different S; the largest spread of the best "
                     f"learned mean loss is {spread:.4f} (sigma S / K = {worst.x.iloc[0]:g}: "
                     + ", ".join(f"S = {S}, {t}: {v:.4f}" for S, t, v in zip(worst.S, worst.target, worst["mean"]))
                     + f"). Rule: supported if every spread <= kernels.collapse_tolerance = {tol:g}"))  # fmt: skip
    return rows


def _post_after_training(runs: pd.DataFrame, s: pd.DataFrame, alpha: float) -> list[tuple]:
    """PoST's ordering after training on power-law memory: the variants of init post-geometric against those
    of post-linear and of real-ring (random real poles), by the stratified rank test over cells."""
    rows = []
    power = s[s.target.isin(s.target[s.target_spec.str.contains('"power"')])]
    for (target, objective, method), g in power.groupby(["target", "objective", "method"]):
        here = runs[(runs.target == target) & (runs.objective == objective) & (runs.method == method)]
        for geo in variants_with_init(g, "post-geometric"):
            for other in variants_with_init(g, "post-linear") + variants_with_init(g, "real-ring"):
                c = rank_test(paired_cells(here, here.variant == geo, here.variant == other, by=["block", "S", "rho"]),
                              alpha, (geo, other))  # fmt: skip
                claim = f"[{target}, {objective}, {method}] PoST after training: geometric decay rates ({geo}) reach "
                rows.append((f"{claim}a lower loss than {other}", c.verdict, evidence(c, f"{geo} lower", alpha)))
    return rows
