import numpy as np
import pytest
import torch

from shiftbench import inits, model, theory


@pytest.mark.parametrize("S", [1, 6, 7])
def test_fft_forward_matches_sequential_recurrence_near_unit_circle(S):
    """Includes poles with |a| > 0.999 and length 8192, where wrap-around or float32 would show."""
    rng = np.random.default_rng(S)
    a, b = inits.initialise("lru-ring", S, 100, seed=S, readout="random", r_min=0.999, r_max=0.9999)
    b = b * 50  # make the long tail matter
    m = model.LinearRNN(a, b)
    x = torch.from_numpy(rng.standard_normal((2, 8192)))
    with torch.no_grad():
        y = m(x)
    ref = model.sequential_forward(m.poles(), m.readout(), x)
    assert np.abs(m.poles()).min() > 0.999
    assert (y - ref).abs().max().item() < 1e-10 * max(1.0, ref.abs().max().item())


def test_kernel_and_exact_loss_match_theory():
    a, b = inits.initialise("uncertainty", 9, 60, seed=0, readout="optimal", rho=0.5)
    m = model.LinearRNN(a, b)
    np.testing.assert_allclose(m.kernel(300).detach().numpy(), theory.kernel(a, b, 300).real, atol=1e-14)
    np.testing.assert_allclose(m.poles(), a, atol=1e-15)
    np.testing.assert_allclose(m.readout(), b, atol=1e-15)
    for rho in [0.0, 0.5]:
        assert m.exact_loss(60, rho).item() == pytest.approx(theory.exact_loss(a, b, 60, rho), abs=1e-12)


def test_exact_loss_gradient_matches_finite_differences():
    """Autograd through the torch closed form vs central differences of the numpy theory."""
    a, b = inits.initialise("lru-ring", 5, 20, seed=3, readout="random", r_min=0.5, r_max=0.95)
    m = model.LinearRNN(a, b)
    m.exact_loss(20, 0.7).backward()
    h = 1e-6
    for p in m.parameters():
        for i in range(p.numel()):
            with torch.no_grad():
                p.view(-1)[i] += h
                up = theory.exact_loss(m.poles(), m.readout(), 20, 0.7)
                p.view(-1)[i] -= 2 * h
                down = theory.exact_loss(m.poles(), m.readout(), 20, 0.7)
                p.view(-1)[i] += h
            assert p.grad.view(-1)[i].item() == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9)


def test_output_is_float64_and_real():
    a, b = inits.initialise("s4d-lin", 5, 20, seed=0, readout="random")
    y = model.LinearRNN(a, b)(torch.zeros(3, 40, dtype=torch.float64))
    assert y.dtype == torch.float64 and y.shape == (3, 40)


def test_pair_layout_is_checked():
    with pytest.raises(ValueError, match="pair layout"):
        model.LinearRNN(np.array([0.5 + 0.1j, 0.5 + 0.1j]), np.ones(2))
    with pytest.raises(ValueError, match="unit disk"):
        model.LinearRNN(np.array([1.0 + 0j]), np.ones(1))


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_window_loss_matches_theory_and_its_gradient_finite_differences(rho):
    """The differentiable finite-window loss against theory.finite_window_loss, and autograd against
    central differences of that numpy route."""
    a, b = inits.initialise("lru-ring", 5, 12, seed=4, readout="random", r_min=0.6, r_max=0.95)
    m = model.LinearRNN(a, 5 * b)
    K, n, T = 12, 30, 9
    loss = m.window_loss(K, rho, n, T)
    assert loss.item() == pytest.approx(theory.finite_window_loss(a, 5 * b, K, rho, n, T), rel=1e-12)
    loss.backward()
    h = 1e-6
    for p in m.parameters():
        for i in range(p.numel()):
            with torch.no_grad():
                p.view(-1)[i] += h
                up = theory.finite_window_loss(m.poles(), m.readout(), K, rho, n, T)
                p.view(-1)[i] -= 2 * h
                down = theory.finite_window_loss(m.poles(), m.readout(), K, rho, n, T)
                p.view(-1)[i] += h
            assert p.grad.view(-1)[i].item() == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9)


def test_set_readout_keeps_the_pair_layout():
    a, b = inits.initialise("uncertainty", 7, 30, seed=0, readout="optimal")
    m = model.LinearRNN(a, np.zeros(7))
    m.set_readout(b)
    np.testing.assert_allclose(m.readout(), b, atol=1e-15)
