"""Initialisations by name: poles from a registered rule, readout from a named rule.

Every pole init returns S poles in the layout of its pole family (``shiftbench.layout``): ``[p,
conj(p), r]``. Adding an init is one function decorated with ``@pole_init("name", families=...)``; its
keyword arguments are the parameters a config may set (unknown ones are an error). An init that
discretises a continuous-time A with a step Delta (``delta=True``) returns ``(poles, dt)``, so that the
``zoh`` parameterisation can start from log Delta = log(dt) and A = log(a)/dt (``init_dt``).
"""

from __future__ import annotations

import inspect

import numpy as np

from . import theory
from .layout import FAMILIES as ALL_FAMILIES
from .layout import PARAMETERISATIONS, Layout

POLE_INITS = {}
FAMILIES = {}  # init -> the pole families it can produce
DELTA_INITS = set()  # inits with a step Delta (a = exp(Delta A)): the ones 'zoh' can start from
READOUTS = ("zero", "random", "optimal", "paper")


def pole_init(name, families=("complex",), delta=False):
    """Register ``fn(S, K, rng, **params)`` as the pole init ``name``, producing ``families``.

    With ``delta=True`` the init returns ``(poles, dt)``, otherwise the poles alone.
    """

    def register(fn):
        POLE_INITS[name], FAMILIES[name] = fn, tuple(families)
        if delta:
            DELTA_INITS.add(name)
        return fn

    return register


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


def _ring(rng, size, r_min, r_max):
    """|a| uniform in area on the ring [r_min, r_max]: |a|^2 uniform on [r_min^2, r_max^2]."""
    if r_min > r_max:
        raise ValueError(f"r_min={r_min} must not exceed r_max={r_max}")
    modulus = np.sqrt(rng.uniform(size=size) * (r_max**2 - r_min**2) + r_min**2)
    return np.minimum(modulus, 1 - 1e-12)  # r_max = 1 is allowed; |a| = 1 exactly is not


@pole_init("lru-ring")
def lru_ring(S, K, rng, r_min=0.0, r_max=1.0, max_phase=2 * np.pi):
    """LRU (Orvieto et al. 2023): |a| uniform in area on the ring [r_min, r_max], phase U(0, max_phase).

    The real pole of an odd order gets a modulus from the same ring and phase 0.
    """
    layout = Layout.of("complex", S)
    modulus = _ring(rng, layout.n_pairs + layout.n_real, r_min, r_max)
    phase = rng.uniform(size=layout.n_pairs) * max_phase
    return layout.assemble(modulus[: layout.n_pairs] * np.exp(1j * phase), modulus[layout.n_pairs :])


@pole_init("real-ring", families=("real",))
def real_ring(S, K, rng, r_min=0.9, r_max=0.999):
    """RG-LRU (Griffin) at frozen gates: S real positive poles, |a| uniform in area on [r_min, r_max]."""
    return Layout.of("real", S).assemble((), _ring(rng, S, r_min, r_max))


def _s4d_dt(K, rng, dt):
    """S4D's step: 'log-uniform' in [1e-3, 1e-1] (seeded), '1/K' (matches the construction), or a number."""
    if dt == "log-uniform":
        return float(np.exp(rng.uniform(np.log(1e-3), np.log(1e-1))))
    if dt == "1/K":
        return 1.0 / K
    return float(dt)


def _s4d(S, A_pairs, dt):
    """(zero-order-hold poles a = exp(dt A), dt); the real pole A = -1/2 when S is odd."""
    return Layout.of("complex", S).assemble(np.exp(dt * A_pairs), np.exp(dt * np.full(S % 2, -0.5))), dt


