"""Job outputs (JSON) into the study's pandas tables: runs, curves, params, theory, reference, summary.

A learned filter is compared with the reference of the objective it was trained on: its
``objective_loss`` (the exact population value of that objective: the finite-window loss for
``sampled``, the stationary loss for ``exact``) against the reference of the same objective and cell
(``shiftbench.reference``: an independent search, never lowered by a learned run). A run below its
reference is flagged (``beats_reference``): the reference is weak there. The stationary figures stay
beside them in their own columns: what the filter does on an endless stream.
Diverged and failed runs stay in ``runs`` with their status; ``summary`` counts them and leaves them
out of its statistics. The learning rate of each variant is chosen on the final training loss,
never on a reported loss.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .budget import LONG
from .config import SHIFT, float_label
from .layout import BASELINE
from .objectives import STATIONARY
from .outputs import TABLES
from .reference import NO_BOUND
from .selection import LR_FIXED, LR_SELECTED_ON, select_lr
from .storage import atomic_path, read_json
from .targets import make_target

CELL = ["S", "K", "rho"]
TARGET = "target"  # the target id: SHIFT (the shift at K) or one of the config's targets (K its lag scale)
VARIANT = ["block", *CELL, TARGET, "objective", "method", "variant"]
REFERENCE_KEY = ["family", "objective", *CELL, TARGET]  # one reference per family, objective, cell and target
TOLERANCE = 1e-9  # rounding allowance of every invariant


class BoundViolation(AssertionError):
    """A learned loss below a rigorous lower bound or the float64-resolved optimum of its own poles: a bug
    somewhere, never a result."""


def run_id(r) -> str:
    unit = f"K{r['K']}" if r.get(TARGET, SHIFT) == SHIFT else f"{r[TARGET]}/K{r['K']}"
    return (
        f"{r['block']}/{r['objective']}/{r['method']}/rho{float_label(r['rho'])}/S{r['S']}/{unit}/{r['variant']}"
        f"/lr{float_label(r['lr'])}/seed{r['seed']}/data{r['data_seed']}"
    )


def tables_from_jobs(run_files, theory_files, reference_files) -> dict[str, pd.DataFrame]:
    """The tables of the jobs' outputs. A run file of the budget control (its job says ``budget: long``,
    ``shiftbench.budget``) gives the summary's long-budget columns and its runs' learning curves (run ids
    ending in ``/long``), never rows of ``runs``: every statistic of ``runs`` is at the block's budget."""
    runs, curves, params, long = [], [], [], []
    for path in sorted(run_files):
        data = read_json(path)
        is_long = data.get("job", {}).get("budget") == LONG
        for r in data["runs"]:
            rid = run_id(r) + ("/long" if is_long else "")
            target = r.setdefault(TARGET, SHIFT)
            if is_long:
                curves += [
                    {"run_id": rid, TARGET: target, "step": step, "train_loss": train, "objective_loss": obj,
                     "stationary_loss": stat}
                    for step, train, obj, stat in r.pop("curve")
                ]  # fmt: skip
                r.pop("learned_poles", None), r.pop("learned_readout", None)
                long.append({"run_id": rid, **{k: v for k, v in r.items() if k not in ("init_params", "target_spec")}})
                continue
            curves += [
                {"run_id": rid, TARGET: target, "step": step, "train_loss": train, "objective_loss": obj,
                 "stationary_loss": stat}
                for step, train, obj, stat in r.pop("curve")
            ]  # fmt: skip
            poles, readout = r.pop("learned_poles", []), r.pop("learned_readout", [])
            params += [
                {"run_id": rid, TARGET: target, "pole_index": i, "a_re": a[0], "a_im": a[1], "b_re": b[0], "b_im": b[1]}
                for i, (a, b) in enumerate(zip(poles, readout))
            ]
            r["init_params"] = json.dumps(r["init_params"], sort_keys=True)
            r["target_spec"] = json.dumps(r.get("target_spec") or {"name": SHIFT, "K": r["K"]}, sort_keys=True)
            runs.append({"run_id": rid, **r})
    runs = pd.DataFrame(runs).sort_values("run_id", ignore_index=True)
    long = pd.DataFrame(long)
    theory = theory_table([c for p in sorted(theory_files) for c in read_json(p)["cells"]])
    reference = reference_table([r for p in sorted(reference_files) for r in read_json(p)["references"]])
    if len(long):
        check_bounds(long, theory)  # the long runs are learned filters too
    tables = {
        "runs": runs,
        "curves": pd.DataFrame(curves),
        "params": pd.DataFrame(params),
        "theory": theory,
        "reference": reference,
        "summary": add_long_budget(summary_table(runs, theory, reference), runs, long),
    }
    assert set(tables) == set(TABLES)
    return tables


