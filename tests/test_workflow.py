"""The Snakemake study end to end, through the real snakemake, on configs/tiny.yaml."""

import json
from pathlib import Path

import dense
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY, read_tables, snakemake
from scipy.linalg import toeplitz
from scipy.signal import lfilter

from shiftbench import aggregation, claims, plots, selection, signals, targets, theory
from shiftbench import config as sbconfig
from shiftbench.config import load_config
from shiftbench.outputs import FIGURES

pytestmark = pytest.mark.slow


def test_lint(tmp_path):
    proc = snakemake(REPO, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_lists_the_dag(tmp_path):
    out = snakemake(tmp_path, "-n").stdout
    for rule in ["dataset", "train", "theory", "aggregate", "figures", "provenance"]:
        assert rule in out
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c["grid"].update(rho=[0.5, 1.2]), ["grid.rho.1", "[0, 1)"]),
        (lambda c: c["train"].update(lr=[float("nan")]), ["train.lr.0", "not a finite number"]),
    ],
)
def test_bad_config_is_rejected_before_any_job(tmp_path, mutate, message):
    cfg = yaml.safe_load(TINY.read_text())
    mutate(cfg)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "--cores", "1", configfile=bad, check=False)
    assert proc.returncode != 0
    assert all(m in proc.stderr for m in message), proc.stderr[-2000:]
    assert not (tmp_path / "results").exists()


def test_rho_values_reach_every_table_unchanged(tmp_path):
    """Two rhos that agree to eight digits: their own files, their exact values in every table."""
    rhos = [0.95123456, 0.951234561]
    cfg = {
        "grid": {"S": [2], "K": [2], "rho": rhos},
        "inits": {"uncertainty": {"init": "uncertainty"}},
        "objectives": ["sampled"],
        "train": {"seeds": [0], "lr": [0.01], "steps": 4, "batch_size": 4, "log_every": 2},
        "data": {"n_train": 8, "n_test": 8, "t_eval": 4},
        "theory": {
            "alphas": [1.0],
            "reference": {"construction_starts": 1, "random_starts": 0, "iterations": 2, "hops": 0},
        },  # fmt: skip
        "figures": {
            "kernels_S": 2,
            "curves": {"S": 2, "K": 4, "rho": rhos[1]},
            "frequency": {"S": 5, "K": 20},
            "terms": {"S": 5, "K": 20},
        },
    }
    path = tmp_path / "rho.yaml"
    path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, "--cores", "2", "results/tables/runs.parquet", configfile=path)  # the tables only
    tables = read_tables(tmp_path)
    for name, table in tables.items():
        if "rho" in table:
            assert set(table.rho) == set(rhos), name
    assert tables["runs"].run_id.is_unique and len(tables["runs"]) == 2


