"""The slope rule of the Claims table and the helpers of the figures."""

import numpy as np
import pytest

from shiftbench import claims, plots


@pytest.mark.parametrize(
    "lo,hi,verdict",
    [
        (0.826, 1.080, "supported"),  # contains 1, within 1 ± 0.25
        (1.023, 1.259, "contradicted"),  # excludes 1: never "supported"
        (0.70, 0.95, "contradicted"),
        (0.618, 1.271, "inconclusive"),  # contains 1 but too wide to tell
        (np.nan, np.nan, "inconclusive"),
    ],
)
def test_slope_verdict_never_supports_an_interval_that_excludes_one(lo, hi, verdict):
    assert claims.slope_verdict(lo, hi, 0.25) == verdict


def test_kernel_window_spans_the_same_number_of_widths_at_every_K():
    S = 250
    spans = [(hi - lo) / (K / S) for K in [250, 500, 1000, 2000] for lo, hi in [plots.kernel_window(S, K)]]
    np.testing.assert_allclose(spans, spans[0], rtol=0.05)  # up to rounding to whole lags
    assert all(lo < K < hi for K in [250, 2000] for lo, hi in [plots.kernel_window(S, K)])
