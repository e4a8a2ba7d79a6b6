"""Training linear RNNs on the shift-K task, and the numerical best-known optimum.

A run never raises on numerical failure: a non-finite loss or parameter, or a pole pushed onto the
unit circle by a parameter blow-up, stops it with ``status = "diverged"`` and the step where it
happened, so one bad learning rate cannot take a sweep down or poison its tables.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from . import config, inits, theory
from .model import LinearRNN
from .signals import AR1

OBJECTIVES = ("sampled", "exact")  # minibatches of stored sequences, or the closed-form population loss
SCHEDULES = ("constant", "cosine")
DEVICES = ("cpu", "cuda", "auto")
_TRAIN, _DATA = config.defaults("train"), config.defaults("data")


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """Everything that defines one training run (and nothing that does not).

    The options of the config's ``train`` section appear here under the same names, with the schema's
    defaults (its sweeps ``seeds`` and ``lr`` as the single ``seed`` and ``lr``); a test holds the two
    in step.
    """

    S: int
    K: int
    rho: float
    init: str
    readout: str = config.defaults("inits", "variant")["readout"]
    init_params: dict = field(default_factory=dict)
    objective: str
    lr: float
    steps: int = _TRAIN["steps"]
    batch_size: int = _TRAIN["batch_size"]
    schedule: str = _TRAIN["schedule"]
    clip: float | None = _TRAIN["clip"]
    log_every: int = _TRAIN["log_every"]
    t_eval: int = _DATA["t_eval"]
    seed: int
    device: str = _TRAIN["device"]

    def __post_init__(self):
        """Refuse a bad spec up front (the CLI turns this into one clear error line)."""
        AR1(self.rho)  # rho in [0, 1)
        for name in ["S", "K", "steps", "batch_size", "log_every", "t_eval"]:
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        for name, allowed in [("objective", OBJECTIVES), ("schedule", SCHEDULES), ("device", DEVICES)]:
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        inits.check_init(self.init, self.readout, self.init_params)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    return torch.device(device)


def shift_targets(x: torch.Tensor, K: int, t_eval: int):
    """(inputs, targets) of the paper's protocol: score the last t_eval steps against x_{t-K}."""
    N = x.shape[-1]
    return x, x[..., N - t_eval - K : N - K]


def sampled_mse(model: LinearRNN, x: torch.Tensor, K: int, t_eval: int) -> torch.Tensor:
    inputs, targets = shift_targets(x, K, t_eval)
    return ((model(inputs)[..., -t_eval:] - targets) ** 2).mean()


def _is_unstable(model: LinearRNN, loss: torch.Tensor) -> bool:
    if not torch.isfinite(loss):
        return True
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        return True
    return bool((model.pole_tensors()[0].abs() >= 1).any())


def train_run(spec: RunSpec, train_x: np.ndarray | None = None, test_x: np.ndarray | None = None) -> dict:
    """Train one model; returns a JSON-ready record (config, status, losses, curve, parameters).

    status: "ok"; "diverged" (non-finite loss or parameters, or a pole on the unit circle; with
    ``diverged_step``); or "failed" (a loss that float64 cannot evaluate for these parameters, with
    ``error``). Only "ok" runs carry final losses; the others keep NaN and never enter a mean.
    """
    start = time.perf_counter()
    if spec.objective == "sampled" and train_x is None:
        raise ValueError("objective 'sampled' needs training sequences")
    nan = float("nan")
    record = {
        **asdict(spec),
        "status": "ok",
        "diverged_step": None,
        "error": None,
        "curve": [],
        "initial_exact_loss": nan,
        "initial_optimal_loss": nan,
        "exact_loss": nan,
        "finite_window_loss": nan,
        "test_mse": nan,
        "learned_optimal_loss": nan,
        "filter_width": nan,
    }
    try:
        a0, b0 = inits.initialise(spec.init, spec.S, spec.K, spec.seed, spec.readout, spec.rho, **spec.init_params)
        record["initial_optimal_loss"] = theory.optimal_loss(a0, spec.K, spec.rho)
        record["initial_exact_loss"] = theory.exact_loss(a0, b0, spec.K, spec.rho)
        model = LinearRNN(a0, b0).to(resolve_device(spec.device))
        _fit(model, spec, train_x, record)
        if record["status"] == "ok":
            record.update(_final_metrics(model, spec, test_x))
    except FloatingPointError as err:
        record.update(status="failed", error=str(err))
    record["steps_done"] = record["curve"][-1][0] if record["curve"] else 0
    record["wall_time"] = time.perf_counter() - start
    return record


