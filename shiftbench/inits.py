"""Initialisations by name: poles from a registered rule, readout from a named rule.

Every pole init returns S poles in the layout of its pole family (``shiftbench.layout``): ``[p,
conj(p), r]``. Adding an init is one function decorated with ``@pole_init("name", families=...)``; its
keyword arguments are the parameters a config may set (unknown ones are an error), and the config
schema's ``init`` enum and descriptions come from this registry (docs/extending.md). An init that
discretises a continuous-time A with a step Delta (``delta=True``) returns ``(poles, dt)``, so that a
parameterisation that needs one (``zoh``) can start from log Delta = log(dt) and A = log(a)/dt
(``init_dt``). ``tabulated=True`` puts its optimum (seed 0) into the theory table of every cell.
"""

from __future__ import annotations

import inspect

import numpy as np

from . import targets, theory
from .layout import FAMILIES as ALL_FAMILIES
from .layout import PARAMETERISATIONS, Layout

POLE_INITS = {}
FAMILIES = {}  # init -> the pole families it can produce
DELTA_INITS = set()  # inits with a step Delta (a = exp(Delta A)): the ones 'zoh' can start from
TABULATED = set()  # inits whose optimum (seed 0) the theory table holds: poles by a formula, not random draws
READOUTS = {  # readout rule -> what it is
    "zero": "b = 0",
    "random": "small Gaussian, std 0.1/sqrt(S) per real component",
    "optimal": "the stationary optimum b*(a) of the init's poles",
    "paper": "the construction's beta (-1)^s, only with the uncertainty init",
}


def pole_init(name, families=("complex",), delta=False, tabulated=False):
    """Register ``fn(S, K, rng, **params)`` as the pole init ``name``, producing ``families``.

    With ``delta=True`` the init returns ``(poles, dt)``, otherwise the poles alone.
    """
    unknown = set(families) - set(ALL_FAMILIES)
    if not families or unknown:
        raise ValueError(f"init {name!r}: families {list(families)} must be pole families of {list(ALL_FAMILIES)}")

    def register(fn):
        POLE_INITS[name], FAMILIES[name] = fn, tuple(families)
        if delta:
            DELTA_INITS.add(name)
        if tabulated:
            TABULATED.add(name)
        return fn

    return register


def summary(name) -> str:
    """One line on init ``name`` for the schema: the families it produces, and whether it has a step Delta."""
    return f"{', '.join(FAMILIES[name])} family" + ("; step Delta" if name in DELTA_INITS else "")


def parameters(name) -> dict:
    """The config parameters of init ``name`` (its keyword arguments) and their defaults."""
    signature = inspect.signature(POLE_INITS[name]).parameters
    return {k: p.default for k, p in signature.items() if k not in {"S", "K", "rng"}}


@pole_init("uncertainty", tabulated=True)
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


