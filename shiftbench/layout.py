"""The pole layout, defined once: n_pairs conjugate pairs, then n_real real poles (docs/theory.md section 1).

Arrays of poles and readouts are stored as ``[p, conj(p), r]`` with ``len(p) = n_pairs`` and
``len(r) = n_real``, so that a kernel ``sum_s b_s a_s^k`` is real. Each pole family fixes the layout of
an order S:

- ``complex``: S // 2 conjugate pairs and, for odd S, one real pole (the paper's, LRU's, S4D's);
- ``real``: S real poles and no pair (Mamba's, S4D-Real's, RG-LRU's).

The same arrays are valid inputs of every ``shiftbench.theory`` function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAMILIES = ("complex", "real")
# How a model maps parameters to poles (``model.LinearRNN``): LRU-style a = exp(-exp(nu) + i theta), or
# the zero-order hold a = exp(Delta A) of S4D and Mamba (docs/theory.md section 11). Named here, once.
PARAMETERISATIONS = ("exp-exp", "zoh")
TOL = 1e-12  # how far a conjugate (or a real part) may be off in a valid layout


@dataclass(frozen=True)
class Layout:
    """``[p, conj(p), r]``: ``n_pairs`` upper representatives p, their conjugates, ``n_real`` real poles."""

    n_pairs: int
    n_real: int

    @classmethod
    def of(cls, family: str, S: int) -> Layout:
        """The layout of order S in a pole family (``FAMILIES``)."""
        if not (isinstance(S, (int, np.integer)) and S >= 1):
            raise ValueError(f"the order S must be a positive integer, got {S!r}")
        if family == "complex":
            return cls(int(S) // 2, int(S) % 2)
        if family == "real":
            return cls(0, int(S))
        raise ValueError(f"unknown pole family {family!r}; known: {list(FAMILIES)}")

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
        are real, and every pole lies strictly inside the unit disk.
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
        if not np.all(np.abs(a) < 1):
            raise ValueError(f"poles must lie inside the unit disk, max |a| = {np.abs(a).max()}")
        return a, b
