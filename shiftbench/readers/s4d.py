"""state-spaces/s4's ``models/s4/s4d.py``: a state_dict of ``S4DKernel`` or of ``S4D``."""

from __future__ import annotations

import numpy as np

from .layer import Layer, LayerError, channels, make_layer
from .torch_state import check_shape, find_keys, load_state_dict


def read_s4d(path, channel=None) -> Layer:
    """A state_dict of ``S4DKernel`` (state-spaces/s4, models/s4/s4d.py), or of ``S4D`` (its keys
    under ``kernel.``, and then its skip ``D``); ``channel`` = h.

    s4d.py: dt = exp(log_dt[h]), A = -exp(log_A_real[h]) + i A_imag[h], and the kernel
    2 Re(sum_n C_n (exp(dt A_n) - 1)/A_n exp(dt A_n)^k) (zero-order hold). So the poles are
    (exp(dt A), conj), the readout (C (exp(dt A) - 1)/A, conj), and d = D[h] (0 without an S4D's D).
    """
    state = load_state_dict(path)
    prefix, p = find_keys(state, path, ("log_A_real", "A_imag", "log_dt", "C"), "S4D kernel")
    if p["log_dt"].ndim != 1:
        raise LayerError(f"{path}: log_dt has shape {p['log_dt'].shape}, expected (H,)")
    H = p["log_dt"].shape[0]
    if p["log_A_real"].ndim != 2 or p["log_A_real"].shape[0] != H:
        raise LayerError(f"{path}: log_A_real has shape {p['log_A_real'].shape}, expected ({H}, N/2)")
    shape = p["log_A_real"].shape
    check_shape(path, "A_imag", p["A_imag"], shape)
    C = p["C"]
    if not np.iscomplexobj(C):  # s4d.py stores torch.view_as_real(C): a trailing axis (re, im)
        check_shape(path, "C", C, (*shape, 2))
        C = C[..., 0] + 1j * C[..., 1]
    check_shape(path, "C", C, shape)
    skip = None
    if prefix.endswith("kernel."):
        skip = state.get(prefix[: -len("kernel.")] + "D")
        if skip is not None:
            check_shape(path, "D", skip, (H,))
    (h,) = channels(channel, 1, "h", path, None if H == 1 else f"H = {H} channels")
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
