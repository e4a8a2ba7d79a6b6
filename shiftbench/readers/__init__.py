"""Readers of trained diagonal layers: one small function per file format, each in its own module,
registered by name in ``READERS``.

Every reader ``(path, channel) -> Layer`` turns one input channel and one output channel of a linear
time-invariant diagonal layer into a ``Layer``: poles ``a`` and readout ``b`` in the convention of
``shiftbench.theory`` (conjugate pairs written out, kernel ``c_k = sum_s b_s a_s^k`` real), plus the
feed-through ``d`` (``y_t = sum_k c_k x_{t-k} + d x_t``). The formula of each reader is in
docs/layers.md.

Bad input raises ``LayerError`` (a ``ValueError``), with one line that says what is wrong: the
command line prints it and exits with status 2. torch is imported only by the torch readers, and
state_dicts are loaded with ``weights_only=True``: no arbitrary object is ever unpickled.
"""

from __future__ import annotations

from pathlib import Path

from .csvfile import read_csv
from .layer import Layer, LayerError, make_layer
from .lru_pytorch import read_lru_pytorch
from .npz import read_npz
from .s4d import read_s4d
from .torch_state import load_state_dict

__all__ = ["READERS", "Layer", "LayerError", "load_state_dict", "make_layer", "read_layer", "register"]

READERS = {}  # format name -> reader
SUFFIXES = {}  # file suffix -> format name, for a format that has its own suffix
STATE_KEYS = {}  # a state_dict key (its last dotted part) -> format name, for torch formats
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


def register(name: str, reader, suffix: str | None = None, state_key: str | None = None) -> None:
    """Make ``reader`` the format ``name``: ``shiftbench evaluate --format name`` then reads with it.

    ``suffix`` (".npz"): files with that suffix are read with it by default. ``state_key`` ("nu_log"):
    a torch file whose state_dict has that key is read with it by default. A name, suffix or key
    that another format already has is refused (ValueError): one format never silently replaces another.
    """
    taken = [
        what
        for what, value, registry in (
            ("name", name, READERS),
            ("suffix", suffix, SUFFIXES),
            ("state_key", state_key, STATE_KEYS),
        )
        if value and (value.lower() if what == "suffix" else value) in registry
    ]
    if taken:
        raise ValueError(f"register({name!r}): the {' and '.join(taken)} already belong to a registered format")
    READERS[name] = reader
    if suffix:
        SUFFIXES[suffix.lower()] = name
    if state_key:
        STATE_KEYS[state_key] = name


register("npz", read_npz, suffix=".npz")
register("csv", read_csv, suffix=".csv")
register("lru-pytorch", read_lru_pytorch, state_key="nu_log")
register("s4d", read_s4d, state_key="log_A_real")


def guess_format(path) -> str:
    """The format from the suffix; for a torch file, from its keys (nu_log: lru-pytorch, log_A_real: s4d)."""
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if suffix in TORCH_SUFFIXES:
        names = {k.split(".")[-1] for k in load_state_dict(path)}
        for key, name in STATE_KEYS.items():
            if key in names:
                return name
        known = ", ".join(f"{name} ({key})" for key, name in STATE_KEYS.items())
        raise LayerError(f"{path}: a state_dict of none of the formats {known}; pass --format")
    raise LayerError(f"{path}: cannot tell the format from the suffix {suffix!r}; pass --format ({', '.join(READERS)})")


def read_layer(path, fmt: str | None = None, channel=None) -> Layer:
    """Read ``path`` with the reader ``fmt`` (None: ``guess_format``)."""
    if not Path(path).is_file():
        raise LayerError(f"{path}: no such file")
    fmt = fmt or guess_format(path)
    if fmt not in READERS:
        raise LayerError(f"unknown layer format {fmt!r}; known: {', '.join(READERS)}")
    return READERS[fmt](path, channel)
