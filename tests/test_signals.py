import numpy as np
import pytest

from shiftbench import signals


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_sample_autocovariance_matches_formula(rho):
    """Sample autocovariance at lags 0..5 within 5 standard errors (estimated across sequences)."""
    x = signals.sample_ar1(rho, 4000, 64, seed=0)
    lags = np.arange(6)
    per_seq = np.stack([(x[:, j:] * x[:, : x.shape[1] - j]).mean(axis=1) for j in lags], axis=1)
    est, se = per_seq.mean(axis=0), per_seq.std(axis=0, ddof=1) / np.sqrt(len(per_seq))
    assert np.all(np.abs(est - signals.autocovariance(rho, lags)) < 5 * se)


@pytest.mark.parametrize("rho", [0.5, 0.7, 0.9])
def test_every_position_is_stationary(rho):
    """Each position on its own: Var(x_t) = 1 and E[x_t x_{t-1}] = rho, within 5 standard errors.

    600,000 sequences make 5 standard errors just under 0.01 (asserted), so a 1% deviation at any single
    position shows; a sampler that restarts the recursion from the wrong state at t = 1
    (Var(x_1) = 1 - rho^2 + rho^4) fails by far.
    """
    x = signals.sample_ar1(rho, 600_000, 8, seed=3)
    for t in range(x.shape[1]):
        square = x[:, t] ** 2
        se = square.std(ddof=1) / np.sqrt(len(square))
        assert 5 * se < 0.01
        assert abs(square.mean() - 1) < 5 * se, (t, square.mean())
        if t:
            product = x[:, t] * x[:, t - 1]
            se = product.std(ddof=1) / np.sqrt(len(product))
            assert abs(product.mean() - rho) < 5 * se, (t, product.mean())


@pytest.mark.parametrize("rho", [0.0, 0.7])
def test_periodogram_matches_spectral_density(rho):
    """Averaged periodogram vs Gamma(w): each bin averages 8000 chi^2_2/2 draws, so rel. s.e. ~1.1%."""
    n = 256
    x = signals.sample_ar1(rho, 8000, n, seed=1)
    periodogram = (np.abs(np.fft.rfft(x, axis=1)) ** 2 / n).mean(axis=0)
    omega = 2 * np.pi * np.arange(len(periodogram)) / n
    # the finite-length periodogram is Gamma smoothed by the Fejer kernel: compare with that exactly
    gamma = signals.autocovariance(rho, np.arange(n))
    lags = np.arange(1, n)
    fejer = gamma[0] + 2 * np.cos(np.outer(omega, lags)) @ ((1 - lags / n) * gamma[1:])
    inner = slice(1, -1)  # bins 0 and n/2 are real-valued chi^2_1 draws with twice the variance
    assert np.all(np.abs(periodogram[inner] / fejer[inner] - 1) < 5 * 0.0112)
    # and the smoothed spectrum is close to the closed form away from the peak at 0
    far = omega > 0.3
    np.testing.assert_allclose(fejer[far], signals.spectral_density(rho, omega[far]), rtol=0.05)


def test_spectral_density_integrates_to_variance():
    omega = np.linspace(-np.pi, np.pi, 200001)
    for rho in [0.0, 0.5, 0.95]:
        assert np.trapezoid(signals.spectral_density(rho, omega), omega) / (2 * np.pi) == pytest.approx(1, rel=1e-4)


def test_sampling_is_deterministic_and_float64():
    a = signals.sample_ar1(0.3, 3, 10, seed=42)
    assert a.dtype == np.float64 and a.shape == (3, 10)
    np.testing.assert_array_equal(a, signals.sample_ar1(0.3, 3, 10, seed=42))
    assert not np.array_equal(a, signals.sample_ar1(0.3, 3, 10, seed=43))


@pytest.mark.parametrize("rho", [-0.1, 1.0, float("nan")])
def test_bad_rho_is_refused(rho):
    with pytest.raises(ValueError, match="rho"):
        signals.AR1(rho)
