"""The slope rule of the Claims table, the helpers of the figures, and the figures' one palette: every
figure drawn from small synthetic tables, its matplotlib artists inspected."""

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D

from shiftbench import claims, plots
from shiftbench.methods import METHODS

TINY = Path(__file__).resolve().parent.parent / "configs" / "tiny.yaml"


@pytest.mark.parametrize(
    "lo,hi,verdict",
    [
        (0.826, 1.080, "supported"),  # contains 1, within 1 ± 0.25
        (1.023, 1.259, "contradicted"),  # excludes 1: never "supported"
        (0.70, 0.95, "contradicted"),
        (0.618, 1.271, "inconclusive"),  # contains 1 but too wide to tell
        (np.nan, np.nan, "no data"),
    ],
)
def test_slope_verdict_never_supports_an_interval_that_excludes_one(lo, hi, verdict):
    assert claims.slope_verdict(lo, hi, 0.25) == verdict


def test_kernel_window_spans_the_same_number_of_widths_at_every_K():
    S = 250
    spans = [(hi - lo) / (K / S) for K in [250, 500, 1000, 2000] for lo, hi in [plots.kernel_window(S, K)]]
    np.testing.assert_allclose(spans, spans[0], rtol=0.05)  # up to rounding to whole lags
    assert all(lo < K < hi for K in [250, 2000] for lo, hi in [plots.kernel_window(S, K)])


# -- one colour per init in every figure -----------------------------------------------------------------------

FIGURE_CELLS = [(S, K, rho) for S in (2, 4) for K in (2 * S, 4 * S) for rho in (0.0, 0.7)]
DESIGN = [  # (variant, init, family, objective, method, seeds): s4d-real only on the exact objective, and
    # uncertainty trained once there (its seed changes nothing), so the panels hold different sets of variants
    ("uncertainty", "uncertainty", "complex", "sampled", "joint", (0, 1, 2)),
    ("lru-ring", "lru-ring", "complex", "sampled", "joint", (0, 1, 2)),
    ("uncertainty", "uncertainty", "complex", "exact", "joint", (0,)),
    ("lru-ring", "lru-ring", "complex", "exact", "joint", (0, 1, 2)),
    ("s4d-real", "s4d-real", "real", "exact", "joint", (0, 1, 2)),
    ("uncertainty", "uncertainty", "complex", "exact", "projected", (0,)),
    ("lru-ring", "lru-ring", "complex", "exact", "projected", (0, 1, 2)),
]
LOSS = {"uncertainty": 0.4, "lru-ring": 0.6, "s4d-real": 0.8}
SPREAD = {"uncertainty": 0.01, "lru-ring": 0.15, "s4d-real": 0.01}  # lru-ring: a t-interval beyond the axis


