"""The report's seaborn figures and the Claims table that opens the report.

Every entry of ``outputs.FIGURES`` is drawn by the function of the same stem here, called as
``fig(t, cfg, path)`` with the tables ``t`` and the validated config. Inits are found by what they
are (the ``init`` column), never by their variant id.
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
from scipy import stats

from . import signals, theory
from .aggregation import load_tables, mean_interval, t_interval, theory_wide
from .outputs import FIGURES, stem
from .storage import atomic_path

sns.set_theme(context="notebook", style="whitegrid")


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(path).suffix[1:])
    plt.close(fig)


def learned_filter(t, run_id):
    p = t["params"][t["params"].run_id == run_id].sort_values("pole_index")
    return (p.a_re + 1j * p.a_im).to_numpy(), (p.b_re + 1j * p.b_im).to_numpy()


def best_runs(t) -> pd.DataFrame:
    """ok runs at their variant's best lr (as in the summary), with their share of signal recovered."""
    keys = ["S", "K", "rho", "objective", "variant"]
    best = t["summary"][keys + ["best_lr", "best_known"]]
    runs = t["runs"][t["runs"].status == "ok"].merge(best, on=keys)
    runs = runs[runs.lr == runs.best_lr]
    return runs.assign(recovered=(1 - runs.exact_loss) / (1 - runs.best_known))


def variants_with_init(runs: pd.DataFrame, init: str) -> list[str]:
    """Ids of the variants whose pole init is ``init``, whatever they are called (sorted)."""
    return sorted(runs.loc[runs.init == init, "variant"].unique())


# -- Figure 1 ---------------------------------------------------------------------------------------
def fig1_kernels(t, cfg, path):
    S = cfg["figures"].get("kernels_S", cfg["grid"]["S"][-1])
    runs = best_runs(t)
    runs = runs[(runs.S == S) & (runs.rho == runs.rho.min()) & (runs.objective == runs.objective.iloc[0])]
    variant = (variants_with_init(runs, "uncertainty") or sorted(runs.variant.unique()))[0]
    runs = runs[runs.variant == variant]
    Ks = sorted(runs.K.unique())
    fig, axes = plt.subplots(1, len(Ks), figsize=(3.6 * len(Ks), 3.2), sharey=True, squeeze=False)
    for ax, K in zip(axes[0], Ks):
        run = runs[runs.K == K].sort_values("seed").iloc[0]
        k = np.arange(2 * K + 1)
        a, b = learned_filter(t, run.run_id)
        ax.plot(k, theory.kernel(a, b, len(k)).real, label=f"learned ({variant})")
        ca, cb = theory.construction(S, K, 1.0)
        ax.plot(k, theory.kernel(ca, cb, len(k)).real, "--", label="construction, alpha=1")
        ax.axvline(K, color="grey", lw=0.8)
        ax.set(title=f"K = {K} (K/S = {K // S})", xlabel="lag k")
    axes[0, 0].set_ylabel("kernel c_k")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Learned kernels at S = {S}, rho = {runs.rho.min():g}: the peak drops and widens as K/S grows")
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
    c = cfg["figures"].get("curves") or dict(zip(["rho", "S", "K"], t["summary"][["rho", "S", "K"]].iloc[-1]))
    runs = best_runs(t)
    runs = runs[(runs.S == c["S"]) & (runs.K == c["K"]) & (runs.rho == c["rho"])]
    curves = t["curves"].merge(runs[["run_id", "variant", "objective", "seed"]], on="run_id")
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    sns.lineplot(curves, x="step", y="exact_loss", hue="variant", style="objective", errorbar=("ci", 95), ax=ax)
    th = t["theory"]
    th = th[(th.S == c["S"]) & (th.K == c["K"]) & (th.rho == c["rho"])].set_index("quantity").value
    ax.axhline(th["best_known"], color="black", ls="--", lw=1, label="best known (numerical)")
    ax.axhline(th["construction_best"], color="grey", ls=":", lw=1, label="best construction")
    if np.isfinite(th["lower_bound"]):
        ax.axhline(th["lower_bound"], color="red", lw=1, label="lower bound")
    ax.set(
        ylabel="exact stationary loss (clipped at 1.1)",
        ylim=(0, 1.1),
        title=f"Learning curves, S = {c['S']}, K = {c['K']}, rho = {c['rho']:g} (mean, 95% CI over seeds)",
    )
    ax.legend(fontsize=8)
    _save(fig, path)


# -- Figure 5 ---------------------------------------------------------------------------------------
def fig5_spectral_density(t, cfg, path):
    omega = np.linspace(-np.pi, np.pi, 1001)
    df = pd.concat(
        [
            pd.DataFrame({"w": omega, "Gamma": signals.spectral_density(r, omega), "rho": f"{r:g}"})
            for r in sorted(set(cfg["grid"]["rho"]) | {0.0, 0.5, 0.9})
        ]
    )
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sns.lineplot(df, x="w", y="Gamma", hue="rho", ax=ax)
    ax.set(yscale="log", title="AR(1) spectral density: larger rho, narrower spectrum")
    _save(fig, path)


