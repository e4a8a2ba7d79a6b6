"""Files on disk: atomic writes, datasets with a checksummed sidecar, JSON records.

Every output goes through a temporary file in the target directory and ``os.replace``, so a killed
job leaves either nothing or a complete file, never a partial one that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .signals import AR1


@contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # ".name.XXXX.tmp": never matches the final name's pattern, so a leftover from a killed job
    # cannot be mistaken for an output.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; results should read like any other file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(obj, path):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, allow_nan=True) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar(path) -> Path:
    return Path(path).with_suffix(".json")


def dataset_file(directory, length: int, split: str, seed: int) -> Path:
    """Where the dataset of one (sequence length, split, data seed) lives under a rho's directory."""
    return Path(directory) / f"N{length}" / f"{split}_seed{seed}.npy"


def write_dataset(path, rho: float, n_sequences: int, length: int, seed: int) -> dict:
    """Sample AR(1) sequences into ``path`` (.npy) with a metadata sidecar (``path`` .json)."""
    x = AR1(rho).sample(n_sequences, length, np.random.default_rng(seed))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npy" to the name
            np.save(f, x)
        checksum = sha256(tmp)
    lags = np.arange(4)
    meta = {
        "sampler": AR1.SAMPLER,
        "rho": rho,
        "length": length,
        "n_sequences": n_sequences,
        "seed": seed,
        "dtype": "float64",
        "sha256": checksum,
        "sample_autocovariance": [float(np.mean(x[:, j:] * x[:, : length - j])) for j in lags],
        "autocovariance": AR1(rho).autocovariance(lags).tolist(),
    }
    write_json(meta, sidecar(path))
    return meta


class CorruptDataset(ValueError):
    pass


def load_dataset(path) -> tuple[np.ndarray, dict]:
    """Load a dataset after checking its checksum and shape against the sidecar; never trains on garbage."""
    path = Path(path)
    meta_path = sidecar(path)
    if not meta_path.exists():
        raise CorruptDataset(f"{path}: metadata sidecar {meta_path} is missing")
    meta = read_json(meta_path)
    if meta.get("sampler") != AR1.SAMPLER:
        raise CorruptDataset(
            f"{path}: made by the sampler {meta.get('sampler', 'of shiftbench <= 0.1 (not stationary at t = 1)')}, "
            f"not by {AR1.SAMPLER!r}; delete results/data (or run snakemake with -R dataset) to regenerate it"
        )
    actual = sha256(path)
    if actual != meta["sha256"]:
        raise CorruptDataset(
            f"{path}: checksum {actual[:12]}... does not match its metadata "
            f"({meta['sha256'][:12]}...): the file is truncated, corrupted or stale; delete it to regenerate"
        )
    x = np.load(path)
    expected = (meta["n_sequences"], meta["length"])
    if x.shape != expected or x.dtype != np.float64 or not np.all(np.isfinite(x)):
        raise CorruptDataset(f"{path}: shape {x.shape}/{x.dtype} (expected {expected}/float64) or non-finite values")
    return x, meta
