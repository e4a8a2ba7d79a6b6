"""Initialisations by name: poles from a registered rule, readout from a named rule.

Every pole init returns S poles in the pair layout ``[p, conj(p), r]`` of ``shiftbench.model``.
Adding an init is one function decorated with ``@pole_init("name")``; its keyword arguments are the
parameters a config may set (unknown ones are an error).
"""

from __future__ import annotations

import inspect

import numpy as np

from . import theory

POLE_INITS = {}
READOUTS = ("zero", "random", "optimal", "paper")


def pole_init(name):
    def register(fn):
        POLE_INITS[name] = fn
        return fn

    return register


def pair_layout(p, r=()):
    """[p, conj(p), r] from the upper representatives p and the real poles r."""
    p = np.asarray(p, dtype=complex)
    return np.concatenate([p, p.conj(), np.asarray(r, dtype=complex)])


@pole_init("uncertainty")
def uncertainty(S, K, rng, alpha=1.0):
    """The paper's regularly spaced phases (theory.construction), reordered into the pair layout."""
    a, _ = theory.construction(S, K, alpha)
    return a[construction_order(S)]


def construction_order(S):
    """Permutation of construction indices (s = -(S-1)/2 .. (S-1)/2) into [s > 0, s < 0, s = 0]."""
    idx = np.arange(S)
    s = idx - (S - 1) / 2
    return np.concatenate([idx[s > 0], idx[s < 0][::-1], idx[s == 0]])


@pole_init("lru-ring")
def lru_ring(S, K, rng, r_min=0.0, r_max=1.0, max_phase=2 * np.pi):
    """LRU (Orvieto et al. 2023): |a| uniform in area on the ring [r_min, r_max], phase U(0, max_phase).

    The real pole of an odd order gets a modulus from the same ring and phase 0.
    """
    if r_min > r_max:
        raise ValueError(f"r_min={r_min} must not exceed r_max={r_max}")
    h = S // 2
    u = rng.uniform(size=S - h)
    modulus = np.sqrt(u * (r_max**2 - r_min**2) + r_min**2)
    modulus = np.minimum(modulus, 1 - 1e-12)  # r_max = 1 is allowed; |a| = 1 exactly is not
    phase = rng.uniform(size=h) * max_phase
    return pair_layout(modulus[:h] * np.exp(1j * phase), modulus[h:])


def _s4d_dt(K, rng, dt):
    """S4D's step: 'log-uniform' in [1e-3, 1e-1] (seeded), '1/K' (matches the construction), or a number."""
    if dt == "log-uniform":
        return float(np.exp(rng.uniform(np.log(1e-3), np.log(1e-1))))
    if dt == "1/K":
        return 1.0 / K
    return float(dt)


def _s4d(S, A_pairs, dt):
    """Zero-order-hold discretisation a = exp(dt A); the real pole A = -1/2 when S is odd."""
    return pair_layout(np.exp(dt * A_pairs), np.exp(dt * np.full(S % 2, -0.5)))


@pole_init("s4d-lin")
def s4d_lin(S, K, rng, dt="log-uniform"):
    n = np.arange(S // 2)
    return _s4d(S, -0.5 + 1j * np.pi * n, _s4d_dt(K, rng, dt))


@pole_init("s4d-inv")
def s4d_inv(S, K, rng, dt="log-uniform"):
    n = np.arange(S // 2)
    return _s4d(S, -0.5 + 1j * (S / np.pi) * (S / (1 + 2 * n) - 1), _s4d_dt(K, rng, dt))


def check_init(name, readout, params):
    """Raise ValueError for an unknown init, readout rule, parameter or an invalid pairing.

    The init is also built once, at S = 3, so that it can refuse values of its own (say r_min > r_max).
    """
    if name not in POLE_INITS:
        raise ValueError(f"unknown init {name!r}; known: {sorted(POLE_INITS)}")
    if readout not in READOUTS:
        raise ValueError(f"unknown readout rule {readout!r}; known: {list(READOUTS)}")
    if readout == "paper" and name != "uncertainty":
        raise ValueError(f"readout 'paper' (beta (-1)^s) only applies to the 'uncertainty' init, not {name!r}")
    allowed = set(inspect.signature(POLE_INITS[name]).parameters) - {"S", "K", "rng"}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"init {name!r} has no parameter(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    POLE_INITS[name](3, 8, np.random.default_rng(0), **params)


def initialise(name, S, K, seed, readout, rho=0.0, **params):
    """(a, b) in the pair layout for init ``name`` with its readout rule, deterministic in ``seed``."""
    check_init(name, readout, params)
    rng = np.random.default_rng(seed)
    a = POLE_INITS[name](S, K, rng, **params)
    if readout == "zero":
        b = np.zeros(S, dtype=complex)
    elif readout == "random":
        # small (std 0.1/sqrt(S) per real component), so the initial loss stays near 1
        h = S // 2
        z = rng.standard_normal(S - h) + 1j * np.r_[rng.standard_normal(h), np.zeros(S % 2)]
        b = pair_layout(z[:h], z[h:].real) * 0.1 / np.sqrt(S)
    elif readout == "optimal":
        b = theory.optimal_readout(a, K, rho)
        b = pair_layout(b[: S // 2], b[2 * (S // 2) :].real)  # remove rounding asymmetry between halves
    else:  # paper
        b = theory.construction(S, K, params.get("alpha", 1.0))[1][construction_order(S)]
    return a, b
