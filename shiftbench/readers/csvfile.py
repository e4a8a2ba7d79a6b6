"""The CSV format: one row per pole, columns a_re, a_im, b_re, b_im and an optional d."""

from __future__ import annotations

import numpy as np

from .layer import Layer, LayerError, make_layer, no_channel

CSV_COLUMNS = ("a_re", "a_im", "b_re", "b_im")


def read_csv(path, channel=None) -> Layer:
    """A header row ``a_re,a_im,b_re,b_im[,d]`` and one row per pole; ``d`` on the first row (the
    other cells of the column empty or equal to it). Lines starting with ``#`` are comments."""
    import pandas as pd

    no_channel(channel, "csv")
    try:
        table = pd.read_csv(path, comment="#", skipinitialspace=True)
    except (ValueError, OSError) as err:  # pandas' parser errors are ValueErrors
        raise LayerError(f"{path}: not a readable CSV file ({type(err).__name__}: {err})") from None
    columns = [str(c).strip() for c in table.columns]
    missing = [c for c in CSV_COLUMNS if c not in columns]
    extra = [c for c in columns if c not in (*CSV_COLUMNS, "d")]
    if missing or extra:
        raise LayerError(
            f"{path}: a CSV layer has the columns a_re,a_im,b_re,b_im and optionally d; "
            f"missing {missing}, unexpected {extra}"
        )
    table.columns = columns
    try:
        values = {c: pd.to_numeric(table[c], errors="raise").to_numpy(dtype=float) for c in columns}
    except (ValueError, TypeError) as err:
        raise LayerError(f"{path}: a CSV cell is not a number ({err})") from None
    for c in CSV_COLUMNS:
        if np.isnan(values[c]).any():
            raise LayerError(f"{path}: column {c} has an empty or NaN cell")
    d = 0.0
    if "d" in values:
        given = values["d"][~np.isnan(values["d"])]
        if given.size == 0 or np.any(given != given[0]):
            raise LayerError(f"{path}: column d must hold one value (on the first row), got {given.tolist()}")
        d = given[0]
    a = values["a_re"] + 1j * values["a_im"]
    b = values["b_re"] + 1j * values["b_im"]
    return make_layer(a, b, d, source=str(path))
