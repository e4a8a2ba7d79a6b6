"""Memory kernels beyond the shift, scored at initialisation (docs/targets.md, "The study at init").

For every target of the config's ``kernels`` section (``targets.make_target``), every order S and
AR(1) rho, this module computes:

- the **reference** of each pole family: the independent search of ``reference.search`` on the
  target's stationary optimum L*(a) (``objectives.Stationary`` of the target), with K the target's lag scale
  (``targets.scale``); no learned run is involved;
- the **score at initialisation** of every pole-placement rule (``kernels.inits``: the study's inits
  and the literature's, each with its source in docs/inits.md): L*(a_init), the optimum of the
  init's own poles for the target, and the share of the reference it already holds,
  ``recovered_at_init = (1 - L*(a_init)) / (1 - L_ref)``.

No training happens here: what a rule holds before any step is a property of its poles alone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from . import inits, reference, targets
from .aggregation import t_interval
from .claims import evidence, rank_test, sign_test
from .layout import BASELINE
from .objectives import STATIONARY

COLUMNS = ["target", "S", "rho", "K_scale", "init", "family", "seed", "init_loss", "reference", "recovered_at_init"]


def job(target_id: str, spec: dict, S_values, rhos, rules: dict, seeds, options: dict) -> dict:
    """One target at every (S, rho): its references (every family that a rule lives in) and the score
    of every rule (``rules``: id -> {"init", "params", "family"}) at every seed; a JSON-ready dict."""
    target = targets.make_target(**spec)
    K = targets.scale(target)
    families = sorted({rule["family"] for rule in rules.values()})
    refs, scores = [], []
    for S in S_values:
        for rho in rhos:
            value = {}
            for family in families:
                ref = reference.search(STATIONARY, S, K, rho, family=family, kernel=target, **options)
                value[family] = ref["value"]
                refs.append({"target": target_id, "family": family, **_summary(ref)})
            for rule_id, rule in rules.items():
                draws = {seed: poles(rule, S, K, seed) for seed in seeds}
                same = all(np.array_equal(draws[seeds[0]], a) for a in draws.values())
                for seed in seeds[:1] if same else seeds:  # a rule that draws nothing is scored once
                    loss = targets.optimal_loss(draws[seed], target, rho)
                    ref = value[rule["family"]]
                    scores.append({"target": target_id, "S": S, "rho": rho, "K_scale": K, "init": rule_id,
                                   "family": rule["family"], "seed": seed, "init_loss": loss, "reference": ref,
                                   "recovered_at_init": (1 - loss) / (1 - ref) if ref < 1 else math.nan})  # fmt: skip
    return {"target": target_id, "spec": spec, "K_scale": K, "references": refs, "scores": scores}


def poles(rule: dict, S: int, K: int, seed: int) -> np.ndarray:
    """The poles of a rule ({"init", "params", "family"}) at order S and lag scale K."""
    return inits.initialise(rule["init"], S, K, seed, "zero", 0.0, rule["family"], **rule["params"])[0]


def _summary(ref: dict) -> dict:
    """The reference's cell, value, poles and search record (its options and time), JSON-ready."""
    keys = ("S", "K", "rho", "value", "poles", "best_start", "n_starts", "evaluations", "seconds", "options")
    return {k: ref[k] for k in keys}