def test_tables_have_their_schema_and_rows(tiny_run):
    t = read_tables(tiny_run)
    cfg = load_config(TINY)
    blocks = sbconfig.blocks(cfg)
    # On the exact objective a run its seed cannot change is trained once: in the tiny config, the
    # uncertainty init with the optimal readout (its poles and readout are those of the construction).
    deterministic = {"uncertainty"}
    expected = sum(
        len(b.unit_cells())
        * len(b.train["methods"])
        * len(b.train["lr"])
        * len(cfg["data"]["seeds"])
        * (1 if objective == "exact" and variant in deterministic else len(b.train["seeds"]))
        for b in blocks
        for objective in b.objectives
        for variant in b.variants
    )
    runs = t["runs"]
    assert len(runs) == expected and runs.run_id.is_unique
    once = (runs.objective == "exact") & runs.variant.isin(deterministic)
    assert runs[once].seed_invariant.all() and not runs[~once].seed_invariant.any()
    assert (runs[once].seed == 0).all()
    for col in [
        "block",
        "S",
        "K",
        "rho",
        "objective",
        "method",
        "variant",
        "init",
        "readout",
        "init_params",
        "lr",
        "seed",
        "burn_in",
        "status",
        "objective_loss",
        "objective_optimal_loss",
        "objective_optimal_resolved",
        "stationary_loss",
        "stationary_optimal_loss",
        "final_train_loss",
        "test_mse",
        "initial_objective_loss",
        "filter_width",
        "steps_done",
        "wall_time",
        "torch_version",
        "numpy_version",
        "snakemake_version",
        "shiftbench_version",
    ]:
        assert col in runs.columns, col
    assert set(runs.status) <= {"ok", "diverged"} and set(runs.method) == {"joint", "projected", "reseed"}
    assert set(runs.family) == {"complex", "real"} and set(runs.parameterisation) == {"exp-exp", "zoh"}
    ok = runs[runs.status == "ok"]
    assert len(ok) > 0.9 * len(runs)
    assert np.all(np.isfinite(ok[["objective_loss", "stationary_loss", "final_train_loss", "initial_objective_loss"]]))
    sampled = ok[ok.objective == "sampled"]
    assert np.all(np.isfinite(sampled.test_mse)) and ok[ok.objective == "exact"].test_mse.isna().all()
    # curves: one point every log_every steps; params: S poles per ok run
    assert len(t["curves"]) == (ok.steps // cfg["train"]["log_every"] + 1).sum()
    assert len(t["params"]) == ok.S.sum()
    # theory: per cell a bound, the Laguerre limit, constructions for both readouts and every alpha, the
    # construction's window optimum where the sampled objective is trained
    q = t["theory"].groupby("quantity").size()
    n_cells = len(sbconfig.all_cells(cfg))
    n_sampled = len({c for b in blocks if "sampled" in b.objectives for c in b.cells()})
    assert q["lower_bound"] == q["laguerre_limit"] == n_cells and q["construction_window_optimal"] == n_sampled
    assert q["construction_paper"] == q["construction_optimal"] == n_cells * len(cfg["theory"]["alphas"])
    # reference: the complex stationary one of every cell, and one per family and objective trained there
    ref = t["reference"]
    assert ref.set_index(["family", "objective", "S", "K", "rho", "target"]).index.is_unique
    shift, target_refs = ref[ref.target == "shift"], ref[ref.target != "shift"]
    assert len(shift[(shift.family == "complex") & (shift.objective == "exact")]) == n_cells
    assert len(shift[shift.objective == "sampled"]) == n_sampled * 2  # complex and real variants trained there
    # every target cell: both families (a real variant, and the complex baseline), its objective and exact
    units = {u for b in blocks if b.targets for u in b.unit_cells()}
    assert set(zip(target_refs.rho, target_refs.S, target_refs.K, target_refs.target)) == units
    assert target_refs.lower_bound.isna().all() and target_refs.lower_bound_note.str.contains("no rigorous").all()
    assert (shift.value >= shift.lower_bound - 1e-12)[shift.objective == "exact"].all()
    real = ref[ref.family == "real"]
    assert len(real) and np.isfinite(real.family_gain).all()
    # on the shift complex poles never lose to real ones; a memory target may favour real poles (exp: one
    # real pole at lambda is exact, which S/2 conjugate pairs cannot place)
    assert (real[real.target == "shift"].family_gain <= 1 + 1e-9).all()
    s = t["summary"]
    assert len(s) == sum(
        len(b.unit_cells()) * len(b.objectives) * len(b.variants) * len(b.train["methods"]) for b in blocks
    )
    for col in [
        "block",
        "objective",
        "method",
        "n",
        "mean",
        "std",
        "ci_low",
        "ci_high",
        "min",
        "max",
        "reference",
        "reference_certified",
        "beats_reference",
        "gap",
        "recovered",
        "complex_reference",
        "recovered_vs_complex",
        "stationary_mean",
        "stationary_reference",
        "stationary_recovered",
        "best_construction",
        "lower_bound",
        "n_diverged",
        "lr",
        "lr_selected_on",
    ]:
        assert col in s.columns, col
    np.testing.assert_allclose(s.gap, s["mean"] - s.reference)
    np.testing.assert_allclose(s.recovered, (1 - s["mean"]) / (1 - s.reference))
    # every summary row's reference is the reference table's value of its family, objective and cell
    looked_up = ref.set_index(["family", "objective", "S", "K", "rho", "target"]).value
    keys = list(zip(s.family, s.objective, s.S, s.K, s.rho, s.target))
    np.testing.assert_array_equal(s.reference, looked_up.loc[keys])
    one_lr = s.block.map({b.name: len(b.train["lr"]) == 1 for b in blocks})
    assert (s.lr_selected_on[~one_lr] == selection.LR_SELECTED_ON).all()
    assert (s.lr_selected_on[one_lr] == selection.LR_FIXED).all()


def window_loss_dense(a, b, K, rho, n, T):
    """The window loss by its definition: at each scored t, e^T Gamma e over the kernel truncated at t."""
    e = theory.kernel(a, b, n).real
    e[K] -= 1
    gamma = toeplitz(signals.autocovariance(rho, np.arange(n)))
    return float(np.mean([e[: t + 1] @ gamma[: t + 1, : t + 1] @ e[: t + 1] for t in range(n - T, n)]))


def stationary_loss_brute(a, b, K, rho):
    """sum_{k,k'} e_k e_k' rho^|k-k'| on a kernel truncated where every pole is below 1e-18, by colouring."""
    n = int(np.ceil(np.log(1e-18) / np.log(max(np.abs(a).max(), rho, 0.5)))) + 2 * K + 2
    e = theory.kernel(a, b, n).real
    e[K] -= 1
    pad = int(np.ceil(np.log(1e-18) / np.log(rho))) if rho else 0
    coloured = lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], np.concatenate([e, np.zeros(pad)]))
    return float(np.sum(coloured**2))


