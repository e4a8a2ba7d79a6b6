"""The pole-placement rules from the 2025-2026 literature (docs/inits.md), each against an independent
computation: PoST's geometric and linear decay grids (post-geometric, post-linear), S4D-DFouT's discrete
Fourier grid (dfout) and S4D-Lin with scaled frequencies (s4d-scaled). Each is also checked for its
layout, for a config that names it, and for the parameter values it refuses."""

import re

import numpy as np
import pytest
from conftest import REPO

from shiftbench import config, inits, theory
from shiftbench.layout import Layout

NEW = {"post-geometric": "real", "post-linear": "real", "dfout": "complex", "s4d-scaled": "complex"}
GRID = {"S": [4], "K": [2], "rho": [0.0]}


def poles(name, S, K, seed=0, **params):
    return inits.initialise(name, S, K, seed=seed, readout="zero", family=NEW[name], **params)[0]


# -- PoST: geometric and linear decay rates --------------------------------------------------------------


def post_mamba2_reference(S, train_length, base_dt=0.05):
    """PoST's Mamba-2 initialisation (models/post_mamba2.py of the authors' code), written out with numpy:
    log_T = linspace(log(base_dt), log(train_length base_dt), S), A_log = -flip(log_T), A = -exp(A_log),
    poles exp(base_dt A)."""
    log_T = np.linspace(np.log(1.0 * base_dt), np.log(train_length * base_dt), S)
    A = -np.exp(-np.flip(log_T))
    return np.exp(base_dt * A), A


@pytest.mark.parametrize("S,K", [(2, 10), (7, 50), (16, 300)])
def test_post_geometric_is_the_post_mamba2_grid(S, K):
    a = poles("post-geometric", S, K)
    expected, A = post_mamba2_reference(S, K)
    np.testing.assert_allclose(a.real, expected, rtol=1e-13)
    assert np.all(a.imag == 0)
    # the step it reports is PoST's frozen 0.05, and A = log(a)/dt is the code's A
    dt = inits.init_dt("post-geometric", S, K, seed=0)
    assert dt == 0.05
    np.testing.assert_allclose(np.log(a.real) / dt, A, rtol=1e-12)


def test_post_geometric_rates_have_a_constant_ratio_and_the_stated_endpoints():
    S, K = 9, 200
    lam = -np.log(poles("post-geometric", S, K).real)
    assert np.all(np.diff(lam) > 0)  # slowest first
    np.testing.assert_allclose(lam[1:] / lam[:-1], (K / 1.0) ** (1 / (S - 1)), rtol=1e-12)
    assert lam[0] == pytest.approx(1 / K, rel=1e-12) and lam[-1] == pytest.approx(1.0, rel=1e-12)
    # t_min, t_max as numbers and as multiples of K
    lam = -np.log(poles("post-geometric", S, K, t_min=2.0, t_max="3K").real)
    assert lam[0] == pytest.approx(1 / 600, rel=1e-12) and lam[-1] == pytest.approx(0.5, rel=1e-12)
    np.testing.assert_allclose(lam[1:] / lam[:-1], 300 ** (1 / (S - 1)), rtol=1e-12)
    lam = -np.log(poles("post-geometric", S, K, t_max=50).real)
    assert lam[0] == pytest.approx(1 / 50, rel=1e-12)


def test_post_linear_rates_have_a_constant_difference_and_the_same_endpoints():
    S, K = 9, 200
    lam = -np.log(poles("post-linear", S, K).real)
    assert np.all(np.diff(lam) > 0)
    np.testing.assert_allclose(np.diff(lam), (1 - 1 / K) / (S - 1), rtol=1e-10)
    geometric = -np.log(poles("post-geometric", S, K).real)
    assert lam[[0, -1]] == pytest.approx(geometric[[0, -1]], rel=1e-12)
    # PoST's point, on these two grids: the geometric one keeps every gap in log-rate equal, log(K)/(S-1), the
    # largest smallest gap any grid with these endpoints can have; the linear one crowds its fast end
    assert np.diff(np.log(geometric)).min() == pytest.approx(np.log(K) / (S - 1))
    assert np.diff(np.log(lam)).min() < 0.25 * np.diff(np.log(geometric)).min()


@pytest.mark.parametrize("name", ["post-geometric", "post-linear"])
def test_post_single_pole_is_the_fast_end(name):
    assert poles(name, 1, 40)[0].real == pytest.approx(np.exp(-1.0))


# -- S4D-DFouT: the discrete Fourier grid --------------------------------------------------------------------


