"""The report's seaborn figures and the Claims table that opens the report.

Every entry of ``outputs.FIGURES`` is drawn by the function of the same stem here, called as
``fig(t, cfg, path)`` with the tables ``t`` and the validated config. A learned filter is always
shown against the reference of the objective it was trained on (``objective_loss`` against that
objective's ``shiftbench.reference``); the stationary loss appears beside it, labelled. Inits are
found by what they are (the ``init`` column), never by their variant id.

One palette (``init_palette``: one colour per init variant of the config) colours every figure, and
every artist drawn for a variant carries ``gid = "init:<variant>"``. Learned lines take their method's
line style (``method_style``: the methods of ``methods.METHODS`` take ``METHOD_STYLES`` in registry
order); the reference and the theory's lines are black or grey in styles no method has
(``REFERENCE_STYLE``, ``BOUND_STYLE``, ``LIMIT_STYLE``). Objectives, pole families and
parameterisations take their markers the same way, from their registries: adding an entry draws
without an edit here. Intervals over seeds are the summary's 95% Student-t intervals
(``aggregation.mean_interval``), drawn as shaded bands clipped to the axis: no band where a variant
has one run.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from . import signals, theory
from .aggregation import CELL, load_tables, mean_interval, theory_wide
from .claims import (
    QUESTIONS,
    RANDOM,
    REGULAR,
    WIDTH_SUBSET,
    claims_table,
    family_gains,
    frequency_ratio,
    selected_runs,
    width_fit,
)
from .claims import theory_checks as decide_theory_checks
from .config import SHIFT
from .layout import BASELINE, FAMILIES, PARAMETERISATIONS
from .methods import METHODS
from .objectives import OBJECTIVES, STATIONARY
from .outputs import FIGURES, TARGET_FIGURES, stem
from .storage import atomic_path

sns.set_theme(context="notebook", style="whitegrid")

YMAX = 1.1  # losses above 1 are worse than the zero filter: axes stop here and mark what they clip
# The looks a registered entry takes, by its place in its registry (the first entry the first look).
METHOD_STYLES = ("-", "--", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (8, 4)))  # learned lines per method
REFERENCE_STYLE = "-."  # the reference of an objective and the construction: a style no method has
BOUND_STYLE = (0, (6, 2, 1, 2, 1, 2))  # the rigorous lower bound (dash-dot-dot)
LIMIT_STYLE = (0, (1, 3))  # a limit of the theory (loosely dotted), e.g. the Laguerre limit
OBJECTIVE_MARKERS = "osDPX*"  # learned kernels per objective (figure 8)
PARAMETERISATION_MARKERS = "osDPX*"  # learned runs per parameterisation (figure 9)
FAMILY_LOOKS = [("black", "^"), ("dimgrey", "v"), ("grey", "<"), ("darkgrey", ">")]  # references per family
BAND_ALPHA = 0.15


def look(registry, name, looks):
    """The look of entry ``name``: ``looks`` by its place in ``registry`` (the last look past the end;
    an unregistered name, say from an old table, the first)."""
    names = list(registry)
    return looks[min(names.index(name), len(looks) - 1)] if name in names else looks[0]


def objective_name(objective: str) -> str:
    """'exact objective (stationary loss)': a panel's title, from the objectives registry."""
    known = OBJECTIVES.get(objective)
    return f"{objective} objective" + (f" ({known.loss_name})" if known else "")


def hollow(method: str) -> bool:
    """Markers of a projected method (readout held at b*(a)) are hollow, those of a joint one filled."""
    return method in METHODS and METHODS[method].projected


def init_palette(cfg, t=None) -> dict:
    """One colour per init variant, the same in every figure: the config's variants (sorted), then any
    other variant of the tables ``t`` (sorted). Colour-blind safe, without its grey: black and grey
    are the reference's and the theory's."""
    variants = sorted(cfg["inits"])
    if t is not None:
        seen = {v for name in ("summary", "runs") if name in t for v in t[name].get("variant", [])}
        variants += sorted(seen - set(variants))
    colours = [c for i, c in enumerate(sns.color_palette("colorblind", 10)) if i != 7]
    if len(variants) > len(colours):
        colours += sns.color_palette("husl", len(variants) - len(colours))
    return dict(zip(variants, colours))


def init_gid(variant: str) -> str:
    """The gid of every artist drawn for ``variant``: how a test finds them."""
    return f"init:{variant}"