def _fit(model: LinearRNN, spec: RunSpec, train_x, record: dict):
    """Adam on the chosen objective; appends to record["curve"], marks divergence in place."""
    device = model.nu.device
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr, foreach=True)  # one fused update: 6 small tensors
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, spec.steps) if spec.schedule == "cosine" else None
    if spec.objective == "sampled":
        data = torch.from_numpy(train_x).to(device)
        gen = torch.Generator().manual_seed(spec.seed)

    def objective():
        if spec.objective == "exact":
            return model.exact_loss(spec.K, spec.rho)
        idx = torch.randint(len(data), (spec.batch_size,), generator=gen)
        return sampled_mse(model, data[idx.to(device)], spec.K, spec.t_eval)

    for step in range(spec.steps + 1):
        loss = objective()
        if _is_unstable(model, loss):
            record.update(status="diverged", diverged_step=step)
            return
        if step % spec.log_every == 0 or step == spec.steps:
            exact = theory.exact_loss(model.poles(), model.readout(), spec.K, spec.rho)
            record["curve"].append((step, loss.item(), exact))
        if step == spec.steps:
            return
        opt.zero_grad()
        loss.backward()
        if spec.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec.clip)
        opt.step()
        if sched is not None:
            sched.step()


def _final_metrics(model: LinearRNN, spec: RunSpec, test_x) -> dict:
    a, b = model.poles(), model.readout()
    out = {
        "exact_loss": theory.exact_loss(a, b, spec.K, spec.rho),
        "finite_window_loss": theory.finite_window_loss(a, b, spec.K, spec.rho, spec.K + spec.t_eval, spec.t_eval),
        "learned_optimal_loss": theory.optimal_loss(a, spec.K, spec.rho),
        "filter_width": theory.filter_width(theory.kernel(a, b, 2 * spec.K), spec.K),
        "learned_poles": [[z.real, z.imag] for z in a],
        "learned_readout": [[z.real, z.imag] for z in b],
    }
    if test_x is not None:
        with torch.no_grad():
            x = torch.from_numpy(test_x).to(model.nu.device)
            out["test_mse"] = float(sampled_mse(model, x, spec.K, spec.t_eval))
    return out


# ----------------------------------------------------------------------------------------------
# Numerical best-known optimum (reported as such, never as a bound)


def _refine(a, b, K, rho, iterations):
    """L-BFGS on the exact loss over poles and readout, from (a, b); returns the refined poles."""
    model = LinearRNN(a, b)
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = model.exact_loss(K, rho)
        loss.backward()
        return loss

    try:
        opt.step(closure)
    except (RuntimeError, ValueError):  # a blow-up inside the line search: keep the start
        return a
    a_new = model.poles()
    return a_new if np.all(np.isfinite(a_new)) and np.all(np.abs(a_new) < 1) else a


def best_known(S, K, rho, alphas=None, **options):
    """Best loss found by minimising the exact loss from construction-like starts.

    Starts: the construction for every (alpha, phase spacing), each with its optimal readout.
    The ``refine_starts`` best are refined by L-BFGS; each candidate is scored by the optimal loss
    of its poles (the readout re-optimised exactly), and the best is returned. ``options`` are those
    of the config's ``theory.best_known`` (spacings, refine_starts, iterations), with its defaults;
    ``alphas`` defaults to those of ``theory.alphas``.
    """
    alphas = config.defaults("theory")["alphas"] if alphas is None else alphas
    options = {**config.defaults("theory", "best_known"), **options}
    spacings, refine_starts, iterations = options["spacings"], options["refine_starts"], options["iterations"]
    candidates = []
    for alpha in alphas:
        for spacing in spacings:
            a, _ = theory.construction(S, K, alpha, spacing)
            a = a[inits._construction_order(S)]
            candidates.append((theory.optimal_loss(a, K, rho), alpha, spacing, a))
    candidates.sort(key=lambda c: c[0])
    best = candidates[0]
    for _, alpha, spacing, a in candidates[:refine_starts]:
        b = theory.optimal_readout(a, K, rho)
        b = inits.pair_layout(b[: S // 2], b[2 * (S // 2) :].real)
        a_ref = _refine(a, b, K, rho, iterations)
        loss = theory.optimal_loss(a_ref, K, rho)
        if math.isfinite(loss) and loss < best[0]:
            best = (loss, alpha, spacing, a_ref)
    loss, alpha, spacing, a = best
    return {"best_known": loss, "start_alpha": alpha, "start_spacing": spacing, "poles": [[z.real, z.imag] for z in a]}