def theory_table(cells) -> pd.DataFrame:
    """One row per (S, K, rho, quantity[, alpha]), with its note (and whether float64 resolves it: ``resolved``)."""
    rows = []

    def add(cell, quantity, value, note="", alpha=np.nan, resolved=True):
        rows.append(
            {
                **{k: cell[k] for k in CELL},
                TARGET: SHIFT,  # the theory's closed forms and bounds are the shift's
                "quantity": quantity,
                "alpha": alpha,
                "value": value,
                "note": note,
                "resolved": resolved,
            }
        )

    for c in cells:
        lb = c["lower_bound"]
        add(c, "lower_bound", lb if lb > 0 else np.nan, "rigorous (stationary)" if lb > 0 else "no informative bound")
        for row in c["construction"]:
            add(c, f"construction_{row['readout']}", row["loss"], alpha=row["alpha"])
        best = min(c["construction"], key=lambda r: r["loss"])
        add(c, "construction_best", best["loss"], f"readout {best['readout']}", alpha=best["alpha"])
        for alpha, value in c["construction_asymptotic"].items():
            add(c, "construction_asymptotic", value, "1 - kappa S/K", alpha=float(alpha))
        for name, value in c["init_optimal_loss"].items():
            add(c, f"init_optimal_{name}", value, "optimal readout on init poles")
            add(c, f"init_readout_max_{name}", c["init_readout_max"][name], "max |b*| on init poles")
        lag = c["laguerre_limit"]
        add(c, "laguerre_limit", lag["value"], f"one real pole p = {lag['pole']:.6g} repeated S times (Jordan limit)")
        if "window" in c:
            w = c["window"]
            window = f"window of {w['length']} steps, last {w['t_eval']} scored"
            opt = w["construction_optimal"]
            note = f"alpha = 1, {window}" + ("" if opt["resolved"] else "; not resolved in float64: an upper bound")
            add(c, "construction_window_optimal", opt["value"], note, 1.0, opt["resolved"])
    return pd.DataFrame(rows)


def reference_table(references) -> pd.DataFrame:
    """One row per (family, objective, S, K, rho): the reference, how it was found, and its poles (JSON).

    ``max_abs_readout`` and ``cond_G``: the optimal readout's size and the Gram matrix's condition
    number at the reference's poles (inf where poles coincide: a limit a diagonal layer only
    approaches). ``family_gain`` (rows of every family but the baseline, ``layout.BASELINE``):
    (1 - L_family)/(1 - L_complex) at the same objective and cell, what complex poles buy.
    """
    from .reference import conditioning

    rows = []
    for r in references:
        window = r.get("window") or {}
        poles = np.array([complex(re, im) for re, im in r["poles"]])
        shift = r.get(TARGET, SHIFT) == SHIFT
        spec = {"name": SHIFT, "K": r["K"]} if shift else r["kernel"]
        horizon = r["K"] if shift else make_target(**spec).horizon
        rows.append(
            {
                **{
                    k: r.get(k, BASELINE) if k == "family" else r.get(k, SHIFT) if k == TARGET else r[k]
                    for k in REFERENCE_KEY
                },  # fmt: skip
                "target_spec": json.dumps(spec, sort_keys=True),
                "value": r["value"],
                "certified": r["certified"],
                "committed": r["committed"],
                "length": window.get("burn_in", 0) + horizon + window["t_eval"] if window else np.nan,
                "t_eval": window.get("t_eval", np.nan),
                "method": r["method"],
                "n_starts": r["n_starts"],
                "basins": r["basins"],
                "grad_norm": r["grad_norm"],
                "best_start": r["best_start"],
                "lower_bound": r["lower_bound"],
                "lower_bound_note": r.get("lower_bound_note") or ("rigorous (stationary)" if shift else NO_BOUND),
                "gap_to_bound": r["gap_to_bound"],
                "repeated": r.get("repeated", "merge"),
                "coinciding": json.dumps(r.get("coinciding", [])),
                **dict(
                    zip(
                        ["max_abs_readout", "cond_G"],
                        conditioning(poles, r["K"], r["rho"]) if shift else (np.nan, np.nan),
                    )
                ),  # fmt: skip
                "wall_time": r["seconds"],
                "options": json.dumps(r["options"], sort_keys=True),
                "poles": json.dumps(r["poles"]),
            }
        )
    table = pd.DataFrame(rows).sort_values(REFERENCE_KEY, ignore_index=True)
    complex_value = reference_values(table).value
    key = table.set_index(["objective", *CELL, TARGET]).index
    table["family_gain"] = np.where(
        table.family != BASELINE, (1 - table.value) / (1 - complex_value.reindex(key).to_numpy()), np.nan
    )
    return table


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


