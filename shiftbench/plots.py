"""The report's seaborn figures and the Claims table that opens the report.

Every entry of ``outputs.FIGURES`` is drawn by the function of the same stem here, called as
``fig(t, cfg, path)`` with the tables ``t`` and the validated config. A learned filter is always
shown against the optimum of the objective it was trained on (``objective_loss`` against that
objective's best known); the stationary loss appears beside it, labelled. Inits are found by what
they are (the ``init`` column), never by their variant id.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from scipy import stats

from . import signals, theory
from .aggregation import BEST_KNOWN, CELL, VARIANT, load_tables, mean_interval, recovered, t_interval, theory_wide
from .outputs import FIGURES, stem
from .storage import atomic_path

sns.set_theme(context="notebook", style="whitegrid")

OBJECTIVE_NAMES = {
    "exact": "exact objective (stationary loss)",
    "sampled": "sampled objective (finite-window loss)",
}
YMAX = 1.1  # losses above 1 are worse than the zero filter: axes stop here and mark what they clip
REGULAR, RANDOM = "uncertainty", "lru-ring"  # the paper's two inits, found by what they are


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(path).suffix[1:])
    plt.close(fig)


def learned_filter(t, run_id):
    p = t["params"][t["params"].run_id == run_id].sort_values("pole_index")
    return (p.a_re + 1j * p.a_im).to_numpy(), (p.b_re + 1j * p.b_im).to_numpy()


def selected_runs(t) -> pd.DataFrame:
    """ok runs at the lr the summary selected for their variant, with the share of the best-known
    signal of their own objective that they recover."""
    chosen = t["summary"][[*VARIANT, "lr", "best_known"]]
    runs = t["runs"][t["runs"].status == "ok"].merge(chosen, on=[*VARIANT, "lr"])
    return runs.assign(recovered=recovered(runs.objective_loss, runs.best_known))


def variants_with_init(runs: pd.DataFrame, init: str) -> list[str]:
    """Ids of the variants whose pole init is ``init``, whatever they are called (sorted)."""
    return sorted(runs.loc[runs.init == init, "variant"].unique())


def clipped(ax, x, y, **kw):
    """Scatter y against x on an axis that stops at YMAX; points above it drawn as ^ on the edge."""
    y = np.asarray(y, dtype=float)
    over = y > YMAX
    ax.scatter(np.asarray(x)[~over], y[~over], **kw)
    if over.any():
        kw = {**kw, "label": None, "marker": "^"}
        ax.scatter(np.asarray(x)[over], np.full(over.sum(), YMAX * 0.99), **kw)
    return over.sum()


def log_axis(ax):
    """x ticks at 1, 2, 5 times powers of ten, plainly written, no minor labels: labels never crowd."""
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def figure_legend(fig, axes):
    """One legend for all panels, below them (each label once)."""
    entries = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    fig.legend(entries.values(), entries.keys(), loc="upper center", bbox_to_anchor=(0.5, 0), ncol=4, fontsize=8)


def kernel_window(S, K, widths=4):
    """Lags K ± `widths` construction widths (the same number of widths in every panel)."""
    w = theory.dirichlet_fwhm(S, K)
    return max(0, int(np.floor(K - widths * w))), int(np.ceil(K + widths * w))


# -- Figure 1 ---------------------------------------------------------------------------------------
def fig1_kernels(t, cfg, path):
    """Learned kernels at one S for every K, zoomed on the lobe at K, next to the construction."""
    runs = selected_runs(t)
    S = cfg["figures"].get("kernels_S", runs.S.max())
    runs = runs[runs.S == S]
    runs = runs[(runs.rho == runs.rho.min()) & runs.init.isin([REGULAR, RANDOM])]
    groups = runs.groupby(["block", "objective", "method"])
    Ks = sorted(runs.K.unique())
    fig, axes = plt.subplots(groups.ngroups, len(Ks), figsize=(3.4 * len(Ks), 2.8 * groups.ngroups), squeeze=False)
    for row, ((_, objective, method), g) in zip(axes, groups):
        for ax, K in zip(row, Ks):
            lo, hi = kernel_window(S, K)
            k = np.arange(lo, hi + 1)
            ca, cb = theory.construction(S, K, 1.0)
            ax.plot(k, theory.kernel(ca, cb, hi + 1)[lo:].real, "--", color="grey", label="construction, alpha=1")
            for variant, v in g[g.K == K].groupby("variant"):
                run = v.sort_values("seed").iloc[0]
                a, b = learned_filter(t, run.run_id)
                label = variant if variant == run.init else f"{variant} ({run.init})"
                ax.plot(k, theory.kernel(a, b, hi + 1)[lo:].real, lw=1.2, label=label)
            ax.axvline(K, color="grey", lw=0.6)
            ax.set(title=f"K = {K} (K/S = {K / S:g})", xlabel="lag k")
        row[0].set_ylabel(f"{objective}, {method}")
        row[0].legend(fontsize=7)
    fig.suptitle(
        f"Learned kernels at S = {S}, rho = {runs.rho.min():g}, zoomed on lag K ± 4 construction widths:\n"
        "the lobe drops and widens in proportion to K/S"
    )
    fig.tight_layout()
    _save(fig, path)


# -- Figure 2 ---------------------------------------------------------------------------------------
def frequency_ratio(S, K, omega):
    """C/D = C(e^{iw}) e^{iKw} for the construction with beta(-1)^s and with b*(a)."""
    a, b = theory.construction(S, K, 1.0)
    d = np.exp(1j * K * omega)
    return {
        "beta (-1)^s": theory.frequency_response(a, b, omega) * d,
        "optimal readout": theory.frequency_response(a, theory.optimal_readout(a, K), omega) * d,
    }


def fig2_frequency_window(t, cfg, path):
    S, K = cfg["figures"]["frequency"]["S"], cfg["figures"]["frequency"]["K"]
    T = (S - 1) / 2
    Omega = np.linspace(-2.2 * T, 2.2 * T, 4001)
    ratios = frequency_ratio(S, K, np.pi * Omega / K)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, r in ratios.items():
        axes[0].plot(Omega, r.real, label=name)
        axes[1].plot(Omega, np.abs(r), label=name)
    for ax, lab in zip(axes, ["Re C/D", "|C/D|"]):
        ax.plot(Omega, (np.abs(Omega) <= T).astype(float), color="red", lw=1, label="ideal window")
        ax.set(xlabel="Omega = K w / pi", ylabel=lab)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Construction in frequency (S = {S}, K = {K}): C/D ~ 1 on |w| <= pi T/K, ~0 outside")
    _save(fig, path)


# -- Figure 3 ---------------------------------------------------------------------------------------
def fig3_white_noise_terms(t, cfg, path):
    S, K = cfg["figures"]["terms"]["S"], cfg["figures"]["terms"]["K"]
    a, b = theory.construction(S, K, 1.0)
    omega = np.linspace(-1.6 * np.pi * S / (2 * K), 1.6 * np.pi * S / (2 * K), 3001)
    C = theory.frequency_response(a, b, omega)
    D = np.exp(-1j * K * omega)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    axes[0].plot(omega, D.real, label="target Re e^{-iKw}")
    axes[0].plot(omega, C.real, label="Re C (construction)")
    axes[1].plot(omega, np.abs(C), label="|C|")
    axes[1].plot(omega, np.angle(C / D), label="phase error arg(C/D)")
    for ax in axes[:2]:
        for edge in (-np.pi * S / (2 * K), np.pi * S / (2 * K)):
            ax.axvline(edge, color="goldenrod", ls="--", lw=1)
        ax.set_xlabel("w")
        ax.legend(fontsize=8)
    z = np.exp(-1j * omega)
    for s in range(0, S, max(1, S // 12)):
        axes[2].plot(omega, (b[s] / (1 - a[s] * z)).real, lw=0.8)
    axes[2].set(xlabel="w", title="individual terms Re b_s/(1 - a_s e^{-iw})")
    fig.suptitle(f"White noise, S = {S}, K = {K}: the filter copies only the window |w| <= pi S/(2K)")
    _save(fig, path)


# -- Figure 4 ---------------------------------------------------------------------------------------
def fig4_learning_curves(t, cfg, path):
    """Per objective: its population loss during training with its optimum; the stationary loss beside."""
    c = cfg["figures"]["curves"]
    runs = selected_runs(t)
    runs = runs[(runs.S == c["S"]) & (runs.K == c["K"]) & (runs.rho == c["rho"])]
    curves = t["curves"].merge(runs[["run_id", "variant", "objective", "method", "seed"]], on="run_id")
    th = theory_wide(t["theory"]).loc[(c["S"], c["K"], c["rho"])]
    objectives = sorted(curves.objective.unique())
    fig, axes = plt.subplots(len(objectives), 2, figsize=(13, 4 * len(objectives)), squeeze=False)
    for (left, right), objective in zip(axes, objectives):
        d = curves[curves.objective == objective]
        sns.lineplot(d, x="step", y="objective_loss", hue="variant", style="method", errorbar=("ci", 95), ax=left)
        left.axhline(th[BEST_KNOWN[objective]], color="black", ls="--", lw=1, label="best known (numerical)")
        if objective == "sampled":
            left.axhline(
                th["construction_window_optimal"],
                color="grey",
                ls=":",
                lw=1,
                label="construction poles, window-optimal readout",
            )
        sns.lineplot(
            d,
            x="step",
            y="stationary_loss",
            hue="variant",
            style="method",
            errorbar=("ci", 95),
            ax=right,
            legend=False,
            dashes=[(4, 2)] * d.method.nunique(),
        )
        right.axhline(th["best_known"], color="black", ls="--", lw=1, label="best known, stationary (numerical)")
        if np.isfinite(th["lower_bound"]):
            right.axhline(th["lower_bound"], color="red", lw=1, label="lower bound (rigorous, stationary)")
        left.set(
            ylabel=f"{objective}: population loss",
            ylim=(0, YMAX),
            title=f"trained on the {objective} objective: the loss it was trained on",
        )
        right.set(
            ylabel="stationary loss (endless stream)",
            ylim=(0, YMAX),
            title="the same filters on an endless stream (dashed)",
        )
        left.legend(fontsize=7)
        right.legend(fontsize=7)
    fig.suptitle(
        f"Learning curves at S = {c['S']}, K = {c['K']}, rho = {c['rho']:g} (mean and 95% CI over seeds, "
        f"selected lr; axes stop at {YMAX})"
    )
    fig.tight_layout()
    _save(fig, path)


# -- Figure 5 ---------------------------------------------------------------------------------------
def fig5_spectral_density(t, cfg, path):
    omega = np.linspace(-np.pi, np.pi, 1001)
    rhos = sorted(set(t["theory"].rho) | {0.0, 0.5, 0.9})
    df = pd.concat(
        [pd.DataFrame({"w": omega, "Gamma": signals.spectral_density(r, omega), "rho": f"{r:g}"}) for r in rhos]
    )
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sns.lineplot(df, x="w", y="Gamma", hue="rho", ax=ax)
    ax.set(yscale="log", title="AR(1) spectral density: larger rho, narrower spectrum")
    _save(fig, path)


# -- Figure 6 ---------------------------------------------------------------------------------------
def fig6_loss_vs_S_over_K(t, cfg, path):
    """One panel per (objective, rho, S) trained: learned loss against the same objective's best known."""
    s = t["summary"].assign(S_over_K=lambda d: d.S / d.K)
    th = theory_wide(t["theory"]).reset_index()
    panels = sorted(set(zip(s.objective, s.rho, s.S)))
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    labels = sorted(set(zip(s.variant, s.method)))
    colours = dict(zip(labels, sns.color_palette(n_colors=len(labels))))
    for ax, (objective, rho, S) in zip(axes.ravel(), panels):
        d = s[(s.objective == objective) & (s.rho == rho) & (s.S == S)]
        for (variant, method), g in d.groupby(["variant", "method"]):
            g = g.sort_values("S_over_K")
            ax.errorbar(
                g.S_over_K,
                g["mean"].clip(upper=YMAX),
                yerr=[g["mean"] - g.ci_low, g.ci_high - g["mean"]],
                marker="o",
                ms=3,
                lw=1,
                capsize=2,
                color=colours[variant, method],
                label=f"{variant} ({method})",
            )
        ref = th[(th.rho == rho) & (th.S == S) & th.K.isin(d.K)].assign(S_over_K=lambda x: x.S / x.K)
        ref = ref.sort_values("S_over_K")
        ax.plot(ref.S_over_K, ref[BEST_KNOWN[objective]], "k^-", label="best known of this objective (numerical)")
        if objective == "exact":
            ax.plot(ref.S_over_K, ref.construction_best, "s--", color="grey", label="best construction")
            lb = ref[np.isfinite(ref.lower_bound)]
            if len(lb):
                ax.plot(lb.S_over_K, lb.lower_bound, "v-", color="red", label="lower bound (rigorous)")
        else:
            ax.plot(
                ref.S_over_K,
                ref.construction_window_optimal,
                "s--",
                color="grey",
                label="construction poles, window-optimal readout",
            )
        ax.set(xscale="log", title=f"{objective}, rho = {rho:g}, S = {S}", ylim=(0, YMAX))
        ax.set_xticks(ref.S_over_K, [f"1/{K // S}" if K > S else f"{S / K:g}" for K in ref.K])
        ax.minorticks_off()
        ax.set(xlabel="S/K", ylabel=f"{objective} loss")
    fig.suptitle(
        "Learned loss of the objective each filter was trained on, against that objective's best known\n"
        f"(mean and 95% CI over seeds, selected lr; axes stop at {YMAX})"
    )
    fig.tight_layout()
    figure_legend(fig, axes)
    _save(fig, path)