@pole_init("s4d-lin", delta=True, tabulated=True)
def s4d_lin(S, K, rng, dt="log-uniform"):
    """S4D-Lin: A_n = -1/2 + i pi n, discretised with the step dt."""
    n = np.arange(S // 2)
    return _s4d(S, -0.5 + 1j * np.pi * n, _s4d_dt(K, rng, dt))


@pole_init("s4d-inv", delta=True, tabulated=True)
def s4d_inv(S, K, rng, dt="log-uniform"):
    """S4D-Inv: A_n = -1/2 + i (S/pi) (S/(1 + 2n) - 1), discretised with the step dt."""
    n = np.arange(S // 2)
    return _s4d(S, -0.5 + 1j * (S / np.pi) * (S / (1 + 2 * n) - 1), _s4d_dt(K, rng, dt))


@pole_init("s4d-real", families=("real",), delta=True, tabulated=True)
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
    produce; a parameterisation that needs a step Delta (``zoh``) with an init that has none. The init
    is also built once, at S = 3, so that it can refuse values of its own (say r_min > r_max).
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
    if PARAMETERISATIONS[parameterisation].needs_delta and name not in DELTA_INITS:
        raise ValueError(
            f"parameterisation {parameterisation!r} (a = exp(Delta A)) needs an init with a step Delta "
            f"{sorted(DELTA_INITS)}, not {name!r}"
        )
    if readout == "paper" and name != "uncertainty":
        raise ValueError(f"readout 'paper' (beta (-1)^s) only applies to the 'uncertainty' init, not {name!r}")
    allowed = set(parameters(name))
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"init {name!r} has no parameter(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    POLE_INITS[name](3, 8, np.random.default_rng(0), **params)


def initialise(name, S, K, seed, readout, rho=0.0, family="complex", target=None, **params):
    """(a, b) in the layout of ``family`` for init ``name`` with its readout rule, deterministic in ``seed``.

    K is the lag the poles are placed for; ``target`` (a ``targets.Target``) is what the ``optimal``
    readout is optimal for: None is the shift at lag K (K is then the target's lag scale)."""
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
        best = theory.optimal_readout(a, K, rho) if target is None else targets.optimal_readout(a, target, rho)
        b = layout.assemble(*layout.split(best))  # exact conjugates, real reals
    else:  # paper
        b = theory.construction(S, K, params.get("alpha", 1.0))[1][construction_order(S)]
    return a, b


def init_dt(name, S, K, seed, **params) -> float:
    """The step Delta that init ``name`` used for these arguments (the same draw as ``initialise``)."""
    if name not in DELTA_INITS:
        raise ValueError(f"init {name!r} has no step Delta; those with one: {sorted(DELTA_INITS)}")
    return _poles(name, S, K, np.random.default_rng(seed), params)[1]


# -- pole-placement rules from the 2025-2026 literature (sources and formulas: docs/inits.md) ------------


def _positive(name, value) -> float:
    """``value`` as a float, or a ValueError naming parameter ``name`` unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")
    return float(value)


def _step(name, K, rng, value) -> float:
    """A step or damping parameter: 'log-uniform' (seeded, in [1e-3, 1e-1]), '1/K', or a number > 0."""
    if isinstance(value, str):
        if value not in ("log-uniform", "1/K"):
            raise ValueError(f"{name}={value!r} must be 'log-uniform', '1/K' or a finite number > 0")
        return _s4d_dt(K, rng, value)
    return _positive(name, value)


def _timescale(name, value, K) -> float:
    """A timescale in steps: a number > 0, or 'K' / '<c>K' (c times the lag K, say '2K')."""
    if isinstance(value, str):
        head = value.strip()
        if not head.endswith("K"):
            raise ValueError(f"{name}={value!r} must be a number > 0, 'K' or '<c>K' (c > 0 times the lag K)")
        try:
            c = float(head[:-1].strip() or 1.0)
        except ValueError:
            raise ValueError(f"{name}={value!r} must be a number > 0, 'K' or '<c>K' (c > 0 times the lag K)") from None
        return _positive(name, c) * K
    return _positive(name, value)


def _post_rates(S, K, t_min, t_max, spacing):
    """PoST's decay rates lambda_n = 1/tau_n, slowest first: tau from t_min (fast end) to t_max (slow end)."""
    lo, hi = _timescale("t_min", t_min, K), _timescale("t_max", t_max, K)
    if not hi > lo:
        raise ValueError(f"t_max={t_max!r} (= {hi:g} steps at K={K}) must exceed t_min={t_min!r} (= {lo:g} steps)")
    if not np.exp(-1.0 / hi) < 1:
        raise ValueError(f"t_max={t_max!r} (= {hi:g} steps) puts a pole on the unit circle in double precision")
    if spacing == "geometric":  # log tau equally spaced from log t_min, as PoST's code builds it, then flipped
        rates = 1.0 / np.exp(np.linspace(np.log(lo), np.log(hi), S))
    else:  # lambda equally spaced from the fast end 1/t_min to the slow end 1/t_max
        rates = np.linspace(1.0 / lo, 1.0 / hi, S)
    return rates[::-1]


@pole_init("post-geometric", families=("real",), delta=True, tabulated=True)
def post_geometric(S, K, rng, t_min=1.0, t_max="K", dt=0.05):
    """PoST (Cao 2026, arXiv:2604.07658): S real poles a_n = exp(-lambda_n), log-decay rates geometric.

    lambda = 1/tau, where tau takes the S values t_min (t_max/t_min)^(j/(S-1)), j = 0..S-1, listed slowest
    first: the timescales span [t_min, t_max] geometrically (a constant ratio between neighbouring lambdas).
    PoST's Mamba-2 builds this with t_min = 1, t_max = the training length and a frozen step dt = 0.05
    (A = -lambda/dt); here t_max defaults to the lag K. Returns (poles, dt). S = 1 gives tau = t_min, as the
    linspace of PoST's code does.
    """
    dt = _step("dt", K, rng, dt)
    rates = _post_rates(S, K, t_min, t_max, "geometric")
    return Layout.of("real", S).assemble((), np.exp(-rates)), dt


@pole_init("post-linear", families=("real",), delta=True, tabulated=True)
def post_linear(S, K, rng, t_min=1.0, t_max="K", dt=0.05):
    """PoST's comparison (Cao 2026, arXiv:2604.07658): linearly spaced decay rates over post-geometric's range.

    lambda takes the S values 1/t_min - (1/t_min - 1/t_max) j/(S-1), j = 0..S-1, listed slowest first, and
    a = exp(-lambda) (a constant difference between neighbouring lambdas). Same endpoints, step and S = 1 case
    (lambda = 1/t_min) as post-geometric; returns (poles, dt).
    """
    dt = _step("dt", K, rng, dt)
    rates = _post_rates(S, K, t_min, t_max, "linear")
    return Layout.of("real", S).assemble((), np.exp(-rates)), dt


@pole_init("dfout")
def dfout(S, K, rng, xi="log-uniform"):
    """S4D-DFouT (Solozabal et al., NeurIPS 2025, arXiv:2508.20441): poles on the discrete Fourier grid.

    a = exp(-xi/2 + i 2 pi s/S), s = -(S-1)/2 .. (S-1)/2: one damping xi shared by all S poles, phases a
    grid of spacing 2 pi/S over the whole circle. For odd S this is the paper's grid 2 pi n/S, n = 0..S-1 (s = 0
    is the real pole); for even S it is that grid shifted by half a bin, pi/S, so that it has no real pole and
    fits S/2 conjugate pairs. xi: 'log-uniform' in [1e-3, 1e-1] (the paper's range, seeded), '1/K' or a number
    > 0. Defined in the discrete domain: no step Delta.
    """
    r = np.exp(-_step("xi", K, rng, xi) / 2)
    s = np.arange(S // 2) + (1.0 if S % 2 else 0.5)  # the positive s: pair representatives in the upper half
    return Layout.of("complex", S).assemble(r * np.exp(2j * np.pi * s / S), np.full(S % 2, r))


@pole_init("s4d-scaled", delta=True)
def s4d_scaled(S, K, rng, alpha=1.0, dt="log-uniform"):
    """S4D-Lin with its frequencies scaled (Yu et al., ICLR 2025, arXiv:2410.02035): A_n = -1/2 + i alpha pi n.

    n = 0..S//2 - 1, discretised with the step dt (a = exp(dt A)); the real pole of an odd S is A = -1/2, as in
    s4d-lin. alpha = 1 is S4D-Lin; alpha > 1 moves the poles to higher frequencies, alpha < 1 to lower ones.
    """
    alpha = _positive("alpha", alpha)
    n = np.arange(S // 2)
    return _s4d(S, -0.5 + 1j * alpha * np.pi * n, _step("dt", K, rng, dt))