def method_style(method: str):
    """The line style of a method's learned lines (``METHOD_STYLES`` by its place in ``METHODS``)."""
    return look(METHODS, method, METHOD_STYLES)


def seed_band(ax, x, lo, hi, colour, variant):
    """A 95% interval over seeds as a shaded band, clipped to the axis [0, YMAX] (none where it is NaN)."""
    lo, hi = np.clip(np.asarray(lo, dtype=float), 0, YMAX), np.clip(np.asarray(hi, dtype=float), 0, YMAX)
    ax.fill_between(np.asarray(x, dtype=float), lo, hi, color=colour, alpha=BAND_ALPHA, lw=0, gid=init_gid(variant))


def seed_intervals(d: pd.DataFrame, by, value: str) -> pd.DataFrame:
    """Per ``by``: n, the mean of ``value`` over seeds and its 95% t-interval (``aggregation.mean_interval``)."""
    rows = [(key, len(g), *mean_interval(g[value])) for key, g in d.groupby(by)]
    return pd.DataFrame(rows, columns=[by, "n", "mean", "ci_low", "ci_high"])


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(path).suffix[1:])
    plt.close(fig)


def learned_filter(t, run_id):
    p = t["params"][t["params"].run_id == run_id].sort_values("pole_index")
    return (p.a_re + 1j * p.a_im).to_numpy(), (p.b_re + 1j * p.b_im).to_numpy()


def references(t, objective: str, family: str = BASELINE) -> pd.Series:
    """(S, K, rho) -> the reference of ``objective`` (``shiftbench.reference``), for drawing."""
    r = t["reference"]
    return r[(r.objective == objective) & (r.family == family)].set_index(CELL).value


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
    palette = init_palette(cfg, t)
    for row, ((_, objective, method), g) in zip(axes, groups):
        for ax, K in zip(row, Ks):
            lo, hi = kernel_window(S, K)
            k = np.arange(lo, hi + 1)
            ca, cb = theory.construction(S, K, 1.0)
            kernel = theory.kernel(ca, cb, hi + 1)[lo:].real
            ax.plot(k, kernel, ls=REFERENCE_STYLE, color="grey", label="construction, alpha=1")
            for variant, v in g[g.K == K].groupby("variant"):
                run = v.sort_values("seed").iloc[0]
                a, b = learned_filter(t, run.run_id)
                label = f"{variant} ({method})" if variant == run.init else f"{variant} ({run.init}, {method})"
                ax.plot(k, theory.kernel(a, b, hi + 1)[lo:].real, lw=1.2, color=palette[variant],
                        ls=method_style(method), label=label, gid=init_gid(variant))  # fmt: skip
            ax.axvline(K, color="grey", lw=0.6)
            ax.set(title=f"K = {K} (K/S = {K / S:g})", xlabel="lag k")
        row[0].set_ylabel(f"{objective}, {method}")
        row[0].legend(fontsize=7)
    fig.suptitle(
        f"Learned kernels at S = {S}, rho = {runs.rho.min():g}, zoomed on lag K ± 4 construction widths (first "
        "seed):\nthe lobe drops and widens in proportion to K/S"
    )
    fig.tight_layout()
    _save(fig, path)