# -- Figure 7 ---------------------------------------------------------------------------------------
def fig7_loss_vs_smoothness(t, cfg, path):
    """Learned loss against (1 - rho) K / S per objective, with the best known of that objective as lines."""
    s = t["summary"].dropna(subset=["mean"]).assign(x=lambda d: (1 - d.rho) * d.K / d.S)
    th = theory_wide(t["theory"]).reset_index().assign(x=lambda d: (1 - d.rho) * d.K / d.S)
    objectives = sorted(s.objective.unique())
    fig, axes = plt.subplots(1, len(objectives), figsize=(7 * len(objectives), 4.4), squeeze=False)
    rhos = sorted(s.rho.unique())
    colours = dict(zip(rhos, sns.color_palette("dark", n_colors=len(rhos))))
    markers = dict(zip(sorted(set(zip(s.variant, s.method))), "osDPXv*<>ph"))
    for ax, objective in zip(axes[0], objectives):
        d = s[s.objective == objective]
        n_clipped = 0
        for (rho, variant, method), g in d.groupby(["rho", "variant", "method"]):
            style = dict(color=colours[rho], marker=markers[variant, method], alpha=0.7, s=28)
            n_clipped += clipped(ax, g.x, g["mean"], **style, label=f"{variant} ({method}), rho = {rho:g}")
        for rho in rhos:
            cells = th[(th.rho == rho) & th.set_index(CELL).index.isin(d.set_index(CELL).index)]
            line = cells.groupby("x")[BEST_KNOWN[objective]].mean()  # cells that share x: their mean
            ax.plot(line.index, line.values, "-", color=colours[rho], lw=1.5, label=f"best known, rho = {rho:g}")
        ax.set(
            xscale="log",
            ylim=(0, YMAX),
            xlabel="(1 - rho) K / S",
            ylabel=f"{objective} loss",
            title=f"{OBJECTIVE_NAMES[objective]}\n{n_clipped} mean(s) above {YMAX}, drawn as ^ on the edge",
        )
        log_axis(ax)
    fig.suptitle("Loss against (1 - rho) K / S: an approximate collapse (points: learned means; lines: best known)")
    fig.tight_layout()
    figure_legend(fig, axes)
    _save(fig, path)


