"""The study's named outputs: its tables and its report figures, listed once.

The workflow builds its targets from these lists, ``aggregation`` writes the tables, ``plots`` draws
each figure with the function of the same name (``fig1_kernels.png`` -> ``plots.fig1_kernels``), and
the report caption of a figure is ``workflow/report/<stem>.rst``. Nothing heavy is imported here, so
the Snakefile can read it cheaply.
"""

from __future__ import annotations

from pathlib import Path

TABLES = ("runs", "curves", "params", "theory", "reference", "summary")
REPORT_TABLES = ("summary", "reference", "theory", "kernel_claims")  # the tables also in the HTML report

# file name -> report category (categories are numbered in reading order)
FIGURES = {
    "claims.html": "1. Claims",
    "theory_checks.html": "1. Claims",
    "fig1_kernels.png": "2. Uncertainty principle",
    "fig8_width_vs_K_over_S.png": "2. Uncertainty principle",
    "fig2_frequency_window.png": "3. Frequency view",
    "fig3_white_noise_terms.png": "3. Frequency view",
    "fig5_spectral_density.png": "3. Frequency view",
    "fig4_learning_curves.png": "4. Learned vs theory",
    "fig6_loss_vs_S_over_K.png": "4. Learned vs theory",
    "fig7_loss_vs_smoothness.png": "4. Learned vs theory",
    "fig9_real_vs_complex.png": "4. Learned vs theory",
    "fig11_targets_learned.png": "7. Memory kernels",
    "fig12_budget.png": "4. Learned vs theory",
}
TARGET_FIGURES = ("claims.html", "fig11_targets_learned.png")  # drawn from every target's rows (the rest: the shift)

# The memory kernels' outputs (``shiftbench.kernels``), made where the config names kernel targets.
KERNEL_TABLES = ("kernel_scores", "kernel_references", "kernel_claims")
KERNEL_FIGURES = {"fig10_kernels_at_init.png": "7. Memory kernels"}

# The pruning table (``shiftbench.pruning``), made where the config names a block under ``pruning``.
PRUNING_TABLES = ("pruning",)


def stem(name: str) -> str:
    """``fig1_kernels.png`` -> ``fig1_kernels``: the drawing function and the caption file."""
    return Path(name).stem
