"""The npz format: ``np.savez(path, a=poles, b=readout, d=feedthrough)``, read without pickles."""

from __future__ import annotations

import zipfile

import numpy as np

from .layer import Layer, LayerError, make_layer, no_channel


def read_npz(path, channel=None) -> Layer:
    """``np.savez(path, a=poles, b=readout, d=feedthrough)``; ``d`` optional (0), no pickles allowed."""
    no_channel(channel, "npz")
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
