"""The PyPI package lru-pytorch 0.1.3: a state_dict of its ``LRU`` module."""

from __future__ import annotations

import numpy as np

from .layer import Layer, LayerError, channels, make_layer
from .torch_state import check_shape, find_keys, load_state_dict


def read_lru_pytorch(path, channel=None) -> Layer:
    """A state_dict of ``LRU_pytorch.LRU`` (PyPI lru-pytorch 0.1.3); ``channel`` = "i,j": input i, output j.

    Its forward: h_t = Lambda h_{t-1} + gamma (B x_t), y_t = Re(C h_t) + D x_t, with
    Lambda = exp(-exp(nu_log)) (cos + i sin)(exp(theta_log)), gamma = exp(gamma_log). So with
    g_s = C[j, s] gamma_s B[s, i], c_k = Re(sum_s g_s Lambda_s^k): poles (Lambda, conj Lambda),
    readout (g/2, conj g/2), d = D[j, i].
    """
    state = load_state_dict(path)
    _, p = find_keys(state, path, ("nu_log", "theta_log", "gamma_log", "B", "C", "D"), "lru-pytorch LRU")
    n = p["nu_log"].shape[0] if p["nu_log"].ndim == 1 else -1
    if n < 1:
        raise LayerError(f"{path}: nu_log has shape {p['nu_log'].shape}, expected (state_features,)")
    for name in ("theta_log", "gamma_log"):
        check_shape(path, name, p[name], (n,))
    if p["B"].ndim != 2 or p["C"].ndim != 2:
        raise LayerError(f"{path}: B and C must be matrices, got shapes {p['B'].shape} and {p['C'].shape}")
    n_in, n_out = p["B"].shape[1], p["C"].shape[0]
    check_shape(path, "B", p["B"], (n, n_in))
    check_shape(path, "C", p["C"], (n_out, n))
    check_shape(path, "D", p["D"], (n_out, n_in))
    many = None if n_in == n_out == 1 else f"{n_in} input and {n_out} output channels"
    i, j = channels(channel, 2, "i,j (input i, output j)", path, many)
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
