import dense
import numpy as np
import pytest
import torch

from shiftbench import inits, model, objectives, theory


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


@pytest.mark.parametrize("family, n", [("complex", 300), ("complex", 17), ("real", 300), ("real", 1), ("signed", 300)])
def test_kernel_is_the_impulse_response_of_the_recurrence(family, n):
    """The split-power kernel (model and theory share it) against the brute-force recurrence
    ``sequential_forward`` driven by an impulse; n = 17 is no square, so the last block is partial.
    The real family's poles are positive; a complex family's single real pole (odd S) may be negative
    ("signed": phase pi in the split powers)."""
    S, K = 9, 60
    if family == "real":
        a = np.array([0.97, 0.95, 0.9, 0.5, 0.3, 0.99, 0.999, 0.7, 0.1], dtype=complex)
        b = np.linspace(-1.0, 2.0, S).astype(complex)
    else:
        a, b = inits.initialise("uncertainty", S, K, seed=0, readout="optimal", rho=0.5)
        if family == "signed":
            a[-1], family = -0.95, "complex"
    m = model.LinearRNN(a, b, family=family)
    impulse = torch.zeros(n, dtype=torch.float64)
    impulse[0] = 1.0
    brute = model.sequential_forward(a, b, impulse).numpy()
    scale = np.abs(brute).max()
    np.testing.assert_allclose(m.kernel(n).detach().numpy(), brute, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(theory.kernel(a, b, n).real, brute, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(m.poles(), a, atol=1e-15)
    np.testing.assert_allclose(m.readout(), b, atol=1e-15)


@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_exact_loss_is_the_dense_loss_of_the_truncated_kernel(rho):
    """The differentiable closed form against e^T T e on a long truncated kernel (direct powers)."""
    a, b = inits.initialise("uncertainty", 9, 60, seed=0, readout="random", rho=0.5)
    m = model.LinearRNN(a, b)
    assert m.exact_loss(60, rho).item() == pytest.approx(dense.stationary_loss(a, b, 60, rho), abs=1e-11)


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


def test_output_is_the_recurrence_in_float64():
    """The FFT forward of a one-run and of a batched model against the step-by-step recurrence, in
    float64 (float32 would miss 1e-12 at these poles) and with the shapes of the inputs."""
    a, b = inits.initialise("s4d-lin", 5, 20, seed=0, readout="random")
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 40)))
    y = model.LinearRNN(a, b)(x)
    assert y.dtype == torch.float64 and y.shape == (3, 40)
    np.testing.assert_allclose(y.detach().numpy(), model.sequential_forward(a, b, x).numpy(), rtol=0, atol=1e-12)
    a2, b2 = inits.initialise("lru-ring", 5, 20, seed=1, readout="random", r_min=0.8, r_max=0.99)
    xs = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 3, 40)))  # (R, batch, L)
    ys = model.LinearRNN(np.stack([a, a2]), np.stack([b, b2]))(xs)
    assert ys.dtype == torch.float64 and ys.shape == (2, 3, 40)
    for r, (a_r, b_r) in enumerate([(a, b), (a2, b2)]):
        ref = model.sequential_forward(a_r, b_r, xs[r]).numpy()
        np.testing.assert_allclose(ys[r].detach().numpy(), ref, rtol=0, atol=1e-12)


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
    loss = objectives.Window(K, rho, n, T).torch_loss(m)
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
