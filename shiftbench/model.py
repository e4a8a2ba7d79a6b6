"""The diagonal linear RNN of order S, as one readable page (cf. the minimal S4D).

Order S means S poles, in the layout of a pole family (``shiftbench.layout``): ``complex`` has
floor(S/2) conjugate pairs plus one real pole when S is odd, ``real`` has S real poles, each with its
sign fixed at init. Kernel and output are real either way. Pole arrays use the layout
``a = [p, conj(p), r]``, which is also a valid input of every ``shiftbench.theory`` function:
``theory.exact_loss(model.poles(), model.readout(), K, rho)`` is the model's exact test loss.

Stability is built into the parameters (``parameterisation``, docs/theory.md section 11):

- ``exp-exp`` (LRU-style): a pair pole is ``exp(-exp(nu) + i theta)``, a real one
  ``sign * exp(-exp(nu))``;
- ``zoh`` (S4D's and Mamba's zero-order hold): ``a = exp(Delta A)`` with ``A = -exp(A_log) + i A_im``
  (``A_im`` only for pairs; a real pole is ``sign * exp(Delta A)``) and one learned ``log Delta`` shared
  by all states.

So |a| < 1 for every finite parameter. Everything is float64/complex128: with |a| near 1 and lengths
~8k, float32 loses ~2e-4 relative accuracy, more than the effects measured here. Complex readouts
are stored as real tensors (optimisers treat them as pairs anyway).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .layout import PARAMETERISATIONS, Layout
from .signals import as_signal
from .theory import window_weights

DTYPE = torch.float64


def check_pair_layout(a, b, family="complex"):
    """Validate the layout ``[p, conj(p), r]`` of poles and readout; returns them as numpy complex."""
    a = np.asarray(a, dtype=complex)
    return Layout.of(family, max(a.size, 1)).check(a, b)


def _tensor(x) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


class LinearRNN(nn.Module):
    """h_t = a h_{t-1} + x_t (per pole), y_t = sum_s b_s h_t^s, as a causal convolution.

    ``family`` fixes the layout of the S poles, ``parameterisation`` the map from parameters to poles;
    ``zoh`` needs the initial step ``log_dt`` (log Delta) and starts from A = log(a) / Delta.
    """

    def __init__(self, a, b, family="complex", parameterisation="exp-exp", log_dt=None):
        super().__init__()
        a, b = check_pair_layout(a, b, family)
        if parameterisation not in PARAMETERISATIONS:
            raise ValueError(f"unknown parameterisation {parameterisation!r}; known: {list(PARAMETERISATIONS)}")
        if (parameterisation == "zoh") != (log_dt is not None):
            raise ValueError("parameterisation 'zoh' needs log_dt (log Delta), and only 'zoh' takes one")
        self.layout, self.family, self.parameterisation = Layout.of(family, a.size), family, parameterisation
        self.order = a.size
        p, r = self.layout.split(a)
        bp, br = self.layout.split(b)
        self.register_buffer("sign_real", _tensor(np.sign(r)))
        if parameterisation == "exp-exp":
            pt = torch.from_numpy(p)
            self.nu = nn.Parameter(torch.log(-torch.log(pt.abs())))
            self.theta = nn.Parameter(torch.angle(pt))
            self.nu_real = nn.Parameter(_tensor(np.log(-np.log(np.abs(r)))))
        else:
            dt = math.exp(log_dt)
            self.log_dt = nn.Parameter(torch.tensor([float(log_dt)], dtype=DTYPE))  # one Delta for all states
            self.A_log = nn.Parameter(_tensor(np.log(-np.log(np.abs(p)) / dt)))
            self.A_im = nn.Parameter(_tensor(np.angle(p) / dt))
            self.A_log_real = nn.Parameter(_tensor(np.log(-np.log(np.abs(r)) / dt)))
        self.b_re, self.b_im = nn.Parameter(_tensor(bp.real)), nn.Parameter(_tensor(bp.imag))
        self.b_real = nn.Parameter(_tensor(br))

    @property
    def device(self) -> torch.device:
        return self.b_real.device

    # -- poles and readout in the theory's convention --------------------------------------------
    def log_poles(self):
        """(log p, log|r|): complex logs of the upper pair poles (n_pairs,), log-moduli of the real ones (n_real,)."""
        if self.parameterisation == "exp-exp":
            return torch.complex(-torch.exp(self.nu), self.theta), -torch.exp(self.nu_real)
        dt = torch.exp(self.log_dt)  # (1,)
        return dt * torch.complex(-torch.exp(self.A_log), self.A_im), -dt * torch.exp(self.A_log_real)

    def pole_tensors(self):
        """(a, b): complex tensors of all S poles and coefficients in the layout (differentiable)."""
        log_p, log_r = self.log_poles()
        p = torch.exp(log_p)  # (n_pairs,)
        r = (self.sign_real * torch.exp(log_r)).to(p.dtype)  # (n_real,)
        bp = torch.complex(self.b_re, self.b_im)
        return torch.cat([p, p.conj(), r]), torch.cat([bp, bp.conj(), self.b_real.to(bp.dtype)])

    def pole_parameters(self) -> list[nn.Parameter]:
        """The parameters that define the poles (all others are the readout)."""
        if self.parameterisation == "exp-exp":
            return [self.nu, self.theta, self.nu_real]
        return [self.log_dt, self.A_log, self.A_im, self.A_log_real]

    @torch.no_grad()
    def set_readout(self, b):
        """Set the readout to ``b`` (all S coefficients, in the layout), e.g. b*(a) in projected training."""
        bp, br = self.layout.split(b)
        self.b_re.copy_(_tensor(bp.real))
        self.b_im.copy_(_tensor(bp.imag))
        self.b_real.copy_(_tensor(br))

    def pole_values(self, a) -> np.ndarray:
        """The pole parameters (concatenated as ``pole_parameters``) that give the poles ``a``.

        Real poles keep the model's signs; ``zoh`` keeps the model's current Delta.
        """
        p, r = self.layout.split(a)
        if self.parameterisation == "exp-exp":
            return np.concatenate([np.log(-np.log(np.abs(p))), np.angle(p), np.log(-np.log(np.abs(r)))])
        log_dt = float(self.log_dt.detach().cpu()[0])
        dt = math.exp(log_dt)
        return np.concatenate(
            [[log_dt], np.log(-np.log(np.abs(p)) / dt), np.angle(p) / dt, np.log(-np.log(np.abs(r)) / dt)]
        )

    def poles(self) -> np.ndarray:
        return self.pole_tensors()[0].detach().cpu().numpy()

    def readout(self) -> np.ndarray:
        return self.pole_tensors()[1].detach().cpu().numpy()

    # -- the filter --------------------------------------------------------------------------------
    def kernel(self, n: int) -> torch.Tensor:
        """c_k, k < n, as a real tensor: 2 Re(sum_pairs b a^k) + sum_real b_r a_r^k.

        Split powers: with k = j m + i (m ~ sqrt(n)), a^k = (a^m)^j a^i, so the kernel is one complex
        (n/m x M) @ (M x m) matrix product over the M = n_pairs + n_real modes and only M (n/m + m)
        complex exponentials, not S n: the exponentials and their backward dominated the training step.
        """
        m = max(1, math.isqrt(n))
        j = torch.arange(-(-n // m), dtype=DTYPE, device=self.device)
        i = torch.arange(m, dtype=DTYPE, device=self.device)
        log_p, log_r = self.log_poles()  # (n_pairs,), (n_real,)
        # every mode as one complex log: pairs weigh 2 b (2 Re), a negative real pole has phase pi
        log_a = torch.cat([log_p, torch.complex(log_r, math.pi * (self.sign_real < 0).to(DTYPE))])  # (M,)
        w = torch.cat([2 * torch.complex(self.b_re, self.b_im), self.b_real.to(log_a.dtype)])  # (M,)
        outer = w[None, :] * torch.exp(j[:, None] * (m * log_a)[None, :])  # w a^{jm}, (J, M)
        inner = torch.exp(log_a[:, None] * i[None, :])  # a^i, (M, m)
        return (outer @ inner).real.reshape(-1)[:n]  # (n,)

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
        n, device = length, self.device
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