@pytest.mark.parametrize("S", [1, 2, 5, 7, 8, 12])
def test_dfout_moduli_and_phases_are_the_fourier_grid(S):
    xi = 0.02
    a = poles("dfout", S, 30, xi=xi)
    np.testing.assert_allclose(np.abs(a), np.exp(-xi / 2), rtol=1e-14)
    # phases, as a set on the circle: 2 pi k/S for odd S, 2 pi (k + 1/2)/S for even S, k = 0..S-1
    shift = 0.0 if S % 2 else 0.5
    expected = np.sort(np.mod(2 * np.pi * (np.arange(S) + shift) / S, 2 * np.pi))
    got = np.sort(np.mod(np.angle(a), 2 * np.pi))
    got[np.isclose(got, 2 * np.pi, atol=1e-12)] = 0.0  # a phase of -0 or 2 pi is the grid's 0
    np.testing.assert_allclose(np.sort(got), expected, atol=1e-12)
    # the unit-modulus poles are the roots of z^S = +1 (odd S) or -1 (even S), each once
    unit = a / np.abs(a)
    np.testing.assert_allclose(unit**S, 1.0 if S % 2 else -1.0, atol=1e-12)
    assert len({(round(z.real, 9), round(z.imag, 9)) for z in unit}) == S
    if S % 2:  # the real pole is the DC bin, exp(-xi/2)
        assert a[-1] == pytest.approx(np.exp(-xi / 2))


def test_dfout_over_S_steps_is_a_dft_basis():
    """With the damping removed, the Vandermonde matrix V[l, n] = (a_n/|a_n|)^l, l = 0..S-1, is the DFT
    matrix (odd S): V^H V = S I, and numpy's FFT of a pole's powers is S at one bin and 0 elsewhere."""
    S = 9
    unit = poles("dfout", S, 30, xi=0.1)
    unit = unit / np.abs(unit)
    V = unit[None, :] ** np.arange(S)[:, None]
    np.testing.assert_allclose(V.conj().T @ V, S * np.eye(S), atol=1e-10)
    spectra = np.abs(np.fft.ifft(V, axis=0)) * S
    np.testing.assert_allclose(np.sort(spectra, axis=0)[-1], S, atol=1e-9)
    np.testing.assert_allclose(np.sort(spectra, axis=0)[:-1], 0, atol=1e-9)


@pytest.mark.parametrize("S", [4, 7])
def test_dfout_is_the_construction_with_the_lag_set_to_half_the_order(S):
    """theory.construction(S, K', alpha) with K' = S/2 (written as K = S, spacing 2) and e^{-alpha/K} =
    e^{-xi/2}: the same set of poles."""
    xi = 0.04
    a = poles("dfout", S, 30, xi=xi)
    c, _ = theory.construction(S, S, alpha=xi * S / 2, spacing=2.0)
    key = lambda z: (round(z.real, 10), round(z.imag, 10))  # noqa: E731
    assert sorted(map(key, a)) == sorted(map(key, c))


def test_dfout_damping_rules():
    S, K = 6, 40
    draws = {float(np.abs(poles("dfout", S, K, seed=s)[0])) for s in range(6)}
    assert len(draws) == 6  # log-uniform xi is seeded
    assert all(np.exp(-0.1 / 2) <= d <= np.exp(-1e-3 / 2) for d in draws)
    np.testing.assert_array_equal(poles("dfout", S, K, seed=3), poles("dfout", S, K, seed=3))
    # xi = 1/K: the modulus of s4d-lin at dt = 1/K, exp(-1/(2K))
    lin = inits.initialise("s4d-lin", 7, K, seed=0, readout="zero", dt="1/K")[0]
    np.testing.assert_allclose(np.abs(poles("dfout", S, K, xi="1/K")), np.abs(lin[-1]), rtol=1e-14)


# -- S4D-Lin with scaled frequencies ---------------------------------------------------------------------------