def recovered(loss, best):
    """(1 - L)/(1 - L_ref): the share of the reference's improvement over the zero filter; NaN where the
    reference improves on nothing (L_ref = 1: no share to recover)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (1 - np.asarray(loss, dtype=float)) / (1 - np.asarray(best, dtype=float))
    out = np.where(np.asarray(best, dtype=float) == 1, np.nan, out)
    return out if np.ndim(out) else float(out)


def reference_values(reference: pd.DataFrame, family: str = BASELINE) -> pd.DataFrame:
    """(objective, S, K, rho, target) -> value and certified of the family's reference."""
    return reference[reference.family == family].set_index(["objective", *CELL, TARGET])[["value", "certified"]]


def beats_reference(group: pd.DataFrame, value: float, tol: float = TOLERANCE) -> bool:
    """Whether a learned value of these runs is below the reference: the loss of a learned filter, or
    the optimum of its poles where float64 resolves it. Either is achievable, so the reference is weak there."""
    ok = group[group.status == "ok"]
    below = ok.objective_loss < value - tol
    below |= ok.objective_optimal_resolved.eq(True) & (ok.objective_optimal_loss < value - tol)
    return bool(below.any())


def summary_table(runs: pd.DataFrame, theory: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Per (block, S, K, rho, objective, method, variant) at the lr with the lowest mean final training loss.

    ``mean`` and its interval, ``gap`` and ``recovered`` are on ``objective_loss`` against the
    reference of the same objective and of the variant's pole family (``reference``, with
    ``reference_certified``: whether it is the exact optimum of its own poles); ``recovered_vs_complex``
    against the complex family's reference; ``stationary_*`` on the stationary loss against the
    family's stationary reference. ``beats_reference``: some run of the variant, at any lr, is below
    its reference.
    """
    ok = runs[runs.status == "ok"]
    th = theory_wide(theory)
    ref = {family: reference_values(reference, family) for family in reference.family.unique()}
    rows = []
    for key, group in runs.groupby(VARIANT, sort=True):
        good = ok.loc[ok.index.isin(group.index)]
        cell, target, objective, family = key[1:4], key[4], key[5], group.family.iloc[0]
        own, stationary = ref[family].loc[(objective, *cell, target)], ref[family].loc[(STATIONARY, *cell, target)]
        complex_ = ref[BASELINE].loc[(objective, *cell, target)]
        row = dict(zip(VARIANT, key), init=group.init.iloc[0], readout=group.readout.iloc[0], family=family)
        row.update(target_spec=group.target_spec.iloc[0])
        row.update(parameterisation=group.parameterisation.iloc[0], n_runs=len(group))
        row.update(n_diverged=int((group.status == "diverged").sum()), n_failed=int((group.status == "failed").sum()))
        row.update(lr=np.nan, lr_selected_on=LR_SELECTED_ON, n=0)
        row.update(reference=own.value, reference_certified=bool(own.certified))
        if len(good):
            lr = select_lr(zip(good.lr, good.final_train_loss))
            chosen = good[good.lr == lr]
            if group.lr.nunique() == 1:
                row.update(lr_selected_on=LR_FIXED)
            x = chosen.objective_loss
            mean, lo, hi = mean_interval(x)
            row.update(lr=lr, n=len(x), mean=mean, std=x.std(ddof=1), ci_low=lo, ci_high=hi, min=x.min(), max=x.max())
            row.update(
                stationary_mean=chosen.stationary_loss.mean(),
                test_mse_mean=chosen.test_mse.mean(),
                filter_width_mean=chosen.filter_width.mean(),
            )
        row.update(
            gap=row.get("mean", np.nan) - own.value,
            recovered=recovered(row.get("mean", np.nan), own.value),
            beats_reference=beats_reference(group, own.value),
            complex_reference=complex_.value,
            recovered_vs_complex=recovered(row.get("mean", np.nan), complex_.value),
            stationary_reference=stationary.value,
            stationary_recovered=recovered(row.get("stationary_mean", np.nan), stationary.value),
            best_construction=th.loc[cell, "construction_best"] if target == SHIFT else np.nan,
            lower_bound=th.loc[cell, "lower_bound"] if target == SHIFT else np.nan,
        )
        rows.append(row)
    return pd.DataFrame(rows)


def add_long_budget(summary: pd.DataFrame, runs: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """The budget control's columns (train.budget_factor; NaN where a block has none): the long run of the
    variant (its first seed at the selected lr, budget_factor x steps: ``long_run_id``, ``steps_long``,
    ``recovered_long``) beside the same seed at the block's budget (``steps``, ``recovered_first``).
    Recovered fractions against the summary row's own ``reference``."""
    out = summary.copy()
    for col in ["steps", "steps_long", "recovered_first", "recovered_long"]:
        out[col] = np.nan
    out["long_run_id"] = None
    if summary.empty:
        return out
    steps = runs.groupby(VARIANT).steps.max()
    out["steps"] = [steps.get(tuple(k), np.nan) for k in out[VARIANT].itertuples(index=False)]
    if long.empty:
        return out
    ok = long[long.status == "ok"].set_index(VARIANT)
    first = runs[runs.status == "ok"].set_index([*VARIANT, "lr", "seed"]).objective_loss
    for i, row in out.iterrows():
        key = tuple(row[VARIANT])
        if key not in ok.index:
            continue
        r = ok.loc[[key]].iloc[0]
        normal = first.get((*key, r.lr, r.seed), np.nan)
        out.loc[i, ["steps_long", "recovered_first", "recovered_long"]] = [
            r.steps,
            recovered(normal, row.reference),
            recovered(r.objective_loss, row.reference),
        ]
        out.loc[i, "long_run_id"] = r.run_id
    return out