# -- Figure 2 ---------------------------------------------------------------------------------------
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
    """Per objective: its population loss during training with its optimum; the stationary loss beside.
    Mean over seeds per (variant, method) with its 95% t-interval as a band (none where n = 1)."""
    c = cfg["figures"]["curves"]
    runs = selected_runs(t)
    runs = runs[(runs.S == c["S"]) & (runs.K == c["K"]) & (runs.rho == c["rho"])]
    curves = t["curves"].merge(runs[["run_id", "variant", "objective", "method", "seed"]], on="run_id")
    th = theory_wide(t["theory"]).loc[(c["S"], c["K"], c["rho"])]
    objectives = sorted(curves.objective.unique())
    palette = init_palette(cfg, t)
    cell = (c["S"], c["K"], c["rho"])
    fig, axes = plt.subplots(len(objectives), 2, figsize=(13, 4 * len(objectives)), squeeze=False)
    for (left, right), objective in zip(axes, objectives):
        d = curves[curves.objective == objective]
        for ax, column in [(left, "objective_loss"), (right, "stationary_loss")]:
            for (variant, method), g in d.groupby(["variant", "method"]):
                m = seed_intervals(g, "step", column)
                ax.plot(m.step, m["mean"], color=palette[variant], ls=method_style(method), lw=1.4,
                        label=f"{variant} ({method}, n = {m.n.max()})", gid=init_gid(variant))  # fmt: skip
                seed_band(ax, m.step, m.ci_low, m.ci_high, palette[variant], variant)
        left.axhline(references(t, objective)[cell], color="black", ls=REFERENCE_STYLE, lw=1.2,
                     label="reference (numerical)")  # fmt: skip
        right.axhline(references(t, STATIONARY)[cell], color="black", ls=REFERENCE_STYLE, lw=1.2,
                      label="reference, stationary")  # fmt: skip
        if np.isfinite(th["lower_bound"]):
            right.axhline(
                th["lower_bound"], color="black", lw=1, ls=BOUND_STYLE, label="lower bound (rigorous, stationary)"
            )
        left.set(
            ylabel=f"{objective}: population loss",
            ylim=(0, YMAX),
            title=f"trained on the {objective} objective: the loss it was trained on",
        )
        right.set(
            ylabel="stationary loss (endless stream)",
            ylim=(0, YMAX),
            title="the same filters on an endless stream",
        )
        left.legend(fontsize=7)
        right.legend(fontsize=7)
    fig.suptitle(
        f"Learning curves at S = {c['S']}, K = {c['K']}, rho = {c['rho']:g} (colour: init; line: method; mean over "
        f"seeds, band: 95% t-interval, none at n = 1; selected lr; axes stop at {YMAX})"
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
    """One panel per (objective, rho, S) trained: learned loss against the same objective's reference."""
    s = t["summary"].assign(S_over_K=lambda d: d.S / d.K)
    th = theory_wide(t["theory"]).reset_index()
    panels = sorted(set(zip(s.objective, s.rho, s.S)))
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    palette = init_palette(cfg, t)
    for ax, (objective, rho, S) in zip(axes.ravel(), panels):
        d = s[(s.objective == objective) & (s.rho == rho) & (s.S == S)]
        for (variant, method), g in d.groupby(["variant", "method"]):
            g = g.sort_values("S_over_K")
            ax.plot(g.S_over_K, g["mean"].clip(upper=YMAX), marker="o", ms=3, lw=1.2, ls=method_style(method),
                    color=palette[variant], label=f"{variant} ({method})", gid=init_gid(variant))  # fmt: skip
            seed_band(ax, g.S_over_K, g.ci_low, g.ci_high, palette[variant], variant)
        ref = th[(th.rho == rho) & (th.S == S) & th.K.isin(d.K)].assign(S_over_K=lambda x: x.S / x.K)
        ref = ref.sort_values("S_over_K").join(references(t, objective).rename("reference"), on=CELL)
        ax.plot(ref.S_over_K, ref.reference, color="black", ls=REFERENCE_STYLE, marker="^", lw=1.5,
                label="reference of this objective (numerical)")  # fmt: skip
        if objective == STATIONARY:  # the rigorous bound is on the stationary loss
            lb = ref[np.isfinite(ref.lower_bound)]
            if len(lb):
                ax.plot(lb.S_over_K, lb.lower_bound, color="black", ls=BOUND_STYLE, marker="v", lw=1,
                        label="lower bound (rigorous)")  # fmt: skip
        ax.set(xscale="log", title=f"{objective}, rho = {rho:g}, S = {S}", ylim=(0, YMAX))
        ax.set_xticks(ref.S_over_K, [f"1/{K // S}" if K > S else f"{S / K:g}" for K in ref.K])
        ax.minorticks_off()
        ax.set(xlabel="S/K", ylabel=f"{objective} loss")
    fig.suptitle(
        "Learned loss of the objective each filter was trained on, against that objective's reference\n"
        "(colour: init; line: method; mean over seeds, band: 95% t-interval (none at n = 1), selected lr; "
        f"axes stop at {YMAX})"
    )
    fig.tight_layout()
    figure_legend(fig, axes)
    _save(fig, path)


# -- Figure 7 ---------------------------------------------------------------------------------------
RHO_MARKERS = "osD^vP*X"


def fig7_loss_vs_smoothness(t, cfg, path):
    """Learned loss against (1 - rho) K / S per objective, with the reference of that objective as lines.
    Colour: init variant; marker: rho (the reference line of a rho carries its marker); hollow: a projected
    method."""
    s = t["summary"].dropna(subset=["mean"]).assign(x=lambda d: (1 - d.rho) * d.K / d.S)
    th = theory_wide(t["theory"]).reset_index().assign(x=lambda d: (1 - d.rho) * d.K / d.S)
    objectives = sorted(s.objective.unique())
    fig, axes = plt.subplots(1, len(objectives), figsize=(7 * len(objectives), 4.4), squeeze=False)
    rhos = sorted(s.rho.unique())
    markers = {rho: RHO_MARKERS[i % len(RHO_MARKERS)] for i, rho in enumerate(rhos)}
    palette = init_palette(cfg, t)
    for ax, objective in zip(axes[0], objectives):
        d = s[s.objective == objective]
        n_clipped = 0
        for (rho, variant, method), g in d.groupby(["rho", "variant", "method"]):
            colour = palette[variant]
            style = dict(color=colour, marker=markers[rho], alpha=0.8, s=28, gid=init_gid(variant))
            if hollow(method):
                style.update(facecolors="none", edgecolors=colour)
            n_clipped += clipped(ax, g.x, g["mean"], **style, label=f"{variant} ({method}), rho = {rho:g}")
        for rho in rhos:
            cells = th[(th.rho == rho) & th.set_index(CELL).index.isin(d.set_index(CELL).index)]
            cells = cells.join(references(t, objective).rename("reference"), on=CELL)
            line = cells.groupby("x").reference.mean()  # cells that share x: their mean
            ax.plot(line.index, line.values, color="black", ls=REFERENCE_STYLE, marker=markers[rho], ms=4,
                    mfc="white", lw=1.2, label=f"reference, rho = {rho:g}")  # fmt: skip
        ax.set(
            xscale="log",
            ylim=(0, YMAX),
            xlabel="(1 - rho) K / S",
            ylabel=f"{objective} loss",
            title=f"{objective_name(objective)}\n{n_clipped} mean(s) above {YMAX}, drawn as ^ on the edge",
        )
        log_axis(ax)
    fig.suptitle(
        "Loss against (1 - rho) K / S: an approximate collapse (points: learned means, colour: init, marker: rho, "
        "hollow: projected methods; lines: reference)"
    )
    fig.tight_layout()
    figure_legend(fig, axes)
    _save(fig, path)


# -- Figure 8 ---------------------------------------------------------------------------------------


def fig8_width_vs_K_over_S(t, cfg, path):
    """Every ok learned kernel's width against K/S (hollow: below WIDTH_SUBSET of the reference), with the
    fitted slopes of claims.width_fit: all kernels, the subset, and the initial kernels (control)."""
    runs = selected_runs(t).assign(K_over_S=lambda d: d.K / d.S, learned=lambda d: d.recovered >= WIDTH_SUBSET)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    palette = init_palette(cfg, t)
    Ss = sorted(runs.S.unique())
    sizes = {S: 14 + 14 * i for i, S in enumerate(Ss)}  # larger markers: larger S
    for (variant, objective, learned), g in runs.groupby(["variant", "objective", "learned"]):
        colour = palette[variant]
        ax.scatter(g.K_over_S, g.filter_width, s=g.S.map(sizes), marker=look(OBJECTIVES, objective, OBJECTIVE_MARKERS),
                   color=colour, facecolors=colour if learned else "none", alpha=0.7, gid=init_gid(variant),
                   label=f"{variant} ({objective})" if learned else None)  # fmt: skip
    x = np.geomspace(runs.K_over_S.min(), runs.K_over_S.max(), 50)
    for S in Ss:
        ax.plot(x, [theory.dirichlet_fwhm(S, k * S) for k in x], color="black", ls=REFERENCE_STYLE, lw=0.8)
    fits = [
        f"{o}, {what}: {s:.2f} [{lo:.2f}, {hi:.2f}] (n = {n})" if np.isfinite(lo) else f"{o}, {what}: no fit (n = {n})"
        for o, g in runs.groupby("objective")
        for what, d, column in [
            ("all", g, "filter_width"),
            (f">= {WIDTH_SUBSET:.0%}", g[g.learned], "filter_width"),
            ("init", g, "initial_filter_width"),
        ]  # fmt: skip
        for s, (lo, hi), n in [width_fit(d, column)]
    ]
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="K/S",
        ylabel="FWHM of the learned kernel (lags)",
        title="Uncertainty principle, fitted slopes (theory 1):\n" + "\n".join(fits),
    )
    log_axis(ax)
    at = ", ".join(str(int(S)) for S in Ss)
    title = f"dash-dot: construction FWHM at S = {at}; hollow: below {WIDTH_SUBSET:.0%} of the reference"
    ax.legend(fontsize=7, title=title, title_fontsize=7)
    _save(fig, path)


