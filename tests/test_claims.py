"""Every verdict rule of shiftbench.claims on synthetic tables where its claim is false, where it is true,
where its design is underpowered and where there is no data.

The p-values are checked against binomial sums written out here (math.comb) and against brute-force
enumeration of rank assignments (itertools), the slopes against numpy's own polynomial fit, and the
summary that the claims read is built by the real aggregation code.
"""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shiftbench import aggregation, claims, config
from shiftbench.methods import METHODS

TINY = Path(__file__).resolve().parent.parent / "configs" / "tiny.yaml"
CELLS = [(S, K, 0.5) for S in (2, 4) for K in (8, 16, 32)]  # a 6-cell grid
REF = 0.3  # the reference of every cell


@pytest.fixture(scope="module")
def cfg():
    return config.load_config(TINY)


# -- synthetic tables --------------------------------------------------------------------------------------


def run_row(cell, variant, init, seed, loss, method="joint", **extra):
    S, K, rho = cell
    row = {
        "run_id": f"main/exact/{method}/{S}/{K}/{rho}/{variant}/{seed}",
        "block": "main",
        "S": S,
        "K": K,
        "rho": rho,
        "target": "shift",
        "target_spec": json.dumps({"K": K, "name": "shift"}),
        "objective": "exact",
        "method": method,
        "variant": variant,
        "init": init,
        "readout": "optimal",
        "family": "complex",
        "parameterisation": "exp-exp",
        "lr": 0.01,
        "seed": seed,
        "data_seed": 0,
        "status": "ok",
        "final_train_loss": loss,
        "objective_loss": loss,
        "objective_optimal_loss": loss,  # the optimum of its own poles: not above its filter's loss
        "objective_optimal_resolved": True,
        "stationary_loss": loss,
        "test_mse": loss,
        "filter_width": 2.4 * K / S,
        "initial_filter_width": 2.4 * K / S,
    }
    return {**row, **extra}