@pole_init("s4d-lin", delta=True)
def s4d_lin(S, K, rng, dt="log-uniform"):
    n = np.arange(S // 2)
    return _s4d(S, -0.5 + 1j * np.pi * n, _s4d_dt(K, rng, dt))


@pole_init("s4d-inv", delta=True)
def s4d_inv(S, K, rng, dt="log-uniform"):
    n = np.arange(S // 2)
    return _s4d(S, -0.5 + 1j * (S / np.pi) * (S / (1 + 2 * n) - 1), _s4d_dt(K, rng, dt))


@pole_init("s4d-real", families=("real",), delta=True)
def s4d_real(S, K, rng, dt="log-uniform"):
    """S4D-Real, and Mamba at frozen input: A_n = -n (A_log = log n), n = 1..S, so a_n = exp(-dt n)."""
    dt = _s4d_dt(K, rng, dt)
    return Layout.of("real", S).assemble((), np.exp(-dt * np.arange(1, S + 1))), dt


def _poles(name, S, K, rng, params):
    """(poles, dt or None) of a registered init."""
    out = POLE_INITS[name](S, K, rng, **params)
    return out if name in DELTA_INITS else (out, None)


def check_init(name, readout, params, family="complex", parameterisation="exp-exp"):
    """Raise ValueError for an unknown init, readout rule, parameter or an invalid pairing.

    Refused pairings: readout 'paper' with another init than 'uncertainty'; a family the init cannot
    produce; the 'zoh' parameterisation with an init that has no step Delta. The init is also built
    once, at S = 3, so that it can refuse values of its own (say r_min > r_max).
    """
    if name not in POLE_INITS:
        raise ValueError(f"unknown init {name!r}; known: {sorted(POLE_INITS)}")
    if readout not in READOUTS:
        raise ValueError(f"unknown readout rule {readout!r}; known: {list(READOUTS)}")
    if family not in ALL_FAMILIES:
        raise ValueError(f"unknown pole family {family!r}; known: {list(ALL_FAMILIES)}")
    if parameterisation not in PARAMETERISATIONS:
        raise ValueError(f"unknown parameterisation {parameterisation!r}; known: {list(PARAMETERISATIONS)}")
    if family not in FAMILIES[name]:
        raise ValueError(f"init {name!r} cannot produce the {family!r} family; it produces {list(FAMILIES[name])}")
    if parameterisation == "zoh" and name not in DELTA_INITS:
        raise ValueError(
            f"parameterisation 'zoh' (a = exp(Delta A)) needs an init with a step Delta {sorted(DELTA_INITS)}, "
            f"not {name!r}"
        )
    if readout == "paper" and name != "uncertainty":
        raise ValueError(f"readout 'paper' (beta (-1)^s) only applies to the 'uncertainty' init, not {name!r}")
    allowed = set(inspect.signature(POLE_INITS[name]).parameters) - {"S", "K", "rng"}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"init {name!r} has no parameter(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    POLE_INITS[name](3, 8, np.random.default_rng(0), **params)


def initialise(name, S, K, seed, readout, rho=0.0, family="complex", **params):
    """(a, b) in the layout of ``family`` for init ``name`` with its readout rule, deterministic in ``seed``."""
    check_init(name, readout, params, family)
    layout = Layout.of(family, S)
    rng = np.random.default_rng(seed)
    a, _ = _poles(name, S, K, rng, params)
    layout.check(a, np.zeros(S))
    if readout == "zero":
        b = np.zeros(S, dtype=complex)
    elif readout == "random":
        # small (std 0.1/sqrt(S) per real component), so the initial loss stays near 1
        h = layout.n_pairs
        z = rng.standard_normal(S - h) + 1j * np.r_[rng.standard_normal(h), np.zeros(layout.n_real)]
        b = layout.assemble(z[:h], z[h:].real) * 0.1 / np.sqrt(S)
    elif readout == "optimal":
        b = layout.assemble(*layout.split(theory.optimal_readout(a, K, rho)))  # exact conjugates, real reals
    else:  # paper
        b = theory.construction(S, K, params.get("alpha", 1.0))[1][construction_order(S)]
    return a, b


def init_dt(name, S, K, seed, **params) -> float:
    """The step Delta that init ``name`` used for these arguments (the same draw as ``initialise``)."""
    if name not in DELTA_INITS:
        raise ValueError(f"init {name!r} has no step Delta; those with one: {sorted(DELTA_INITS)}")
    return _poles(name, S, K, np.random.default_rng(seed), params)[1]