def check_bounds(runs: pd.DataFrame, theory: pd.DataFrame, tol: float = TOLERANCE):
    """Fail loudly on a learned loss below what is proven about it.

    Every ok run: its stationary loss is not below the rigorous lower bound (finite-window losses
    may be), and, where float64 resolves the optimum of its objective for its own poles, its objective
    loss is not below that optimum.
    """
    lb = theory[theory.quantity == "lower_bound"].set_index(CELL).value
    ok = runs[runs.status == "ok"].join(lb.rename("lower_bound"), on=CELL)
    ok.loc[ok[TARGET] != SHIFT, "lower_bound"] = np.nan  # the bound is the shift's: no target has one
    checks = [
        (
            "stationary loss(es) below the rigorous lower bound",
            ok.stationary_loss < ok.lower_bound - tol,
            ["stationary_loss", "lower_bound"],
        ),
        (
            "objective loss(es) below the float64-resolved optimum of their own poles",
            ok.objective_optimal_resolved.eq(True) & (ok.objective_loss < ok.objective_optimal_loss - tol),
            ["objective_loss", "objective_optimal_loss"],
        ),
    ]
    for what, bad, columns in checks:
        if bad.any():
            raise BoundViolation(
                f"{bad.sum()} learned {what}, e.g.\n" + ok[bad][["run_id", *columns]].head().to_string()
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


def aggregate(run_files, theory_files, reference_files, outdir):
    tables = tables_from_jobs(run_files, theory_files, reference_files)
    check_bounds(tables["runs"], tables["theory"])
    write_tables(tables, outdir)
    return tables
