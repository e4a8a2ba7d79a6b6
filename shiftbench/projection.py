"""Projected training and the re-seeding search: the readout held at b*(a) (docs/theory.md section 8).

Two methods share this loop, and the tables keep them apart:

- ``projected`` (a learner: variable projection) is guarded Adam on the poles alone;
- ``reseed`` (a search heuristic, not learning) adds the re-seeding moves below, which carry poles
  across the circle from a fixed dictionary of candidates.

For the exact (stationary) objective the optimal readout b*(a) has a closed form, so the loss of
the poles alone is L*(a) = min_b L(a, b), and by the envelope theorem its gradient is that of
L(a, b) at b = b*(a) held constant: one backward pass, no derivative of b*. ``fit`` runs

- **Adam on the poles**, x = (nu, theta) with a = exp(-exp(nu) + i theta): the log-decay nu at the
  run's lr, the phase theta at ``PHASE_LR * lr / K``, so that one step moves a phase by a small
  fraction of the pi/K spacing of good filters;
- **re-seeding moves** (``reseed`` only), every ``EVERY`` steps after ``WARM`` (backing off while they fail, none in the
  last quarter): remove the conjugate pairs whose removal raises L* least, re-insert them one by one
  where each lowers it most (candidates: a phase grid at a few moduli), relax all poles by a few
  L-BFGS iterations, and keep the move only if the exact L* is lower. Gradient steps alone leave
  random poles near their starting phases; these moves carry them across the circle.
- **guarded steps**: where b*(a) overflows or the quadratic form of the loss cancels (crowded
  poles, huge b*), the step is rejected: back to the last good poles, half the step, no momentum;
  three rejections in a row re-seed the most crowded pair.

The run ends on the best poles seen by the training loss (the objective itself). Only the poles
are parameters here; the readout is always b*(a).

R runs train as one batched model (``fit_runs``; ``fit`` is one run): b*(a) is solved per run, the
loss and its backward are one batched pass (``batched_loss``, written so that each run gets the same
bits as alone), and every decision above is taken per run (docs/theory.md section 8.0).

Any pole family and parameterisation (docs/theory.md section 11): the real family has no pairs, so
no re-seeding moves and no crowded-pair moves (guarded steps only); under ``zoh`` the steps are scaled
per parameter by how far it moves the phases (``PolesLoss.step_sizes``), which for ``exp-exp`` is the
rule above.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import scipy.linalg as sla
import torch

from . import formulas, targets
from .layout import Layout
from .signals import as_signal

LR = 0.02  # Adam's learning rate of the log-decay nu where none is given (the best-known search)
PHASE_LR = 15.0  # phase step = PHASE_LR * lr / K; with lr = 0.02, about a tenth of pi/K
WARM, EVERY, MAX_EVERY = 100, 25, 200  # re-seeding rounds: first step, interval, longest back-off
RELAX = 20  # L-BFGS iterations that relax a proposed move before it is judged
TOL = 1e-6  # largest rounding estimate of a training loss that is trusted (see exact_loss)
MOVE_TOL = 0.1  # a move only needs b*(a) to exist: it is judged by the accurate optimal_loss


class Unreliable(FloatingPointError):
    """L*(a) or its gradient cannot be evaluated reliably in float64 at these poles."""


# -- the projected loss as a function of the pole parameters --------------------------------------


class PolesLoss:
    """x = the pole parameters of a LinearRNN -> (L*(a), grad_x L*) with the readout at b*(a).

    x is ``model.pole_parameters()`` concatenated: (nu, theta, nu_real) for ``exp-exp``,
    (log_dt, A_log, A_im, A_log_real) for ``zoh``, in either pole family.
    """

    def __init__(self, model, objective):
        self.model, self.objective, self.h = model, objective, model.layout.n_pairs
        self.K = objective.K  # the target's lag scale: the unit of phase steps
        self.tol = TOL

    def get(self) -> np.ndarray:
        return torch.cat([p.detach().reshape(-1) for p in self.model.pole_parameters()]).cpu().numpy()

    def poles(self, x) -> np.ndarray:
        self.set(x)
        return self.model.poles()

    def set(self, x):
        with torch.no_grad():
            start = 0
            for p in self.model.pole_parameters():
                p.copy_(torch.from_numpy(x[start : start + p.numel()]).reshape(p.shape))
                start += p.numel()

    def phase_weights(self, x) -> np.ndarray:
        """Per entry of x: K times how far a unit change of it moves the pole phases (0: decays only).

        ``exp-exp``: K for theta. ``zoh`` (phase = Delta A_im): K Delta for A_im, and K max|phase| for
        log Delta, which scales every phase at once.
        """
        self.set(x)
        m, h = self.model, self.h
        w = np.zeros(x.size)
        if m.parameterisation == "exp-exp":
            w[h : 2 * h] = self.K
        else:
            dt = float(torch.exp(m.log_dt).detach().cpu().reshape(-1)[0])
            w[1 + h : 1 + 2 * h] = self.K * dt
            w[0] = self.K * np.abs(dt * m.A_im.detach().cpu().numpy()).max(initial=0.0)
        return w

    def step_sizes(self, x, lr) -> np.ndarray:
        """Adam's step per entry of x: lr for decays, PHASE_LR lr / weight where phases move (section 8.1).

        A shared log Delta (``zoh``) also moves every decay, so its step is never above lr.
        """
        w = self.phase_weights(x)
        size = np.where(w > 0, PHASE_LR * lr / np.where(w > 0, w, 1.0), lr)
        if self.model.parameterisation == "zoh":
            size[0] = min(size[0], lr)
        return size

    def rounding(self, a, b) -> float:
        """eps (|b|^T |G| |b| + 2 |v|^T |b|) / E: what the quadratic form of the loss may lose (section 2)."""
        return formulas.rounding(*self.objective.gram_and_cross(a), b) / self.objective.target.energy(
            self.objective.rho
        )

    def __call__(self, x, tol=None):
        """(L*(a), grad) at x, the readout set to b*(a); raises Unreliable where float64 cannot tell.

        The value is L*(a) from the orthonormal coordinates (``objectives.Stationary.optimal_filter``), accurate even
        where the quadratic form at b* cancels; the gradient is that of the quadratic form (envelope
        theorem), trusted while its rounding estimate stays below the tolerance. Every decision (the
        best poles seen, a move's acceptance) is taken on the accurate value.
        """
        if not np.all(np.isfinite(x)):
            raise Unreliable("non-finite pole parameters")
        a = self.poles(x)
        try:
            b, value = self.objective.optimal_filter(a)
        except (FloatingPointError, ValueError) as err:
            raise Unreliable(str(err)) from None
        self.model.set_readout(b)
        self.last_rounding = self.rounding(a, b)
        loss = self.objective.torch_loss(self.model)
        # the poles' gradient only: nothing accumulates into the readout's .grad (which this loop never reads)
        grads = torch.autograd.grad(loss, self.model.pole_parameters())
        grad = torch.cat([g.reshape(-1) for g in grads]).cpu().numpy()
        if not (torch.isfinite(loss) and np.all(np.isfinite(grad))) or self.last_rounding > (tol or self.tol):
            raise Unreliable(f"the loss's rounding estimate {self.last_rounding:.2g} exceeds {tol or self.tol:.2g}")
        return value, grad


# -- re-seeding ------------------------------------------------------------------------------------


def _cholesky(G):
    """Cholesky factor of a Gram matrix, with the smallest jitter that makes it go through."""
    jitter = 0.0
    for _ in range(8):
        try:
            return sla.cholesky(G + jitter * np.eye(len(G)), lower=True)
        except np.linalg.LinAlgError:
            jitter = max(1e-13 * np.abs(np.diag(G)).max(), 100 * jitter)
    raise FloatingPointError("the Gram matrix of these poles is not positive definite")


def removal_order(a, objective, m) -> list[int]:
    """The m pairs (indices j of p_j in the pair layout) whose removal raises L* least, one at a time.

    Removing the poles J from the optimum raises L* by b_J^H [(G^-1)_JJ]^-1 b_J (a Schur complement);
    after each removal G^-1 and b* are downdated the same way, O(S^2) per removal.
    """
    h = _pairs(a)
    G, v = objective.gram_and_cross(a)
    c = _cholesky(G)
    b, Ginv = sla.cho_solve((c, True), v), sla.cho_solve((c, True), np.eye(a.size))
    index, alive, order = np.arange(a.size), list(range(h)), []
    for _ in range(min(m, h - 1)):
        where = {int(k): i for i, k in enumerate(index)}
        cost = {j: np.real(b[J].conj() @ np.linalg.solve(Ginv[np.ix_(J, J)], b[J]))
                for j in alive for J in [[where[j], where[j + h]]]}  # fmt: skip
        j = min(cost, key=cost.get)
        J = [where[j], where[j + h]]
        keep = np.setdiff1d(np.arange(index.size), J)
        X = Ginv[np.ix_(keep, J)] @ np.linalg.inv(Ginv[np.ix_(J, J)])
        b, Ginv, index = b[keep] - X @ b[J], Ginv[np.ix_(keep, keep)] - X @ Ginv[np.ix_(J, keep)], index[keep]
        alive.remove(j)
        order.append(j)
    return order


def candidate_poles(a, K) -> np.ndarray:
    """Upper-half-plane candidates: min(2K, 2048) phases in (0, pi) at the median modulus of the poles
    and at 1 - c/K, c = 1, 2, 4 (decay times of the order of the lag)."""
    n_phase = min(2 * K, 2048)
    moduli = np.unique(np.r_[np.median(np.abs(a[: _pairs(a)])), 1 - np.array([1.0, 2.0, 4.0]) / K])
    moduli = moduli[(moduli > 0) & (moduli < 1)]
    return (moduli[:, None] * np.exp(1j * (np.arange(n_phase) + 0.5) * np.pi / n_phase)[None, :]).ravel()


def insert_pairs(a, z, objective, m, min_new=0.01) -> list[complex]:
    """Up to m candidates of z inserted one at a time (with their conjugates), each where it lowers L* most.

    The gain of a pair U = {z, conj z} is r^H W^-1 r, with r = v_U - G_Ua b* and W the Schur complement
    of G_UU; both are updated in O(S |z|) per insertion. A candidate keeping less than ``min_new`` of
    its norm after projection onto the current poles would crowd them, and is not eligible.
    """
    signal = as_signal(objective.rho)
    G, v = objective.gram_and_cross(a)
    c = _cholesky(G)
    U = np.concatenate([z, z.conj()])
    M = z.size
    Y = sla.solve_triangular(c, signal.gram(a, U), lower=True)  # L^-1 G_aU
    w = sla.solve_triangular(c, v, lower=True)
    vU = objective.target.cross(U, objective.rho)
    r = vU - Y.conj().T @ w
    q = np.sum(np.abs(Y) ** 2, axis=0)
    q12 = np.sum(Y[:, :M].conj() * Y[:, M:], axis=0)
    g11 = np.real(signal.gram_entries(z, z))  # G(z, z) = G(conj z, conj z)
    g12 = signal.gram_entries(z, z.conj())
    chosen = []
    for _ in range(m):
        W11, W22, W12 = g11 - q[:M], g11 - q[M:], g12 - q12
        det = W11 * W22 - np.abs(W12) ** 2
        r1, r2 = r[:M], r[M:]
        gain = W22 * np.abs(r1) ** 2 + W11 * np.abs(r2) ** 2 - 2 * np.real(np.conj(r1) * W12 * r2)
        ok = (W11 > min_new * g11) & (W22 > min_new * g11) & (det > min_new * W11 * W22)
        ok[chosen] = False
        gain = np.where(ok, gain / np.where(ok, det, 1.0), -np.inf)
        k = int(np.argmax(gain))
        if not gain[k] > 0:
            break
        chosen.append(k)
        P = [k, k + M]  # extend the Cholesky factor by the new pair's two rows
        D = signal.gram(U[P], U[P]) - Y[:, P].conj().T @ Y[:, P]
        d = np.linalg.cholesky(D)
        new = np.linalg.solve(d, signal.gram(U[P], U) - Y[:, P].conj().T @ Y)
        w_new = np.linalg.solve(d, vU[P] - Y[:, P].conj().T @ w)
        Y, w, r = np.vstack([Y, new]), np.concatenate([w, w_new]), r - new.conj().T @ w_new
        q = q + np.sum(np.abs(new) ** 2, axis=0)
        q12 = q12 + np.sum(new[:, :M].conj() * new[:, M:], axis=0)
    return [z[k] for k in chosen]


def move_pairs(a, pairs, objective):
    """The poles with the pairs ``pairs`` (indices j of p_j) re-inserted greedily, or None."""
    h = _pairs(a)
    keep = np.ones(a.size, bool)
    keep[pairs] = keep[[j + h for j in pairs]] = False
    new = insert_pairs(a[keep], candidate_poles(a, objective.K), objective, len(pairs))
    if len(new) < len(pairs):
        return None
    moved = a.copy()
    for j, z in zip(pairs, new):
        moved[j], moved[j + h] = z, np.conj(z)
    return moved


def most_crowded_pair(a) -> int:
    """The upper pole whose nearest neighbour is closest relative to its bandwidth 1 - |a|."""
    h = _pairs(a)
    D = np.abs(a[:h, None] - a[None, :])
    D[np.arange(h), np.arange(h)] = np.inf
    return int(np.argmin(D.min(axis=1) / (1 - np.abs(a[:h]))))


def _pairs(a) -> int:
    """The number of conjugate pairs of poles ``a`` of the complex family (the only one with pair moves)."""
    return Layout.of("complex", a.size).n_pairs


def to_params(a, model=None) -> np.ndarray:
    """The pole parameters x of poles a: those of ``model`` (``model.pole_values``; real poles keep their
    signs, ``zoh`` its Delta), or without a model (nu, theta, nu_real) of the complex family."""
    if model is not None:
        return model.pole_values(a)
    return formulas.exp_exp_params(*Layout.of("complex", a.size).split(a))


def relax(f: PolesLoss, x, iterations=RELAX) -> np.ndarray:
    """A few L-BFGS iterations (strong Wolfe) on x scaled by its phase weights ((nu, K theta) for
    ``exp-exp``); unreliable points count as L = 2."""
    w = f.phase_weights(x)
    scale = np.where(w > 0, w, 1.0)
    z = torch.tensor(x * scale, requires_grad=True)
    opt = torch.optim.LBFGS([z], lr=1, max_iter=iterations, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-15)  # fmt: skip
    best = [math.inf, x.copy()]

    def closure():
        xx = z.detach().numpy() / scale
        try:
            L, g = f(xx, tol=MOVE_TOL)
        except Unreliable:
            z.grad = torch.zeros_like(z)
            return torch.tensor(2.0, dtype=torch.float64)
        if L < best[0]:
            best[:] = [L, xx.copy()]
        z.grad = torch.from_numpy(g / scale)
        return torch.tensor(L, dtype=torch.float64)

    with contextlib.suppress(RuntimeError, ValueError):  # a blow-up inside the line search: keep the best
        opt.step(closure)
    return best[1]


# -- the batched loss, run by run the bits of one run ------------------------------------------------
#
# A run of a batch must take the decisions it takes alone (a rounding estimate against a tolerance, the
# best poles seen, Adam's normalised steps, which amplify any difference in a gradient near zero), so its
# loss and gradient must be the same bits in a batch of R runs as in a batch of one. torch's CPU kernels
# run the body of a contiguous elementwise loop vectorised and its last few elements by a scalar path,
# and the two may round a complex product differently (fused multiply-adds); a batched matrix product
# may reassociate with R. So the loss of projected training is written for that: every pole tensor is
# padded to a multiple of PAD entries per run (dummy poles with a zero readout add exact zeros), so that
# no entry of a run ever falls in a loop's tail; the S x S white-noise form is in real arithmetic
# (additions and products are correctly rounded on either path) with its products as sums along the last
# axis; and the per-run scalars use products, never ``abs`` or ``**``. Its value is the objective's
# differentiable loss (``objectives.Stationary.torch_loss``), checked in tests/test_batched.py.

PAD = 16  # entries per run of every pole tensor: a multiple of the widest vector loop's step (2 x 8 doubles)
_DUMMY = 0.5  # modulus of a padding pole (a pair at 0.5i, a real one at 0.5): far from the unit circle


def _padded(t, n: int, value: float):
    """(R, k) -> (R, n): t followed by n - k entries ``value``."""
    if t.shape[-1] == n:
        return t
    return torch.cat([t, t.new_full((t.shape[0], n - t.shape[-1]), value)], -1)


def _round_up(k: int) -> int:
    return -(-k // PAD) * PAD


class WhiteFormReal(torch.autograd.Function):
    """q = beta^H C beta per run, C_st = 1/(1 - conj(a_s) a_t), its gradient in closed form
    (``model.WhiteForm``'s) in real arithmetic: products as elementwise products summed along the last
    axis, no complex product, so each run's bits do not depend on the number of runs beside it."""

    @staticmethod
    def forward(ctx, a, beta):  # (R, S), (R, S) complex
        x, y = a.real, a.imag
        br, bi = beta.real, beta.imag
        p = 1.0 - (x[..., :, None] * x[..., None, :] + y[..., :, None] * y[..., None, :])  # 1 - Re z
        q = x[..., :, None] * y[..., None, :] - y[..., :, None] * x[..., None, :]  # Im z
        d = p * p + q * q
        Cr, Ci = p / d, q / d  # C = (1 - conj z) / |1 - z|^2
        ur = (Cr * br[..., None, :] - Ci * bi[..., None, :]).sum(-1)  # C beta
        ui = (Cr * bi[..., None, :] + Ci * br[..., None, :]).sum(-1)
        ctx.save_for_backward(x, y, br, bi, Cr, Ci, ur, ui)
        return (br * ur + bi * ui).sum(-1)  # Re(conj(beta) . C beta)

    @staticmethod
    def backward(ctx, g):  # g: (R,) real
        x, y, br, bi, Cr, Ci, ur, ui = ctx.saved_tensors
        C2r, C2i = Cr * Cr - Ci * Ci, 2.0 * (Cr * Ci)  # C * C
        wr, wi = x * br - y * bi, x * bi + y * br  # a * beta
        tr = (C2r * wr[..., None, :] - C2i * wi[..., None, :]).sum(-1)  # (C * C) (a * beta)
        ti = (C2r * wi[..., None, :] + C2i * wr[..., None, :]).sum(-1)
        g2 = 2.0 * g[..., None]
        grad_a = torch.complex(g2 * (br * tr + bi * ti), g2 * (br * ti - bi * tr))  # 2 conj(beta) t
        return grad_a, torch.complex(g2 * ur, g2 * ui)  # and 2 C beta


def padded_poles(model):
    """(a, dummy): the poles of every run of ``model`` as a differentiable complex (R, S') tensor, S' =
    2 PAD-rounded pairs + PAD-rounded reals, in the layout [p, conj p, r] with padding poles after each
    part; ``dummy`` (S',) marks the padding."""
    h, n_real = model.layout.n_pairs, model.order - 2 * model.layout.n_pairs
    hp, rp = _round_up(h), _round_up(n_real)
    nu_dummy = float(formulas.log_decay(np.array([_DUMMY]))[0])
    if model.parameterisation == "exp-exp":
        log_p = formulas.exp_exp_log(_padded(model.nu, hp, nu_dummy), _padded(model.theta, hp, math.pi / 2))
        log_r = formulas.exp_exp_log(_padded(model.nu_real, rp, nu_dummy))
    else:  # the dummies' log a, set after the step Delta so that no Delta can move them
        dt = torch.exp(model.log_dt)  # (R, 1)
        pair = torch.arange(hp, device=model.device) >= h
        real = torch.arange(rp, device=model.device) >= n_real
        log_p = torch.where(
            pair,
            torch.tensor(complex(math.log(_DUMMY), math.pi / 2), device=model.device),
            dt * torch.complex(-torch.exp(_padded(model.A_log, hp, 0.0)), _padded(model.A_im, hp, 0.0)),
        )
        log_r = torch.where(real, math.log(_DUMMY), -dt * torch.exp(_padded(model.A_log_real, rp, 0.0)))
    p = torch.exp(log_p)
    r = (_padded(model.sign_real, rp, 1.0) * torch.exp(log_r)).to(p.dtype)
    dummy = np.concatenate([np.arange(hp) >= h, np.arange(hp) >= h, np.arange(rp) >= n_real])
    return torch.cat([p, p.conj(), r], -1), dummy


def padded_readout(model, b) -> np.ndarray:
    """The readouts b (R, S) in the padded layout of ``padded_poles`` (zero at the padding)."""
    h, n_real = model.layout.n_pairs, model.order - 2 * model.layout.n_pairs
    hp, rp = _round_up(h), _round_up(n_real)
    out = np.zeros((b.shape[0], 2 * hp + rp), dtype=complex)
    out[:, :h], out[:, hp : hp + h], out[:, 2 * hp : 2 * hp + n_real] = b[:, :h], b[:, h : 2 * h], b[:, 2 * h :]
    return out


def batched_loss(objective, a, b):
    """(loss (R,), rounding (R,)): the objective's stationary loss of every run for poles a and readouts b
    (R, S') (any target; ``targets.torch_loss``'s formula), (1 - 2 Re(v^H b) + rho^2 |sum beta|^2 +
    (1 - rho^2) beta^H C beta + E - 1) / E with beta = b / (1 - rho a), in the run-by-run-exact form
    above; and its rounding estimate eps (|b|^T |G| |b| + 2 |v|^T |b|) / E (``PolesLoss.rounding``), not
    differentiated."""
    target, rho = objective.target, float(objective.rho)
    E = target.energy(rho)
    if type(target).torch_cross is targets.Target.torch_cross:  # the generic cut depends on every pole: per run
        v = torch.cat([target.torch_cross(a[r : r + 1], rho) for r in range(a.shape[0])])
    else:
        v = target.torch_cross(a, rho)
    beta = b / (1 - rho * a)
    cross = (v.real * b.real + v.imag * b.imag).sum(-1)  # Re(v^H b)
    total = beta.sum(-1)
    sr, si = total.real, total.imag
    q = 1 - 2 * cross + rho * rho * (sr * sr + si * si) + (1 - rho * rho) * WhiteFormReal.apply(a, beta)
    return (q + (E - 1)) / E, _rounding(a.detach(), b, v.detach(), rho) / E


def _rounding(a, b, v, rho):
    """eps (|b|^T |G| |b| + 2 |v|^T |b|) per run, |G_st| = |1 - rho^2 z| / (|1 - z| |1 - rho conj a_s|
    |1 - rho a_t|), z = conj(a_s) a_t, in the real arithmetic of ``WhiteFormReal``."""
    with torch.no_grad():
        x, y = a.real, a.imag
        p = 1.0 - (x[..., :, None] * x[..., None, :] + y[..., :, None] * y[..., None, :])  # 1 - Re z
        q = x[..., :, None] * y[..., None, :] - y[..., :, None] * x[..., None, :]  # Im z
        r2 = rho * rho
        num = torch.sqrt((1.0 - r2 + r2 * p) ** 2 + (r2 * q) ** 2)
        w = 1.0 / torch.sqrt((1.0 - rho * x) * (1.0 - rho * x) + (rho * y) * (rho * y))  # 1 / |1 - rho a|
        bw = torch.sqrt(b.real * b.real + b.imag * b.imag)
        G_b = ((num / torch.sqrt(p * p + q * q)) * (w * bw)[..., None, :]).sum(-1) * w  # |G| |b|
        vb = torch.sqrt(v.real * v.real + v.imag * v.imag) * bw
        return formulas.EPS * ((bw * G_b).sum(-1) + 2.0 * vb.sum(-1))


# -- the loop ---------------------------------------------------------------------------------------


class RunsLoss:
    """The projected loss of every run of an R-run ``LinearRNN``: X (R, P) -> L*(a_r) and its gradient.

    Row r of X is run r's pole parameters (``PolesLoss.get`` of that run). b*(a_r) is a solve of its own
    per run (``objectives.Stationary.optimal_filter``: the orthonormal coordinates, O(S K) + O(S^2), no
    O(S^3) solve); the differentiable loss, its backward and the update are one batched pass over the
    run axis. Nothing couples the runs: row r of the result depends on row r of X alone.
    """

    def __init__(self, model, objective):
        self.model, self.objective, self.R = model, objective, model.runs
        self.params = model.pole_parameters()
        self.h = model.layout.n_pairs
        self.last_rounding = np.full(self.R, np.nan)
        self.B = np.atleast_2d(model.readout()).copy()  # every run's readout: b*(a) once evaluated
        self.energy = objective.target.energy(objective.rho)

    def sync(self):
        """The model's readouts set to every run's b*(a) (the loop keeps them here between steps)."""
        self.model.set_readout(self.B)

    def get(self) -> np.ndarray:
        return torch.cat([p.detach().reshape(self.R, -1) for p in self.params], 1).cpu().numpy()

    def set(self, X):
        with torch.no_grad():
            start = 0
            for p in self.params:
                n = p[0].numel()
                p.copy_(torch.from_numpy(np.ascontiguousarray(X[:, start : start + n])).reshape(p.shape))
                start += n

    def one(self, r, X) -> PolesLoss:
        """A one-run ``PolesLoss`` at run r's parameters X[r] (its moves and line searches are its own)."""
        m = self.model
        a = np.full(m.order, 0.5, dtype=complex)  # a placeholder in every layout: X[r] and the signs follow
        log_dt = None if m.parameterisation == "exp-exp" else 0.0
        one = type(m)(a, np.zeros_like(a), m.family, m.parameterisation, log_dt).to(m.device)
        with torch.no_grad():
            one.sign_real.copy_(m.sign_real[r : r + 1])
        f = PolesLoss(one, self.objective)
        f.set(X[r])
        return f

    def __call__(self, X, which, tol):
        """(L (R,), grad (R, P), ok (R,), error (R,)) with the model set to X and the readouts of the rows
        ``which`` to b*(a_r). ok[r]: run r's L* and gradient are reliable under tol[r] (``PolesLoss``);
        rows outside ``which`` keep their readout and are not judged (ok False)."""
        R = self.R
        L, ok, error = np.full(R, np.nan), np.zeros(R, bool), [None] * R
        finite = np.all(np.isfinite(X), axis=1)
        self.set(X if finite.all() else np.where(finite[:, None], X, self.get()))
        a_pad, dummy = padded_poles(self.model)
        a_all = a_pad.detach().cpu().numpy()[:, ~dummy]  # the poles b*(a) is solved for: the loss's own
        got = np.zeros(R, bool)
        for r in np.flatnonzero(which):
            if not finite[r]:
                error[r] = "non-finite pole parameters"
                continue
            try:
                b, L[r] = self.objective.optimal_filter(a_all[r])
            except (FloatingPointError, ValueError) as err:
                error[r] = str(err)
                continue
            self.B[r], got[r] = b, True
        b_pad = torch.from_numpy(padded_readout(self.model, self.B)).to(a_pad.device)
        loss, rounding = batched_loss(self.objective, a_pad, b_pad)  # (R,): run by run the bits of one run
        rounding = rounding.cpu().numpy()
        self.last_rounding[got] = rounding[got]
        mask = torch.from_numpy(got).to(loss.device)
        grads = torch.autograd.grad(torch.where(mask, loss, 0.0).sum(), self.params)
        G = torch.cat([g.reshape(R, -1) for g in grads], 1).cpu().numpy()
        values = loss.detach().cpu().numpy()
        for r in np.flatnonzero(got):
            if not (np.isfinite(values[r]) and np.all(np.isfinite(G[r])) and self.last_rounding[r] <= tol[r]):
                error[r] = f"the loss's rounding estimate {self.last_rounding[r]:.2g} exceeds {tol[r]:.2g}"
            else:
                ok[r] = True
        return L, G, ok, error


def fit(
    model,
    objective,
    steps: int,
    lr: float = LR,
    cosine: bool = True,
    log=None,
    log_every: int = 1,
    moves: bool = False,
):
    """Projected training of ``model``'s poles on the stationary ``objective`` (``objectives.Stationary``:
    any target; its optimal filter and differentiable loss) for ``steps`` steps: one run (``fit_runs``
    with R = 1).

    ``moves=False`` is the learner ``projected``: guarded Adam steps on the poles, nothing else.
    ``moves=True`` is the search heuristic ``reseed``: the same steps plus the re-seeding moves.

    Any family and parameterisation of ``model``: the real family has no pairs, hence no moves (its
    steps are guarded steps only).

    ``log(step, train_loss)``, if given, is called every ``log_every`` steps and at the last one. Ends
    with the model at the best poles seen (readout b*(a)). Raises FloatingPointError if the loss
    cannot be evaluated at the start (or, after a crowded-pair move, at all).
    """
    if model.runs != 1:
        raise ValueError("fit trains a one-run model; fit_runs trains R runs")
    one = None if log is None else (lambda step, losses, runs: log(step, float(losses[0])))
    error = fit_runs(model, objective, steps, [lr], cosine, one, log_every, moves)[0]
    if error is not None:
        raise Unreliable(error)


def fit_runs(model, objective, steps: int, lrs, cosine: bool = True, log=None, log_every: int = 1, moves=False):
    """Projected training of the R runs of ``model`` as one batched model, run r at learning rate lrs[r].

    Every decision is run r's own (masks over the run axis): its guarded step, rejection and step
    shrinking, its best poles seen, its re-seeding rounds (a loop over the runs that are due one, each on
    a one-run copy), its Adam moments and step count. Run r's trajectory is the one it has alone.

    ``log(step, losses, runs)``, if given, is called every ``log_every`` steps and at the last one with the
    training losses (R,) and the runs still training, the model holding every run's current poles and
    b*(a). Returns, per run, None or the reason it failed: b*(a) of its start (or after a crowded-pair
    move) cannot be evaluated; a failed run stops where it is, the others go on.
    """
    f = RunsLoss(model, objective)
    R, h = f.R, f.h
    X = f.get()
    active = np.ones(R, bool)
    L, _, ok, error = f(X, active, np.full(R, math.inf))  # a start whose b*(a) fails: the run fails
    active &= ok
    tol = np.maximum(TOL, 2 * np.nan_to_num(f.last_rounding, nan=0.0))  # a crowded start, never worse
    lrs = np.broadcast_to(np.asarray(lrs, dtype=float), (R,))
    step_size = np.stack([f.one(r, X).step_sizes(X[r], lrs[r]) for r in range(R)])
    f.set(X)
    mom, vel, t = np.zeros_like(X), np.zeros_like(X), np.zeros(R, int)
    shrink, fails = np.ones(R), np.zeros(R, int)
    m, interval, next_round = np.ones(R, int), np.full(R, EVERY), np.full(R, WARM)
    best_L, best_X, last_good = np.full(R, math.inf), X.copy(), X.copy()
    inf = np.full(R, math.inf)

    def fail(runs, why):
        for r in runs:
            active[r], error[r] = False, why[r]

    for step in range(steps + 1):
        L, G, ok, why = f(X, active, tol)
        bad = active & ~ok
        fails[active & ok] = 0
        if bad.any():
            for r in np.flatnonzero(bad):
                X[r], shrink[r], mom[r], fails[r] = last_good[r], shrink[r] / 2, 0.0, fails[r] + 1
                if fails[r] >= 3 and h > 1:  # crowded poles: move the most crowded pair elsewhere
                    X[r], fails[r] = _crowded_move(f.one(r, X), X[r]), 0
            L2, G2, ok2, why2 = f(X, bad, inf)
            fail(np.flatnonzero(bad & ~ok2), why2)
            L[bad], G[bad] = L2[bad], G2[bad]
        better = active & (L < best_L)
        best_L[better], best_X[better] = L[better], X[better]
        if step == steps:  # end on the best poles seen, the readout at their b*(a)
            back = active & (best_L < L)
            if back.any():
                X[back] = best_X[back]
                L2, _, ok2, why2 = f(X, back, inf)
                fail(np.flatnonzero(back & ~ok2), why2)
                L[back] = L2[back]
        if log is not None and (step % log_every == 0 or step == steps) and active.any():
            f.sync()
            log(step, L, np.flatnonzero(active).tolist())
        if step == steps or not active.any():
            f.sync()
            return error
        stepping = active.copy()
        due = active & (step >= next_round) & (step < 0.75 * steps) if moves and h > 1 else np.zeros(R, bool)
        for r in np.flatnonzero(due):
            one = f.one(r, X)
            moved = _reseed_round(one, X[r], m[r])
            if moved is not None:
                X[r], size = moved
                tol[r] = max(TOL, 2 * one.last_rounding)  # tighten as crowding clears
                last_good[r], mom[r], stepping[r] = X[r], 0.0, False
                m[r], interval[r], next_round[r] = min(2 * size, h - 1), EVERY, step + EVERY
            else:
                m[r], interval[r] = max(1, m[r] // 2), min(2 * interval[r], MAX_EVERY)
                next_round[r] = step + interval[r]
        s = stepping
        last_good[s], shrink[s], t[s] = X[s], np.minimum(1.0, 1.1 * shrink[s]), t[s] + 1
        mom[s], vel[s] = 0.9 * mom[s] + 0.1 * G[s], 0.999 * vel[s] + 0.001 * G[s] * G[s]
        schedule = 0.5 * (1 + math.cos(math.pi * step / steps)) if cosine else 1.0
        tt = t[s][:, None]
        X[s] = X[s] - (shrink[s][:, None] * schedule * step_size[s]) * (mom[s] / (1 - 0.9**tt)) / (
            np.sqrt(vel[s] / (1 - 0.999**tt)) + 1e-8
        )
    return error


def _reseed_round(f: PolesLoss, x, m):
    """Try moving m, 2m, then 4m pairs; the first move that lowers the exact L* wins: (x, pairs) or None."""
    a, h = f.poles(x), f.h
    try:
        current = f.objective.optimum(a)[0]
        order = removal_order(a, f.objective, min(4 * m, h - 1))
        for size in dict.fromkeys(min(s, len(order)) for s in (m, 2 * m, 4 * m)):
            moved = move_pairs(a, order[:size], f.objective)
            if moved is None:
                continue
            x_new = relax(f, to_params(moved, f.model))
            a_new = f.poles(x_new)
            if f.objective.optimum(a_new)[0] < current - 1e-12:
                f(x_new, tol=math.inf)
                if f.last_rounding < MOVE_TOL:  # b*(a) of the new poles exists and is sane
                    return x_new, size
    except (FloatingPointError, ValueError, np.linalg.LinAlgError):
        pass
    return None


def _crowded_move(f: PolesLoss, x):
    a = f.poles(x)
    try:
        moved = move_pairs(a, [most_crowded_pair(a)], f.objective)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError):
        return x
    return x if moved is None else to_params(moved, f.model)