# -- Figure 9 ---------------------------------------------------------------------------------------
def fig9_real_vs_complex(t, cfg, path):
    """Captured signal 1 - L against S at fixed K/S, per rho: each family's reference, the Laguerre limit,
    the rigorous bound, and the learned runs of the exact objective per family, init and parameterisation."""
    ref = t["reference"][t["reference"].objective == STATIONARY].assign(K_over_S=lambda d: d.K / d.S)
    th = theory_wide(t["theory"]).reset_index().assign(K_over_S=lambda d: d.K / d.S)
    s = t["summary"][t["summary"].objective == STATIONARY].dropna(subset=["mean"]).assign(K_over_S=lambda d: d.K / d.S)
    ratios, rhos = sorted(ref.K_over_S.unique()), sorted(ref.rho.unique())
    fig, axes = plt.subplots(len(rhos), len(ratios), figsize=(3.8 * len(ratios), 3.3 * len(rhos)), squeeze=False)
    palette = init_palette(cfg, t)
    for row, rho in zip(axes, rhos):
        for ax, ratio in zip(row, ratios):
            for family in FAMILIES:
                colour, marker = look(FAMILIES, family, FAMILY_LOOKS)
                d = ref[(ref.family == family) & (ref.rho == rho) & (ref.K_over_S == ratio)].sort_values("S")
                ax.plot(d.S, 1 - d.value, color=colour, ls=REFERENCE_STYLE, marker=marker, ms=4,
                        label=f"reference, {family} poles")  # fmt: skip
            d = th[(th.rho == rho) & (th.K_over_S == ratio)].sort_values("S")
            ax.plot(
                d.S,
                1 - d.laguerre_limit,
                color="black",
                ls=LIMIT_STYLE,
                label="Laguerre limit (one repeated real pole)",
            )
            bound = d[np.isfinite(d.lower_bound)]
            ax.plot(
                bound.S, 1 - bound.lower_bound, color="grey", ls=BOUND_STYLE, lw=1, label="1 - lower bound (rigorous)"
            )
            runs = s[(s.rho == rho) & (s.K_over_S == ratio)]
            for (variant, method, param), g in runs.groupby(["variant", "method", "parameterisation"]):
                colour = palette[variant]
                marker = look(PARAMETERISATIONS, param, PARAMETERISATION_MARKERS)
                ax.scatter(g.S, 1 - g["mean"], color=colour, marker=marker, s=22, gid=init_gid(variant),
                           facecolors="none" if hollow(method) else colour,
                           label=f"{variant} ({method}, {param})")  # fmt: skip
            ax.set(xscale="log", ylim=(0, 1), title=f"K/S = {ratio:g}, rho = {rho:g}", xlabel="S",
                   ylabel="captured signal 1 - L")  # fmt: skip
            Ss = sorted(set(ref[(ref.rho == rho) & (ref.K_over_S == ratio)].S))
            if Ss:
                ax.set_xticks(Ss, [str(S) for S in Ss])
            ax.minorticks_off()
    gains = [
        f"family_gain (1 - L_{family})/(1 - L_{BASELINE}) of the references: {g.family_gain.min():.3f} to "
        f"{g.family_gain.max():.3f}"
        for family, g in family_gains(t["reference"]).groupby("family")
    ]
    fig.suptitle(
        f"What {BASELINE} poles buy: captured signal 1 - L against S at fixed K/S ({STATIONARY} objective; hollow "
        "markers: projected methods)\n" + "; ".join(gains)
    )
    fig.tight_layout()
    figure_legend(fig, axes)
    _save(fig, path)


