"""shiftbench.pruning against independent routes, unit by unit: dense least squares on a long truncated
whitened system (tests/dense.py's Cholesky colouring) for the leave-one-out costs, truncated kernels
for the kept-readout costs and the energies, a dense frequency grid for the H-infinity norms, the SVD
of a truncated Hankel matrix for the Hankel singular values, every subset for the greedy ladder."""

import itertools
import json
import logging

import dense
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from shiftbench import cli, pruning, readers
from shiftbench.targets import Bump, Exp, Shift

# Well separated poles (|a| <= 0.88): the dense Vandermonde systems stay well conditioned.
PAIRS = 0.55 * np.exp(0.4j), 0.7 * np.exp(1.1j), 0.8 * np.exp(1.9j), 0.88 * np.exp(2.7j)
REALS = 0.3, 0.55, 0.75, 0.88
LAYERS = {
    # complex family: four pairs and one real pole (as an odd-order LRU/S4D layer holds)
    "complex": (np.array([*PAIRS, *np.conj(PAIRS), -0.6]), np.array([0.3 - 0.2j, -0.5j, 0.25 + 0.1j, 0.4 + 0.3j])),
    "real": (np.array(REALS, dtype=complex), np.array([0.5, -0.3, 0.8, 0.2])),
}
TARGETS = [Shift(12), Exp(0.8), Bump(12, 2.0)]
N = 400  # lags of the dense systems: 0.88^400 < 1e-22, and every target here is negligible beyond


def layer(family, d=0.0):
    a, q = LAYERS[family]
    if family == "complex":
        b = np.concatenate([q, np.conj(q), [0.35]])
    else:
        b = q.astype(complex)
    return readers.make_layer(a, b, d, source=family)


def dense_optimal_loss(a, target, rho):
    """min_b |C^T (Phi b - d)|^2 / |C^T d|^2 on N lags, by complex least squares (numpy lstsq)."""
    d = target.sequence(N).astype(complex)
    y = dense.colour_t(d, rho)
    if a.size == 0:
        return 1.0
    A = dense.colour_t(dense.powers(a, N), rho)
    b, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(np.sum(np.abs(A @ b - y) ** 2) / np.sum(np.abs(y) ** 2))


def dense_loss(a, b, d, target, rho):
    """|C^T (c - d)|^2 / |C^T d|^2 with c the truncated kernel of (a, b) by direct powers, d at lag 0."""
    e = dense.kernel(a, b, N)
    e[0] += d
    e -= target.sequence(N)
    y, t = dense.colour_t(e, rho), dense.colour_t(target.sequence(N), rho)
    return float(y @ y / (t @ t))


def unit_mask(a, unit):
    """Remove the unit by value: the pole and, for a complex one, its conjugate."""
    keep = np.ones(a.size, bool)
    keep[np.isclose(a, unit)] = False
    keep[np.isclose(a, np.conj(unit))] = False
    return keep


# ----------------------------------------------------------------------------------------------
# Units


def test_units_pair_each_pole_with_its_conjugate_whatever_the_order():
    a = np.array([0.5 - 0.2j, 0.3, 0.7 + 0.1j, 0.5 + 0.2j, 0.7 - 0.1j, -0.2])
    assert pruning.units(a) == [(1,), (2, 4), (3, 0), (5,)]
    with pytest.raises(readers.LayerError, match="no conjugate partner"):
        pruning.units(np.array([0.5 + 0.2j, 0.5 - 0.21j]))


# ----------------------------------------------------------------------------------------------
# (1) Leave-one-out costs, per unit


