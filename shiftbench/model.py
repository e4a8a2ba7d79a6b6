"""The diagonal linear RNN of order S, as one readable page (cf. the minimal S4D).

Order S means S poles: floor(S/2) conjugate pairs plus one real pole when S is odd, so kernel and
output are real. Pole arrays use the *pair layout* ``a = [p, conj(p), r]`` (``len(p) = S // 2``,
``len(r) = S % 2``), which is also a valid input of every ``shiftbench.theory`` function:
``theory.exact_loss(model.poles(), model.readout(), K, rho)`` is the model's exact test loss.

Stability is built into the parameters: a pair pole is ``exp(-exp(nu) + i theta)`` and the real
pole ``sign * exp(-exp(nu))``, so |a| < 1 for every finite nu. Everything is float64/complex128:
with |a| near 1 and lengths ~8k, float32 loses ~2e-4 relative accuracy, more than the effects
measured here. Complex readouts are stored as real tensors (optimisers treat them as pairs anyway).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .signals import as_signal
from .theory import window_weights

DTYPE = torch.float64


def check_pair_layout(a, b):
    """Validate ``[p, conj(p), r]`` layouts of poles and readout; returns them as numpy complex."""
    a, b = np.asarray(a, dtype=complex), np.asarray(b, dtype=complex)
    S, h = a.size, a.size // 2
    if b.shape != a.shape or a.ndim != 1 or S == 0:
        raise ValueError(f"poles {a.shape} and readout {b.shape} must be 1-D of the same length S >= 1")
    tol = 1e-12
    if (
        np.abs(a[h : 2 * h] - a[:h].conj()).max(initial=0) > tol
        or np.abs(b[h : 2 * h] - b[:h].conj()).max(initial=0) > tol
    ):
        raise ValueError("poles/readout are not in the pair layout [p, conj(p), r]")
    if S % 2 and (abs(a[-1].imag) > tol or abs(b[-1].imag) > tol):
        raise ValueError("the last pole and coefficient of an odd order must be real")
    if not np.all(np.abs(a) < 1):
        raise ValueError(f"poles must lie inside the unit disk, max |a| = {np.abs(a).max()}")
    return a, b


class LinearRNN(nn.Module):
    """h_t = a h_{t-1} + x_t (per pole), y_t = sum_s b_s h_t^s, as a causal convolution."""

    def __init__(self, a, b):
        super().__init__()
        a, b = check_pair_layout(a, b)
        h, self.order = a.size // 2, a.size
        p = torch.from_numpy(a[:h])
        self.nu = nn.Parameter(torch.log(-torch.log(p.abs())))
        self.theta = nn.Parameter(torch.angle(p))
        self.b_re = nn.Parameter(torch.from_numpy(b[:h].real.copy()))
        self.b_im = nn.Parameter(torch.from_numpy(b[:h].imag.copy()))
        r = a[2 * h :].real
        self.nu_real = nn.Parameter(torch.from_numpy(np.log(-np.log(np.abs(r)))))
        self.register_buffer("sign_real", torch.from_numpy(np.sign(r)))
        self.b_real = nn.Parameter(torch.from_numpy(b[2 * h :].real.copy()))

    # -- poles and readout in the theory's convention --------------------------------------------
    def pole_tensors(self):
        """(a, b): complex tensors of all S poles and coefficients in pair layout (differentiable)."""
        p = torch.exp(torch.complex(-torch.exp(self.nu), self.theta))
        bp = torch.complex(self.b_re, self.b_im)
        r = (self.sign_real * torch.exp(-torch.exp(self.nu_real))).to(p.dtype)
        return torch.cat([p, p.conj(), r]), torch.cat([bp, bp.conj(), self.b_real.to(bp.dtype)])

    def pole_parameters(self) -> list[nn.Parameter]:
        return [self.nu, self.theta, self.nu_real]

    @torch.no_grad()
    def set_readout(self, b):
        """Set the readout to ``b`` (all S coefficients, pair layout), e.g. b*(a) in projected training."""
        b, h = np.asarray(b, dtype=complex), self.order // 2
        self.b_re.copy_(torch.from_numpy(b[:h].real.copy()))
        self.b_im.copy_(torch.from_numpy(b[:h].imag.copy()))
        self.b_real.copy_(torch.from_numpy(b[2 * h :].real.copy()))

    def poles(self) -> np.ndarray:
        return self.pole_tensors()[0].detach().cpu().numpy()

    def readout(self) -> np.ndarray:
        return self.pole_tensors()[1].detach().cpu().numpy()

    # -- the filter --------------------------------------------------------------------------------
    def kernel(self, n: int) -> torch.Tensor:
        """c_k, k < n, as a real tensor: 2 Re(sum_pairs b a^k) + b_r a_r^k.

        Split powers: with k = j m + i (m ~ sqrt(n)), a^k = (a^m)^j a^i, so the pair part is one
        complex (n/m x S/2) @ (S/2 x m) matrix product and only S (n/m + m) complex exponentials,
        not S n: the exponentials and their backward dominated the training step.
        """
        m = max(1, math.isqrt(n))
        j = torch.arange(-(-n // m), dtype=DTYPE, device=self.nu.device)
        i = torch.arange(m, dtype=DTYPE, device=self.nu.device)
        log_p = torch.complex(-torch.exp(self.nu), self.theta)
        bp = torch.complex(self.b_re, self.b_im)
        outer = bp[None, :] * torch.exp(j[:, None] * (m * log_p)[None, :])  # b a^{jm}, (J, S/2)
        inner = torch.exp(log_p[:, None] * i[None, :])  # a^i, (S/2, m)
        pairs = 2 * (outer @ inner).real.reshape(-1)[:n]
        k = torch.arange(n, dtype=DTYPE, device=self.nu.device)
        real = self.b_real @ (self.sign_real[:, None] ** k * torch.exp(-torch.exp(self.nu_real)[:, None] * k[None, :]))
        return pairs + real

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = c * x along the last axis via rfft/irfft, zero-padded to 2L so nothing wraps around."""
        L = x.shape[-1]
        c = self.kernel(L)
        y = torch.fft.irfft(torch.fft.rfft(x, n=2 * L) * torch.fft.rfft(c, n=2 * L), n=2 * L)
        return y[..., :L]

    def exact_loss(self, K: int, rho=0.0) -> torch.Tensor:
        """Differentiable closed-form stationary loss (same formulas as theory.exact_loss)."""
        return as_signal(rho).quadratic_loss(*self.pole_tensors(), K)

    def window_loss(self, K: int, rho, length: int, t_eval: int) -> torch.Tensor:
        """Differentiable finite-window loss (same formula as theory.finite_window_loss).

        sum_k omega_k (e_k^2 + 2 e_k u_k), e = c - d over ``length`` lags, u = e * gamma causally
        (gamma_0 left out), omega the window weights: the mean over the scored positions.
        """
        n, device = length, self.nu.device
        e = self.kernel(n)  # (n,)
        e = e - (torch.arange(n, device=device) == K).to(DTYPE)  # minus the target d_k = 1[k = K]
        gamma = torch.from_numpy(as_signal(rho).autocovariance(np.arange(n))).to(device)  # (n,)
        gamma[0] = 0.0
        u = torch.fft.irfft(torch.fft.rfft(e, n=2 * n) * torch.fft.rfft(gamma, n=2 * n), n=2 * n)[:n]  # (n,)
        omega = torch.from_numpy(window_weights(n, t_eval)).to(device)  # (n,)
        return omega @ (e**2 + 2 * e * u)


def sequential_forward(a, b, x: torch.Tensor) -> torch.Tensor:
    """Reference recurrence h_t = a h_{t-1} + x_t, y_t = Re(sum_s b_s h_t^s): one step at a time."""
    a = torch.as_tensor(a, dtype=torch.complex128, device=x.device)
    b = torch.as_tensor(b, dtype=torch.complex128, device=x.device)
    h = torch.zeros(*x.shape[:-1], a.numel(), dtype=torch.complex128, device=x.device)
    ys = []
    for t in range(x.shape[-1]):
        h = a * h + x[..., t : t + 1]
        ys.append((h @ b).real)
    return torch.stack(ys, dim=-1)
