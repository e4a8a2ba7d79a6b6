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

import functools
import math

import numpy as np
import torch
from torch import nn

from . import formulas, targets
from .layout import PARAMETERISATIONS, Layout
from .signals import as_signal

DTYPE = torch.float64


def _tensor(x) -> torch.Tensor:
    return torch.from_numpy(np.array(x, dtype=np.float64))  # a copy: inputs may be read-only views


@functools.lru_cache(maxsize=64)
def _window_terms(rho: float, n: int, t_eval: int):
    """(rfft of gamma with gamma_0 = 0, zero-padded to 2n; the window weights omega) of a window loss."""
    return formulas.window_terms(as_signal(rho).autocovariance(np.arange(n)), t_eval)


class LinearRNN(nn.Module):
    """h_t = a h_{t-1} + x_t (per pole), y_t = sum_s b_s h_t^s, as a causal convolution.

    ``a`` and ``b`` are (S,) for one run, or (R, S) for R runs trained as one batched model: every
    parameter then carries a leading run axis, one kernel build, FFT and update serve them all, and
    each run's loss depends on its own parameters only. A model built from (S,) arrays is the R = 1
    case and returns unbatched shapes.

    ``family`` fixes the layout of the S poles, ``parameterisation`` the map from parameters to poles;
    ``zoh`` needs the initial step ``log_dt`` (log Delta, one per run) and starts from A = log(a) / Delta.
    """

    def __init__(self, a, b, family="complex", parameterisation="exp-exp", log_dt=None):
        super().__init__()
        a, b = np.asarray(a, dtype=complex), np.asarray(b, dtype=complex)
        self.batched = a.ndim == 2
        a, b = np.atleast_2d(a), np.atleast_2d(b)
        if a.ndim != 2 or b.shape != a.shape:
            raise ValueError(f"poles {a.shape} and readout {b.shape} must both be (S,) or (R, S)")
        if parameterisation not in PARAMETERISATIONS:
            raise ValueError(f"unknown parameterisation {parameterisation!r}; known: {list(PARAMETERISATIONS)}")
        needs_delta = PARAMETERISATIONS[parameterisation].needs_delta
        if needs_delta != (log_dt is not None):
            need = "needs log_dt (log Delta)" if needs_delta else "has no step Delta: it takes no log_dt"
            raise ValueError(f"parameterisation {parameterisation!r} {need}")
        self.runs, self.order = a.shape
        self.layout, self.family, self.parameterisation = Layout.of(family, self.order), family, parameterisation
        for a_r, b_r in zip(a, b):
            self.layout.check(a_r, b_r)
        h = self.layout.n_pairs
        p, r = a[:, :h], a[:, 2 * h :].real  # (R, n_pairs), (R, n_real)
        self.register_buffer("sign_real", _tensor(np.sign(r)))  # (R, n_real)
        if parameterisation == "exp-exp":
            self.nu = nn.Parameter(_tensor(formulas.log_decay(p)))  # (R, n_pairs)
            self.theta = nn.Parameter(_tensor(np.angle(p)))  # (R, n_pairs)
            self.nu_real = nn.Parameter(_tensor(formulas.log_decay(r)))  # (R, n_real)
        else:
            log_dt = np.broadcast_to(np.asarray(log_dt, dtype=float), (self.runs,))[:, None]  # (R, 1)
            dt = np.exp(log_dt)
            self.log_dt = nn.Parameter(_tensor(log_dt))  # one Delta for all states of a run
            self.A_log = nn.Parameter(_tensor(np.log(-np.log(np.abs(p)) / dt)))  # (R, n_pairs)
            self.A_im = nn.Parameter(_tensor(np.angle(p) / dt))  # (R, n_pairs)
            self.A_log_real = nn.Parameter(_tensor(np.log(-np.log(np.abs(r)) / dt)))  # (R, n_real)
        self.b_re, self.b_im = nn.Parameter(_tensor(b[:, :h].real)), nn.Parameter(_tensor(b[:, :h].imag))
        self.b_real = nn.Parameter(_tensor(b[:, 2 * h :].real))  # (R, n_real)

    @property
    def device(self) -> torch.device:
        return self.b_real.device

    def _out(self, t):
        """Drop the run axis of a model built from (S,) arrays."""
        return t if self.batched else t[0]

    # -- poles and readout in the theory's convention --------------------------------------------
    def log_poles(self):
        """(log p, log|r|): complex logs of the upper pair poles (R, n_pairs), log-moduli of the real
        ones (R, n_real)."""
        if self.parameterisation == "exp-exp":
            return formulas.exp_exp_log(self.nu, self.theta), formulas.exp_exp_log(self.nu_real)
        dt = torch.exp(self.log_dt)  # (R, 1)
        return dt * torch.complex(-torch.exp(self.A_log), self.A_im), -dt * torch.exp(self.A_log_real)

    def pole_tensors(self):
        """(a, b): complex tensors (R, S) of all poles and coefficients in the layout (differentiable)."""
        log_p, log_r = self.log_poles()
        p = torch.exp(log_p)  # (R, n_pairs)
        r = (self.sign_real * torch.exp(log_r)).to(p.dtype)  # (R, n_real)
        bp = torch.complex(self.b_re, self.b_im)  # (R, n_pairs)
        return torch.cat([p, p.conj(), r], -1), torch.cat([bp, bp.conj(), self.b_real.to(bp.dtype)], -1)

    def pole_parameters(self) -> list[nn.Parameter]:
        """The parameters that define the poles (all others are the readout)."""
        if self.parameterisation == "exp-exp":
            return [self.nu, self.theta, self.nu_real]
        return [self.log_dt, self.A_log, self.A_im, self.A_log_real]

    @torch.no_grad()
    def set_readout(self, b):
        """Set the readout to ``b`` ((S,) or (R, S), in the layout), e.g. b*(a) in projected training."""
        b, h = np.broadcast_to(np.asarray(b, dtype=complex), (self.runs, self.order)), self.layout.n_pairs
        self.b_re.copy_(_tensor(b[:, :h].real))
        self.b_im.copy_(_tensor(b[:, :h].imag))
        self.b_real.copy_(_tensor(b[:, 2 * h :].real))

    def pole_values(self, a) -> np.ndarray:
        """The pole parameters (concatenated as ``pole_parameters``) that give the poles ``a`` (S,) of a
        one-run model. Real poles keep the model's signs; ``zoh`` keeps the model's current Delta.
        """
        if self.runs != 1:
            raise ValueError("pole_values is defined for a one-run model")
        p, r = self.layout.split(a)
        if self.parameterisation == "exp-exp":
            return formulas.exp_exp_params(p, r)
        log_dt = float(self.log_dt.detach().cpu()[0, 0])
        dt = math.exp(log_dt)
        return np.concatenate(
            [[log_dt], np.log(-np.log(np.abs(p)) / dt), np.angle(p) / dt, np.log(-np.log(np.abs(r)) / dt)]
        )

    def poles(self) -> np.ndarray:
        return self._out(self.pole_tensors()[0].detach().cpu().numpy())

    def readout(self) -> np.ndarray:
        return self._out(self.pole_tensors()[1].detach().cpu().numpy())

    # -- the filter --------------------------------------------------------------------------------
    def run_kernels(self, n: int) -> torch.Tensor:
        """c_k, k < n, of every run as a real tensor (R, n): 2 Re(sum_pairs b a^k) + sum_real b_r a_r^k.

        Split powers (``formulas.split_power_kernel``, the theory's kernel too): one batched complex
        (n/m x M) @ (M x m) matrix product over the M = n_pairs + n_real modes and only M (n/m + m)
        complex exponentials per run, not S n: the exponentials and their backward dominated the
        training step.
        """
        log_p, log_r = self.log_poles()  # (R, n_pairs), (R, n_real)
        # every mode as one complex log: pairs weigh 2 b (2 Re), a negative real pole has phase pi
        log_a = torch.cat([log_p, torch.complex(log_r, math.pi * (self.sign_real < 0).to(DTYPE))], -1)  # (R, M)
        w = torch.cat([2 * torch.complex(self.b_re, self.b_im), self.b_real.to(log_a.dtype)], -1)  # (R, M)
        return formulas.split_power_kernel(log_a, w, n).real  # (R, n)

    def kernel(self, n: int) -> torch.Tensor:
        """The kernel c_k, k < n: (R, n), or (n,) for a model of one run built from (S,) arrays."""
        return self._out(self.run_kernels(n))

    def convolve(self, spectra: torch.Tensor, L: int, n_fft: int | None = None) -> torch.Tensor:
        """y = c * x for inputs given by their spectra ``rfft(x, n=n_fft)``, (R, ..., F) -> (R, ..., L).

        With n_fft = 2L (the default) nothing wraps around. A shorter n_fft >= L + t gets the last t
        outputs right (what wraps around lands before them): training asks for the scored steps only.
        Training transforms its sequences once and calls this at every step.
        """
        n_fft = n_fft or 2 * L
        C = torch.fft.rfft(self.run_kernels(L), n=n_fft)  # (R, F)
        C = C.reshape(self.runs, *[1] * (spectra.ndim - 2), C.shape[-1])  # (R, 1, ..., F)
        return torch.fft.irfft(spectra * C, n=n_fft)[..., :L]  # (R, ..., L)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = c * x along the last axis: x (R, ..., L) for a batched model, (..., L) for one run."""
        L = x.shape[-1]
        X = torch.fft.rfft(x if self.batched else x[None], n=2 * L)  # (R, ..., L + 1)
        return self._out(self.convolve(X, L))

    def exact_loss(self, target, rho=0.0) -> torch.Tensor:
        """Differentiable closed-form stationary loss of every run (R,) for a target (``targets.Target``,
        or a lag K: the shift), normalised by its energy (``targets.torch_loss``)."""
        return self._out(targets.torch_loss(*self.pole_tensors(), target, rho, white_form=WhiteForm.apply))

    def window_loss(self, d, rho, t_eval: int, energy: float = 1.0) -> torch.Tensor:
        """Differentiable finite-window loss of every run (R,): ``formulas.window_loss``, the formula of
        theory.finite_window_loss, on e = c - d over the window's ``len(d)`` lags (the mean over the
        scored positions), divided by the zero filter's ``energy`` (``theory.window_energy``; 1 for the
        shift). ``d``: the target kernel over the window (``objectives.Window.d``)."""
        n = len(d)
        gamma_f, omega = (torch.from_numpy(t).to(self.device) for t in _window_terms(float(rho), n, t_eval))
        e = self.run_kernels(n) - torch.from_numpy(np.asarray(d, dtype=np.float64)).to(self.device)  # (R, n)
        return self._out(formulas.window_loss(e, gamma_f, omega) / energy)


