"""The one rule that chooses a learning rate, applied by the summary (``aggregation.summary_table``) and by
the budget control's long runs (``budget.long_specs``) alike: among the lrs of a variant and method, the
one with the lowest mean final training loss over its ok seeds; a tie goes to the smallest lr. No
reported metric (an objective loss, a recovered fraction) ever enters it."""

from __future__ import annotations

import math
from collections.abc import Iterable

LR_SELECTED_ON = "final training loss (mean over seeds)"
LR_FIXED = "fixed: the block trains one lr (its config says where it comes from)"


def select_lr(pairs: Iterable[tuple[float, float]]) -> float:
    """The lr of the lowest mean final training loss over ``pairs`` of (lr, final training loss), one
    pair per ok run; ties: the smallest lr. NaN where there is no pair."""
    by_lr: dict[float, list[float]] = {}
    for lr, loss in pairs:
        by_lr.setdefault(float(lr), []).append(float(loss))
    best, chosen = math.inf, math.nan
    for lr in sorted(by_lr):
        mean = math.fsum(by_lr[lr]) / len(by_lr[lr])
        if mean < best:
            best, chosen = mean, lr
    return chosen