def test_s4d_scaled_multiplies_the_imaginary_parts():
    S, K, dt = 9, 100, 0.01
    n = np.arange(S // 2)
    for alpha in (0.25, 1.0, 3.0):
        a = poles("s4d-scaled", S, K, alpha=alpha, dt=dt)
        A = np.log(a[: S // 2]) / dt  # principal log: alpha pi n dt stays below pi here
        np.testing.assert_allclose(A, -0.5 + 1j * alpha * np.pi * n, atol=1e-10)
        assert a[-1] == pytest.approx(np.exp(-0.5 * dt))
    # the authors' code: A = -0.5 - 1j freqscale pi arange(N), the conjugates of the same pairs
    code = np.exp(dt * (-0.5 - 1j * 3.0 * np.pi * n))
    np.testing.assert_allclose(poles("s4d-scaled", S, K, alpha=3.0, dt=dt)[S // 2 : 2 * (S // 2)], code)


def test_s4d_scaled_at_alpha_one_is_s4d_lin_with_the_same_draw():
    for seed in range(3):
        lin = inits.initialise("s4d-lin", 8, 50, seed=seed, readout="zero")[0]
        np.testing.assert_array_equal(poles("s4d-scaled", 8, 50, seed=seed), lin)
        assert inits.init_dt("s4d-scaled", 8, 50, seed=seed) == inits.init_dt("s4d-lin", 8, 50, seed=seed)


# -- registry, layout, config, refusals -----------------------------------------------------------------------


def test_registered_with_their_families_steps_and_defaults():
    for name, family in NEW.items():
        assert name in inits.POLE_INITS and inits.FAMILIES[name] == (family,)
    # the theory table lists the rules that draw nothing at their defaults (dfout draws xi; s4d-scaled at
    # alpha = 1 is s4d-lin, already listed)
    assert {"post-geometric", "post-linear"} <= inits.TABULATED and not {"dfout", "s4d-scaled"} & inits.TABULATED
    assert {"post-geometric", "post-linear", "s4d-scaled"} <= inits.DELTA_INITS
    assert "dfout" not in inits.DELTA_INITS
    assert inits.parameters("post-geometric") == {"t_min": 1.0, "t_max": "K", "dt": 0.05}
    assert inits.parameters("post-linear") == inits.parameters("post-geometric")
    assert inits.parameters("dfout") == {"xi": "log-uniform"}
    assert inits.parameters("s4d-scaled") == {"alpha": 1.0, "dt": "log-uniform"}


@pytest.mark.parametrize("name", sorted(NEW))
@pytest.mark.parametrize("S", [1, 2, 5, 8])
def test_layout_is_valid(name, S):
    a, b = inits.initialise(name, S, 20, seed=1, readout="optimal", family=NEW[name])
    Layout.of(NEW[name], S).check(a, b)
    assert np.all(np.abs(a) < 1)


@pytest.mark.parametrize(
    "name,params",
    [
        ("post-geometric", {"t_max": "2K", "t_min": 1.5, "dt": 0.1}),
        ("post-linear", {"t_max": 400}),
        ("dfout", {"xi": 0.01}),
        ("dfout", {"xi": "1/K"}),
        ("s4d-scaled", {"alpha": 3.0, "dt": "1/K"}),
    ],
)
def test_a_config_naming_it_is_accepted(name, params):
    variant = {"init": name, "family": NEW[name], "params": params}
    cfg = config.load_config({"grid": GRID, "inits": {"v": variant}})
    assert cfg["inits"]["v"]["init"] == name and cfg["inits"]["v"]["params"] == params
    assert f"{name} (" in config.schema_node("inits", "v", "init")["description"]


def test_zoh_is_accepted_with_a_step_and_refused_without():
    for name in ("post-geometric", "post-linear", "s4d-scaled"):
        variant = {"init": name, "family": NEW[name]}
        config.load_config({"grid": GRID, "inits": {"v": variant}, "train": {"parameterisation": "zoh"}})
    with pytest.raises(config.ConfigError, match="needs an init with a step Delta"):
        config.load_config({"grid": GRID, "inits": {"v": {"init": "dfout"}}, "train": {"parameterisation": "zoh"}})
    with pytest.raises(config.ConfigError, match="cannot produce the 'complex' family"):
        config.load_config({"grid": GRID, "inits": {"v": {"init": "post-geometric"}}})


BAD = [
    ("post-geometric", {"t_max": 0.5}, "t_max"),
    ("post-geometric", {"t_max": "K", "t_min": 8}, "t_max"),
    ("post-geometric", {"t_max": "-2K"}, "t_max"),
    ("post-geometric", {"t_max": "forever"}, "t_max"),
    ("post-geometric", {"t_max": 1e300}, "t_max"),
    ("post-geometric", {"t_min": 0}, "t_min"),
    ("post-geometric", {"t_min": True}, "t_min"),
    ("post-linear", {"t_min": -1.0}, "t_min"),
    ("post-linear", {"dt": 0}, "dt"),
    ("post-linear", {"dt": "often"}, "dt"),
    ("dfout", {"xi": 0}, "xi"),
    ("dfout", {"xi": -0.1}, "xi"),
    ("dfout", {"xi": "uniform"}, "xi"),
    ("dfout", {"xi": [0.1]}, "xi"),
    ("s4d-scaled", {"alpha": 0}, "alpha"),
    ("s4d-scaled", {"alpha": -3}, "alpha"),
    ("s4d-scaled", {"alpha": "3"}, "alpha"),
    ("s4d-scaled", {"dt": -0.01}, "dt"),
    ("dfout", {"alpha": 1.0}, "no parameter"),
]


@pytest.mark.parametrize("name,params,match", BAD)
def test_bad_parameters_are_refused_naming_the_parameter(name, params, match):
    with pytest.raises(ValueError, match=match):
        inits.check_init(name, "zero", params, NEW[name])
    with pytest.raises(config.ConfigError, match=match):
        config.load_config({"grid": GRID, "inits": {"v": {"init": name, "family": NEW[name], "params": params}}})


def test_docs_describe_each_with_its_source():
    text = (REPO / "docs" / "inits.md").read_text()
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    assert set(NEW) <= set(sections)
    for name, arxiv in [
        ("post-geometric", "2604.07658"),
        ("post-linear", "2604.07658"),
        ("dfout", "2508.20441"),
        ("s4d-scaled", "2410.02035"),
    ]:
        body = sections[name]
        assert arxiv in body, name
        for part in ("**Rule.**", "**Not pinned down.**"):
            assert part in body, (name, part)