def tables(jobs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, references) of every kernel job, one row per (target, S, rho, init, seed) and per
    (target, family, S, rho)."""
    scores = pd.DataFrame([row for j in jobs for row in j["scores"]], columns=COLUMNS)
    refs = pd.DataFrame(
        [
            {k: v for k, v in row.items() if k not in ("poles", "options")} | {"spec": j["spec"]}
            for j in jobs
            for row in j["references"]
        ]  # fmt: skip
    )
    return scores.sort_values(COLUMNS[:7], ignore_index=True), refs


def exp_check(spec: dict, rho: float) -> float:
    """L* of one real pole at lambda for the exp target d_k = lambda^k: 0 in exact arithmetic."""
    target = targets.make_target(**spec)
    return targets.optimal_loss(np.array([complex(target.lam)]), target, rho)


# -- claims: the papers' rules, each able to fail ------------------------------------------------------

CHECK_TOL = 1e-10  # the exp target's one-pole optimum must be 0 to this


def claims(scores: pd.DataFrame, refs: pd.DataFrame, kernels_cfg: dict, significance: float) -> pd.DataFrame:
    """The kernel claims (docs/targets.md, "Claims"): the exp check, PoST's ordering and rate on
    power-law memory, the bump's collapse in sigma S / K and its capture; a verdict and its rule each."""
    rows = []
    specs = {tid: spec for tid, spec in kernels_cfg["targets"].items()}
    for tid, spec in specs.items():
        if spec["name"] == "exp":
            for rho in kernels_cfg["rho"]:
                value = exp_check(spec, rho)
                rows.append((
                    f"[{tid}, rho = {rho:g}] One real pole at lambda = {spec['lam']:g} reproduces lambda^k: L* = 0",
                    "supported" if abs(value) <= CHECK_TOL else "contradicted",
                    f"L*([lambda]) = {value:.3g}. Rule: supported if |L*| <= {CHECK_TOL:g} (a check of the theory)",
                ))  # fmt: skip
        if spec["name"] == "power":
            rows += _post_claims(tid, scores[scores.target == tid], refs[refs.target == tid], kernels_cfg["inits"],
                                 significance)  # fmt: skip
    bumps = [tid for tid, spec in specs.items() if spec["name"] == "bump"]
    if bumps:
        rows += _bump_claims(refs[refs.target.isin(bumps)], specs, kernels_cfg)
    return pd.DataFrame(rows, columns=["claim", "verdict", "evidence"])


def _rule_scores(scores, ids):
    """The scores of the rules ``ids``, by (S, rho): arrays of L*(a_init) over seeds."""
    mine = scores[scores.init.isin(ids)]
    return {cell: g.init_loss.to_numpy() for cell, g in mine.groupby(["S", "rho"])}


def post_horizon(rule: dict):
    """The slow end t_max of a PoST rule (its parameter, or the init's default: the lag scale K)."""
    return rule["params"].get("t_max", inits.parameters(rule["init"])["t_max"])


def _post_claims(tid, scores, refs, rules, alpha) -> list[tuple]:
    """PoST on power-law memory, once per slow end t_max of the geometric rules (PoST sets it to the
    training length; at initialisation there is none, so the verdict is shown at every horizon the config
    gives): geometric decay rates beat linear ones (same t_max) and random ones at equal S, and the gap of
    geometric spacing to the real family's reference shrinks as S grows (its rate, measured)."""
    rows = []
    rnd = _rule_scores(scores, [rid for rid, rule in rules.items() if rule["init"] == "real-ring"])
    for gid in (rid for rid, rule in rules.items() if rule["init"] == "post-geometric"):
        horizon = post_horizon(rules[gid])
        twins = [rid for rid, rule in rules.items() if rule["init"] == "post-linear" and post_horizon(rule) == horizon]
        geo, lin = _rule_scores(scores, [gid]), _rule_scores(scores, twins)
        at = f"{tid}, at init, t_max = {horizon}"
        if lin:
            diffs = {cell: lin[cell].mean() - geo[cell].mean() for cell in geo if cell in lin}
            c = sign_test(list(diffs.values()), alpha)
            rows.append((f"[{at}] PoST: geometrically spaced decay rates ({gid}) hold more of the optimum than "
                         f"linearly spaced ones ({', '.join(twins)}) at equal S", c.verdict,
                         evidence(c, f"{gid} lower L*", alpha)))  # fmt: skip
        cells = [(geo[cell], rnd[cell]) for cell in geo if cell in rnd]
        c = rank_test(cells, alpha, (gid, "real-ring"))
        why = (
            "The slow end t_max is PoST's training length; scored at initialisation there is none, so the "
            "study shows the verdict at each t_max its config gives"
        )
        rows.append((f"[{at}] PoST: geometric decay rates ({gid}) hold more than random ones (real-ring) at equal S",
                     c.verdict, f"{evidence(c, f'{gid} lower L*', alpha)}. {why}"))  # fmt: skip
        real = refs[refs.family == rules[gid]["family"]].set_index(["S", "rho"]).value
        for rho in sorted({rho for _, rho in geo}):
            fits = {}
            for name, rule in ((gid, geo), ("post-linear", lin)):
                pts = [(S, rule[(S, r)].mean() - real.get((S, r), np.nan)) for S, r in rule if r == rho]
                pts = sorted((S, g) for S, g in pts if g > 0)
                if len(pts) >= 3:
                    fit = stats.linregress([S for S, _ in pts], np.log([g for _, g in pts]))
                    fits[name] = (fit, len(pts), [S for S, _ in pts])
            claim = f"[{at}, rho = {rho:g}] PoST: the gap of geometric spacing to the real family's reference "
            claim += "shrinks with S"
            if gid not in fits:
                rows.append((claim, "no data", "needs >= 3 orders S with a positive gap"))
                continue
            fit, n, Ss = fits[gid]
            lo, hi = t_interval(fit.slope, fit.stderr, n - 2)
            verdict = "supported" if hi < 0 else "contradicted" if lo > 0 else "inconclusive"
            rate = f"; post-linear's rate {-fits['post-linear'][0].slope:.3f} per pole" if "post-linear" in fits else ""
            rows.append((
                claim,
                verdict,
                f"log gap = a - c S over S = {Ss}: c = {-fit.slope:.3f} per pole, 95% CI [{-hi:.3f}, {-lo:.3f}]{rate}. "
                "PoST predicts exp(-c S / log T) for geometric spacing and exp(-O(S / sqrt T)) for linear. Rule: "
                "supported if the CI of the slope lies below 0, contradicted if above, inconclusive otherwise",
            ))  # fmt: skip
    return rows