def html_table(df: pd.DataFrame, title: str, intro: str = "") -> str:
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h2>{html.escape(title)}</h2><p>{html.escape(intro)}</p>"
        + df.to_html(index=False, escape=True, border=1)
        + "</body></html>\n"
    )


def kernels_at_init(scores: pd.DataFrame, path, columns: int = 3) -> None:
    """Figure 10 (``kernels.figure``): the share of each target's reference that every pole-placement rule
    holds at initialisation, against S; one panel per (target, rho), its full title written once.

    Lines: the mean over seeds with a 95% t-interval band (``aggregation.mean_interval``) where a rule
    draws at random; S on a log2 axis labelled at the study's S values only (no minor labels)."""
    rules = sorted(scores.init.unique())
    colours = dict(zip(rules, sns.color_palette("colorblind", len(rules))))
    panels = scores[["target", "rho", "K_scale"]].drop_duplicates().sort_values(["target", "rho"])
    n = len(panels)
    ncols = max(1, min(columns, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False, sharey=True)
    finite = scores.recovered_at_init[np.isfinite(scores.recovered_at_init)]
    low = min(0.0, float(finite.min())) if len(finite) else 0.0
    high = max(1.0, float(finite.max())) if len(finite) else 1.0
    for ax, (target, rho, K) in zip(axes.flat, panels.itertuples(index=False)):
        here = scores[(scores.target == target) & (scores.rho == rho)]
        for rule in rules:
            g = here[here.init == rule].groupby("S").recovered_at_init
            if g.ngroups == 0:
                continue
            S = np.array(list(g.groups))
            stats_ = [mean_interval(v.to_numpy()) for _, v in g]
            mean = np.array([m for m, _, _ in stats_])
            ax.plot(S, mean, marker="o", ms=4, lw=1.4, color=colours[rule], label=rule, gid=f"init:{rule}")
            lo, hi = np.array([lo for _, lo, _ in stats_]), np.array([hi for _, _, hi in stats_])
            if np.any(np.isfinite(lo)):
                ax.fill_between(S, lo, hi, color=colours[rule], alpha=BAND_ALPHA, lw=0)
        values = sorted(here.S.unique())
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(values))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        if len(values) == 1:
            ax.set_xlim(values[0] / 1.5, values[0] * 1.5)
        ax.set_ylim(low - 0.03 * (high - low), high + 0.03 * (high - low))
        ax.set_title(f"{target} (lag scale K = {K:g}), rho = {rho:g}", fontsize=10)
        ax.set_xlabel("order S")
    for ax in axes[:, 0]:
        ax.set_ylabel("recovered at init")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.suptitle(
        "Share of each target's reference held at initialisation: (1 - L*(a_init)) / (1 - L_ref)\n"
        "(mean over seeds; band: 95% t-interval where a rule draws at random)",
        fontsize=11,
    )
    fig.tight_layout()
    figure_legend(fig, axes)
    _save(fig, path)