def figure_tables():
    """Small synthetic tables of every kind the figures read, the summary built by aggregation itself."""
    from shiftbench import aggregation, theory

    runs, curves, params = [], [], []
    for variant, init, family, objective, method, seeds in DESIGN:
        for S, K, rho in FIGURE_CELLS:
            for seed in seeds:
                loss = LOSS[variant] + SPREAD[variant] * seed - (0.05 if method == "projected" else 0)
                rid = f"main/{objective}/{method}/{rho}/{S}/{K}/{variant}/{seed}"
                runs.append({
                    "run_id": rid, "block": "main", "S": S, "K": K, "rho": rho, "target": "shift",
                    "target_spec": json.dumps({"K": K, "name": "shift"}, sort_keys=True), "objective": objective,
                    "method": method, "variant": variant, "init": init, "readout": "optimal", "family": family,
                    "parameterisation": "exp-exp", "lr": 0.01, "seed": seed, "data_seed": 0, "status": "ok",
                    "final_train_loss": loss, "objective_loss": loss, "objective_optimal_loss": loss,
                    "objective_optimal_resolved": True, "stationary_loss": loss + 0.02, "test_mse": loss,
                    "filter_width": 2.4 * K / S * (1 + 0.05 * seed), "initial_filter_width": 2.4 * K / S,
                })  # fmt: skip
                curves += [
                    {"run_id": rid, "step": step, "train_loss": loss + 0.3 / (1 + step),
                     "objective_loss": loss + 0.3 / (1 + step), "stationary_loss": loss + 0.35 / (1 + step)}
                    for step in (0, 10, 20)
                ]  # fmt: skip
                a, b = theory.construction(S, K, 1.0)
                params += [
                    {"run_id": rid, "pole_index": i, "a_re": z.real, "a_im": z.imag, "b_re": w.real, "b_im": w.imag}
                    for i, (z, w) in enumerate(zip(a, b))
                ]
    th = [
        {"S": S, "K": K, "rho": rho, "quantity": q, "alpha": 1.0, "value": v}
        for S, K, rho in FIGURE_CELLS
        for q, v in [("lower_bound", 0.05), ("construction_best", 0.5), ("laguerre_limit", 0.7)]
    ]
    reference = [
        {
            "family": family,
            "objective": objective,
            "S": S,
            "K": K,
            "rho": rho,
            "target": "shift",
            "value": value,
            "certified": True,
        }
        for S, K, rho in FIGURE_CELLS
        for objective in ("sampled", "exact")
        for family, value in [("complex", 0.3), ("real", 0.5)]
    ]
    runs, theory_, reference = pd.DataFrame(runs), pd.DataFrame(th), pd.DataFrame(reference)
    return {
        "runs": runs,
        "curves": pd.DataFrame(curves),
        "params": pd.DataFrame(params),
        "theory": theory_,
        "reference": reference,
        "summary": aggregation.summary_table(runs, theory_, reference),
    }


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Every figure drawn from the synthetic tables: {stem: matplotlib figure} (saving skipped)."""
    from shiftbench import config
    from shiftbench.outputs import FIGURES, stem

    cfg = config.load_config(TINY)
    cfg["figures"] = {**cfg["figures"], "kernels_S": 4, "curves": {"S": 4, "K": 16, "rho": 0.7}}
    t, figures = figure_tables(), {}
    out = tmp_path_factory.mktemp("figures")
    save = plots._save
    plots._save = lambda fig, path: figures.setdefault(Path(path).stem, fig)
    try:
        for name in FIGURES:
            if name.endswith(".png"):
                getattr(plots, stem(name))(t, cfg, out / name)
    finally:
        plots._save = save
    yield cfg, t, figures
    for fig in figures.values():
        plt.close(fig)


def init_artists(fig):
    """(variant, artist, its colours) of every artist drawn for an init variant (gid "init:<variant>")."""
    found = []
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections]:
            gid = artist.get_gid() or ""
            if not gid.startswith("init:"):
                continue
            if isinstance(artist, Line2D):
                colours = [artist.get_color()]
            else:  # scatter (filled or hollow) and bands: their edges or faces, whichever are drawn
                colours = [c for c in [*artist.get_facecolor(), *artist.get_edgecolor()] if c[3] > 0]
            found.append((gid.removeprefix("init:"), artist, [to_rgb(c) for c in colours]))
    return found


INIT_FIGURES = ["fig1_kernels", "fig4_learning_curves", "fig6_loss_vs_S_over_K", "fig7_loss_vs_smoothness",
                "fig8_width_vs_K_over_S", "fig9_real_vs_complex"]  # fmt: skip


def test_every_figure_gives_an_init_the_same_colour(drawn):
    cfg, t, figures = drawn
    palette = plots.init_palette(cfg, t)
    assert set(palette) >= {"uncertainty", "lru-ring", "s4d-real"}
    assert len({to_rgb(c) for c in palette.values()}) == len(palette)  # one colour per variant
    seen = {}
    for name in INIT_FIGURES:
        artists = init_artists(figures[name])
        assert artists, f"{name} draws no init"
        for variant, artist, colours in artists:
            assert colours, (name, variant, artist)
            for colour in colours:
                assert colour == pytest.approx(to_rgb(palette[variant])), (name, variant, artist)
                seen.setdefault(variant, set()).add(name)
        # every labelled artist of a variant is one of them: a label "<variant> (...)" has the variant's colour
        for ax in figures[name].axes:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                variant = label.split(" (")[0]
                if variant in palette:
                    assert (handle.get_gid() or "") == plots.init_gid(variant), (name, label)
    for variant in ("uncertainty", "lru-ring"):
        assert seen[variant] == set(INIT_FIGURES)
    assert seen["s4d-real"] >= {"fig4_learning_curves", "fig6_loss_vs_S_over_K", "fig9_real_vs_complex"}


def test_figure_4_colours_a_variant_alike_in_every_panel(drawn):
    """The bug this palette fixes: per-panel hues gave one variant two colours when the panels' sets differ."""
    _, _, figures = drawn
    colours = {}
    for variant, _, found in init_artists(figures["fig4_learning_curves"]):
        colours.setdefault(variant, set()).update(found)
    assert all(len(c) == 1 for c in colours.values()), colours


