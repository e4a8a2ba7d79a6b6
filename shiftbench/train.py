"""Training linear RNNs on a memory target (the shift-K task or any kernel of ``targets``): a run's
spec, its objective and method, its record.

The runs of a job that differ only in seed and learning rate are trained as one batched model
(``train_runs``): poles and readouts stacked on a leading run axis, one kernel build, convolution and
update for all of them, each run with its own learning rate (``RunAdam``), its own minibatch stream
(its seed's generator) and its own divergence. One run (``train_run``) is the R = 1 case of the same
code. Projected training (``projection.fit_runs``) batches its runs the same way: one batched loss and
backward for all of them, b*(a) solved per run, and its guarded steps, best poles seen and moves
decided per run.

A run never raises on numerical failure: a non-finite loss or parameter, or a pole pushed onto the
unit circle by a parameter blow-up, stops it alone with ``status = "diverged"`` and the step where it
happened, so one bad learning rate cannot take a sweep down or poison its tables.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.fft
import torch

from . import config, inits, objectives, projection, targets, theory
from .layout import FAMILIES, PARAMETERISATIONS
from .methods import METHODS
from .model import LinearRNN
from .objectives import OBJECTIVES
from .signals import AR1

# The objectives, methods, families and parameterisations are registries (``objectives.OBJECTIVES``,
# ``methods.METHODS``, ``layout``); schedules and devices are options of this module alone.
SCHEDULES = ("constant", "cosine")
DEVICES = ("cpu", "cuda", "auto")
_TRAIN, _DATA = config.defaults("train"), config.defaults("data")


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """Everything that defines one training run (and nothing that does not).

    The options of the config's ``train`` section appear here under the same names, with the schema's
    defaults (its sweeps ``seeds``, ``lr`` and ``methods`` as the single ``seed``, ``lr`` and
    ``method``); a test holds the two in step. ``init``, ``readout``, ``init_params`` and ``family`` are
    those of the init variant. The readout rule ``optimal`` is the stationary b*(a). ``target_spec``:
    the memory kernel trained on (``targets.make_target``'s spec); None is the shift at lag K. With a
    target, K is its lag scale (``targets.scale``: what inits place their poles for).
    """

    S: int
    K: int
    target_spec: dict | None = None
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
    budget_factor: int | None = _TRAIN["budget_factor"]

    def __post_init__(self):
        """Refuse a bad spec up front (the CLI turns this into one clear error line)."""
        AR1(self.rho)  # rho in [0, 1)
        for name in ["S", "K", "steps", "batch_size", "log_every", "t_eval"]:
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        factor = self.budget_factor
        if factor is not None and not (isinstance(factor, int) and not isinstance(factor, bool) and factor >= 2):
            raise ValueError(f"budget_factor must be an integer >= 2 or None, got {factor!r}")
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
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        if METHODS[self.method].projected and not OBJECTIVES[self.objective].closed_form_readout:
            raise ValueError(
                f"method {self.method!r} needs a population objective with a closed-form optimal readout "
                f"{config.projected_objectives()}, not {self.objective!r}"
            )
        inits.check_init(self.init, self.readout, self.init_params, self.family, self.parameterisation)
        if self.target_spec is not None and targets.scale(self.target()) != self.K:
            raise ValueError(f"K must be the target's lag scale {targets.scale(self.target())}, got {self.K}")

    def target(self) -> targets.Target:
        """The run's target: ``target_spec``'s kernel, or the shift at lag K."""
        return targets.Shift(self.K) if self.target_spec is None else targets.as_target(self.target_spec)

    def population(self):
        """The population loss of the run's objective for its target (``objectives.population``)."""
        return objectives.population(self.objective, self.target(), self.rho, self.t_eval, self.burn_in)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    return torch.device(device)


def sampled_mse(model: LinearRNN, x: torch.Tensor, target, t_eval: int) -> torch.Tensor:
    """The MSE of a one-run model on sequences x (..., N): its last t_eval outputs against the target's
    (``targets.Target.outputs``; a lag K is the shift: x_{t-K}), not normalised."""
    y = torch.from_numpy(targets.as_target(target).outputs(x.cpu().numpy(), t_eval)).to(x.device)
    return ((model(x)[..., -t_eval:] - y) ** 2).mean()


class Sequences:
    """A stored set of sequences (n, N), transformed once: their spectra and the target's outputs.

    Only the last t_eval outputs are scored, so the FFT needs n_fft >= N + t_eval - 1 points, not 2N
    (``LinearRNN.convolve``); ``scipy.fft.next_fast_len`` rounds it up to a fast size. The MSE is
    divided by the zero filter's window loss (``objectives.Window.energy``, 1 for the shift), as the
    objective's own loss is: its expectation is the window loss.
    """

    def __init__(self, x: np.ndarray, window: objectives.Window, device):
        t_eval = window.t_eval
        self.n, self.N, self.t_eval, self.energy = x.shape[0], x.shape[1], t_eval, window.energy
        self.n_fft = scipy.fft.next_fast_len(self.N + t_eval, real=True)
        self.spectra = torch.fft.rfft(torch.from_numpy(x).to(device), n=self.n_fft)  # (n, F)
        self.targets = torch.from_numpy(window.target.outputs(x, t_eval)).to(device)  # (n, t_eval)

    def mse(self, model: LinearRNN, idx: torch.Tensor) -> torch.Tensor:
        """Each run's MSE on its own minibatch: idx (R, B) indexes sequences -> (R,)."""
        y = model.convolve(self.spectra[idx], self.N, self.n_fft)[..., -self.t_eval :]  # (R, B, t_eval)
        return ((y - self.targets[idx]) ** 2).mean((-2, -1)) / self.energy

    def run_mse(self, model: LinearRNN, r: int) -> float:
        """Run r's MSE over every sequence (one run at a time keeps the memory at one run's)."""
        C = torch.fft.rfft(model.run_kernels(self.N)[r], n=self.n_fft)  # (F,)
        y = torch.fft.irfft(self.spectra * C, n=self.n_fft)[:, self.N - self.t_eval : self.N]  # (n, t_eval)
        return float(((y - self.targets) ** 2).mean()) / self.energy


class RunAdam:
    """Adam (torch's update rule and defaults) over stacked parameters, one learning rate per run.

    Every parameter has a leading run axis R; ``lr`` is (R,). ``step(scale, alive)`` moves the runs
    where ``alive`` is true by their own lr times ``scale`` (the schedule), and leaves the others as
    they are. Clipping, where asked, is per run: each run's gradient norm over all its parameters.
    """

    def __init__(self, params, lr: torch.Tensor, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def _view(self, x, p):
        return x.reshape(-1, *[1] * (p.ndim - 1))  # (R,) -> (R, 1, ...)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def clip(self, max_norm: float):
        """Scale each run's gradient to norm <= max_norm (``torch.nn.utils.clip_grad_norm_`` per run)."""
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = torch.stack([(g**2).reshape(g.shape[0], -1).sum(-1) for g in grads]).sum(0).sqrt()  # (R,)
        coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        for g in grads:
            g.mul_(self._view(coef, g))

    @torch.no_grad()
    def step(self, scale: float, alive: torch.Tensor):
        """One update of the runs where ``alive``; the others keep their parameters."""
        self.t += 1
        (b1, b2), t = self.betas, self.t
        live = [self._view(alive, p) for p in self.params]
        grads = [torch.where(w, p.grad, 0.0) for w, p in zip(live, self.params)]
        torch._foreach_lerp_(self.m, grads, 1 - b1)
        torch._foreach_mul_(self.v, b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - b2)
        denom = torch._foreach_add(torch._foreach_div(torch._foreach_sqrt(self.v), math.sqrt(1 - b2**t)), self.eps)
        size = self.lr * scale / (1 - b1**t) * alive  # (R,): no step for the others
        updates = torch._foreach_div(self.m, denom)
        torch._foreach_mul_(updates, [self._view(size, p) for p in self.params])
        torch._foreach_sub_(self.params, updates)


# What may differ between the runs of one batched model: where each starts and how fast it moves.
PER_RUN = ("seed", "lr", "init", "readout", "init_params")


def batch_key(spec: RunSpec) -> str:
    """Runs with equal keys can train as one batched model: they differ only in ``PER_RUN``."""
    return json.dumps({k: v for k, v in asdict(spec).items() if k not in PER_RUN}, sort_keys=True)


def train_run(spec: RunSpec, train_x: np.ndarray | None = None, test_x: np.ndarray | None = None) -> dict:
    """Train one run (the R = 1 case of ``train_runs``); returns its JSON-ready record."""
    return train_runs([spec], train_x, test_x)[0]


def train_runs(specs, train_x: np.ndarray | None = None, test_x: np.ndarray | None = None) -> list[dict]:
    """Train runs of one K (sharing ``train_x``/``test_x``); each group of equal ``batch_key`` as one
    batched model. Returns one record per spec, in order (see ``_new_record`` for the fields).

    status: "ok"; "diverged" (non-finite loss or parameters, or a pole on the unit circle; with
    ``diverged_step``); or "failed" (a loss or an optimal readout that float64 cannot evaluate for
    these parameters, with ``error``). Only "ok" runs carry final losses; the others keep NaN and
    never enter a mean. Every loss in the record is exact and data-free except ``final_train_loss``
    (sampled objective) and ``test_mse``. ``wall_time`` is the batch's wall time over its runs;
    ``batch_runs`` says how many runs shared it.
    """
    groups: dict = {}
    for i, spec in enumerate(specs):
        groups.setdefault(batch_key(spec), []).append(i)
    records = [None] * len(specs)
    for idx in groups.values():
        for i, rec in zip(idx, _train_batch([specs[i] for i in idx], train_x, test_x)):
            records[i] = rec
    return records


def _new_record(spec: RunSpec) -> dict:
    nan = float("nan")
    return {
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
        "objective_optimal_resolved": None,
        **dict.fromkeys(["final_train_loss", "test_mse", "filter_width"], nan),
    }


def _initial(spec: RunSpec, objective, stationary, record: dict, known: dict):
    """(a0, b0, log_dt or None) of a run, with its initial losses written into its record.

    ``known`` maps a start (a0, b0) to its initial losses: runs that differ only in lr (or, with a
    deterministic init, in seed) start from the same filter, and its window optimum costs ~0.4 s at
    S = 250, n = 2250.
    """
    target = None if spec.target_spec is None else spec.target()  # None: the shift at K
    a0, b0 = inits.initialise(
        spec.init, spec.S, spec.K, spec.seed, spec.readout, spec.rho, spec.family, target, **spec.init_params
    )
    key = (a0.tobytes(), b0.tobytes())
    if key not in known:
        loss = objective.loss(a0, b0)
        known[key] = {
            "initial_objective_loss": loss,
            "initial_stationary_loss": loss if objective == stationary else stationary.loss(a0, b0),
            "initial_optimal_loss": _optimum(objective, a0)[0],
            "initial_filter_width": _width(a0, b0, spec),
        }
    record.update(known[key])
    log_dt = None
    if PARAMETERISATIONS[spec.parameterisation].needs_delta:  # the init's step: log Delta = log dt, A = log(a)/dt
        log_dt = math.log(inits.init_dt(spec.init, spec.S, spec.K, spec.seed, **spec.init_params))
    return a0, b0, log_dt


def _width(a, b, spec: RunSpec) -> float:
    """The filter's width around the target's centre lag (``theory.filter_width``): the shift's and the
    bump's K; NaN for a target without one (exp, power)."""
    centre = getattr(spec.target(), "K", None)
    return math.nan if centre is None else theory.filter_width(theory.kernel(a, b, 2 * centre), centre)


def _train_batch(specs, train_x, test_x) -> list[dict]:
    """Train runs of one batch key as one model of R runs (a run whose init fails is left out)."""
    start = time.perf_counter()
    spec = specs[0]
    if OBJECTIVES[spec.objective].sequences and train_x is None:
        raise ValueError(f"objective {spec.objective!r} needs training sequences")
    objective, stationary = spec.population(), objectives.Stationary(spec.target(), spec.rho)
    records = [_new_record(s) for s in specs]
    starts, members, known = [], [], {}
    for i, (s, rec) in enumerate(zip(specs, records)):
        try:
            starts.append(_initial(s, objective, stationary, rec, known))
            members.append(i)
        except FloatingPointError as err:
            rec.update(status="failed", error=str(err))
    if members:
        a0, b0, log_dt = (np.array(x) for x in zip(*starts))  # (R, S), (R, S), (R,)
        log_dt = log_dt if PARAMETERISATIONS[spec.parameterisation].needs_delta else None
        device = resolve_device(spec.device)
        model = LinearRNN(a0, b0, spec.family, spec.parameterisation, log_dt).to(device)  # R = len(members)
        train = None if train_x is None else Sequences(train_x, objective, device)
        test = None if test_x is None else Sequences(test_x, objective, device)
        batch = [specs[i] for i in members]
        recs = [records[i] for i in members]
        if METHODS[spec.method].projected:
            _fit_projected(model, batch, objective, stationary, recs)
        else:
            _fit_joint(model, batch, objective, stationary, train, recs)
        for r, (s, rec) in enumerate(zip(batch, recs)):
            if rec["status"] == "ok":
                try:
                    rec.update(_final_metrics(model, r, s, objective, train, test))
                except FloatingPointError as err:
                    rec.update(status="failed", error=str(err))
    seconds = time.perf_counter() - start
    for rec in records:
        rec["steps_done"] = rec["curve"][-1][0] if rec["curve"] else 0
        rec["wall_time"] = seconds / len(records)
        rec["batch_runs"] = len(records)
    return records


def _curve_point(objective, stationary, a, b, step, train_loss):
    """(step, training loss, objective loss, stationary loss); the exact objective is the stationary loss."""
    if objective == stationary:
        return (step, train_loss, *_evaluable(objective.loss, a=a, b=b) * 2)
    return (step, train_loss, *_evaluable(objective.loss, stationary.loss, a=a, b=b))


def _fit_projected(model: LinearRNN, specs, objective, stationary, records):
    """A projected method trains the poles of every run with the readout held at b*(a)
    (``projection.fit_runs``, one batched model); a search method (``reseed``) adds its re-seeding
    moves. A run whose b*(a) cannot be evaluated (at its start, or after a crowded-pair move) is
    marked failed; the others go on."""
    spec = specs[0]

    def log(step, losses, runs):
        a, b = (t.detach().cpu().numpy() for t in model.pole_tensors())
        for r in runs:
            records[r]["curve"].append(_curve_point(objective, stationary, a[r], b[r], step, float(losses[r])))

    errors = projection.fit_runs(
        model,
        objective,
        spec.steps,
        [s.lr for s in specs],
        spec.schedule == "cosine",
        log,
        spec.log_every,
        moves=METHODS[spec.method].search,
    )
    for rec, error in zip(records, errors):
        if error is not None:
            rec.update(status="failed", error=error)


def _unstable(model: LinearRNN, loss: torch.Tensor) -> torch.Tensor:
    """(R,) bool: runs with a non-finite loss or parameter, or a pole on or beyond the unit circle."""
    with torch.no_grad():
        params = torch.cat([p.reshape(model.runs, -1) for p in model.parameters()], 1)  # (R, P)
        finite = torch.isfinite(loss) & torch.isfinite(params).all(1)
        return ~finite | (model.pole_tensors()[0].abs() >= 1).any(-1)


def _fit_joint(model: LinearRNN, specs, objective, stationary, train, records):
    """Adam on poles and readout of every run together, on minibatches (sampled) or the population
    loss (exact). Appends to each record's curve; a run that diverges stops alone, marked in place."""
    spec, R = specs[0], len(specs)
    lr = torch.tensor([s.lr for s in specs], dtype=torch.float64, device=model.device)
    opt = RunAdam(model.parameters(), lr)
    gens = [torch.Generator().manual_seed(s.seed) for s in specs]  # each run's own minibatch stream
    alive = torch.ones(R, dtype=torch.bool, device=model.device)

    def training_loss():  # (R,)
        if not OBJECTIVES[spec.objective].sequences:  # the population loss itself
            return objective.torch_loss(model)
        idx = torch.stack([torch.randint(train.n, (spec.batch_size,), generator=g) for g in gens])  # (R, B)
        return train.mse(model, idx.to(model.device))

    for step in range(spec.steps + 1):
        loss = training_loss()
        gone = alive & _unstable(model, loss)
        for r in torch.nonzero(gone).flatten().tolist():
            records[r].update(status="diverged", diverged_step=step)
        alive &= ~gone
        if not alive.any():
            return
        if step % spec.log_every == 0 or step == spec.steps:
            a, b, values = model.poles(), model.readout(), loss.detach().cpu().numpy()
            for r in torch.nonzero(alive).flatten().tolist():
                records[r]["curve"].append(_curve_point(objective, stationary, a[r], b[r], step, float(values[r])))
        if step == spec.steps:
            return
        opt.zero_grad()
        torch.where(alive, loss, 0.0).sum().backward()  # each run's gradient is that of its own loss
        if spec.clip is not None:
            opt.clip(spec.clip)
        opt.step(0.5 * (1 + math.cos(math.pi * step / spec.steps)) if spec.schedule == "cosine" else 1.0, alive)


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


def _final_metrics(model: LinearRNN, r: int, spec: RunSpec, objective, train, test) -> dict:
    """Run r's final losses, filter and parameters."""
    a, b = np.atleast_2d(model.poles())[r], np.atleast_2d(model.readout())[r]
    optimum, resolved = _optimum(objective, a)
    loss = objective.loss(a, b)
    stationary = objectives.Stationary(spec.target(), spec.rho)
    same = objective == stationary  # the exact objective: computed once
    out = {
        "objective_loss": loss,
        "objective_optimal_loss": optimum,
        "objective_optimal_resolved": resolved,
        "stationary_loss": loss if same else stationary.loss(a, b),
        "stationary_optimal_loss": optimum if same else stationary.optimum(a)[0],
        "filter_width": _width(a, b, spec),
        "learned_poles": [[z.real, z.imag] for z in a],
        "learned_readout": [[z.real, z.imag] for z in b],
    }
    with torch.no_grad():
        # The training loss at the end, over the whole training set: what chooses the learning rate.
        out["final_train_loss"] = out["objective_loss"] if train is None else train.run_mse(model, r)
        if test is not None:
            out["test_mse"] = test.run_mse(model, r)
    return out