class WhiteForm(torch.autograd.Function):
    """q = beta^H C beta, C_st = 1/(1 - conj(a_s) a_t), per run, with its gradient in closed form.

    dq/d conj(a_s) = conj(beta_s) sum_t a_t C_st^2 beta_t and dq/d conj(beta) = C beta, so the
    backward is one more S x S pass (C * C) instead of autograd's chain through every temporary; torch
    takes 2 dq/d conj(z) as the gradient of a real q. Values: ``AR1.white_form`` (tested against it and
    against ``torch.autograd.gradcheck``).
    """

    @staticmethod
    def forward(ctx, a, beta):  # (R, S), (R, S) complex
        # C = 1/(1 - z), z = conj(a_s) a_t, in real arithmetic: (1 - conj z)/|1 - z|^2, about three
        # times faster than torch's complex reciprocal.
        x, y = a.real, a.imag  # (R, S)
        p = 1.0 - (x[..., :, None] * x[..., None, :] + y[..., :, None] * y[..., None, :])  # 1 - Re z, (R, S, S)
        q = x[..., :, None] * y[..., None, :] - y[..., :, None] * x[..., None, :]  # Im z, (R, S, S)
        d = p * p + q * q
        C = torch.complex(p / d, q / d)  # (R, S, S)
        u = (C @ beta[..., None])[..., 0]  # C beta, (R, S)
        ctx.save_for_backward(a, beta, C, u)
        return (beta.conj() * u).sum(-1).real  # (R,)

    @staticmethod
    def backward(ctx, g):  # g: (R,) real
        a, beta, C, u = ctx.saved_tensors
        grad_a = 2 * beta.conj() * ((C * C) @ (a * beta)[..., None])[..., 0]  # (R, S)
        return g[..., None] * grad_a, g[..., None] * (2 * u)


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