def _bump_claims(refs, specs, cfg) -> list[tuple]:
    """The uncertainty principle for the bump (complex family's references): L* depends on sigma S / K alone,
    and the bump is captured once sigma >= K / S."""
    tol, level = cfg["collapse_tolerance"], cfg["capture_level"]
    r = refs[refs.family == BASELINE].copy()
    r["x"] = [round(specs[t]["sigma"] * S / specs[t]["K"], 9) for t, S in zip(r.target, r.S)]
    rows = []
    for rho, g in r.groupby("rho"):
        groups = [d for _, d in g.groupby("x") if d.S.nunique() >= 2]
        if not groups:
            rows.append((f"[bump, rho = {rho:g}] L* depends on sigma S / K alone", "no data",
                         "needs two cells with the same sigma S / K at different S"))  # fmt: skip
        else:
            spread = max(d.value.max() - d.value.min() for d in groups)
            worst = max(groups, key=lambda d: d.value.max() - d.value.min())
            rows.append((
                f"[bump, rho = {rho:g}] L* depends on sigma S / K alone (the uncertainty principle)",
                "supported" if spread <= tol else "contradicted",
                f"{len(groups)} values of sigma S / K shared by cells at different S; the references' largest spread "
                f"is {spread:.4f} (at sigma S / K = {worst.x.iloc[0]:g}: " + ", ".join(
                    f"S = {S}, L = {v:.4f}" for S, v in zip(worst.S, worst.value)) + f"). Rule: supported if every "
                f"spread <= collapse_tolerance = {tol:g}",
            ))  # fmt: skip
        wide = g[g.x >= 1]
        if wide.empty:
            rows.append((f"[bump, rho = {rho:g}] The bump is captured once sigma >= K / S", "no data",
                         "no cell with sigma S / K >= 1"))  # fmt: skip
            continue
        top = wide.loc[wide.value.idxmax()]
        rows.append((
            f"[bump, rho = {rho:g}] The bump is captured once sigma >= K / S",
            "supported" if top.value < level else "contradicted",
            f"{len(wide)} cells with sigma S / K >= 1; the highest reference is {top.value:.4f} (S = {top.S}, "
            f"sigma S / K = {top.x:g}). Rule: supported if every one is below capture_level = {level:g}",
        ))  # fmt: skip
    return rows


def figure(scores: pd.DataFrame, path) -> None:
    """The share of each target's optimum every rule holds at initialisation, against S (drawn by
    ``plots.kernels_at_init``: one panel per target and rho)."""
    from .plots import kernels_at_init

    kernels_at_init(scores, path)


def report(job_files, kernels_cfg: dict, significance: float, outdir, figure_path) -> None:
    """``shiftbench kernel-report``: the scores, references and claims tables (CSV, atomically) and the figure."""
    import json
    from pathlib import Path

    from .storage import atomic_path

    jobs = [json.loads(Path(f).read_text()) for f in job_files]
    scores, refs = tables(jobs)
    for name, table in (("kernel_scores", scores), ("kernel_references", refs),
                        ("kernel_claims", claims(scores, refs, kernels_cfg, significance))):  # fmt: skip
        with atomic_path(Path(outdir) / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.10g")
    figure(scores, figure_path)