@pytest.mark.parametrize("family", ["complex", "real"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_exact_and_kept_readout_costs_match_dense_least_squares_per_unit(family, target, rho):
    lay = layer(family, d=0.15)
    table = pruning.per_pole(lay, target, rho)
    a, b = lay.a, lay.b
    full = dense_optimal_loss(a, target, rho)
    own = dense_loss(a, b, lay.d, target, rho)
    assert len(table) == (5 if family == "complex" else 4)
    for row in table.itertuples():
        keep = unit_mask(a, complex(row.a_re, row.a_im))
        assert keep.sum() == a.size - row.size
        expected = dense_optimal_loss(a[keep], target, rho) - full
        assert row.exact_cost == pytest.approx(expected, abs=1e-10), row.unit
        assert row.exact_cost >= -1e-12  # fewer poles never fit better
        expected = dense_loss(a[keep], b[keep], lay.d, target, rho) - own
        assert row.kept_readout_cost == pytest.approx(expected, abs=1e-10), row.unit


def test_feedthrough_is_kept_in_the_kept_readout_cost_only():
    """d enters both losses of the kept-readout cost (so it changes it); the exact cost has no d."""
    with_d = pruning.per_pole(layer("complex", d=0.4), Shift(12), 0.3)
    without = pruning.per_pole(layer("complex", d=0.0), Shift(12), 0.3)
    np.testing.assert_array_equal(with_d["exact_cost"], without["exact_cost"])
    assert np.abs(with_d["kept_readout_cost"] - without["kept_readout_cost"]).min() > 1e-3


# ----------------------------------------------------------------------------------------------
# (2) The field's scores, per unit


def brute_hinf(a, b):
    """max over a 2^16-point frequency grid of |sum b/(1 - a e^{-iw})|, refined by a bounded search."""
    h = lambda w: abs(np.sum(b / (1 - a * np.exp(-1j * w))))  # noqa: E731
    grid = np.linspace(0, np.pi, 2**16 + 1)
    values = np.abs((b[:, None] / (1 - a[:, None] * np.exp(-1j * grid)[None, :])).sum(axis=0))
    i = int(np.argmax(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    best = minimize_scalar(lambda w: -h(w), bounds=(lo, hi), method="bounded", options={"xatol": 1e-13})
    return max(values[i], -best.fun)


SCORE_UNITS = [  # (poles, readouts) of one unit: pairs with the peak inside (0, pi), near 0, a real pole of each sign
    (np.array([0.8 * np.exp(1.2j), 0.8 * np.exp(-1.2j)]), np.array([0.3 - 0.4j, 0.3 + 0.4j])),
    (np.array([0.85 * np.exp(0.05j), 0.85 * np.exp(-0.05j)]), np.array([-0.2 + 1.1j, -0.2 - 1.1j])),
    (np.array([0.6 * np.exp(2.9j), 0.6 * np.exp(-2.9j)]), np.array([1.0 + 0.0j, 1.0 - 0.0j])),
    (np.array([0.7 * np.exp(1.6j), 0.7 * np.exp(-1.6j)]), np.array([0.0 + 0.5j, 0.0 - 0.5j])),
    (np.array([0.75 + 0j]), np.array([-0.4 + 0j])),
    (np.array([-0.65 + 0j]), np.array([0.9 + 0j])),
]


@pytest.mark.parametrize("unit", range(len(SCORE_UNITS)))
def test_scores_match_brute_force_per_unit(unit):
    a, b = SCORE_UNITS[unit]
    c = dense.kernel(a, b, N)  # the unit's real kernel
    assert pruning.hinf_norm(a, b) == pytest.approx(brute_hinf(a, b), rel=1e-9)
    assert pruning.energy(a, b) == pytest.approx(float(c @ c), rel=1e-12)
    H = c[np.add.outer(np.arange(N // 2), np.arange(N // 2))]  # H_ij = c_{i+j}: rank 1 or 2
    sv = np.linalg.svd(H, compute_uv=False)
    assert sv[a.size :].max() < 1e-12 * sv[0]
    assert pruning.hankel_nuclear(a, b) == pytest.approx(sv[: a.size].sum(), rel=1e-10)


def test_score_columns_are_the_scores_of_each_units_own_poles():
    lay = layer("complex")
    table = pruning.per_pole(lay, Shift(12), 0.0)
    total = sum(pruning.hankel_nuclear(lay.a[list(u)], lay.b[list(u)]) for u in pruning.units(lay.a))
    for row in table.itertuples():
        keep = ~unit_mask(lay.a, complex(row.a_re, row.a_im))
        assert row.hinf == pytest.approx(brute_hinf(lay.a[keep], lay.b[keep]), rel=1e-9)
        c = dense.kernel(lay.a[keep], lay.b[keep], N)
        assert row.energy == pytest.approx(float(c @ c), rel=1e-12)
        assert row.hankel == pytest.approx(pruning.hankel_nuclear(lay.a[keep], lay.b[keep]) / total, rel=1e-12)


# ----------------------------------------------------------------------------------------------
# (3) The ladder: greedy against every subset


def random_layer(kind, seed):
    """Random poles as learned layers have them (moduli in area on [0.5, 0.99]): 'complex' 6 pairs (S = 12),
    'mixed' 4 pairs and 4 real poles (S = 12), 'real' 10 positive real poles (S = 10)."""
    rng = np.random.default_rng(seed)
    pairs, reals = {"complex": (6, 0), "mixed": (4, 4), "real": (0, 10)}[kind]
    p = np.sqrt(rng.uniform(0.25, 0.98, pairs)) * np.exp(1j * rng.uniform(0.05, np.pi - 0.05, pairs))
    r = np.sqrt(rng.uniform(0.25, 0.98, reals)) * (rng.choice([-1, 1], reals) if kind == "mixed" else 1)
    a = np.concatenate([p, p.conj(), r])
    q = rng.normal(size=pairs) + 1j * rng.normal(size=pairs)
    return readers.make_layer(a, np.concatenate([q, q.conj(), rng.normal(size=reals)]), source=f"{kind}{seed}")


GREEDY_CASES = [(kind, seed, target, rho) for kind in ("complex", "mixed", "real") for seed in range(4)
                for target, rho in ((Shift(16), 0.0), (Shift(16), 0.7), (Exp(0.95), 0.0))]  # fmt: skip


def greedy_gaps():
    """(case, k, greedy L*, exhaustive L*) for every case and k."""
    out = []
    for kind, seed, target, rho in GREEDY_CASES:
        lay = random_layer(kind, seed)
        steps = pruning.ladder(lay, target, rho)
        n = len(pruning.units(lay.a))
        found = pruning.units(lay.a)
        best = {}
        for keep in itertools.chain.from_iterable(itertools.combinations(range(n), k) for k in range(1, n + 1)):
            poles = lay.a[[i for u in keep for i in found[u]]]
            best[len(keep)] = min(best.get(len(keep), np.inf), pruning.optimal_loss(poles, target, rho))
        for row in steps.itertuples():
            out.append(((kind, seed, target.name, rho), n, row.k, row.loss, best[row.k]))
    return out


# What docs/pruning.md records (section 3): over the 36 cases above, greedy misses the best subset
# at 76 of 216 (case, k) with 1 <= k <= n - 2, by at most 0.2564 (median miss 0.0141); never on exp.
RECORDED_MISSES, RECORDED_MAX = 76, 0.2564


def test_greedy_ladder_against_the_exhaustive_best_subset():
    gaps = greedy_gaps()
    misses, inner = [], 0
    for case, n, k, greedy, best in gaps:
        assert greedy >= best - 1e-12, (case, k)  # the exhaustive best is the best
        if k >= n - 1:
            assert greedy == pytest.approx(best, abs=1e-12), (case, k)  # k = n: all; k = n-1: every removal tried
        else:
            inner += 1
            if greedy > best + 1e-9:
                misses.append(greedy - best)
    print(f"greedy misses the best subset at {len(misses)} of {inner} (case, k) with k <= n-2; "
          f"max {max(misses, default=0):.4g}, median {np.median(misses) if misses else 0:.4g}")  # fmt: skip
    assert len(misses) == RECORDED_MISSES
    assert max(misses) == pytest.approx(RECORDED_MAX, abs=5e-5)
    assert not [g for g in gaps if g[0][2] == "exp" and g[3] > g[4] + 1e-9]  # one real pole near lam: no trap


def test_ladder_is_nested_and_monotone_and_exhaustive_refuses_bad_k():
    lay = random_layer("complex", 0)
    steps = pruning.ladder(lay, Shift(16), 0.0)
    kept = [set(map(int, u.split())) for u in steps["units"]]
    assert all(kept[i] < kept[i + 1] for i in range(len(kept) - 1))  # one unit added per step
    assert np.all(np.diff(steps["loss"]) <= 1e-12)  # more units never fit worse
    assert list(steps["order"]) == [2 * k for k in steps["k"]]
    for k in (0, 7, 2.5):
        with pytest.raises(ValueError, match="k must be an integer in 1..6"):
            pruning.exhaustive(lay, Shift(16), 0.0, k)


# ----------------------------------------------------------------------------------------------
# (4) Grading


def test_grades_tau_by_counting_pairs_and_heuristic_sublayers_by_dense_least_squares():
    lay = random_layer("mixed", 1)
    target, rho = Shift(16), 0.7
    an = pruning.analyse(lay, target, rho)
    table, found = an.per_pole, pruning.units(lay.a)
    cost = table["exact_cost"].to_numpy()
    for score in pruning.GRADED:
        x = table["kept_readout_cost" if score == "kept_readout" else score].to_numpy()
        pairs = list(itertools.combinations(range(len(x)), 2))
        tau = sum(np.sign(x[i] - x[j]) * np.sign(cost[i] - cost[j]) for i, j in pairs) / len(pairs)  # no ties
        row = an.grades.set_index("score").loc[score]
        assert row.kendall_tau == pytest.approx(tau, abs=1e-12), score
        order = np.argsort(-x, kind="stable")
        for k in range(1, len(found) + 1):
            poles = lay.a[[i for u in order[:k] for i in found[u]]]
            expected = dense_optimal_loss(poles, target, rho)
            assert an.ladder[f"loss_{score}"].iloc[k - 1] == pytest.approx(expected, abs=1e-9), (score, k)
        excess = an.ladder[f"loss_{score}"].to_numpy()[:-1] - an.ladder["loss"].to_numpy()[:-1]
        assert row.mean_excess == pytest.approx(excess.mean(), abs=1e-15)


def test_scores_equal_up_to_rounding_are_ties_not_a_ranking():
    """The paper's construction has one readout modulus and one pole modulus: every pair's H-infinity norm
    is the same number up to rounding, so hinf ranks nothing (tau NaN), whatever the rounding noise says."""
    from shiftbench import theory

    a, b = theory.construction(16, 64, 1.0)
    lay = readers.make_layer(a, b, source="construction")
    an = pruning.analyse(lay, Shift(64), 0.9, references=False)
    hinf = an.per_pole["hinf"].to_numpy()
    assert np.ptp(hinf) < 1e-13 * hinf.max()  # equal up to rounding
    assert np.isnan(an.grades.set_index("score").loc["hinf", "kendall_tau"])
    assert an.grades.set_index("score").loc["kept_readout", "kendall_tau"] > 0.9  # a real ranking stays


# ----------------------------------------------------------------------------------------------
# The command line


@pytest.fixture
def lru_file(tmp_path):
    torch = pytest.importorskip("torch")
    LRU = pytest.importorskip("LRU_pytorch").LRU
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(3)
    module = LRU(1, 1, 8, rmin=0.4, rmax=0.95)
    torch.set_default_dtype(previous)
    path = tmp_path / "lru.pt"
    torch.save(module.state_dict(), path)
    return path, module


def test_evaluate_per_pole_ladder_and_figure_on_an_lru_pytorch_layer(lru_file, tmp_path, capsys):
    path, module = lru_file
    out = {name: tmp_path / f"{name}.csv" for name in ("per_pole", "ladder", "grades")}
    plot = tmp_path / "ladder.png"
    args = ["evaluate", str(path), "--K", "10", "--rho", "0", "0.5", "--per-pole", str(out["per_pole"]),
            "--ladder", str(out["ladder"]), "--ladder-plot", str(plot), "--grades", str(out["grades"])]  # fmt: skip
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "exact_cost" in printed and "kendall_tau" in printed
    per_pole = pd.read_csv(out["per_pole"])
    assert len(per_pole) == 2 * 8 and set(per_pole["size"]) == {2}
    lam = np.exp(-np.exp(module.nu_log.detach().numpy())) * np.exp(1j * np.exp(module.theta_log.detach().numpy()))
    for rho, rows in per_pole.groupby("rho"):  # one row per LRU mode, the mode's own Lambda
        got = np.sort_complex(rows["a_re"].to_numpy() + 1j * np.abs(rows["a_im"].to_numpy()))
        np.testing.assert_allclose(got, np.sort_complex(lam.real + 1j * np.abs(lam.imag)), rtol=1e-14)
        lay = readers.read_layer(path)
        full = dense_optimal_loss(lay.a, Shift(10), rho)
        for row in rows.itertuples():
            keep = unit_mask(lay.a, complex(row.a_re, row.a_im))
            assert row.exact_cost == pytest.approx(dense_optimal_loss(lay.a[keep], Shift(10), rho) - full, abs=1e-9)
    ladder = pd.read_csv(out["ladder"])
    assert list(ladder.groupby("rho")["k"].apply(list).iloc[0]) == list(range(1, 9))
    assert plot.stat().st_size > 10_000
    assert set(pd.read_csv(out["grades"])["score"]) == set(pruning.GRADED)

    # --prune k: the ladder's sublayer of k units, readout re-fit, as a layer file evaluate reads back
    pruned = tmp_path / "pruned.npz"
    assert cli.main(["evaluate", str(path), "--K", "10", "--rho", "0.5", "--prune", "3", str(pruned)]) == 0
    small = readers.read_layer(pruned)
    row = ladder[(ladder.rho == 0.5) & (ladder.k == 3)].iloc[0]
    kept = [int(u) for u in row.units.split()]
    full = readers.read_layer(path)
    expected = np.concatenate([full.a[list(pruning.units(full.a)[u])] for u in kept])
    np.testing.assert_allclose(np.sort_complex(small.a), np.sort_complex(expected), rtol=1e-15)
    assert small.S == 6 and small.d == 0
    assert dense_loss(small.a, small.b, 0.0, Shift(10), 0.5) == pytest.approx(row.loss, abs=1e-10)  # b* reaches L*


def test_evaluate_per_pole_with_a_memory_target(tmp_path):
    """--target instead of --K: the costs are those of that target (dense least squares per unit)."""
    lay = layer("complex", d=0.2)
    path, out = tmp_path / "layer.npz", tmp_path / "pp.csv"
    np.savez(path, a=lay.a, b=lay.b, d=lay.d)
    spec = '{"name": "exp", "lam": 0.8}'
    assert cli.main(["evaluate", str(path), "--target", spec, "--rho", "0.6", "--per-pole", str(out)]) == 0
    table = pd.read_csv(out)
    assert set(table["target"]) == {"exp(lam=0.8)"}
    full = dense_optimal_loss(lay.a, Exp(0.8), 0.6)
    for row in table.itertuples():
        keep = unit_mask(lay.a, complex(row.a_re, row.a_im))
        assert row.exact_cost == pytest.approx(dense_optimal_loss(lay.a[keep], Exp(0.8), 0.6) - full, abs=1e-10)


def test_bad_pruning_input_is_one_line_exit_2_and_writes_nothing(tmp_path, caplog):
    single = tmp_path / "one.npz"
    np.savez(single, a=np.array([0.5 + 0.5j, 0.5 - 0.5j]), b=np.array([1 + 0j, 1 - 0j]))
    two = tmp_path / "two.npz"
    np.savez(two, a=np.array([0.5, 0.7]), b=np.array([1.0, -1.0]))
    out, per_pole, pnpz = tmp_path / "eval.csv", tmp_path / "pp.csv", str(tmp_path / "p.npz")
    cases = {
        "single unit": [str(single), "--K", "4", "--per-pole", str(per_pole)],
        "unknown score": [str(two), "--K", "4", "--per-pole", str(per_pole), "--scores", "hinf", "magic"],
        "k must be an integer in 1..2": [str(two), "--K", "4", "--per-pole", str(per_pole), "--prune", "3", pnpz],
        "k must be an integer in 1..2 ": [str(two), "--K", "4", "--per-pole", str(per_pole), "--prune", "x", pnpz],
        "one lag and one rho": [str(two), "--K", "4", "8", "--per-pole", str(per_pole), "--prune", "1", pnpz],
    }
    for what, args in cases.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="shiftbench"):
            assert cli.main(["evaluate", *args, "--out", str(out)]) == 2, what
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "\n" not in errors[0] and what.strip() in errors[0], (what, errors)
        assert not out.exists() and not per_pole.exists() and not (tmp_path / "p.npz").exists(), what
    assert cli.main(["pruning", "--runs", str(out), "--options", '{"block": "b", "scores": ["magic"]}',
                     "--out", str(per_pole)]) == 2  # fmt: skip
    assert not per_pole.exists()


# ----------------------------------------------------------------------------------------------
# The study table


def fake_runs(path, block="b"):
    runs = []
    for i, (variant, K) in enumerate([("v1", 8), ("v1", 16), ("v2", 8)]):
        lay = random_layer("mixed", 10 + i)
        runs.append({"block": block, "objective": "exact", "method": "joint", "variant": variant, "S": 12, "K": K,
                     "rho": 0.7, "status": "ok", "learned_poles": [[z.real, z.imag] for z in lay.a],
                     "learned_readout": [[z.real, z.imag] for z in lay.b]})  # fmt: skip
    runs.append({**runs[2], "K": 10, "target": "exp-0.9", "target_spec": {"name": "exp", "lam": 0.9}})
    runs.append({**runs[0], "status": "diverged"})  # left out
    runs.append({**runs[0], "block": "other"})  # another block: left out
    path.write_text(json.dumps({"runs": runs}))
    return runs


def test_study_table_is_the_mean_of_each_runs_grades(tmp_path):
    runs = fake_runs(tmp_path / "runs.json")
    out = tmp_path / "pruning.csv"
    assert cli.main(["pruning", "--runs", str(tmp_path / "runs.json"), "--options", '{"block": "b"}',
                     "--out", str(out)]) == 0  # fmt: skip
    table = pd.read_csv(out)
    assert set(table["variant"]) == {"v1", "v2"} and set(table["score"]) == set(pruning.GRADED)
    v1 = [pruning.run_grades(r).set_index("score") for r in runs[:2]]
    for score in pruning.GRADED:
        row = table[(table.variant == "v1") & (table.score == score)].iloc[0]
        assert row.n_runs == 2
        assert row.mean_tau == pytest.approx(np.mean([g.loc[score, "kendall_tau"] for g in v1]), abs=1e-12)
        assert row.mean_excess == pytest.approx(np.mean([g.loc[score, "mean_excess"] for g in v1]), abs=1e-12)
    assert set(table["target"]) == {"shift", "exp-0.9"}
    assert list(table.set_index(["variant", "target"])["n_cells"].groupby(level=[0, 1]).first()) == [2, 1, 1]
    exp = table[table.target == "exp-0.9"].set_index("score")
    graded = pruning.analyse(random_layer("mixed", 12), {"name": "exp", "lam": 0.9}, 0.7).grades.set_index("score")
    np.testing.assert_allclose(exp["mean_tau"], graded.loc[exp.index, "kendall_tau"], atol=1e-12)


def test_pruning_config_is_validated_before_any_job():
    from shiftbench import config as sbconfig

    cfg = sbconfig.load_config(str(__import__("conftest").TINY))
    assert cfg["pruning"]["block"] is None  # off by default
    assert sbconfig.schema_node("pruning", "scores")["items"]["enum"] == list(pruning.GRADED)
    big = {**cfg, "pruning": {"block": sbconfig.MAIN, "max_S": 3}}  # the tiny main block has S = 4
    with pytest.raises(sbconfig.ConfigError, match="max_S"):
        sbconfig.validate_config(big)
    bad = sbconfig.load_config(str(__import__("conftest").TINY))
    bad["pruning"] = {"block": "no-such-block"}
    with pytest.raises(sbconfig.ConfigError, match="pruning.block"):
        sbconfig.validate_config(bad)
    bad["pruning"] = {"block": sbconfig.MAIN, "scores": ["magic"]}
    with pytest.raises(sbconfig.ConfigError, match="pruning"):
        sbconfig.validate_config(bad)


@pytest.mark.slow
def test_the_workflow_rule_writes_the_pruning_table_of_the_chosen_block(tmp_path):
    """The tiny config with pruning on for its `projected` block (S = 6): the rule reads that block's runs only."""
    from conftest import snakemake

    snakemake(tmp_path, "--cores", "1", "results/tables/pruning.csv", "--config", "pruning={block: projected}")
    table = pd.read_csv(tmp_path / "results" / "tables" / "pruning.csv")
    assert set(table["block"]) == {"projected"} and set(table["score"]) == set(pruning.GRADED)
    assert (table["n_runs"] == 2).all()  # 2 lags, one seed and lr, per (method, variant)
    assert (tmp_path / "logs" / "pruning.log").exists()
    assert (tmp_path / "results" / "benchmarks" / "pruning.tsv").exists()
    dry = snakemake(tmp_path, "-n", "--cores", "1").stdout  # off by default: the plain study has no pruning job
    assert "rule pruning" not in dry and "pruning.csv" not in dry
