"""The pole layout, defined once: n_pairs conjugate pairs, then n_real real poles (docs/theory.md section 1).

Arrays of poles and readouts are stored as ``[p, conj(p), r]`` with ``len(p) = n_pairs`` and
``len(r) = n_real``, so that a kernel ``sum_s b_s a_s^k`` is real. Each pole family fixes the layout of
an order S:

- ``complex``: S // 2 conjugate pairs and, for odd S, one real pole (the paper's, LRU's, S4D's);
- ``real``: S real positive poles in (0, 1) and no pair (Mamba's, S4D-Real's, RG-LRU's).

The families, with their properties, are ``FAMILIES`` (one entry each; ``BASELINE`` is the one the
others are compared with), and the maps from parameters to poles are ``PARAMETERISATIONS``; the same
arrays are valid inputs of every ``shiftbench.theory`` function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Family:
    """A pole family: how an order S splits into pairs and real poles, and the sign of its real poles.

    ``paired``: S // 2 conjugate pairs (and one real pole for odd S), else S real poles;
    ``real_sign``: "positive" (every real pole in (0, 1)) or "any" (in (-1, 1), its sign fixed at init);
    ``summary``: one line for the schema, the CLI and the docs.
    """

    name: str
    paired: bool
    real_sign: str
    summary: str


FAMILIES = {
    f.name: f
    for f in (
        Family("complex", True, "any", "S // 2 conjugate pairs, plus one real pole for odd S (the paper, LRU, S4D)"),
        Family("real", False, "positive", "S real positive poles in (0, 1) (Mamba, S4D-Real, RG-LRU)"),
    )
}
# The family every other is set against: the workflow finds its stationary reference in every cell, and
# the theory's checks, ``recovered_vs_complex``, ``family_gain`` and the family Claims compare with it.
BASELINE = "complex"


@dataclass(frozen=True)
class Parameterisation:
    """How a model maps parameters to poles (``model.LinearRNN``, docs/theory.md section 11).

    ``needs_delta``: the poles are a = exp(Delta A) with a learned step Delta, so a run starts from an
    init with a step Delta (``inits.DELTA_INITS``); ``summary``: one line for the schema and the docs.
    """

    name: str
    needs_delta: bool
    summary: str


PARAMETERISATIONS = {
    p.name: p
    for p in (
        Parameterisation("exp-exp", False, "LRU-style, a = exp(-exp(nu) + i theta)"),
        Parameterisation(
            "zoh",
            True,
            "S4D's and Mamba's zero-order hold, a = exp(Delta A) with A = -exp(A_log) + i A_im and one learned "
            "log Delta shared by all states",
        ),
    )
}
TOL = 1e-12  # how far a conjugate (or a real part) may be off in a valid layout


@dataclass(frozen=True)
class Layout:
    """``[p, conj(p), r]``: ``n_pairs`` upper representatives p, their conjugates, ``n_real`` real poles."""

    n_pairs: int
    n_real: int
    positive: bool = False  # whether the real poles must be positive (the family's ``real_sign``)

    @classmethod
    def of(cls, family: str, S: int) -> Layout:
        """The layout of order S in a pole family (``FAMILIES``)."""
        if not (isinstance(S, (int, np.integer)) and S >= 1):
            raise ValueError(f"the order S must be a positive integer, got {S!r}")
        if family not in FAMILIES:
            raise ValueError(f"unknown pole family {family!r}; known: {list(FAMILIES)}")
        f, S = FAMILIES[family], int(S)
        return cls(S // 2, S % 2, False) if f.paired else cls(0, S, f.real_sign == "positive")

    @property
    def order(self) -> int:
        """S = 2 n_pairs + n_real."""
        return 2 * self.n_pairs + self.n_real

    def assemble(self, p, r=()) -> np.ndarray:
        """[p, conj(p), r] as a complex array, from the upper representatives p and the real values r."""
        p = np.asarray(p, dtype=complex).reshape(-1)
        r = np.asarray(r, dtype=complex).reshape(-1)
        if p.size != self.n_pairs or r.size != self.n_real:
            raise ValueError(
                f"{self} needs {self.n_pairs} pair and {self.n_real} real values, got {p.size} and {r.size}"
            )
        return np.concatenate([p, p.conj(), r])

    def split(self, a):
        """(p, r): the upper representatives (complex) and the real values (float) of a layout array.

        ``assemble(*split(b))`` makes an array that is nearly in the layout exactly so (it keeps the
        first half of each pair and the real parts of the real values).
        """
        a = np.asarray(a, dtype=complex)
        if a.shape != (self.order,):
            raise ValueError(f"{self} holds {self.order} values, got shape {a.shape}")
        h = self.n_pairs
        return a[:h].copy(), a[2 * h :].real.copy()

    def check(self, a, b):
        """Validate poles ``a`` and readout ``b`` in this layout; returns them as numpy complex arrays.

        The first n_pairs and the next n_pairs are conjugates (poles and readout), the last n_real
        are real (and positive poles where the family says so), and every pole lies strictly inside the
        unit disk.
        """
        a, b = np.asarray(a, dtype=complex), np.asarray(b, dtype=complex)
        if a.ndim != 1 or b.shape != a.shape or a.size == 0:
            raise ValueError(f"poles {a.shape} and readout {b.shape} must be 1-D of the same length S >= 1")
        if a.size != self.order:
            raise ValueError(f"{a.size} poles do not fill {self} (order {self.order})")
        h = self.n_pairs
        for x in (a, b):
            if np.abs(x[h : 2 * h] - x[:h].conj()).max(initial=0) > TOL:
                raise ValueError("poles/readout are not in the pair layout [p, conj(p), r]")
            if np.abs(x[2 * h :].imag).max(initial=0) > TOL:
                raise ValueError(f"the last {self.n_real} poles and coefficients of {self} must be real")
        if self.positive and not np.all(a[2 * h :].real > 0):
            raise ValueError(f"the real poles of {self} must be positive, min = {a[2 * h :].real.min()}")
        if not np.all(np.abs(a) < 1):
            raise ValueError(f"poles must lie inside the unit disk, max |a| = {np.abs(a).max()}")
        return a, b