# -- Figure 8 ---------------------------------------------------------------------------------------
def width_fit(runs: pd.DataFrame):
    """OLS of log width on log K/S over kernels that learned the task: slope, 95% CI, n.

    A width only means something for a filter that copies the input at all, so only runs that
    recover at least half of the best-known signal of their objective enter the fit.
    """
    d = runs[np.isfinite(runs.filter_width) & (runs.filter_width > 0) & (runs.recovered >= 0.5)]
    if d[["K", "S"]].drop_duplicates().shape[0] < 2:
        return np.nan, (np.nan, np.nan), len(d)
    fit = stats.linregress(np.log(d.K / d.S), np.log(d.filter_width))
    return fit.slope, t_interval(fit.slope, fit.stderr, len(d) - 2), len(d)


def fig8_width_vs_K_over_S(t, cfg, path):
    runs = selected_runs(t).assign(K_over_S=lambda d: d.K / d.S)
    runs = runs[runs.recovered >= 0.5]  # the kernels that enter the fit
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    sns.scatterplot(runs, x="K_over_S", y="filter_width", hue="variant", style="objective", size="S", alpha=0.7, ax=ax)
    x = np.geomspace(runs.K_over_S.min(), runs.K_over_S.max(), 50)
    for S in sorted(runs.S.unique()):
        ax.plot(x, [theory.dirichlet_fwhm(S, k * S) for k in x], "k--", lw=0.8)
    fits = [
        f"{o}: {s:.2f} [{lo:.2f}, {hi:.2f}] (n = {n})"
        for o, g in runs.groupby("objective")
        for s, (lo, hi), n in [width_fit(g)]
    ]
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="K/S",
        ylabel="FWHM of the learned kernel (lags)",
        title="Uncertainty principle, fitted slopes (theory 1): " + "; ".join(fits),
    )
    log_axis(ax)
    ax.legend(fontsize=7, title="dashed: construction FWHM per S", title_fontsize=7)
    _save(fig, path)


