import numpy as np
import pytest

from shiftbench import inits, theory
from shiftbench.layout import Layout


@pytest.mark.parametrize("S", [7, 8])
def test_uncertainty_is_the_papers_formula(S):
    """The paper's Theorem 1 written out: a_s = e^{-alpha/K} e^{i pi s/K}, b_s = beta e^{-i pi s},
    beta = e^{-alpha} sinh(2 alpha)/K, s = -(S-1)/2 .. (S-1)/2, compared as a set of (pole, coefficient)."""
    K, alpha = 50, 1.3
    a, b = inits.initialise("uncertainty", S, K, seed=0, readout="paper", alpha=alpha)
    beta = np.exp(-alpha) * np.sinh(2 * alpha) / K
    expected = {}
    for i in range(S):
        s = i - (S - 1) / 2
        expected[round(np.pi * s / K, 12)] = (
            np.exp(-alpha / K) * np.exp(1j * np.pi * s / K),
            beta * np.exp(-1j * np.pi * s),
        )
    got = {round(float(np.angle(z)), 12): (z, c) for z, c in zip(a, b)}
    assert sorted(got) == sorted(expected)
    for phase, (z, c) in expected.items():
        assert got[phase][0] == pytest.approx(z, abs=1e-15)
        assert got[phase][1] == pytest.approx(c, abs=1e-15)
    Layout.of("complex", S).check(a, b)


def test_lru_ring_moduli_and_phases_in_range():
    a, _ = inits.initialise("lru-ring", 401, 1000, seed=1, readout="zero", r_min=0.9, r_max=0.999, max_phase=0.5)
    assert np.all((np.abs(a) >= 0.9) & (np.abs(a) <= 0.999))
    p = a[:200]
    assert np.all((np.angle(p) >= 0) & (np.angle(p) <= 0.5))
    # uniform in *area*: |a|^2 is uniform on [r_min^2, r_max^2]
    u = (np.abs(p) ** 2 - 0.81) / (0.999**2 - 0.81)
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / u.size)


def test_s4d_formulas():
    S, K = 7, 100
    a, _ = inits.initialise("s4d-lin", S, K, seed=0, readout="zero", dt="1/K")
    n = np.arange(3)
    np.testing.assert_allclose(a[:3], np.exp((-0.5 + 1j * np.pi * n) / K))
    assert a[-1] == pytest.approx(np.exp(-0.5 / K))
    # S4D-Lin with dt = 1/K has the construction's phase spacing pi/K and modulus e^{-1/(2K)}
    c, _ = theory.construction(S, K, alpha=0.5)
    assert np.abs(a).max() == pytest.approx(np.abs(c).max())
    a_inv, _ = inits.initialise("s4d-inv", S, K, seed=0, readout="zero", dt=0.01)
    np.testing.assert_allclose(np.log(a_inv[:3]) / 0.01, -0.5 + 1j * (S / np.pi) * (S / (1 + 2 * n) - 1))
    dts = {np.abs(inits.initialise("s4d-lin", S, K, seed=s, readout="zero")[0][-1]) for s in range(5)}
    assert len(dts) == 5  # log-uniform dt is seeded
    assert all(np.exp(-0.5 * 0.1) <= d <= np.exp(-0.5 * 1e-3) for d in dts)


@pytest.mark.parametrize("name", sorted(inits.POLE_INITS))
def test_optimal_readout_rule_reaches_optimal_loss(name):
    family = inits.FAMILIES[name][0]
    a, b = inits.initialise(name, 9, 40, seed=2, readout="optimal", rho=0.6, family=family)
    Layout.of(family, 9).check(a, b)
    assert theory.exact_loss(a, b, 40, 0.6) == pytest.approx(theory.optimal_loss(a, 40, 0.6), abs=1e-9)


def test_random_readout_is_seeded_and_small():
    _, b1 = inits.initialise("lru-ring", 8, 40, seed=4, readout="random")
    _, b2 = inits.initialise("lru-ring", 8, 40, seed=4, readout="random")
    np.testing.assert_array_equal(b1, b2)
    assert 0 < np.abs(b1).max() < 0.2


@pytest.mark.parametrize(
    "args,match",
    [
        (("nope", "zero", {}), "unknown init"),
        (("lru-ring", "bogus", {}), "unknown readout"),
        (("lru-ring", "paper", {}), "only applies"),
        (("uncertainty", "zero", {"r_min": 0.1}), "no parameter"),
        (("uncertainty", "zero", {}, "real"), "cannot produce the 'real' family"),
        (("s4d-real", "zero", {}, "complex"), "cannot produce the 'complex' family"),
        (("lru-ring", "zero", {}, "complex", "zoh"), "needs an init with a step Delta"),
        (("real-ring", "zero", {}, "real", "zoh"), "needs an init with a step Delta"),
        (("s4d-lin", "zero", {}, "imaginary"), "unknown pole family"),
        (("s4d-lin", "zero", {}, "complex", "euler"), "unknown parameterisation"),
        (("real-ring", "zero", {"r_min": 0.99, "r_max": 0.9}, "real"), "must not exceed"),
    ],
)
def test_invalid_init_configs(args, match):
    with pytest.raises(ValueError, match=match):
        inits.check_init(*args)
