"""Readers of trained diagonal layers: one small function per file format, registered in ``READERS``.

Every reader turns one input channel and one output channel of a linear time-invariant diagonal
layer into a ``Layer``: poles ``a`` and readout ``b`` in the convention of ``shiftbench.theory``
(conjugate pairs written out, kernel ``c_k = sum_s b_s a_s^k`` real), plus the feed-through ``d``
(``y_t = sum_k c_k x_{t-k} + d x_t``). The formula of each reader is in docs/layers.md.

Bad input raises ``LayerError`` (a ``ValueError``), with one line that says what is wrong: the
command line prints it and exits with status 2. torch is imported only by the torch readers, and
state_dicts are loaded with ``weights_only=True``: no arbitrary object is ever unpickled.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class LayerError(ValueError):
    """A layer file that cannot be read as the format named, or that describes no stable real filter."""


@dataclass(frozen=True, eq=False)
class Layer:
    """A diagonal LTI layer, one input and one output channel: y_t = sum_k c_k x_{t-k} + d x_t.

    ``a``: the poles (complex, 1-D, conjugate pairs written out, all strictly inside the unit disk);
    ``b``: the readout, same length, with c_k = sum_s b_s a_s^k real; ``d``: the feed-through;
    ``family``: "real" when every pole is real, else "complex"; ``source``: where it came from.
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
        from .theory import kernel

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
    family = "real" if np.all(a.imag == 0) else "complex"
    return Layer(a, b, d, family, source)


def _check_real_kernel(a, b, source):
    """The kernel must be real: Im c_k is a sum of at most 2S exponentials (poles a and conj a), so
    it vanishes for every k once it vanishes on 2S + 1 consecutive lags."""
    from .theory import kernel

    c = kernel(a, b, 2 * a.size + 1)
    if np.max(np.abs(c.imag)) > 1e-9 * max(1.0, float(np.abs(b).sum())):
        raise LayerError(
            f"{source}: the kernel sum_s b_s a_s^k is not real: poles and readouts must come in conjugate "
            "pairs (a, conj a), (b, conj b), and real poles with real readouts"
        )


# ----------------------------------------------------------------------------------------------
# npz and CSV: the poles and readout themselves