def test_every_learned_number_against_theory(tiny_run):
    """Each ok run, on its own: its objective loss recomputed by another route from its stored poles and
    readout (to 1e-9), not below the float64-resolved optimum of its own poles, and its stationary loss not
    below the rigorous bound."""
    t = read_tables(tiny_run)
    lb = t["theory"][t["theory"].quantity == "lower_bound"].set_index(["S", "K", "rho"]).value
    for _, r in t["runs"][t["runs"].status == "ok"].iterrows():
        a, b = plots.learned_filter(t, r.run_id)
        if r.target != "shift":  # a memory target: its own dense routes (tests/dense.py), no rigorous bound
            target = targets.make_target(**json.loads(r.target_spec))
            window = target.sequence(r.burn_in + target.horizon + r.t_eval)
            own = dense.target_window_loss(a, b, window, r.rho, r.t_eval) if r.objective == "sampled" else None
            stationary = dense.target_stationary_loss(a, b, target, r.rho, n=2**18)  # power tail < 1e-10
            assert r.objective_loss == pytest.approx(own if own is not None else stationary, abs=1e-9), r.run_id
            assert r.stationary_loss == pytest.approx(stationary, abs=1e-9), r.run_id
            if r.objective_optimal_resolved:
                assert r.objective_loss >= r.objective_optimal_loss - 1e-9, r.run_id
            continue
        if r.objective == "sampled":
            n = r.burn_in + r.K + r.t_eval
            assert r.objective_loss == pytest.approx(window_loss_dense(a, b, r.K, r.rho, n, r.t_eval), abs=1e-9)
        else:
            assert r.objective_loss == pytest.approx(stationary_loss_brute(a, b, r.K, r.rho), abs=1e-9)
        assert r.stationary_loss == pytest.approx(stationary_loss_brute(a, b, r.K, r.rho), abs=1e-9)
        if r.objective_optimal_resolved:
            assert r.objective_loss >= r.objective_optimal_loss - 1e-9, r.run_id
        bound = lb[(r.S, r.K, r.rho)]
        assert not r.stationary_loss < bound - 1e-9, r.run_id


