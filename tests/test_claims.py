"""Every verdict rule of shiftbench.claims on synthetic tables where its claim is false and where it is true.

The p-values are checked against binomial sums written out here (math.comb), the slopes against numpy's
own polynomial fit, and the summary that the claims read is built by the real aggregation code.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shiftbench import aggregation, claims, config

TINY = Path(__file__).resolve().parent.parent / "configs" / "tiny.yaml"
CELLS = [(S, K, 0.5) for S in (2, 4) for K in (8, 16, 32)]  # a 6-cell grid
REF = 0.3  # the reference of every cell


@pytest.fixture(scope="module")
def cfg():
    return config.load_config(TINY)


# -- synthetic tables --------------------------------------------------------------------------------------


def run_row(cell, variant, init, seed, loss, **extra):
    S, K, rho = cell
    row = {
        "run_id": f"main/exact/joint/{S}/{K}/{rho}/{variant}/{seed}",
        "block": "main",
        "S": S,
        "K": K,
        "rho": rho,
        "objective": "exact",
        "method": "joint",
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
        "objective_optimal_certified": True,
        "stationary_loss": loss,
        "test_mse": loss,
        "filter_width": 2.4 * K / S,
        "initial_filter_width": 2.4 * K / S,
    }
    return {**row, **extra}


def make_runs(loss_of, cells=CELLS, variants=(("uncertainty", "uncertainty"), ("lru-ring", "lru-ring")), seeds=(0, 1)):
    """Runs of every (cell, variant, seed), the loss given by ``loss_of(variant, cell, seed)``."""
    rows = [
        run_row(cell, variant, init, seed, loss_of(variant, cell, seed))
        for cell in cells
        for variant, init in variants
        for seed in seeds
    ]
    return pd.DataFrame(rows)


def make_reference(cells=CELLS, value=REF):
    return pd.DataFrame(
        [
            {"family": "complex", "objective": "exact", "S": S, "K": K, "rho": rho, "value": value, "certified": True}
            for S, K, rho in cells
        ]  # fmt: skip
    )


def make_theory(cells=CELLS):
    rows = []
    for S, K, rho in cells:
        rows.append({"S": S, "K": K, "rho": rho, "quantity": "lower_bound", "alpha": np.nan, "value": 0.01})
        rows.append({"S": S, "K": K, "rho": rho, "quantity": "construction_best", "alpha": 1.0, "value": 0.6})
    return pd.DataFrame(rows)


def study(runs, reference=None):
    """The tables claims_table reads, the summary built by aggregation.summary_table itself."""
    reference = make_reference() if reference is None else reference
    theory = make_theory()
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
        ([0.0, 0.0], "inconclusive", 0, 0),
    ],
)
def test_sign_test(diffs, verdict, wins, n):
    got, got_wins, got_n, p = claims.sign_test(diffs, 0.05)
    assert (got, got_wins, got_n) == (verdict, wins, n)
    if n == 0:
        assert np.isnan(p)
    else:
        expected = min(binomial_tail(wins, n, True), binomial_tail(wins, n, False))
        assert p == pytest.approx(expected, rel=1e-12)


def test_sign_test_all_positive_p_is_two_to_the_minus_ten():
    assert claims.sign_test(np.linspace(0.1, 1, 10), 0.05)[3] == pytest.approx(2.0**-10, rel=1e-12)
    assert claims.sign_test(-np.linspace(0.1, 1, 10), 0.05)[3] == pytest.approx(2.0**-10, rel=1e-12)


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
        (np.nan, 1.1, "inconclusive"),
    ],
)
def test_slope_verdict(lo, hi, verdict):
    assert claims.slope_verdict(lo, hi, 0.25) == verdict


def test_width_fit_needs_two_ratios():
    runs = pd.DataFrame({"S": [4, 4, 4], "K": [16, 16, 16], "filter_width": [9.0, 9.5, 10.0]})
    slope, (lo, hi), n = claims.width_fit(runs)
    assert np.isnan(slope) and np.isnan(lo) and np.isnan(hi) and n == 3
    assert claims.slope_verdict(lo, hi, 0.25) == "inconclusive"


# -- claims_table --------------------------------------------------------------------------------------------------

REGULAR_CLAIM = (
    "Regularly spaced phases (uncertainty) reach a lower loss than random init near the unit disk (lru-ring)"
)


def test_regular_phases_claim_supported_then_contradicted_when_inits_swap(cfg):
    runs = make_runs(offset_loss({"uncertainty": 0.35, "lru-ring": 0.45}))
    row = row_of(claims.claims_table(study(runs), cfg), REGULAR_CLAIM)
    assert row.verdict == "supported" and "in 6/6 cells" in row.evidence

    swapped = runs.copy()  # the same rows, their init and variant labels exchanged
    regular = runs.init == "uncertainty"
    swapped.loc[regular, ["init", "variant"]] = "lru-ring"
    swapped.loc[~regular, ["init", "variant"]] = "uncertainty"
    row = row_of(claims.claims_table(study(swapped), cfg), REGULAR_CLAIM)
    assert row.verdict == "contradicted" and "in 0/6 cells" in row.evidence


def test_regular_phases_claim_inconclusive_on_a_split_grid(cfg):
    def loss(variant, cell, seed):  # uncertainty lower in the S = 2 cells only
        lower = cell[0] == 2
        return 0.35 if (variant == "uncertainty") == lower else 0.45

    row = row_of(claims.claims_table(study(make_runs(loss)), cfg), REGULAR_CLAIM)
    assert row.verdict == "inconclusive" and "in 3/6 cells" in row.evidence


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


@pytest.mark.parametrize("certified, verdict", [(True, "contradicted"), (False, "supported")])
def test_no_run_below_reference_counts_certified_optima_only(cfg, certified, verdict):
    """A run whose filter is above the reference but whose poles' optimum is below it: that optimum
    is achievable only where it is certified."""
    runs = make_runs(offset_loss({"uncertainty": 0.35, "lru-ring": 0.45}))
    i = runs.index[(runs.variant == "uncertainty") & (runs.S == 2) & (runs.K == 32) & (runs.seed == 0)][0]
    runs.loc[i, "objective_optimal_loss"] = REF - 0.01
    runs.loc[i, "objective_optimal_certified"] = certified
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