# The verdicts of the Claims, in the order the summary counts them; any other ("measured", "count") is "other".
VERDICTS = ("supported", "contradicted", "not supported", "inconclusive", "underpowered", "no data")
VERDICT_COLOURS = {"supported": "#d9f0d3", "contradicted": "#f4cccc", "not supported": "#f4cccc",
                   "inconclusive": "#fff2cc", "underpowered": "#e6e6e6", "no data": "#e6e6e6"}  # fmt: skip
CLAIMS_CSS = (
    "body{font-family:sans-serif;font-size:14px;margin:12px}table{border-collapse:collapse;margin-bottom:18px}"
    "td,th{border:1px solid #999;padding:3px 6px;vertical-align:top;text-align:left}th{background:#eee}"
    "td.n{text-align:right}td.zero{color:#bbb}td.nowrap{white-space:nowrap}h3{margin:22px 0 6px}"
    "table.rows{width:100%;table-layout:fixed}"
)
ROW_COLUMNS = (("#", "3%"), ("claim", "29%"), ("verdict", "11%"), ("evidence", "57%"))


def claims_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per question of ``claims.QUESTIONS`` (in its order; those with no row left out): how many rows
    have each verdict of ``VERDICTS`` ("other": measured numbers and counts), the rows' total, and
    their numbers in the table (1-based, as the report prints them)."""
    numbered = table.assign(row=np.arange(1, len(table) + 1))
    out = []
    for key, text in QUESTIONS.items():
        g = numbered[numbered.question == key]
        if g.empty:
            continue
        counts = {v: int((g.verdict == v).sum()) for v in VERDICTS}
        other = len(g) - sum(counts.values())
        out.append({"question": key, "text": text, "rows": len(g), **counts, "other": other,
                    "first": int(g.row.min()), "last": int(g.row.max())})  # fmt: skip
    return pd.DataFrame(out, columns=["question", "text", "rows", *VERDICTS, "other", "first", "last"])


def claims_html(table: pd.DataFrame, title: str, intro: str) -> str:
    """The Claims as a reader scans them: a summary (per question, its verdict counts and a link to its
    rows), then the rows grouped by question, numbered as in the summary."""
    esc = html.escape
    summary = claims_summary(table)
    head = "".join(f"<th>{esc(c)}</th>" for c in ("question", "rows", *VERDICTS, "other"))
    lines = [
        f"<html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{CLAIMS_CSS}</style></head><body>",
        f"<h2>{esc(title)}</h2><p>{esc(intro)}</p>",
        "<h3>Summary</h3><p>Rows per question by verdict; a question links to its rows below.</p>",
        f"<table class='summary'><tr>{head}</tr>",
    ]
    for q in summary.to_dict("records"):
        span = f"{q['first']}" if q["first"] == q["last"] else f"{q['first']}-{q['last']}"
        cells = "".join(f"<td class='n{' zero' if q[v] == 0 else ''}'>{q[v]}</td>" for v in (*VERDICTS, "other"))
        link = f"<a href='#q-{esc(q['question'])}'>{esc(q['text'])}</a>"
        lines.append(f"<tr><td>{link}</td><td class='n nowrap'>{q['rows']} (rows {span})</td>{cells}</tr>")
    lines.append("</table>")
    numbered = table.assign(row=np.arange(1, len(table) + 1))
    for i, q in enumerate(summary.to_dict("records"), 1):
        lines.append(f"<h3 id='q-{esc(q['question'])}'>{i}. {esc(q['text'])}</h3>")
        widths = "".join(f"<col style='width:{w}'>" for _, w in ROW_COLUMNS)
        head = "".join(f"<th>{esc(c)}</th>" for c, _ in ROW_COLUMNS)
        lines.append(f"<table class='rows'><colgroup>{widths}</colgroup><tr>{head}</tr>")
        for r in numbered[numbered.question == q["question"]].itertuples():
            colour = VERDICT_COLOURS.get(r.verdict, "#ffffff")
            verdict = f"<td style='background:{colour}'>{esc(r.verdict)}</td>"
            lines.append(
                f"<tr><td class='n'>{r.row}</td><td>{esc(r.claim)}</td>{verdict}<td>{esc(r.evidence)}</td></tr>"
            )
        lines.append("</table>")
    return "\n".join([*lines, "</body></html>", ""])


def claims(t, cfg, path):
    """The table of ``claims.claims_table``: a summary per question, then its rows grouped by question."""
    intro = (
        "Every learned number is the exact population loss of the objective the filter was trained on, "
        "set against the reference of that same objective: an independent search over poles that no "
        "learned run made or changed (numerical, not a bound); [objective, method] names them. "
        f"Learning rates are chosen on the {t['summary'].lr_selected_on.iloc[0]}, never on a reported loss."
    )
    with atomic_path(path) as tmp:
        tmp.write_text(claims_html(claims_table(t, cfg), "Claims of the paper and this study's verdicts", intro))


def theory_checks(t, cfg, path):
    """The table of ``claims.theory_checks``."""
    intro = "Checks of the theory itself: no learned filter enters them. Each verdict follows the rule it prints."
    with atomic_path(path) as tmp:
        tmp.write_text(html_table(decide_theory_checks(t, cfg), "Checks of the theory", intro))


def make_figures(tables_dir, cfg, outdir):
    """Every figure of ``outputs.FIGURES`` into ``outdir``: those of the shift see its rows only
    (``shift_view``), ``TARGET_FIGURES`` every target's."""
    t = load_tables(tables_dir)
    for name in FIGURES:
        globals()[stem(name)](t if name in TARGET_FIGURES else shift_view(t), cfg, Path(outdir) / name)