# -- Figure 6 ---------------------------------------------------------------------------------------
def fig6_loss_vs_S_over_K(t, cfg, path):
    """One row per rho, one column per S, x = S/K: learned (mean, 95% CI) against the references."""
    s = t["summary"].assign(S_over_K=lambda d: d.S / d.K)
    rhos, Ss = sorted(s.rho.unique()), sorted(s.S.unique())
    fig, axes = plt.subplots(len(rhos), len(Ss), figsize=(4.2 * len(Ss), 3.4 * len(rhos)), squeeze=False, sharex=True)
    colours = dict(zip(sorted(s.variant.unique()), sns.color_palette(n_colors=s.variant.nunique())))
    for (i, rho), (j, S) in ((a, b) for a in enumerate(rhos) for b in enumerate(Ss)):
        ax, d = axes[i, j], s[(s.rho == rho) & (s.S == S)]
        for (variant, obj), g in d.groupby(["variant", "objective"]):
            g = g.sort_values("S_over_K")
            ax.errorbar(
                g.S_over_K,
                g["mean"],
                yerr=[g["mean"] - g.ci_low, g.ci_high - g["mean"]],
                marker="o",
                ms=3,
                lw=1,
                capsize=2,
                color=colours[variant],
                ls="-" if obj == "sampled" else ":",
                label=f"{variant} ({obj})",
            )
        ref = d.drop_duplicates("K").sort_values("S_over_K")
        ax.plot(ref.S_over_K, ref.best_construction, "s--", color="grey", label="best construction")
        ax.plot(ref.S_over_K, ref.best_known, "k^-", label="best known (numerical)")
        lb = ref[np.isfinite(ref.lower_bound)]
        if len(lb):
            ax.plot(lb.S_over_K, lb.lower_bound, "v-", color="red", label="lower bound (rigorous)")
        ax.set(xscale="log", title=f"rho = {rho:g}, S = {S}", ylim=(0, 1.1))  # above 1 is worse than c = 0: clipped
        ax.set_xticks(ref.S_over_K, [f"1/{K // S}" if K > S else f"{S / K:g}" for K in ref.K])
        ax.minorticks_off()
        ax.set_xlabel("S/K" if i == len(rhos) - 1 else "")
        ax.set_ylabel("exact stationary loss" if j == 0 else "")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    fig.suptitle("Learned loss against theory (learned: mean and 95% CI over seeds, each variant at its best lr)")
    fig.tight_layout()
    _save(fig, path)


# -- Figure 7 ---------------------------------------------------------------------------------------
def fig7_loss_vs_smoothness(t, cfg, path):
    runs = best_runs(t).assign(x=lambda d: (1 - d.rho) * d.K / d.S)
    th = t["theory"][t["theory"].quantity == "best_known"].assign(x=lambda d: (1 - d.rho) * d.K / d.S)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.scatterplot(runs, x="x", y="exact_loss", hue="rho", style="variant", alpha=0.6, ax=ax)
    sns.scatterplot(th, x="x", y="value", hue="rho", marker="X", s=90, legend=False, ax=ax, palette="dark")
    ax.set(
        xscale="log",
        xlabel="(1 - rho) K / S",
        ylabel="exact stationary loss",
        title="Loss against (1-rho)K/S: an approximate collapse (X: best known)",
    )
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


# -- Figure 8 ---------------------------------------------------------------------------------------
def width_fit(runs: pd.DataFrame):
    """OLS of log width on log K/S over kernels that learned the task: slope, 95% CI, n.

    A width only means something for a filter that copies the input at all, so only runs that
    recover at least half of the achievable signal, (1 - L)/(1 - L_best) >= 1/2, enter the fit.
    """
    d = runs[np.isfinite(runs.filter_width) & (runs.filter_width > 0) & (runs.recovered >= 0.5)]
    if d[["K", "S"]].drop_duplicates().shape[0] < 2:
        return np.nan, (np.nan, np.nan), len(d)
    fit = stats.linregress(np.log(d.K / d.S), np.log(d.filter_width))
    return fit.slope, t_interval(fit.slope, fit.stderr, len(d) - 2), len(d)


def fig8_width_vs_K_over_S(t, cfg, path):
    runs = best_runs(t).assign(K_over_S=lambda d: d.K / d.S)
    runs = runs[runs.recovered >= 0.5]  # the kernels that enter the fit
    slope, (lo, hi), n = width_fit(runs)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sns.scatterplot(runs, x="K_over_S", y="filter_width", hue="variant", style="rho", alpha=0.7, ax=ax)
    x = np.geomspace(runs.K_over_S.min(), runs.K_over_S.max(), 50)
    S = runs.S.max()
    ax.plot(
        x, [theory.dirichlet_fwhm(S, k * S) for k in x], "k--", lw=1, label=f"construction FWHM (Dirichlet, S = {S})"
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="K/S",
        ylabel="FWHM of the learned kernel (lags)",
        title=f"Uncertainty principle: fitted slope {slope:.2f} [{lo:.2f}, {hi:.2f}] (n = {n}), theory 1",
    )
    ax.legend(fontsize=7)
    _save(fig, path)


