"""Job outputs (JSON) into the study's pandas tables: runs, curves, params, theory, summary.

"The learned loss" is always the exact *stationary* loss of the learned filter. Diverged and failed
runs stay in ``runs`` with their status; ``summary`` counts them and excludes them from its statistics.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .config import rho_label
from .outputs import TABLES
from .storage import atomic_path, read_json

CELL = ["S", "K", "rho"]
VARIANT = CELL + ["objective", "variant"]


class BoundViolation(AssertionError):
    """A learned stationary loss below a rigorous lower bound: a bug somewhere, never a result."""


def run_id(r) -> str:
    return f"{r['objective']}/rho{rho_label(r['rho'])}/S{r['S']}/K{r['K']}/{r['variant']}/lr{r['lr']:g}/seed{r['seed']}"


def tables_from_jobs(run_files, theory_files) -> dict[str, pd.DataFrame]:
    runs, curves, params = [], [], []
    for path in sorted(run_files):
        for r in read_json(path)["runs"]:
            rid = run_id(r)
            curves += [{"run_id": rid, "step": s, "train_loss": tl, "exact_loss": el} for s, tl, el in r.pop("curve")]
            poles, readout = r.pop("learned_poles", []), r.pop("learned_readout", [])
            params += [
                {"run_id": rid, "pole_index": i, "a_re": a[0], "a_im": a[1], "b_re": b[0], "b_im": b[1]}
                for i, (a, b) in enumerate(zip(poles, readout))
            ]
            r["init_params"] = json.dumps(r["init_params"], sort_keys=True)
            runs.append({"run_id": rid, **r})
    runs = pd.DataFrame(runs).sort_values("run_id", ignore_index=True)
    theory = theory_table([cell for p in sorted(theory_files) for cell in read_json(p)["cells"]])
    tables = {
        "runs": runs,
        "curves": pd.DataFrame(curves),
        "params": pd.DataFrame(params),
        "theory": theory,
        "summary": summary_table(runs, theory),
    }
    assert set(tables) == set(TABLES)
    return tables


def theory_table(cells) -> pd.DataFrame:
    """One row per (S, K, rho, quantity[, alpha])."""
    rows = []
    for c in cells:
        key = {k: c[k] for k in CELL}
        lb = c["lower_bound"]
        rows.append(
            {
                **key,
                "quantity": "lower_bound",
                "alpha": np.nan,
                "value": lb if lb > 0 else np.nan,
                "note": "rigorous" if lb > 0 else "no informative bound",
            }
        )
        for row in c["construction"]:
            rows.append(
                {
                    **key,
                    "quantity": f"construction_{row['readout']}",
                    "alpha": row["alpha"],
                    "value": row["loss"],
                    "note": "",
                }
            )
        best = min(c["construction"], key=lambda r: r["loss"])
        rows.append(
            {
                **key,
                "quantity": "construction_best",
                "alpha": best["alpha"],
                "value": best["loss"],
                "note": f"readout {best['readout']}",
            }
        )
        for alpha, value in c["construction_asymptotic"].items():
            rows.append(
                {
                    **key,
                    "quantity": "construction_asymptotic",
                    "alpha": float(alpha),
                    "value": value,
                    "note": "1 - kappa S/K",
                }
            )
        rows.append(
            {
                **key,
                "quantity": "best_known",
                "alpha": np.nan,
                "value": c["best_known"]["best_known"],
                "note": "numerical, not a bound",
            }
        )
        for name, value in c["init_optimal_loss"].items():
            rows.append(
                {
                    **key,
                    "quantity": f"init_optimal_{name}",
                    "alpha": np.nan,
                    "value": value,
                    "note": "optimal readout on init poles",
                }
            )
    return pd.DataFrame(rows)


def t_interval(estimate, spread, dof, n=1, level=0.95):
    """Student-t interval: estimate ± t_{(1+level)/2, dof} spread / sqrt(n), the standard error being
    spread / sqrt(n) (NaN half-width without a degree of freedom)."""
    half = stats.t.ppf((1 + level) / 2, dof) * spread / np.sqrt(n) if dof > 0 else np.nan
    return estimate - half, estimate + half


def mean_interval(x):
    """Mean and 95% t-interval of the mean of the values x (NaN bounds for fewer than 2 values)."""
    x = pd.Series(x, dtype=float)
    n, mean = len(x), x.mean()
    return (mean, *t_interval(mean, x.std(ddof=1), n - 1, n))


def theory_wide(theory: pd.DataFrame) -> pd.DataFrame:
    """The theory table with one row per (S, K, rho) and one column per quantity (first alpha's row)."""
    wide = theory.pivot_table(index=CELL, columns="quantity", values="value", aggfunc="first", dropna=False)
    return wide.dropna(how="all")


def summary_table(runs: pd.DataFrame, theory: pd.DataFrame) -> pd.DataFrame:
    """Per (S, K, rho, objective, variant) at its best lr (lowest mean learned loss), over seeds."""
    ok = runs[runs.status == "ok"]
    ref = theory_wide(theory)
    rows = []
    for key, group in runs.groupby(VARIANT, sort=True):
        good = ok.loc[ok.index.isin(group.index)]
        row = dict(
            zip(VARIANT, key),
            n_runs=len(group),
            n_diverged=int((group.status == "diverged").sum()),
            n_failed=int((group.status == "failed").sum()),
        )
        if len(good):
            lr = good.groupby("lr").exact_loss.mean().idxmin()
            x = good[good.lr == lr].exact_loss
            mean, lo, hi = mean_interval(x)
            row.update(
                best_lr=lr,
                n=len(x),
                mean=mean,
                std=x.std(ddof=1),
                ci_low=lo,
                ci_high=hi,
                min=x.min(),
                max=x.max(),
                finite_window_mean=good[good.lr == lr].finite_window_loss.mean(),
                test_mse_mean=good[good.lr == lr].test_mse.mean(),
                filter_width_mean=good[good.lr == lr].filter_width.mean(),
            )
        th = ref.loc[key[:3]]
        row.update(
            best_known=th["best_known"], best_construction=th["construction_best"], lower_bound=th["lower_bound"]
        )
        row["gap"] = row.get("mean", np.nan) - row["best_known"]
        row["recovered"] = (1 - row.get("mean", np.nan)) / (1 - row["best_known"])
        rows.append(row)
    return pd.DataFrame(rows)


def check_bounds(runs: pd.DataFrame, theory: pd.DataFrame, tol: float = 1e-9):
    """Fail loudly if a learned stationary loss beats a rigorous lower bound (finite-window losses may)."""
    lb = theory[theory.quantity == "lower_bound"].set_index(CELL).value
    merged = runs[runs.status == "ok"].join(lb.rename("lower_bound"), on=CELL)
    bad = merged[merged.exact_loss < merged.lower_bound - tol]
    if len(bad):
        raise BoundViolation(
            f"{len(bad)} learned stationary loss(es) below the rigorous lower bound, e.g.\n"
            + bad[["run_id", "exact_loss", "lower_bound"]].head().to_string()
        )


def load_tables(tables_dir) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(Path(tables_dir) / f"{name}.parquet") for name in TABLES}


def write_tables(tables: dict[str, pd.DataFrame], outdir):
    outdir = Path(outdir)
    for name in TABLES:
        df = tables[name]
        with atomic_path(outdir / f"{name}.parquet") as tmp:
            df.to_parquet(tmp, index=False)
        with atomic_path(outdir / f"{name}.csv") as tmp:
            df.to_csv(tmp, index=False)


def aggregate(run_files, theory_files, outdir):
    tables = tables_from_jobs(run_files, theory_files)
    check_bounds(tables["runs"], tables["theory"])
    write_tables(tables, outdir)
    return tables