def dash_pattern(line):
    offset, dashes = line._unscaled_dash_pattern  # what the line draws, whatever name its style was given
    return None if dashes is None else tuple(dashes)


def test_no_method_shares_its_line_style_with_the_reference(drawn):
    _, _, figures = drawn
    method_patterns = {dash_pattern(Line2D([], [], ls=plots.method_style(m))) for m in METHODS}
    theory_lines, learned = 0, 0
    for name, fig in figures.items():
        for ax in fig.axes:
            for line in ax.lines:
                label = line.get_label()
                if (line.get_gid() or "").startswith("init:"):
                    learned += 1
                    assert dash_pattern(line) in method_patterns, (name, label)
                elif any(w in label for w in ("reference", "bound", "Laguerre")):
                    theory_lines += 1
                    assert dash_pattern(line) not in method_patterns, (name, label)
    assert learned and theory_lines


def test_interval_bands_stay_on_the_axis(drawn):
    """Bands over seeds are clipped to [0, YMAX]: a wide t-interval at two or three seeds never stretches an axis."""
    _, _, figures = drawn
    for name in ("fig4_learning_curves", "fig6_loss_vs_S_over_K"):
        bands = [a for _, a, _ in init_artists(figures[name]) if isinstance(a, PolyCollection)]
        assert bands, name
        assert max(p.vertices[:, 1].max() for b in bands for p in b.get_paths()) == pytest.approx(plots.YMAX)
        for band in bands:
            for path in band.get_paths():
                y = path.vertices[:, 1]
                assert (y >= 0).all() and (y <= plots.YMAX).all()
        for ax in figures[name].axes:
            if ax.get_visible() and ax.has_data():
                assert ax.get_ylim() == pytest.approx((0, plots.YMAX))


def test_figure_12_shows_the_end_of_training_with_whole_titles(monkeypatch):
    """A first step with a loss of 5 (recovered about -6) must not stretch the axis: it stops at BUDGET_FLOOR,
    so the late curves stay legible; each panel's title is drawn once, inside the figure, and overlaps no other."""
    from shiftbench import config

    t = figure_tables()
    first = t["curves"].step == 0
    t["curves"].loc[first, "objective_loss"] = 5.0
    captured = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: captured.append(fig))
    plots.fig12_budget(t, config.load_config(TINY), "fig12_budget.png")
    fig = captured[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    assert len(panels) >= 2
    lowest = min(float(np.min(line.get_ydata())) for ax in panels for line in ax.lines if len(line.get_ydata()) > 2)
    assert lowest < plots.BUDGET_FLOOR  # the transient is drawn, below the axis
    boxes = [ax.title.get_window_extent(renderer) for ax in panels]
    width = fig.get_window_extent(renderer).x1
    for i, (ax, box) in enumerate(zip(panels, boxes)):
        assert ax.get_ylim()[0] == pytest.approx(plots.BUDGET_FLOOR)
        assert box.x0 >= 0 and box.x1 <= width, ax.get_title()
        assert not any(box.overlaps(other) for other in boxes[i + 1 :]), ax.get_title()
    plt.close(fig)