# -- Claims ------------------------------------------------------------------------------------------
def claims_table(t, cfg) -> pd.DataFrame:
    """Each claim of the paper with this study's verdict and number."""
    rows = []
    runs = best_runs(t)
    slope, (lo, hi), n = width_fit(runs)
    rows.append(
        (
            "Width of the learned filter is proportional to K/S (slope 1 in log-log)",
            "supported" if lo <= 1 <= hi or abs(slope - 1) < 0.15 else "not supported",
            f"slope {slope:.3f}, 95% CI [{lo:.3f}, {hi:.3f}], n = {n} learned kernels "
            "recovering >= 50% of the best-known signal",
        )
    )

    s = t["summary"]
    c = cfg["figures"].get("curves", {})
    rho = c.get("rho", s.rho.max())
    d = runs[runs.rho == rho]
    for regular in variants_with_init(d, "uncertainty"):
        for random_ in variants_with_init(d, "lru-ring"):
            diffs = []
            for _, g in d.groupby(["S", "K", "objective"]):
                u, r = g[g.variant == regular].exact_loss, g[g.variant == random_].exact_loss
                if len(u) and len(r):
                    diffs.append(r.mean() - u.mean())
            diffs = np.array(diffs)
            mean, lo, hi = mean_interval(diffs)
            half = hi - mean
            rows.append(
                (
                    f"Regularly spaced phases ({regular}) beat random init near the unit disk ({random_}) "
                    f"(rho = {rho:g})",
                    "supported" if lo > 0 else ("contradicted" if hi < 0 else "inconclusive"),
                    f"loss({random_}) - loss({regular}) = {mean:.4g} ± {half:.2g} (95% CI over {len(diffs)} cells); "
                    f"{regular} better in {(diffs > 0).sum()}/{len(diffs)} cells",
                )
            )

    S, K = cfg["figures"]["frequency"]["S"], cfg["figures"]["frequency"]["K"]
    T = (S - 1) / 2
    Omega = np.linspace(-2 * T, 2 * T, 4001)
    r = frequency_ratio(S, K, np.pi * Omega / K)["optimal readout"]
    inside, outside = np.abs(Omega) <= 0.8 * T, np.abs(Omega) >= 1.2 * T
    rows.append(
        (
            "The filter copies the input within the window |w| <= pi T/K and vanishes outside",
            "supported"
            if np.median(np.abs(r[inside] - 1)) < 0.2 and np.median(np.abs(r[outside])) < 0.2
            else "not supported",
            f"S = {S}, K = {K}, optimal readout: median |C/D - 1| inside = {np.median(np.abs(r[inside] - 1)):.3f}, "
            f"median |C/D| outside = {np.median(np.abs(r[outside])):.3f}",
        )
    )

    th = theory_wide(t["theory"]).reset_index()
    white = th[th.rho == 0]
    if len(white):
        tight = (1 - white.best_known) * (white.K + 1) / white.S
        rows.append(
            (
                "White noise: L* = 1 - Theta(S/K) (bound 1 - S/(K+1) is tight up to a constant)",
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
                    "Construction: L = 1 - kappa_alpha S/K + o(S/K), kappa_alpha = (1 - e^{-4 alpha})/2",
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
                "Smooth regime: L* ~ C (1 - rho) K/S",
                "measured",
                f"least-squares C = {C:.3f} over {len(smooth)} cells with (1-rho)K/S <= 2",
            )
        )
    status = t["runs"].status.value_counts()
    rows.append(
        (
            "Diverged or failed training runs (excluded from every mean)",
            "count",
            f"{status.get('diverged', 0)} diverged, {status.get('failed', 0)} numerically failed, "
            f"of {len(t['runs'])} runs",
        )
    )
    return pd.DataFrame(rows, columns=["claim", "verdict", "evidence"])


def html_table(df: pd.DataFrame, title: str, intro: str = "") -> str:
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h2>{html.escape(title)}</h2><p>{html.escape(intro)}</p>"
        + df.to_html(index=False, escape=True, border=1)
        + "</body></html>\n"
    )


def claims(t, cfg, path):
    with atomic_path(path) as tmp:
        tmp.write_text(
            html_table(
                claims_table(t, cfg),
                "Claims of the paper and this study's verdicts",
                "Learned losses are exact stationary losses of the learned filters; "
                "the best known is numerical, not a bound.",
            )
        )


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
