"""Training one linear RNN on the shift-K task: its spec, its objective and method, its record.

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

from . import config, inits, objectives, projection, theory
from .layout import FAMILIES, PARAMETERISATIONS
from .model import LinearRNN
from .signals import AR1

OBJECTIVES = ("sampled", "exact")  # minibatches of stored sequences, or the closed-form population loss
# Adam on poles and readout; Adam on the poles with the readout at b*(a) (a learner); the same plus
# re-seeding moves from a fixed dictionary of poles (a search heuristic, reported apart).
METHODS = ("joint", "projected", "reseed")
PROJECTED_METHODS = ("projected", "reseed")  # the readout held at b*(a): population objectives only
SCHEDULES = ("constant", "cosine")
DEVICES = ("cpu", "cuda", "auto")
_TRAIN, _DATA = config.defaults("train"), config.defaults("data")


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """Everything that defines one training run (and nothing that does not).

    The options of the config's ``train`` section appear here under the same names, with the schema's
    defaults (its sweeps ``seeds``, ``lr`` and ``methods`` as the single ``seed``, ``lr`` and
    ``method``); a test holds the two in step. ``init``, ``readout``, ``init_params`` and ``family`` are
    those of the init variant. The readout rule ``optimal`` is the stationary b*(a).
    """

    S: int
    K: int
    rho: float
    init: str
    readout: str = config.defaults("inits", "variant")["readout"]
    init_params: dict = field(default_factory=dict)
    family: str = config.defaults("inits", "variant")["family"]
    objective: str
    method: str
    lr: float
    steps: int = _TRAIN["steps"]
    batch_size: int = _TRAIN["batch_size"]
    schedule: str = _TRAIN["schedule"]
    clip: float | None = _TRAIN["clip"]
    log_every: int = _TRAIN["log_every"]
    t_eval: int = _DATA["t_eval"]
    burn_in: int = _DATA["burn_in"]
    seed: int
    device: str = _TRAIN["device"]
    parameterisation: str = _TRAIN["parameterisation"]

    def __post_init__(self):
        """Refuse a bad spec up front (the CLI turns this into one clear error line)."""
        AR1(self.rho)  # rho in [0, 1)
        for name in ["S", "K", "steps", "batch_size", "log_every", "t_eval"]:
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (isinstance(self.burn_in, int) and self.burn_in >= 0):
            raise ValueError(f"burn_in must be an integer >= 0, got {self.burn_in!r}")
        for name, allowed in [
            ("objective", OBJECTIVES),
            ("method", METHODS),
            ("schedule", SCHEDULES),
            ("device", DEVICES),
            ("family", FAMILIES),
            ("parameterisation", PARAMETERISATIONS),
        ]:
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.method in PROJECTED_METHODS and self.objective not in config.PROJECTED_OBJECTIVES:
            raise ValueError(
                f"method {self.method!r} needs a population objective {config.PROJECTED_OBJECTIVES}, "
                f"not {self.objective!r}"
            )
        inits.check_init(self.init, self.readout, self.init_params, self.family, self.parameterisation)

    def population(self):
        """The population loss of the run's objective (``objectives.population``)."""
        return objectives.population(self.objective, self.K, self.rho, self.t_eval, self.burn_in)


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
    ``diverged_step``); or "failed" (a loss or an optimal readout that float64 cannot evaluate for
    these parameters, with ``error``). Only "ok" runs carry final losses; the others keep NaN and
    never enter a mean. Every loss in the record is exact and data-free except ``final_train_loss``
    (sampled objective) and ``test_mse``.
    """
    start = time.perf_counter()
    if spec.objective == "sampled" and train_x is None:
        raise ValueError("objective 'sampled' needs training sequences")
    objective = spec.population()
    stationary = objectives.Stationary(spec.K, spec.rho)
    nan = float("nan")
    record = {
        **asdict(spec),
        "status": "ok",
        "diverged_step": None,
        "error": None,
        "curve": [],
        **dict.fromkeys(
            ["initial_objective_loss", "initial_stationary_loss", "initial_optimal_loss", "initial_filter_width"], nan
        ),
        **dict.fromkeys(
            ["objective_loss", "objective_optimal_loss", "stationary_loss", "stationary_optimal_loss"], nan
        ),
        "objective_optimal_certified": None,
        **dict.fromkeys(["final_train_loss", "test_mse", "filter_width"], nan),
    }
    try:
        a0, b0 = inits.initialise(
            spec.init, spec.S, spec.K, spec.seed, spec.readout, spec.rho, spec.family, **spec.init_params
        )
        record["initial_objective_loss"] = objective.loss(a0, b0)
        record["initial_stationary_loss"] = stationary.loss(a0, b0)
        record["initial_optimal_loss"] = _optimum(objective, a0)[0]
        record["initial_filter_width"] = theory.filter_width(theory.kernel(a0, b0, 2 * spec.K), spec.K)
        log_dt = None
        if spec.parameterisation == "zoh":  # start from the init's own step: log Delta = log dt, A = log(a)/dt
            log_dt = math.log(inits.init_dt(spec.init, spec.S, spec.K, spec.seed, **spec.init_params))
        model = LinearRNN(a0, b0, spec.family, spec.parameterisation, log_dt).to(resolve_device(spec.device))
        data = None if train_x is None else torch.from_numpy(train_x).to(model.device)
        _fit(model, spec, objective, stationary, data, record)
        if record["status"] == "ok":
            record.update(_final_metrics(model, spec, objective, data, test_x))
    except FloatingPointError as err:
        record.update(status="failed", error=str(err))
    record["steps_done"] = record["curve"][-1][0] if record["curve"] else 0
    record["wall_time"] = time.perf_counter() - start
    return record


def _fit(model: LinearRNN, spec: RunSpec, objective, stationary, data, record: dict):
    """Train with the run's method; appends to record["curve"], marks divergence in place.

    ``joint`` is Adam on poles and readout together, on minibatches (sampled) or the population loss
    (exact). ``projected`` trains the poles with the readout held at b*(a) (``projection.fit``);
    ``reseed`` adds its re-seeding moves, a search heuristic.
    """

    def log(step, train_loss):
        a, b = model.poles(), model.readout()
        record["curve"].append((step, train_loss, *_evaluable(objective.loss, stationary.loss, a=a, b=b)))

    if spec.method in PROJECTED_METHODS:
        return projection.fit(
            model,
            spec.K,
            spec.rho,
            spec.steps,
            spec.lr,
            spec.schedule == "cosine",
            log,
            spec.log_every,
            moves=spec.method == "reseed",
        )
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr, foreach=True)  # one fused update of a few small tensors
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, spec.steps) if spec.schedule == "cosine" else None
    gen = torch.Generator().manual_seed(spec.seed)

    def training_loss():
        if spec.objective == "exact":
            return objective.torch_loss(model)
        idx = torch.randint(len(data), (spec.batch_size,), generator=gen)
        return sampled_mse(model, data[idx.to(data.device)], spec.K, spec.t_eval)

    for step in range(spec.steps + 1):
        loss = training_loss()
        if _is_unstable(model, loss):
            record.update(status="diverged", diverged_step=step)
            return
        if step % spec.log_every == 0 or step == spec.steps:
            log(step, loss.item())
        if step == spec.steps:
            return
        opt.zero_grad()
        loss.backward()
        if spec.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec.clip)
        opt.step()
        if sched is not None:
            sched.step()


def _evaluable(*losses, a, b):
    """Each loss of (a, b), NaN where float64 cannot evaluate it: a point of a learning curve, not a failure."""
    out = []
    for loss in losses:
        try:
            out.append(loss(a, b))
        except FloatingPointError:
            out.append(float("nan"))
    return out


def _optimum(objective, a) -> tuple[float, bool]:
    """The objective's optimum for the poles a, or (NaN, False) where float64 cannot evaluate it: crowded
    real poles make b*(a) overflow. That says something of the poles, not of the run's own filter,
    whose losses are still exact: the run stays ok and only its optimum-of-own-poles is missing."""
    try:
        return objective.optimum(a)
    except FloatingPointError:
        return float("nan"), False


def _final_metrics(model: LinearRNN, spec: RunSpec, objective, data, test_x) -> dict:
    a, b = model.poles(), model.readout()
    optimum, certified = _optimum(objective, a)
    out = {
        "objective_loss": objective.loss(a, b),
        "objective_optimal_loss": optimum,
        "objective_optimal_certified": certified,
        "stationary_loss": theory.exact_loss(a, b, spec.K, spec.rho),
        "stationary_optimal_loss": theory.optimal_loss(a, spec.K, spec.rho),
        "filter_width": theory.filter_width(theory.kernel(a, b, 2 * spec.K), spec.K),
        "learned_poles": [[z.real, z.imag] for z in a],
        "learned_readout": [[z.real, z.imag] for z in b],
    }
    with torch.no_grad():
        # The training loss at the end, over the whole training set: what chooses the learning rate.
        out["final_train_loss"] = (
            out["objective_loss"] if data is None else float(sampled_mse(model, data, spec.K, spec.t_eval))
        )
        if test_x is not None:
            x = torch.from_numpy(test_x).to(model.device)
            out["test_mse"] = float(sampled_mse(model, x, spec.K, spec.t_eval))
    return out