def test_every_job_has_a_benchmark_file(tiny_run):
    """Snakemake's own instruments: wall time, CPU time and peak memory of every job."""
    logs = list((tiny_run / "logs").rglob("*.log"))
    benchmarks = list((tiny_run / "results" / "benchmarks").rglob("*.tsv"))
    assert len(benchmarks) == len(logs) > 0
    for path in benchmarks:
        assert {"s", "cpu_time", "max_rss"} <= set(pd.read_csv(path, sep="\t").columns), path


def test_claims_follow_the_init_not_the_variant_id(tiny_run):
    """Renamed variants keep their claim: inits are found by what they are."""
    t = aggregation.load_tables(Path(tiny_run) / "results" / "tables")
    names = {"uncertainty": "regular-phases", "lru-ring": "ring"}
    renamed = {k: v.replace({"variant": names}) if "variant" in v else v for k, v in t.items()}
    table = claims.claims_table(renamed, load_config(TINY))
    assert table.claim.str.contains("regular-phases").any() and table.claim.str.contains("ring").any()


def test_claims_fail_on_the_tiny_study_with_its_inits_swapped(tiny_run):
    """Real tables of the tiny study, the two inits' labels swapped: random poles near the circle now
    carry the regular-phase label, so that claim is false by construction and must not be supported."""
    t = aggregation.load_tables(Path(tiny_run) / "results" / "tables")
    cfg = load_config(TINY)
    claim = "Regularly spaced phases"
    honest = claims.claims_table(t, cfg)
    honest = honest[honest.claim.str.contains(claim) & honest.claim.str.contains("sampled, joint")]
    assert (honest.verdict != "contradicted").all()
    swap = {"uncertainty": "lru-ring", "lru-ring": "uncertainty"}
    swapped = {k: v.assign(init=v.init.replace(swap)) if "init" in v else v for k, v in t.items()}
    rows = claims.claims_table(swapped, cfg)
    rows = rows[rows.claim.str.contains(claim)]
    assert len(rows) and rows.verdict.isin(["contradicted", "inconclusive", "underpowered"]).all(), rows.to_string()
    assert (rows.verdict == "contradicted").any()  # at rho = 0.7 the sign test has power even here
    # and the reference claim: a reference weaker than the runs (the zero filter's 1) must be flagged
    s = t["summary"]
    beaten = aggregation.summary_table(t["runs"], t["theory"], t["reference"].assign(value=1.0))
    assert beaten.beats_reference.any() and not s.beats_reference.any()


def test_datasets_have_checksummed_sidecars(tiny_run):
    metas = list((Path(tiny_run) / "results" / "data").rglob("*.json"))
    assert metas
    for m in metas:
        meta = json.loads(m.read_text())
        assert {"sampler", "rho", "length", "seed", "sha256", "sample_autocovariance"} <= set(meta)
        assert meta["sample_autocovariance"][0] == pytest.approx(1, abs=0.2)


def test_figures_and_report(tiny_run):
    figs = Path(tiny_run) / "reports" / "figures"
    pngs = sorted(figs.glob("*.png"))
    assert len(pngs) == sum(n.endswith(".png") for n in FIGURES) and all(p.stat().st_size > 10_000 for p in pngs)
    html = (figs / "claims.html").read_text()
    assert "slope" in html and "lru-ring" in html and "reference" in html
    assert "tightness" in (figs / "theory_checks.html").read_text()
    prov = (figs / "provenance.html").read_text()
    assert "config hash" in prov and "torch_version" in prov
    snakemake(tiny_run, "--report", "reports/report.html")
    report = Path(tiny_run) / "reports" / "report.html"
    assert report.stat().st_size > 100_000
    assert "Claims" in report.read_text(errors="ignore")
