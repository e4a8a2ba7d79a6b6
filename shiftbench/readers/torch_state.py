"""torch state_dicts as float64 / complex128 numpy arrays, loaded with ``weights_only=True``: what
the torch readers (lru-pytorch, S4D) share."""

from __future__ import annotations

import pickle
import re

from .layer import LayerError


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


def find_keys(state: dict, path, keys: tuple[str, ...], what: str) -> tuple[str, dict]:
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


def check_shape(path, name, x, shape):
    if x.shape != shape:
        raise LayerError(f"{path}: {name} has shape {x.shape}, expected {shape}")
