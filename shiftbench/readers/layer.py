"""The layer every reader returns, its checks, and the --channel rule shared by the readers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class LayerError(ValueError):
    """A layer file that cannot be read as the format named, or that describes no stable real filter."""


@dataclass(frozen=True, eq=False)
class Layer:
    """A diagonal LTI layer, one input and one output channel: y_t = sum_k c_k x_{t-k} + d x_t.

    ``a``: the poles (complex, 1-D, conjugate pairs written out, all strictly inside the unit disk);
    ``b``: the readout, same length, with c_k = sum_s b_s a_s^k real; ``d``: the feed-through;
    ``family``: "real" when every pole is real and positive (the study's real family), "real-signed"
    when every pole is real and some are not positive (no family of the study: no reference), else
    "complex"; ``source``: where it came from.
    """

    a: np.ndarray
    b: np.ndarray
    d: float = 0.0
    family: str = "complex"
    source: str = ""

    @property
    def S(self) -> int:
        """The order: the number of poles, conjugate pairs counted twice (an LRU of N modes has S = 2N)."""
        return int(self.a.size)

    def kernel(self, n: int) -> np.ndarray:
        """The layer's impulse response for lags 0..n-1, the feed-through included at lag 0."""
        from ..theory import kernel

        c = kernel(self.a, self.b, n).real
        c[0] += self.d
        return c


def make_layer(a, b, d=0.0, source: str = "") -> Layer:
    """Check and freeze a layer: 1-D arrays of one length, finite, stable poles, a real kernel."""
    try:
        a = np.asarray(a, dtype=complex)
        b = np.asarray(b, dtype=complex)
        d = np.asarray(d, dtype=float)
    except (TypeError, ValueError) as err:
        raise LayerError(f"{source}: the layer's values are not numbers ({err})") from None
    if a.ndim != 1 or a.size == 0:
        raise LayerError(f"{source}: the poles a must be a non-empty 1-D array, got shape {a.shape}")
    if b.shape != a.shape:
        raise LayerError(f"{source}: poles a and readout b have different lengths ({a.size} and {b.size})")
    if d.size != 1:
        raise LayerError(f"{source}: the feed-through d must be one number, got shape {d.shape}")
    d = float(d.reshape(()))
    for name, x in (("poles a", a), ("readout b", b), ("feed-through d", np.array([d]))):
        if not np.all(np.isfinite(x)):
            raise LayerError(f"{source}: the {name} holds NaN or inf")
    if np.any(np.abs(a) >= 1):
        i = int(np.argmax(np.abs(a)))
        raise LayerError(
            f"{source}: pole {i} has |a| = {abs(a[i]):.17g}; every pole must lie strictly inside the unit circle"
        )
    _check_real_kernel(a, b, source)
    a.setflags(write=False)
    b.setflags(write=False)
    family = "complex" if np.any(a.imag != 0) else "real" if np.all(a.real > 0) else "real-signed"
    return Layer(a, b, d, family, source)


def _check_real_kernel(a, b, source):
    """The kernel must be real: Im c_k is a sum of at most 2S exponentials (poles a and conj a), so
    it vanishes for every k once it vanishes on 2S + 1 consecutive lags."""
    from ..theory import kernel

    c = kernel(a, b, 2 * a.size + 1)
    if np.max(np.abs(c.imag)) > 1e-9 * max(1.0, float(np.abs(b).sum())):
        raise LayerError(
            f"{source}: the kernel sum_s b_s a_s^k is not real: poles and readouts must come in conjugate "
            "pairs (a, conj a), (b, conj b), and real poles with real readouts"
        )


def no_channel(channel, fmt):
    """Refuse ``--channel`` for a format that holds one input and one output channel only."""
    if channel is not None:
        raise LayerError(f"the {fmt} format holds one input and one output channel; --channel does not apply")


def channels(channel, n: int, what: str, path, many: str | None) -> tuple[int, ...]:
    """Parse ``--channel``: n comma-separated non-negative integers. Without one, channel 0 of a
    layer that has only that one, and for a layer with several (``many`` says how many) an error."""
    if channel is None:
        if many:
            raise LayerError(f"{path}: the layer has {many}; choose one with --channel {what}")
        return (0,) * n
    try:
        values = tuple(int(c) for c in str(channel).split(","))
    except ValueError:
        values = ()
    if len(values) != n or min(values) < 0:
        raise LayerError(f"{path}: --channel must be {what} (non-negative integers), got {channel!r}")
    return values