def shift_view(t) -> dict:
    """The tables restricted to the shift (target ``shift``): what the paper's figures draw."""
    return {name: df[df.target == SHIFT] if "target" in df else df for name, df in t.items()}


def fig11_targets_learned(t, cfg, path):
    """Memory kernels beyond the shift, trained: per target and objective, the share of its reference that
    each init variant recovers (the summary's mean at the selected lr, with the runs' 95% interval) against
    S; line style per method."""
    s = t["summary"][t["summary"].target != SHIFT].dropna(subset=["recovered"])
    panels = sorted(set(zip(s.target, s.objective)))
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "No block of this study trains a memory target other than the shift.", ha="center")
        _save(fig, path)
        return
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), squeeze=False)
    palette = init_palette(cfg, t)
    for ax, (target, objective) in zip(axes.flat, panels):
        d = s[(s.target == target) & (s.objective == objective)]
        for (variant, method), g in d.groupby(["variant", "method"]):
            g = g.groupby("S")["recovered"].mean().sort_index()  # one rho per panel line where several
            ax.plot(g.index, g.to_numpy(), color=palette[variant], ls=method_style(method), marker="o", ms=4,
                    gid=init_gid(variant), label=f"{variant} ({method})")  # fmt: skip
        spec = json.loads(d.target_spec.iloc[0])
        params = ", ".join(f"{k} = {v:g}" for k, v in spec.items() if k != "name")
        ax.set(xscale="log", ylim=(min(0.0, d.recovered.min()), 1.05), xlabel="S", ylabel="recovered of the reference")
        ax.set_title(f"{target}: {spec['name']} ({params})\n{objective_name(objective)}", fontsize=9)
        Ss = sorted(d.S.unique())
        ax.set_xticks(Ss, [str(S) for S in Ss])
        ax.minorticks_off()
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle("Memory kernels beyond the shift, trained: (1 - L) / (1 - L_ref) per init variant (line: method)")
    fig.tight_layout()
    figure_legend(fig, axes)
    _save(fig, path)


