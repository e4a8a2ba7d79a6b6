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

from . import formulas
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


# -- the loop ---------------------------------------------------------------------------------------


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
    any target; its optimal filter and differentiable loss) for ``steps`` steps.

    ``moves=False`` is the learner ``projected``: guarded Adam steps on the poles, nothing else.
    ``moves=True`` is the search heuristic ``reseed``: the same steps plus the re-seeding moves.

    Any family and parameterisation of ``model``: the real family has no pairs, hence no moves (its
    steps are guarded steps only).

    ``log(step, train_loss)``, if given, is called every ``log_every`` steps and at the last one. Ends
    with the model at the best poles seen (readout b*(a)). Raises FloatingPointError if the loss
    cannot be evaluated at the start.
    """
    f = PolesLoss(model, objective)
    x = f.get()
    f(x, tol=math.inf)  # raises if b*(a) of the start cannot be evaluated: the run fails
    f.tol = max(TOL, 2 * f.last_rounding)  # a crowded start is allowed, but never worse
    h = f.h
    step_size = f.step_sizes(x, lr)
    f.set(x)
    mom, vel, t = np.zeros_like(x), np.zeros_like(x), 0
    shrink, fails, m, interval, next_round = 1.0, 0, 1, EVERY, WARM
    best, last_good = (math.inf, x.copy()), x.copy()
    for step in range(steps + 1):
        try:
            L, g = f(x)
            fails = 0
        except Unreliable:
            x, shrink, mom, fails = last_good.copy(), shrink / 2, np.zeros_like(x), fails + 1
            if fails >= 3 and h > 1:  # crowded poles: move the most crowded pair elsewhere
                x, fails = _crowded_move(f, x), 0
            L, g = f(x, tol=math.inf)
        if L < best[0]:
            best = (L, x.copy())
        if step == steps and best[0] < L:  # end on the best poles seen, the readout at their b*(a)
            L, _ = f(best[1], tol=math.inf)
        if log is not None and (step % log_every == 0 or step == steps):
            log(step, L)
        if step == steps:
            return
        if moves and h > 1 and step >= next_round and step < 0.75 * steps:
            moved = _reseed_round(f, x, m)
            if moved is not None:
                x, size = moved
                f.tol = max(TOL, 2 * f.last_rounding)  # tighten as crowding clears
                last_good, mom = x.copy(), np.zeros_like(x)
                m, interval, next_round = min(2 * size, h - 1), EVERY, step + EVERY
                continue
            m, interval = max(1, m // 2), min(2 * interval, MAX_EVERY)
            next_round = step + interval
        last_good, shrink, t = x.copy(), min(1.0, 1.1 * shrink), t + 1
        mom, vel = 0.9 * mom + 0.1 * g, 0.999 * vel + 0.001 * g * g
        schedule = 0.5 * (1 + math.cos(math.pi * step / steps)) if cosine else 1.0
        x = x - shrink * schedule * step_size * (mom / (1 - 0.9**t)) / (np.sqrt(vel / (1 - 0.999**t)) + 1e-8)


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
