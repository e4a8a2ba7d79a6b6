"""The summary's interval over seeds (shiftbench.aggregation.mean_interval): a 95% Student-t interval,
honest at small n (wide at two seeds, none at one), checked against scipy's own t-interval."""

import numpy as np
import pytest
from scipy import stats

from shiftbench import aggregation


@pytest.mark.parametrize(
    "x", [[0.31, 0.35], [0.2, 0.25, 0.4], [0.5, 0.52, 0.49, 0.55, 0.6], list(np.linspace(0, 1, 12))]
)
def test_mean_interval_is_the_student_t_interval(x):
    mean, lo, hi = aggregation.mean_interval(x)
    n = len(x)
    expected = stats.t.interval(0.95, n - 1, loc=np.mean(x), scale=stats.sem(x))
    assert mean == pytest.approx(np.mean(x)) and (lo, hi) == pytest.approx(expected, rel=1e-12)


def test_mean_interval_at_two_seeds_is_wide_and_at_one_absent():
    mean, lo, hi = aggregation.mean_interval([0.3, 0.4])
    assert (hi - lo) / 2 == pytest.approx(12.7062 * 0.1 / 2, rel=1e-4)  # t_{0.975, 1} s / sqrt(2), s = 0.1/sqrt(2)
    mean, lo, hi = aggregation.mean_interval([0.3])
    assert mean == 0.3 and np.isnan(lo) and np.isnan(hi)


def test_summary_interval_is_mean_interval_over_the_selected_seeds():
    """The columns the figures draw (ci_low, ci_high) are mean_interval of the seeds at the selected lr."""
    from test_claims import make_runs, study

    losses = {0: 0.40, 1: 0.43, 2: 0.47}
    runs = make_runs(lambda variant, cell, seed: losses[seed], seeds=(0, 1, 2))
    s = study(runs)["summary"]
    mean, lo, hi = aggregation.mean_interval(list(losses.values()))
    assert (s.n == 3).all()
    assert np.allclose(s["mean"], mean) and np.allclose(s.ci_low, lo) and np.allclose(s.ci_high, hi)