BUDGET_FLOOR = -0.5  # figure 12 clips the first steps' transient here


def fig12_budget(t, cfg, path):
    """The budget control (blocks with train.budget_factor): the recovered fraction (1 - L)/(1 - L_ref)
    of the first seed at the selected lr against steps, at the block's budget and at budget_factor x
    steps (the long run), per cell; colour: init, line: method."""
    summary = t["summary"].dropna(subset=["recovered"])
    s = summary[summary.long_run_id.notna()] if "long_run_id" in summary else summary.iloc[:0]
    note = ""
    if s.empty:  # no block sets budget_factor: the block's budget alone, at the largest S on the exact objective
        exact = summary[summary.objective == STATIONARY]
        s = exact[exact.S == exact.S.max()].assign(long_run_id=None)
        note = " (no block sets train.budget_factor: the block's budget alone)"
    if s.empty:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.axis("off")
        ax.text(0.5, 0.5, "no run on the exact objective and no long-budget run", ha="center", va="center")
        _save(fig, path)
        return
    runs, curves, palette = t["runs"], t["curves"], init_palette(cfg, t)
    panels = sorted({(r.block, r.S, r.K, r.rho) for r in s.itertuples()})[:8]
    ncol = min(4, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    for ax, (block, S, K, rho) in zip(axes.flat, panels):
        for r in s[(s.block == block) & (s.S == S) & (s.K == K) & (s.rho == rho)].itertuples():
            mine = runs[(runs.block == block) & (runs.S == S) & (runs.K == K) & (runs.rho == rho)
                        & (runs.method == r.method) & (runs.variant == r.variant) & (runs.lr == r.lr)]  # fmt: skip
            first = mine[mine.seed == mine.seed.min()].run_id
            name = f"{r.variant} ({r.method}, lr {r.lr:g})"
            for run_id, lw, alpha, label in [(first.iloc[0] if len(first) else None, 1.0, 0.6, name if note else None),
                                             (r.long_run_id, 1.6, 1.0, name)]:  # fmt: skip
                c = curves[curves.run_id == run_id]
                if c.empty:
                    continue
                y = (1 - c.objective_loss) / (1 - r.reference)
                ax.plot(c.step, y, color=palette[r.variant], ls=method_style(r.method), lw=lw, alpha=alpha,
                        gid=init_gid(r.variant), label=label)  # fmt: skip
            if np.isfinite(getattr(r, "steps", np.nan)):
                ax.axvline(r.steps, color="grey", lw=0.6, ls=":")
        ax.axhline(1.0, color="black", ls=REFERENCE_STYLE, lw=1.0, label="reference")
        # The first steps can sit far below 0 (a loss above 1); the axis stops at BUDGET_FLOOR so the end shows.
        ax.set(xlabel="step", ylabel="recovered (1 - L)/(1 - L_ref)",
               ylim=(max(BUDGET_FLOOR, min(0.0, ax.get_ylim()[0])), 1.05))  # fmt: skip
        ax.set_title(f"{block}\nS = {S}, K = {K}, rho = {rho:g}", fontsize=9)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle("Budget control: the first seed at the selected lr, at the block's steps (thin)\nand at "
                 f"budget_factor x steps (thick); dotted: the block's steps; the axis stops at {BUDGET_FLOOR:g}{note}",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    _save(fig, path)


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