# -- Claims ------------------------------------------------------------------------------------------
def slope_verdict(lo, hi, tolerance):
    """Supported: the CI contains 1 and lies within 1 ± tolerance; contradicted: it excludes 1."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if lo > 1 or hi < 1:
        return "contradicted"
    return "supported" if 1 - tolerance <= lo and hi <= 1 + tolerance else "inconclusive"


def sign_verdict(lo, hi):
    """Supported: the 95% CI of the difference lies above 0; contradicted: below 0."""
    return "supported" if lo > 0 else "contradicted" if hi < 0 else "inconclusive"


def claims_table(t, cfg) -> pd.DataFrame:
    """Each claim of the paper with the objective it is measured on, a verdict by a stated rule, and the number."""
    rules, rows = cfg["claims"], []
    runs, s = selected_runs(t), t["summary"]
    tol = rules["slope_tolerance"]
    for objective, g in runs.groupby("objective"):
        slope, (lo, hi), n = width_fit(g)
        rows.append(
            (
                f"[{objective}] Width of the learned filter is proportional to K/S (slope 1 in log-log)",
                slope_verdict(lo, hi, tol),
                f"slope {slope:.3f}, 95% CI [{lo:.3f}, {hi:.3f}], n = {n} learned kernels recovering >= 50% "
                f"of the best-known signal. Rule: supported if the CI contains 1 and lies within 1 ± "
                f"slope_tolerance = {tol:g}; contradicted if it excludes 1; inconclusive otherwise",
            )
        )

    rho = cfg["figures"]["curves"]["rho"]
    for (objective, method), g in s[s.rho == rho].groupby(["objective", "method"]):
        for regular in variants_with_init(runs, REGULAR):
            for random_ in variants_with_init(runs, RANDOM):
                pair = g.pivot_table(index=["block", "S", "K"], columns="variant", values="mean")
                if not {regular, random_} <= set(pair.columns):
                    continue
                diffs = (pair[random_] - pair[regular]).dropna()
                mean, lo, hi = mean_interval(diffs)
                rows.append(
                    (
                        f"[{objective}, {method}] Regularly spaced phases ({regular}) beat random init near "
                        f"the unit disk ({random_}) at rho = {rho:g}",
                        sign_verdict(lo, hi),
                        f"loss({random_}) - loss({regular}) = {mean:.4g}, 95% CI [{lo:.3g}, {hi:.3g}] over "
                        f"{len(diffs)} cells; {regular} better in {(diffs > 0).sum()}/{len(diffs)}. "
                        "Rule: supported if the CI lies above 0, contradicted if below",
                    )
                )

    for (objective, method), g in s.dropna(subset=["mean"]).groupby(["objective", "method"]):
        best = g.loc[g.groupby(["block", *CELL])["mean"].idxmin()]
        wins = best.variant.value_counts()
        rows.append(
            (
                f"[{objective}, {method}] Which init variant reaches the lowest loss, cell by cell",
                "measured",
                "best in "
                + ", ".join(f"{v}: {n}/{len(best)} cells" for v, n in wins.items())
                + _named_cells(best[best.init != REGULAR]),
            )
        )

    reach = rules["reach_fraction"]
    for (objective, method, variant), g in s.dropna(subset=["recovered"]).groupby(["objective", "method", "variant"]):
        worst = g.loc[g.recovered.idxmin()]
        rows.append(
            (
                f"[{objective}, {method}] {variant} reaches the best known of its objective in every cell",
                "supported" if worst.recovered >= reach else "not supported",
                f"lowest mean recovered fraction {worst.recovered:.3f} at S = {worst.S}, K = {worst.K}, "
                f"rho = {worst.rho:g} (over {len(g)} cells). Rule: supported if every cell recovers "
                f">= reach_fraction = {reach:g}",
            )
        )

    exact = s[(s.objective == "exact")].pivot_table(
        index=["block", *CELL, "variant"], columns="method", values="recovered"
    )
    if {"joint", "projected"} <= set(exact.columns):
        for variant, g in exact.groupby(level="variant"):
            diffs = (g.projected - g.joint).dropna()
            mean, lo, hi = mean_interval(diffs)
            rows.append(
                (
                    f"[exact] Projected training (readout at b*(a)) recovers more than joint Adam, from {variant}",
                    sign_verdict(lo, hi),
                    f"recovered(projected) - recovered(joint) = {mean:.3g}, 95% CI [{lo:.3g}, {hi:.3g}] over "
                    f"{len(diffs)} cells; mean recovered: joint {g.joint.mean():.3f}, projected "
                    f"{g.projected.mean():.3f}. Rule: supported if the CI lies above 0",
                )
            )

    S, K = cfg["figures"]["frequency"]["S"], cfg["figures"]["frequency"]["K"]
    T = (S - 1) / 2
    Omega = np.linspace(-2 * T, 2 * T, 4001)
    r = frequency_ratio(S, K, np.pi * Omega / K)["optimal readout"]
    inside = np.median(np.abs(r[np.abs(Omega) <= 0.8 * T] - 1))
    outside = np.median(np.abs(r[np.abs(Omega) >= 1.2 * T]))
    wt = rules["window_tolerance"]
    rows.append(
        (
            "[theory, white noise] The filter copies the input within |w| <= pi T/K and vanishes outside",
            "supported" if inside < wt and outside < wt else "not supported",
            f"S = {S}, K = {K}, optimal readout: median |C/D - 1| inside = {inside:.3f}, median |C/D| "
            f"outside = {outside:.3f}. Rule: supported if both are below window_tolerance = {wt:g}",
        )
    )

    th = theory_wide(t["theory"]).reset_index()
    white = th[th.rho == 0]
    if len(white):
        tight = (1 - white.best_known) * (white.K + 1) / white.S
        rows.append(
            (
                "[exact] White noise: L* = 1 - Theta(S/K) (the bound 1 - S/(K+1) is tight up to a constant)",
                "measured",
                f"best-known tightness (1-L*)(K+1)/S from {tight.min():.3f} to {tight.max():.3f} "
                f"over {len(white)} cells (1 would meet the bound)",
            )
        )
        cons = t["theory"][(t["theory"].rho == 0) & (t["theory"].quantity == "construction_paper")]
        cons = cons.assign(kappa_measured=(1 - cons.value) * cons.K / cons.S, kappa=lambda d: theory.kappa(d.alpha))
        row = cons[cons.alpha == 1.0].sort_values("K").tail(1)
        if len(row):
            row = row.iloc[0]
            rows.append(
                (
                    "[exact] Construction: L = 1 - kappa_alpha S/K + o(S/K), kappa_alpha = (1 - e^{-4 alpha})/2",
                    "measured",
                    f"alpha = 1: (1-L)K/S = {row.kappa_measured:.4f} vs kappa = {row.kappa:.4f} "
                    f"at S = {row.S}, K = {row.K}",
                )
            )
    smooth = th[(th.rho > 0) & ((1 - th.rho) * th.K / th.S <= 2)]
    if len(smooth):
        x = (1 - smooth.rho) * smooth.K / smooth.S
        C = float(np.sum(x * smooth.best_known) / np.sum(x * x))
        rows.append(
            (
                "[exact] Smooth regime: L* ~ C (1 - rho) K/S",
                "measured",
                f"least-squares C = {C:.3f} over {len(smooth)} cells with (1-rho)K/S <= 2",
            )
        )
    status = t["runs"].status.value_counts()
    rows.append(
        (
            "Diverged or numerically failed training runs (excluded from every mean)",
            "count",
            f"{status.get('diverged', 0)} diverged, {status.get('failed', 0)} failed, of {len(t['runs'])} runs",
        )
    )
    return pd.DataFrame(rows, columns=["claim", "verdict", "evidence"])


def _named_cells(lost) -> str:
    """Where a variant other than the uncertainty init wins, say so plainly (at most five cells)."""
    if not len(lost):
        return ""
    named = [
        f"{r.variant} at S = {r.S}, K = {r.K}, rho = {r.rho:g} ({r['mean']:.3f})" for _, r in lost.head(5).iterrows()
    ]
    return ". Another init wins: " + "; ".join(named) + (" ..." if len(lost) > 5 else "")


def html_table(df: pd.DataFrame, title: str, intro: str = "") -> str:
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h2>{html.escape(title)}</h2><p>{html.escape(intro)}</p>"
        + df.to_html(index=False, escape=True, border=1)
        + "</body></html>\n"
    )


def claims(t, cfg, path):
    intro = (
        "Every learned number is the exact population loss of the objective the filter was trained on, "
        "set against the best known of that same objective (numerical, not a bound); [objective] names it. "
        f"Learning rates are chosen on the {t['summary'].lr_selected_on.iloc[0]}, never on a reported loss."
    )
    with atomic_path(path) as tmp:
        tmp.write_text(html_table(claims_table(t, cfg), "Claims of the paper and this study's verdicts", intro))


def make_figures(tables_dir, cfg, outdir):
    """Every figure of ``outputs.FIGURES`` into ``outdir``."""
    t = load_tables(tables_dir)
    for name in FIGURES:
        globals()[stem(name)](t, cfg, Path(outdir) / name)


def write_provenance(cfg, commit: str, path):
    """Config, its hash, the git commit and the versions that produced the report."""
    import platform

    from .config import canonical, config_hash
    from .jobs import versions

    rows = [
        ("config hash", config_hash(cfg)),
        ("git commit", commit),
        ("python", platform.python_version()),
        *versions().items(),
        ("config", canonical(cfg)),
    ]
    with atomic_path(path) as tmp:
        tmp.write_text(html_table(pd.DataFrame(rows, columns=["item", "value"]), "Provenance"))