def make_runs(loss_of, cells=CELLS, variants=(("uncertainty", "uncertainty"), ("lru-ring", "lru-ring")), seeds=(0, 1),
              methods=("joint",), seeds_of=None, **extra):  # fmt: skip
    """Runs of every (cell, variant, method, seed), the loss given by ``loss_of(variant, cell, seed)``
    (or ``loss_of(variant, cell, seed, method)`` with several methods); ``seeds_of(variant)`` overrides
    the seeds of a variant (a deterministic init trained once)."""
    rows = [
        run_row(cell, variant, init, seed,
                loss_of(variant, cell, seed, method) if len(methods) > 1 else loss_of(variant, cell, seed),
                method=method, **extra)
        for cell in cells
        for variant, init in variants
        for method in methods
        for seed in (seeds_of(variant) if seeds_of else seeds)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def make_reference(cells=CELLS, value=REF, family="complex"):
    return pd.DataFrame(
        [
            {
                "family": family,
                "objective": "exact",
                "S": S,
                "K": K,
                "rho": rho,
                "target": "shift",
                "value": value,
                "certified": True,
            }
            for S, K, rho in cells
        ]  # fmt: skip
    )


def make_theory(cells=CELLS):
    rows = []
    for S, K, rho in cells:
        rows.append({"S": S, "K": K, "rho": rho, "quantity": "lower_bound", "alpha": np.nan, "value": 0.01})
        rows.append({"S": S, "K": K, "rho": rho, "quantity": "construction_best", "alpha": 1.0, "value": 0.6})
    return pd.DataFrame(rows)


def study(runs, reference=None, cells=CELLS):
    """The tables claims_table reads, the summary built by aggregation.summary_table itself."""
    reference = make_reference(cells) if reference is None else reference
    theory = make_theory(cells)
    summary = aggregation.summary_table(runs, theory, reference)
    return {"runs": runs, "summary": summary, "reference": reference, "theory": theory}


def row_of(table, text, column="claim"):
    """The one row whose claim (or check) contains ``text``."""
    rows = table[table[column].str.contains(text, regex=False)]
    assert len(rows) == 1, f"{len(rows)} rows contain {text!r}:\n{table[column].tolist()}"
    return rows.iloc[0]


def offset_loss(losses):
    """loss_of from {variant: mean loss}, seeds spread by +-0.001 around it."""
    return lambda variant, cell, seed: losses[variant] + (0.001 if seed else -0.001)


# -- sign_test ----------------------------------------------------------------------------------------------


def binomial_tail(wins, n, greater=True):
    """P(X >= wins) (greater) or P(X <= wins) for X ~ Binomial(n, 1/2), summed exactly."""
    ks = range(wins, n + 1) if greater else range(0, wins + 1)
    return sum(math.comb(n, k) for k in ks) / 2**n


@pytest.mark.parametrize(
    "diffs, verdict, wins, n",
    [
        ([0.1] * 10, "supported", 10, 10),
        ([-0.1] * 10, "contradicted", 0, 10),
        ([0.2] * 5 + [-0.2] * 5, "inconclusive", 5, 10),
        ([0.1] * 9 + [-0.1], "supported", 9, 10),  # p = 11/1024
        ([0.1] * 8 + [-0.1] * 2, "inconclusive", 8, 10),  # p = 56/1024 > 0.05
        ([0.1] * 10 + [0.0] * 4 + [np.nan], "supported", 10, 10),  # ties and missing cells left out
        ([0.1] * 4, "underpowered", 4, 4),  # all four for the claim: p = 1/16, and no 4 cells can do better
        ([-0.1] * 4 + [0.0], "underpowered", 0, 4),
        ([0.1] * 5, "supported", 5, 5),  # 1/32: five cells suffice at 0.05
    ],
)
def test_sign_test(diffs, verdict, wins, n):
    c = claims.sign_test(diffs, 0.05)
    assert (c.verdict, c.wins, c.pairs) == (verdict, wins, n)
    assert c.p_for == pytest.approx(binomial_tail(wins, n, True), rel=1e-12)
    assert c.p_against == pytest.approx(binomial_tail(wins, n, False), rel=1e-12)
    assert c.min_p == 0.5**n
    assert (c.needs == "needs >= 5 untied cells") == (verdict == "underpowered")
    text = claims.evidence(c, "A lower", 0.05)
    assert f"smallest reachable p = {0.5**n:.3g}" in text and "nan" not in text
    assert text.startswith("Underpowered: ") == (verdict == "underpowered")


@pytest.mark.parametrize("diffs, reason", [([0.0, 0.0], "no cell with a non-zero difference"), ([], "no cell")])
def test_sign_test_without_data_reads_no_data(diffs, reason):
    c = claims.sign_test(diffs, 0.05)
    assert c.verdict == "no data"
    text = claims.evidence(c, "A lower", 0.05)
    assert text.startswith(f"No data: {reason}") and "nan" not in text


def test_sign_test_all_positive_p_is_two_to_the_minus_ten():
    assert claims.sign_test(np.linspace(0.1, 1, 10), 0.05).p_for == pytest.approx(2.0**-10, rel=1e-12)
    assert claims.sign_test(-np.linspace(0.1, 1, 10), 0.05).p_against == pytest.approx(2.0**-10, rel=1e-12)


def test_sign_min_p_is_the_most_extreme_of_all_sign_patterns():
    for n in range(1, 9):
        extreme = [sum(signs) for signs in itertools.product((0, 1), repeat=n)].count(n) / 2**n
        assert claims.sign_min_p(n) == extreme


# -- the rank test over seeds, cell by cell ------------------------------------------------------------------


def brute_rank_sums(values, n1):
    """Twice x's rank sum under every assignment of ``n1`` of the pooled values to x, by enumeration."""
    ranks = 2 * stats.rankdata(values)
    return [round(sum(ranks[list(chosen)])) for chosen in itertools.combinations(range(len(values)), n1)]


def brute_stratified_p(cells):
    """P(sum of twice x's rank sums <= observed), and >=, over every joint assignment of all cells."""
    per_cell = [brute_rank_sums(np.concatenate([x, y]), len(x)) for x, y in cells]
    observed = sum(round(sum(2 * stats.rankdata(np.concatenate([x, y]))[: len(x)])) for x, y in cells)
    totals = [sum(t) for t in itertools.product(*per_cell)]
    return sum(t <= observed for t in totals) / len(totals), sum(t >= observed for t in totals) / len(totals)


@pytest.mark.parametrize("n1, n2", [(1, 1), (1, 2), (1, 5), (2, 2), (2, 3), (3, 3), (2, 5), (4, 4)])
def test_rank_min_p_is_the_most_extreme_rank_assignment(n1, n2):
    """1/C(n1+n2, n1): of every way to give n1 of the n1 + n2 ranks to one side, one puts them all lowest."""
    sums = brute_rank_sums(np.arange(n1 + n2), n1)
    assert claims.rank_min_p(n1, n2) == pytest.approx(sums.count(min(sums)) / len(sums), rel=1e-15)
    x, y = np.arange(n1), np.arange(n1, n1 + n2) + 0.5  # the most extreme outcome: every x below every y
    assert stats.mannwhitneyu(x, y, alternative="less", method="exact").pvalue == pytest.approx(
        claims.rank_min_p(n1, n2), rel=1e-12
    )


@pytest.mark.parametrize("seed", range(6))
def test_stratified_rank_p_matches_brute_force_enumeration(seed):
    rng = np.random.default_rng(seed)
    sizes = [(1, 3), (2, 2), (2, 3), (1, 1)]
    cells = [(rng.normal(0.2, 1, a), rng.normal(0, 1, b)) for a, b in sizes]
    if seed % 2:  # ties within and between the sides: midranks
        cells = [(np.round(x), np.round(y)) for x, y in cells]
    p_for, p_against = claims.stratified_rank_p(cells)
    assert (p_for, p_against) == pytest.approx(brute_stratified_p(cells), rel=1e-12)
    # the design's smallest p is the brute-force probability of its most extreme outcome
    extreme = [(np.arange(a), np.arange(a, a + b)) for a, b in sizes]
    assert claims.stratified_rank_p(extreme)[0] == pytest.approx(brute_stratified_p(extreme)[0], rel=1e-12)
    c = claims.rank_test(extreme, 0.05)
    assert c.min_p == pytest.approx(brute_stratified_p(extreme)[0], rel=1e-12) and c.p_for == pytest.approx(c.min_p)


@pytest.mark.parametrize("n1, n2", [(1, 5), (3, 4), (5, 5)])
def test_stratified_rank_p_of_one_cell_is_scipys_exact_mann_whitney(n1, n2):
    rng = np.random.default_rng(n1 * 10 + n2)
    for _ in range(5):
        x, y = rng.normal(0, 1, n1), rng.normal(0.5, 1, n2)
        p_for, p_against = claims.stratified_rank_p([(x, y)])
        assert p_for == pytest.approx(stats.mannwhitneyu(x, y, alternative="less", method="exact").pvalue)
        assert p_against == pytest.approx(stats.mannwhitneyu(x, y, alternative="greater", method="exact").pvalue)


def cells_of(shift, sizes, seed=0):
    """(x, y) per cell: x = y's distribution moved by ``shift`` (negative: A lower, the claim true)."""
    rng = np.random.default_rng(seed)
    return [(0.5 + shift + 0.01 * rng.standard_normal(a), 0.5 + 0.01 * rng.standard_normal(b)) for a, b in sizes]


@pytest.mark.parametrize(
    "shift, sizes, verdict",
    [
        (-0.1, [(5, 5)] * 3, "supported"),  # the claim true
        (+0.1, [(5, 5)] * 3, "contradicted"),  # A worse: the claim false
        (-0.1, [(1, 1)] * 4, "underpowered"),  # even all four cells for it: p = 1/16
        (-0.1, [(1, 5)], "underpowered"),  # a deterministic init trained once against five seeds: p >= 1/6
        (-0.1, [(1, 5)] * 2, "supported"),  # ... but two such cells reach 1/36
        (+0.1, [(1, 5)] * 2, "contradicted"),
        (-0.1, [(1, 1)] * 5, "supported"),  # with one run a side this is the sign test: 1/32
    ],
)
def test_rank_test_verdicts(shift, sizes, verdict):
    c = claims.rank_test(cells_of(shift, sizes), 0.05, ("uncertainty", "lru-ring"))
    assert c.verdict == verdict
    assert c.min_p == pytest.approx(math.prod(1 / math.comb(a + b, a) for a, b in sizes), rel=1e-12)
    assert c.pairs == sum(a * b for a, b in sizes) and c.wins == (c.pairs if shift < 0 else 0)
    if verdict in ("supported", "contradicted"):  # every pair one way: p is the design's smallest
        assert min(c.p_for, c.p_against) == pytest.approx(c.min_p, rel=1e-9)
    text = claims.evidence(c, "uncertainty lower", 0.05)
    assert f"smallest reachable p = {c.min_p:.3g}" in text and "Mann-Whitney" in text and "nan" not in text


@pytest.mark.parametrize(
    "sizes, needs",
    [
        ([(1, 1)] * 4, "needs >= 5 cells of n = 1 vs 1, or >= 2 seeds per side and cell in these 4 cells"),
        ([(1, 5)], "needs >= 2 cells of n = 1 vs 5, or >= 20 seeds of lru-ring per cell (uncertainty is trained once)"),
        ([(2, 2)], "needs >= 2 cells of n = 2 vs 2, or >= 4 seeds per side and cell in these 1 cells"),
    ],
)
def test_an_underpowered_rank_test_names_what_would_decide_it(sizes, needs):
    c = claims.rank_test(cells_of(-0.1, sizes), 0.05, ("uncertainty", "lru-ring"))
    assert c.verdict == "underpowered" and c.needs.startswith(needs)
    # what it names does decide: that many cells of this design, or those seeds in these cells, reach the level
    k = int(needs.split(">= ")[1].split(" ")[0])
    assert claims.rank_test(cells_of(-0.1, [sizes[0]] * k), 0.05).verdict == "supported"
    assert claims.rank_test(cells_of(-0.1, [sizes[0]] * (k - 1)), 0.05).verdict == "underpowered"
    m = int(needs.split(">= ")[2].split(" ")[0])
    once = "trained once" in needs
    raised = [(a if once else max(a, m), max(b, m)) for a, b in sizes]
    assert claims.rank_test(cells_of(-0.1, raised), 0.05).verdict == "supported"
    lower = [(a if once else max(a, m - 1), max(b, m - 1)) for a, b in sizes]
    assert claims.rank_test(cells_of(-0.1, lower), 0.05).verdict == "underpowered"


def test_rank_test_inconclusive_where_the_design_could_decide():
    """Half the cells one way, half the other: powered (min p 1/252^4), but no side wins."""
    cells = cells_of(-0.1, [(5, 5)] * 2) + cells_of(+0.1, [(5, 5)] * 2, seed=1)
    c = claims.rank_test(cells, 0.05)
    assert c.verdict == "inconclusive" and c.min_p < 1e-9 and c.p_for > 0.05 and c.p_against > 0.05


def test_rank_test_without_data_reads_no_data():
    c = claims.rank_test([(np.array([0.3, 0.4]), np.empty(0)), (np.empty(0), np.array([0.5]))], 0.05, ("a", "b"))
    assert c.verdict == "no data" and c.left_out == 2
    assert claims.evidence(c, "a lower", 0.05) == "No data: no cell has runs of both a and b (2 cell(s) left out)."
    # cells with one side only are left out of a comparison that has others
    c = claims.rank_test([(np.array([0.3]), np.empty(0)), *cells_of(-0.1, [(5, 5)])], 0.05)
    assert c.cells == 1 and c.left_out == 1 and c.verdict == "supported"


# -- width_fit and slope_verdict --------------------------------------------------------------------------------


def width_runs(power, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    rows = [
        {"S": S, "K": K, "filter_width": 2.4 * (K / S) ** power * np.exp(noise * rng.standard_normal())}
        for S in (2, 4, 8)
        for K in (16, 32, 64, 128)
        for _ in range(3)
    ]
    rows += [{"S": 2, "K": 16, "filter_width": np.nan}, {"S": 4, "K": 16, "filter_width": 0.0}]  # no width
    return pd.DataFrame(rows)


@pytest.mark.parametrize("power, verdict", [(1.0, "supported"), (0.5, "contradicted"), (1.5, "contradicted")])
def test_width_fit_and_slope_verdict(power, verdict):
    runs = width_runs(power)
    slope, (lo, hi), n = claims.width_fit(runs)
    good = runs[np.isfinite(runs.filter_width) & (runs.filter_width > 0)]
    x, y = np.log(good.K / good.S).to_numpy(), np.log(good.filter_width).to_numpy()
    fit, residuals, *_ = np.polyfit(x, y, 1, full=True)
    stderr = math.sqrt(residuals[0] / (len(x) - 2) / np.sum((x - x.mean()) ** 2))
    half = stats.t.ppf(0.975, len(x) - 2) * stderr
    assert n == len(x) == 36
    assert slope == pytest.approx(fit[0], abs=1e-10)
    assert (lo, hi) == pytest.approx((fit[0] - half, fit[0] + half), abs=1e-10)
    assert abs(slope - power) < 0.05
    assert claims.slope_verdict(lo, hi, 0.25) == verdict


@pytest.mark.parametrize(
    "lo, hi, verdict",
    [
        (0.95, 1.05, "supported"),
        (1.01, 1.2, "contradicted"),
        (0.5, 0.99, "contradicted"),
        (0.7, 1.3, "inconclusive"),  # contains 1, but wider than the tolerance
        (np.nan, 1.1, "no data"),  # no interval: the claim says why (no kernel, or too few to fit)
    ],
)
def test_slope_verdict(lo, hi, verdict):
    assert claims.slope_verdict(lo, hi, 0.25) == verdict


def test_width_fit_needs_two_ratios():
    runs = pd.DataFrame({"S": [4, 4, 4], "K": [16, 16, 16], "filter_width": [9.0, 9.5, 10.0]})
    slope, (lo, hi), n = claims.width_fit(runs)
    assert np.isnan(slope) and np.isnan(lo) and np.isnan(hi) and n == 3
    assert claims.slope_verdict(lo, hi, 0.25) == "no data"


# -- claims_table --------------------------------------------------------------------------------------------------

REGULAR_CLAIM = (
    "Regularly spaced phases (uncertainty) reach a lower loss than random init near the unit disk (lru-ring)"
)


def test_regular_phases_claim_supported_then_contradicted_when_inits_swap(cfg):
    runs = make_runs(offset_loss({"uncertainty": 0.35, "lru-ring": 0.45}))
    row = row_of(claims.claims_table(study(runs), cfg), REGULAR_CLAIM)
    assert row.verdict == "supported"
    assert row.evidence.startswith("uncertainty lower in 24/24 within-cell pairs of runs over 6 cells (n = 2 vs 2")
    assert f"one-sided p = {6**-6:.3g} for, 1 against; smallest reachable p = {6**-6:.3g}" in row.evidence

    swapped = runs.copy()  # the same rows, their init and variant labels exchanged
    regular = runs.init == "uncertainty"
    swapped.loc[regular, ["init", "variant"]] = "lru-ring"
    swapped.loc[~regular, ["init", "variant"]] = "uncertainty"
    row = row_of(claims.claims_table(study(swapped), cfg), REGULAR_CLAIM)
    assert row.verdict == "contradicted" and "uncertainty lower in 0/24 within-cell pairs" in row.evidence


def test_regular_phases_claim_inconclusive_on_a_split_grid(cfg):
    def loss(variant, cell, seed):  # uncertainty lower in the S = 2 cells only
        lower = cell[0] == 2
        return 0.35 if (variant == "uncertainty") == lower else 0.45

    row = row_of(claims.claims_table(study(make_runs(loss)), cfg), REGULAR_CLAIM)
    assert row.verdict == "inconclusive" and "uncertainty lower in 12/24 within-cell pairs" in row.evidence


@pytest.mark.parametrize(
    "cells, seeds, verdict",
    [
        (CELLS[:4], (0,), "underpowered"),  # one run a side in 4 cells: the best is 1/16
        (CELLS[:5], (0,), "supported"),  # 5 cells: 1/32
        (CELLS[:1], (0, 1), "underpowered"),  # 2 vs 2 in one cell: 1/6
        (CELLS[:2], (0, 1), "supported"),  # ... in two: 1/36
    ],
)
def test_regular_phases_claim_underpowered_where_the_design_cannot_decide(cfg, cells, seeds, verdict):
    runs = make_runs(offset_loss({"uncertainty": 0.35, "lru-ring": 0.45}), cells=cells, seeds=seeds)
    row = row_of(claims.claims_table(study(runs, cells=cells), cfg), REGULAR_CLAIM)
    assert row.verdict == verdict
    n = len(seeds)
    min_p = math.comb(2 * n, n) ** -len(cells)
    assert f"smallest reachable p = {min_p:.3g}" in row.evidence
    if verdict == "underpowered":
        assert row.evidence.startswith(f"Underpowered: the smallest p this design can reach is {min_p:.3g}")
        assert "needs >= " in row.evidence and "inconclusive" not in row.verdict


@pytest.mark.parametrize("regular_loss, cells, verdict", [
    (0.35, CELLS, "supported"),  # the deterministic init lower than all five seeds in 6 cells: p = 6^-6
    (0.55, CELLS, "contradicted"),  # the init worse: the claim false
    (0.35, CELLS[:1], "underpowered"),  # one cell of 1 vs 5 reaches 1/6 at best
    (0.35, CELLS[:2], "supported"),  # two reach 1/36
])  # fmt: skip
def test_regular_phases_claim_with_a_deterministic_init_trained_once(cfg, regular_loss, cells, verdict):
    """The exact objective: uncertainty (seed changes nothing) trained once, lru-ring over five seeds."""
    runs = make_runs(
        lambda variant, cell, seed: regular_loss if variant == "uncertainty" else 0.45 + 0.001 * seed,
        cells=cells,
        seeds_of=lambda variant: (0,) if variant == "uncertainty" else range(5),
    )
    row = row_of(claims.claims_table(study(runs, cells=cells), cfg), REGULAR_CLAIM)
    assert row.verdict == verdict
    assert "(n = 1 vs 5 runs per cell)" in row.evidence
    assert f"smallest reachable p = {6.0 ** -len(cells):.3g}" in row.evidence
    if verdict == "underpowered":
        assert "needs >= 2 cells of n = 1 vs 5, or >= 20 seeds of lru-ring per cell (uncertainty is trained once)" in (
            row.evidence
        )


def test_regular_phases_claim_no_data_when_an_init_has_no_ok_run(cfg):
    runs = make_runs(offset_loss({"uncertainty": 0.35, "lru-ring": 0.45}))
    runs.loc[runs.variant == "uncertainty", "status"] = "diverged"
    row = row_of(claims.claims_table(study(runs), cfg), REGULAR_CLAIM)
    assert row.verdict == "no data"
    assert row.evidence == "No data: no cell has runs of both uncertainty and lru-ring (6 cell(s) left out)."


# -- method claims (exact objective, cell by cell over seeds) -------------------------------------------------

PROJECTED = f"[exact] projected ({METHODS['projected'].summary}) recovers more than joint, from "
VARIANTS = (("uncertainty", "uncertainty"), ("lru-ring", "lru-ring"))


def method_study(loss_of, cells=CELLS, seeds=(0, 1, 2), real=None):
    """Runs of both methods; ``real``: a real-family variant trained with ``joint`` only."""
    runs = make_runs(loss_of, cells=cells, seeds=seeds, methods=("joint", "projected"), variants=VARIANTS)
    reference = make_reference(cells)
    if real:
        extra = make_runs(lambda *_: 0.6, cells=cells, seeds=seeds, variants=((real, "s4d-real"),), family="real")
        runs = pd.concat([runs, extra], ignore_index=True)
        reference = pd.concat([reference, make_reference(cells, family="real")], ignore_index=True)
    return study(runs, reference, cells)


@pytest.mark.parametrize("projected, verdict", [(0.35, "supported"), (0.5, "contradicted")])
def test_projected_claim_supported_and_contradicted(cfg, projected, verdict):
    def loss(variant, cell, seed, method):
        return (projected if method == "projected" else 0.45) + 0.001 * seed

    row = row_of(claims.claims_table(method_study(loss), cfg), PROJECTED + "lru-ring")
    assert row.verdict == verdict
    assert "(n = 3 vs 3 runs per cell)" in row.evidence and f"smallest reachable p = {20.0**-6:.3g}" in row.evidence
    assert f"projected {(1 - projected - 0.001) / (1 - REF):.3f}" in row.evidence  # the mean recovered fraction


def test_projected_claim_pairs_cells_across_blocks(cfg):
    """configs/paper.yaml trains each method in a block of its own (each at its own lr): the claim pairs
    the same (S, K, rho) across blocks, and decides as it does within one block."""

    def loss(variant, cell, seed, method):
        return (0.35 if method == "projected" else 0.45) + 0.001 * seed

    t = method_study(loss)
    runs = t["runs"]
    t["runs"] = runs.assign(block=np.where(runs.method == "projected", "exact-projected", "exact-joint"))
    t["summary"] = t["summary"].assign(
        block=np.where(t["summary"].method == "projected", "exact-projected", "exact-joint")
    )
    row = row_of(claims.claims_table(t, cfg), PROJECTED + "lru-ring")
    assert row.verdict == "supported" and f"over the {len(CELLS)} cells with both" in row.evidence


def test_projected_claim_underpowered_with_one_run_each_in_three_cells(cfg):
    def loss(variant, cell, seed, method):
        return 0.35 if method == "projected" else 0.45

    row = row_of(claims.claims_table(method_study(loss, cells=CELLS[:3], seeds=(0,)), cfg), PROJECTED + "uncertainty")
    assert row.verdict == "underpowered"
    assert row.evidence.startswith(
        "mean recovered over the 3 cells with both: joint 0.786, projected 0.929. Underpowered: the smallest p this "
        "design can reach is 0.125, not below significance = 0.05; needs >= 5 cells of n = 1 vs 1, or >= 2 seeds per "
        "side and cell in these 3 cells."
    )


def test_projected_claim_no_data_for_a_variant_never_trained_with_it(cfg):
    """The real family with no projected runs: "no data" with the reason, never "nan ... p = nan"."""
    row = row_of(claims.claims_table(method_study(lambda *a: 0.4, real="s4d-real"), cfg), PROJECTED + "s4d-real")
    assert row.verdict == "no data"
    assert row.evidence == "No data: s4d-real was not trained with projected."


def test_projected_claim_no_data_when_every_run_of_a_method_diverged(cfg):
    t = method_study(lambda *a: 0.4)
    runs = t["runs"].copy()
    runs.loc[(runs.variant == "uncertainty") & (runs.method == "projected"), "status"] = "diverged"
    row = row_of(claims.claims_table(study(runs), cfg), PROJECTED + "uncertainty")
    assert row.verdict == "no data"
    assert row.evidence == "No data: no ok run with projected (18 diverged, 0 failed of 18)."


# -- family claims (references: a sign test over cells) -------------------------------------------------------

FAMILY = "[exact, references] Complex poles capture more of the signal than real poles at equal state size S"


@pytest.mark.parametrize(
    "cells, real, verdict",
    [
        (CELLS, 0.5, "supported"),  # real poles worse in all 6 cells: 1/64
        (CELLS, 0.1, "contradicted"),  # real poles better: the claim false
        (CELLS[:4], 0.5, "underpowered"),  # 4 cells: 1/16 at best
    ],
)
def test_family_claim(cells, real, verdict):
    reference = pd.concat([make_reference(cells), make_reference(cells, value=real, family="real")])
    row = row_of(pd.DataFrame(claims.family_claims(reference, 0.05, 0.25), columns=["claim", "verdict", "evidence"]),
                 FAMILY)  # fmt: skip
    assert row.verdict == verdict and f"smallest reachable p = {0.5 ** len(cells):.3g}" in row.evidence
    assert ("needs >= 5 untied cells" in row.evidence) == (verdict == "underpowered")


def test_family_claim_no_data_when_the_references_tie(cfg):
    reference = pd.concat([make_reference(), make_reference(family="real")])
    (claim, verdict, text), *_ = claims.family_claims(reference, 0.05, 0.25)
    assert verdict == "no data" and text.endswith("No data: no cell with a non-zero difference (6 cell(s) left out).")


# -- width claims without data -------------------------------------------------------------------------------


def test_width_claims_read_no_data_or_underpowered_never_nan(cfg):
    runs = make_runs(offset_loss({"uncertainty": 0.35, "lru-ring": 0.45}), cells=CELLS[:1])
    rows = claims.claims_table(study(runs, cells=CELLS[:1]), cfg)
    row = row_of(rows, "every ok learned kernel")
    assert row.verdict == "underpowered"  # four kernels, all at one K/S
    assert row.evidence.startswith("Underpowered: 4 kernel(s) at 1 K/S ratio(s) give no interval; needs >= 3 kernels")
    runs = runs.assign(objective_loss=0.9, objective_optimal_loss=0.9)  # none recovers half the reference
    row = row_of(claims.claims_table(study(runs, cells=CELLS[:1]), cfg), "learned kernels recovering >= 50%")
    assert row.verdict == "no data"
    assert row.evidence == "No data: none of the 4 ok runs of this objective is in this set."
    assert not rows.evidence.str.contains("nan").any()


NO_RUN_BELOW = "No learned run is below the reference of its objective"


def test_no_run_below_reference_supported_then_contradicted(cfg):
    runs = make_runs(offset_loss({"uncertainty": 0.35, "lru-ring": 0.45}))
    t = study(runs)
    assert not t["summary"].beats_reference.any()
    assert row_of(claims.claims_table(t, cfg), NO_RUN_BELOW).verdict == "supported"

    below = runs.copy()  # one run's filter below its reference
    i = below.index[(below.variant == "lru-ring") & (below.S == 4) & (below.K == 16) & (below.seed == 1)][0]
    below.loc[i, ["objective_loss", "objective_optimal_loss"]] = REF - 0.01
    t = study(below)
    beaten = t["summary"][t["summary"].beats_reference.astype(bool)]
    assert beaten[["variant", "S", "K"]].values.tolist() == [["lru-ring", 4, 16]]
    row = row_of(claims.claims_table(t, cfg), NO_RUN_BELOW)
    assert row.verdict == "contradicted" and "1 variant cell(s)" in row.evidence and "S = 4, K = 16" in row.evidence


@pytest.mark.parametrize("resolved, verdict", [(True, "contradicted"), (False, "supported")])
def test_no_run_below_reference_counts_resolved_optima_only(cfg, resolved, verdict):
    """A run whose filter is above the reference but whose poles' optimum is below it: that optimum
    is achievable only where float64 resolves it."""
    runs = make_runs(offset_loss({"uncertainty": 0.35, "lru-ring": 0.45}))
    i = runs.index[(runs.variant == "uncertainty") & (runs.S == 2) & (runs.K == 32) & (runs.seed == 0)][0]
    runs.loc[i, "objective_optimal_loss"] = REF - 0.01
    runs.loc[i, "objective_optimal_resolved"] = resolved
    assert row_of(claims.claims_table(study(runs), cfg), NO_RUN_BELOW).verdict == verdict


REACHES = "[exact, joint] uncertainty reaches the reference of its objective in every cell"


def test_reaches_reference_not_supported_when_one_cell_recovers_half(cfg):
    close = REF + 1e-4  # recovered (1 - L)/(1 - L_ref) > 0.999 in every cell
    runs = make_runs(lambda variant, cell, seed: close if variant == "uncertainty" else 0.45)
    row = row_of(claims.claims_table(study(runs), cfg), REACHES)
    assert row.verdict == "supported"

    half = 1 - 0.5 * (1 - REF)  # recovered = 0.5
    weak = runs.copy()
    sel = (weak.variant == "uncertainty") & (weak.S == 4) & (weak.K == 8)
    weak.loc[sel, ["objective_loss", "objective_optimal_loss", "final_train_loss"]] = half
    t = study(weak)
    recovered = t["summary"].set_index(["variant", "S", "K"]).recovered
    assert recovered[("uncertainty", 4, 8)] == pytest.approx(0.5, abs=1e-12)
    row = row_of(claims.claims_table(t, cfg), REACHES)
    assert row.verdict == "not supported"
    assert "lowest mean recovered fraction 0.500 at S = 4, K = 8" in row.evidence


# -- theory_checks ---------------------------------------------------------------------------------------------

TIGHT = "[white noise] L* = 1 - Theta(S/K): the bound 1 - S/(K+1) is tight up to a constant"
WHITE = [(2, 8), (4, 16), (8, 64)]


def white_reference(tightness):
    """Exact, complex references at rho = 0 with (1 - L)(K + 1)/S equal to the given tightness."""
    return pd.DataFrame(
        [
            {"family": "complex", "objective": "exact", "S": S, "K": K, "rho": 0.0, "value": 1 - q * S / (K + 1)}
            for (S, K), q in zip(WHITE, tightness)
        ]  # fmt: skip
    )


def theory_tables(reference):
    empty = pd.DataFrame(columns=["S", "K", "rho", "quantity", "alpha", "value"])
    return {"reference": reference, "theory": empty}


@pytest.mark.parametrize(
    "tightness, verdict",
    [
        ([0.6, 0.8, 1.0], "supported"),  # 1.0: exactly on the bound 1 - S/(K+1)
        ([0.6, 1.01, 0.9], "contradicted"),  # one value below the rigorous bound
        ([0.3, 0.8, 0.9], "not supported"),  # within the bound, but below the tightness floor 0.5
    ],
)
def test_white_noise_tightness(cfg, tightness, verdict):
    ref = white_reference(tightness)
    floor = 1 - ref.S / (ref.K + 1)
    assert ((ref.value < floor - 1e-12) == (np.array(tightness) > 1)).all()  # the table is what it claims
    row = row_of(claims.theory_checks(theory_tables(ref), cfg), TIGHT, column="check")
    assert row.verdict == verdict
    assert f"from {min(tightness):.3f} to {max(tightness):.3f} over 3 cells" in row.evidence


def test_white_noise_tightness_ignores_other_objectives_and_families(cfg):
    ref = white_reference([0.6, 0.8, 0.9])
    below = 1 - 1.5 * 4 / 17  # below the bound at S = 4, K = 16, but not an exact complex reference
    extra = [{**ref.iloc[1].to_dict(), "family": "real", "value": below},
             {**ref.iloc[1].to_dict(), "objective": "sampled", "value": below}]  # fmt: skip
    ref = pd.concat([ref, pd.DataFrame(extra)], ignore_index=True)
    assert row_of(claims.theory_checks(theory_tables(ref), cfg), TIGHT, column="check").verdict == "supported"