def read_npz(path, channel=None) -> Layer:
    """``np.savez(path, a=poles, b=readout, d=feedthrough)``; ``d`` optional (0), no pickles allowed."""
    _no_channel(channel, "npz")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise LayerError(f"{path}: not an npz archive (it holds a single .npy array)")
        with archive:
            keys = set(archive.files)
            if not {"a", "b"} <= keys:
                raise LayerError(f"{path}: an npz layer needs the arrays 'a' and 'b', found {sorted(keys)}")
            arrays = {k: archive[k] for k in ("a", "b", "d") if k in keys}
    except LayerError:
        raise
    except ValueError as err:  # numpy refuses pickles (a pickled file, an object array) with ValueError
        if "object arrays" in str(err).lower():
            raise LayerError(f"{path}: holds a pickled object array; only numeric arrays are read") from None
        if "pickle" in str(err).lower():
            raise LayerError(
                f"{path}: not an npz archive (numpy would have to unpickle it, which is refused)"
            ) from None
        raise LayerError(f"{path}: not a readable npz archive ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise LayerError(f"{path}: not a readable npz archive ({type(err).__name__}: {err})") from None
    for name, x in arrays.items():
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise LayerError(f"{path}: array '{name}' has dtype {x.dtype}, not a number")
    return make_layer(arrays["a"], arrays["b"], arrays.get("d", 0.0), source=str(path))


CSV_COLUMNS = ("a_re", "a_im", "b_re", "b_im")


def read_csv(path, channel=None) -> Layer:
    """A header row ``a_re,a_im,b_re,b_im[,d]`` and one row per pole; ``d`` on the first row (the
    other cells of the column empty or equal to it). Lines starting with ``#`` are comments."""
    import pandas as pd

    _no_channel(channel, "csv")
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


def _no_channel(channel, fmt):
    if channel is not None:
        raise LayerError(f"the {fmt} format holds one input and one output channel; --channel does not apply")


# ----------------------------------------------------------------------------------------------
# torch state_dicts


def load_state_dict(path) -> dict:
    """A torch state_dict as {name: float64 / complex128 numpy array}, loaded with weights_only=True.

    A checkpoint that nests it under "state_dict" (as PyTorch Lightning saves) is unwrapped.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise LayerError(
            f"{path}: not a state_dict of tensors: it holds pickled objects, which weights_only=True refuses"
        ) from None
    except Exception as err:  # torch raises RuntimeError, EOFError, zipfile and OS errors (and more) on
        # a file that is not a torch archive: each means "not this format", said in one line
        first = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()[:1] or [""]
        raise LayerError(f"{path}: not a torch state_dict ({type(err).__name__}: {first[0][:200]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise LayerError(f"{path}: not a state_dict (a mapping of names to tensors), got {type(state).__name__}")
    arrays = {}
    for name, t in state.items():
        t = t.detach().cpu()
        t = t.to(torch.complex128) if t.is_complex() else t.to(torch.float64)
        arrays[str(name)] = t.numpy()
    return arrays


def _find(state: dict, path, keys: tuple[str, ...], what: str) -> tuple[str, dict]:
    """The prefix under which ``keys`` all occur (``''`` or e.g. ``'layers.0.'``), and those arrays."""
    prefixes = {name[: -len(keys[0])] for name in state if name.endswith(keys[0])}
    prefixes = {p for p in prefixes if p == "" or p.endswith(".")}
    if len(prefixes) != 1:
        found = "none" if not prefixes else f"{len(prefixes)} ({', '.join(sorted(p or '<top>' for p in prefixes))})"
        raise LayerError(
            f"{path}: a {what} state_dict needs one set of the keys {', '.join(keys)}; layers found: {found}"
        )
    prefix = prefixes.pop()
    missing = [k for k in keys if prefix + k not in state]
    if missing:
        raise LayerError(f"{path}: the {what} state_dict lacks {', '.join(prefix + k for k in missing)}")
    return prefix, {k: state[prefix + k] for k in keys}


def _shape(path, name, x, shape):
    if x.shape != shape:
        raise LayerError(f"{path}: {name} has shape {x.shape}, expected {shape}")


def _channels(channel, n: int, what: str, path, many: str | None) -> tuple[int, ...]:
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


def read_lru_pytorch(path, channel=None) -> Layer:
    """A state_dict of ``LRU_pytorch.LRU`` (PyPI lru-pytorch 0.1.3); ``channel`` = "i,j": input i, output j.

    Its forward: h_t = Lambda h_{t-1} + gamma (B x_t), y_t = Re(C h_t) + D x_t, with
    Lambda = exp(-exp(nu_log)) (cos + i sin)(exp(theta_log)), gamma = exp(gamma_log). So with
    g_s = C[j, s] gamma_s B[s, i], c_k = Re(sum_s g_s Lambda_s^k): poles (Lambda, conj Lambda),
    readout (g/2, conj g/2), d = D[j, i].
    """
    state = load_state_dict(path)
    _, p = _find(state, path, ("nu_log", "theta_log", "gamma_log", "B", "C", "D"), "lru-pytorch LRU")
    n = p["nu_log"].shape[0] if p["nu_log"].ndim == 1 else -1
    if n < 1:
        raise LayerError(f"{path}: nu_log has shape {p['nu_log'].shape}, expected (state_features,)")
    for name in ("theta_log", "gamma_log"):
        _shape(path, name, p[name], (n,))
    if p["B"].ndim != 2 or p["C"].ndim != 2:
        raise LayerError(f"{path}: B and C must be matrices, got shapes {p['B'].shape} and {p['C'].shape}")
    n_in, n_out = p["B"].shape[1], p["C"].shape[0]
    _shape(path, "B", p["B"], (n, n_in))
    _shape(path, "C", p["C"], (n_out, n))
    _shape(path, "D", p["D"], (n_out, n_in))
    many = None if n_in == n_out == 1 else f"{n_in} input and {n_out} output channels"
    i, j = _channels(channel, 2, "i,j (input i, output j)", path, many)
    if i >= n_in or j >= n_out:
        raise LayerError(
            f"{path}: channel {i},{j} does not exist: the LRU has {n_in} input and {n_out} output channels "
            f"(--channel i,j with i < {n_in}, j < {n_out})"
        )
    with np.errstate(all="ignore"):  # overflow to inf/NaN is reported by make_layer
        modulus = np.exp(-np.exp(p["nu_log"]))
        theta = np.exp(p["theta_log"])
        lam = modulus * np.cos(theta) + 1j * (modulus * np.sin(theta))
        g = p["C"][j, :] * np.exp(p["gamma_log"]) * p["B"][:, i]
    a = np.concatenate([lam, lam.conj()])
    b = np.concatenate([g / 2, g.conj() / 2])
    return make_layer(a, b, p["D"][j, i], source=f"{path} (lru-pytorch, input {i}, output {j})")


def read_s4d(path, channel=None) -> Layer:
    """A state_dict of ``S4DKernel`` (state-spaces/s4, models/s4/s4d.py), or of ``S4D`` (its keys
    under ``kernel.``, and then its skip ``D``); ``channel`` = h.

    s4d.py: dt = exp(log_dt[h]), A = -exp(log_A_real[h]) + i A_imag[h], and the kernel
    2 Re(sum_n C_n (exp(dt A_n) - 1)/A_n exp(dt A_n)^k) (zero-order hold). So the poles are
    (exp(dt A), conj), the readout (C (exp(dt A) - 1)/A, conj), and d = D[h] (0 without an S4D's D).
    """
    state = load_state_dict(path)
    prefix, p = _find(state, path, ("log_A_real", "A_imag", "log_dt", "C"), "S4D kernel")
    if p["log_dt"].ndim != 1:
        raise LayerError(f"{path}: log_dt has shape {p['log_dt'].shape}, expected (H,)")
    H = p["log_dt"].shape[0]
    if p["log_A_real"].ndim != 2 or p["log_A_real"].shape[0] != H:
        raise LayerError(f"{path}: log_A_real has shape {p['log_A_real'].shape}, expected ({H}, N/2)")
    shape = p["log_A_real"].shape
    _shape(path, "A_imag", p["A_imag"], shape)
    C = p["C"]
    if not np.iscomplexobj(C):  # s4d.py stores torch.view_as_real(C): a trailing axis (re, im)
        _shape(path, "C", C, (*shape, 2))
        C = C[..., 0] + 1j * C[..., 1]
    _shape(path, "C", C, shape)
    skip = None
    if prefix.endswith("kernel."):
        skip = state.get(prefix[: -len("kernel.")] + "D")
        if skip is not None:
            _shape(path, "D", skip, (H,))
    (h,) = _channels(channel, 1, "h", path, None if H == 1 else f"H = {H} channels")
    if h >= H:
        raise LayerError(f"{path}: channel {h} does not exist: the S4D kernel has H = {H} channels (--channel h < {H})")
    with np.errstate(all="ignore"):  # overflow to inf/NaN is reported by make_layer
        A = -np.exp(p["log_A_real"][h]) + 1j * p["A_imag"][h]
        dtA = A * np.exp(p["log_dt"][h])
        a = np.exp(dtA)
        b = C[h] * np.expm1(dtA) / A  # C (exp(dt A) - 1) / A; expm1 keeps the digits at small dt A
    d = 0.0 if skip is None else skip[h]
    return make_layer(
        np.concatenate([a, a.conj()]), np.concatenate([b, b.conj()]), d, source=f"{path} (S4D, channel {h})"
    )


# ----------------------------------------------------------------------------------------------
# The registry

READERS = {
    "npz": read_npz,
    "csv": read_csv,
    "lru-pytorch": read_lru_pytorch,
    "s4d": read_s4d,
}

SUFFIXES = {".npz": "npz", ".csv": "csv"}
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


def guess_format(path) -> str:
    """The format from the suffix; for a torch file, from its keys (nu_log: lru-pytorch, log_A_real: s4d)."""
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if suffix in TORCH_SUFFIXES:
        names = load_state_dict(path)
        if any(k.split(".")[-1] == "nu_log" for k in names):
            return "lru-pytorch"
        if any(k.split(".")[-1] == "log_A_real" for k in names):
            return "s4d"
        raise LayerError(
            f"{path}: a state_dict of neither an LRU (nu_log) nor an S4D kernel (log_A_real); pass --format"
        )
    raise LayerError(f"{path}: cannot tell the format from the suffix {suffix!r}; pass --format ({', '.join(READERS)})")


def read_layer(path, fmt: str | None = None, channel=None) -> Layer:
    """Read ``path`` with the reader ``fmt`` (None: ``guess_format``)."""
    if not Path(path).is_file():
        raise LayerError(f"{path}: no such file")
    fmt = fmt or guess_format(path)
    if fmt not in READERS:
        raise LayerError(f"unknown layer format {fmt!r}; known: {', '.join(READERS)}")
    return READERS[fmt](path, channel)
