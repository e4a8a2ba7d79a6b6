"""Training on any memory target: the losses, optima and data of the training path for targets other than
the shift, each against a route of its own (dense brute force on long truncated kernels, direct
convolution, explicit per-step window sums), per item.

The shift is one target among others (``targets.Shift``); these tests take the others: the exponential
kernel, the blurred delay and a fast power law (p = 3, so that its truncated tail is below 1e-18 and a
dense reference is exact to float64).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import ClassVar

import dense
import numpy as np
import pandas as pd
import pytest
import torch

from shiftbench import objectives, signals, targets, theory, train
from shiftbench.model import LinearRNN

dense_stationary, dense_window = dense.target_stationary_loss, dense.target_window_loss

TARGETS = [targets.Exp(0.8), targets.Bump(12, 1.5), targets.Power(5.0, 3.0), targets.Shift(9)]
RHOS = [0.0, 0.7]


def poles(S=6, seed=0):
    """Well-separated complex pairs (the dense references stay well conditioned)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.5, 0.9, S // 2) * np.exp(1j * np.linspace(0.3, 2.8, S // 2))
    return np.concatenate([p, p.conj()])


def readout(a, seed=1):
    rng = np.random.default_rng(seed)
    h = a.size // 2
    z = 0.3 * (rng.standard_normal(h) + 1j * rng.standard_normal(h))
    return np.concatenate([z, z.conj()])


def dense_window_optimum(a, d, rho, T_eval):
    """min_b of ``dense_window`` by one stacked least squares over the scored steps (each step's Gram
    factor times its truncated Vandermonde columns)."""
    n = d.size
    k = np.arange(n)
    G = rho ** np.abs(k[:, None] - k[None, :]) if rho else np.eye(n)
    V = np.asarray(a)[None, :] ** k[:, None]
    rows, rhs, den = [], [], 0.0
    for t in range(n - T_eval, n):
        L = np.linalg.cholesky(G[: t + 1, : t + 1])
        rows.append(L.T @ V[: t + 1])
        rhs.append(L.T @ d[: t + 1])
        den += d[: t + 1] @ G[: t + 1, : t + 1] @ d[: t + 1]
    A, y = np.concatenate(rows), np.concatenate(rhs)
    b, *_ = np.linalg.lstsq(A, y.astype(complex), rcond=None)
    r = A @ b - y
    return float(np.vdot(r, r).real / den)


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_model_stationary_loss_and_gradient_for_any_target(target, rho):
    """The model's differentiable loss equals the dense truncated quadratic, run by run, and its gradient
    central differences of that dense loss."""
    a = np.stack([poles(6, 0), poles(6, 3)])
    b = np.stack([readout(a[0], 1), readout(a[1], 2)])
    m = LinearRNN(a, b)
    loss = objectives.Stationary(target, rho).torch_loss(m)
    for r in range(2):
        assert loss[r].item() == pytest.approx(dense_stationary(a[r], b[r], target, rho), abs=1e-11)
    loss[0].backward()
    grad = m.b_re.grad[0, 0].item()
    h = 1e-6
    bp, bm = b[0].copy(), b[0].copy()
    bp[0] += h
    bp[3] += h
    bm[0] -= h
    bm[3] -= h
    fd = (dense_stationary(a[0], bp, target, rho) - dense_stationary(a[0], bm, target, rho)) / (2 * h)
    assert grad == pytest.approx(fd, rel=1e-5, abs=1e-8)
    nu = m.nu.grad[0, 0].item()
    ap, am = a[0].copy(), a[0].copy()
    nu0, theta0 = math.log(-math.log(abs(a[0, 0]))), np.angle(a[0, 0])
    for sign, arr in ((1, ap), (-1, am)):  # the first pair's pole at nu +- h: exp(-exp(nu) + i theta)
        arr[0] = np.exp(-np.exp(nu0 + sign * h) + 1j * theta0)
        arr[3] = np.conj(arr[0])
    fd = (dense_stationary(ap, b[0], target, rho) - dense_stationary(am, b[0], target, rho)) / (2 * h)
    assert nu == pytest.approx(fd, rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_window_loss_and_optimum_for_any_target(target, rho):
    """The sampled objective's population loss (theory, and the model's torch loss) and the window infimum
    over readouts against explicit per-step sums and their stacked least squares."""
    T_eval = 8
    window = objectives.population("sampled", target, rho, T_eval, 0)
    assert window.length == target.horizon + T_eval
    a = poles(4, 5)
    b = readout(a, 6)
    want = dense_window(a, b, window.d, rho, T_eval)
    assert window.loss(a, b) == pytest.approx(want, abs=1e-12)
    assert window.torch_loss(LinearRNN(a, b)).item() == pytest.approx(want, abs=1e-12)
    assert window.optimum(a)[0] == pytest.approx(dense_window_optimum(a, window.d, rho, T_eval), abs=1e-10)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_sampled_targets_are_the_targets_output_on_the_same_inputs(target):
    """The stored sequences' targets, y*_t = sum_{j <= t} d_j x_{t-j} at the scored steps, against
    numpy's direct convolution; and the sampled MSE of many sequences approaches the window loss
    (Monte Carlo, 6 standard errors)."""
    rho, T_eval = 0.7, 8
    window = objectives.population("sampled", target, rho, T_eval, 0)
    x = signals.sample_ar1(rho, 4000, window.length, 3)
    got = target.outputs(x, T_eval)
    direct = np.stack([np.convolve(row, target.sequence(window.length))[: window.length] for row in x[:20]])
    np.testing.assert_allclose(got[:20], direct[:, -T_eval:], rtol=0, atol=1e-13)
    a = poles(4, 7)
    b = readout(a, 8)
    data = train.Sequences(x, window, "cpu")
    model = LinearRNN(a[None], b[None])
    per_seq = np.array([data.mse(model, torch.tensor([[i]])).item() for i in range(4000)])  # each sequence's MSE
    mean, se = per_seq.mean(), per_seq.std() / math.sqrt(per_seq.size)
    assert abs(mean - window.loss(a, b)) < 6 * se


def _dense_objective(record, target, rho, t_eval):
    a = np.array([complex(*z) for z in record["learned_poles"]])
    b = np.array([complex(*z) for z in record["learned_readout"]])
    if record["objective"] == "exact":
        return dense_stationary(a, b, target, rho, n=8192)
    d = target.sequence(target.horizon + t_eval)
    return dense_window(a, b, d, rho, t_eval)


@pytest.mark.parametrize("target", TARGETS[:3], ids=lambda t: t.name)
@pytest.mark.parametrize("family", ["complex", "real"])
@pytest.mark.parametrize("objective", ["exact", "sampled"])
def test_runs_on_a_target_train_and_report_their_exact_objective(objective, family, target):
    """Runs of every method on a target train as one batched job; each run's recorded objective loss equals
    the dense recomputation from its learned poles and readout, and is not below the optimum of its poles."""
    rho, t_eval = 0.7, 8
    init = {
        "complex": ("lru-ring", {"r_min": 0.5, "r_max": 0.95}),
        "real": ("real-ring", {"r_min": 0.5, "r_max": 0.95}),
    }
    name, params = init[family]
    methods = ["joint", "projected", "reseed"] if objective == "exact" else ["joint"]
    specs = [
        train.RunSpec(
            S=4,
            K=targets.scale(target),
            target_spec=target.spec,
            rho=rho,
            init=name,
            readout="random",
            init_params=params,
            family=family,
            objective=objective,
            method=m,
            lr=0.02,
            seed=s,
            steps=40,
            log_every=10,
            t_eval=t_eval,
            batch_size=8,
        )  # fmt: skip
        for m in methods
        for s in (0, 1)
    ]
    x = xt = None
    if objective == "sampled":
        n = target.horizon + t_eval
        x, xt = signals.sample_ar1(rho, 64, n, 0), signals.sample_ar1(rho, 64, n, 1)
    records = train.train_runs(specs, x, xt)
    for rec in records:
        if rec["status"] == "failed" and rec["method"] != "joint":  # b*(a) of crowded real poles: float64 cannot
            assert "float64" in rec["error"]  # evaluate it (docs/theory.md section 11); a failure, not a number
            continue
        assert rec["status"] == "ok", rec["error"]
        assert rec["objective_loss"] == pytest.approx(_dense_objective(rec, target, rho, t_eval), abs=1e-9)
        assert rec["objective_loss"] >= rec["objective_optimal_loss"] - 1e-9
        assert rec["objective_loss"] < rec["initial_objective_loss"]  # training lowered it
        assert rec["target_spec"] == target.spec


@dataclasses.dataclass(frozen=True)
class Twin(targets.Target):
    """d = (delta_K1 + delta_K2) / 2: two echoes (a toy target registered at run time)."""

    K1: int
    K2: int
    name: ClassVar[str] = "twin"

    @property
    def support(self):
        return min(self.K1, self.K2), max(self.K1, self.K2)

    def sequence(self, n):
        d = np.zeros(n)
        for K in (self.K1, self.K2):
            if K < n:
                d[K] += 0.5
        return d


def test_a_fifth_target_registered_at_run_time_trains(monkeypatch):
    """One class in the registry is all a new target needs: the config accepts it, and it trains on both
    objectives with its exact losses (checked against the dense routes)."""
    from shiftbench import config as sbconfig

    monkeypatch.setitem(targets.TARGETS, "twin", Twin)
    sbconfig.schema.cache_clear()
    try:
        cfg = sbconfig.load_config({
            "grid": {"S": [4], "K": [1], "rho": [0.7]},
            "inits": {"lru-ring": {"init": "lru-ring", "readout": "random"}},
            "targets": {"echo": {"name": "twin", "K1": 4, "K2": 9}},
            "blocks": {"echoes": {"grid": {"S": [4], "rho": [0.7]}, "targets": ["echo"], "objectives": ["exact"]}},
        })  # fmt: skip
    finally:
        sbconfig.schema.cache_clear()
    block = [b for b in sbconfig.blocks(cfg) if b.name == "echoes"][0]
    assert block.units(4) == [(targets.scale(Twin(4, 9)), "echo", {"name": "twin", "K1": 4, "K2": 9})]
    target = Twin(4, 9)
    for objective in ["exact", "sampled"]:
        spec = train.RunSpec(S=4, K=targets.scale(target), target_spec=target.spec, rho=0.7, init="lru-ring",
                             readout="random", init_params={"r_min": 0.5, "r_max": 0.95}, objective=objective,
                             method="joint", lr=0.02, seed=0, steps=30, t_eval=8, batch_size=8)  # fmt: skip
        x = xt = None
        if objective == "sampled":
            x, xt = (signals.sample_ar1(0.7, 32, target.horizon + 8, s) for s in (0, 1))
        rec = train.train_run(spec, x, xt)
        assert rec["status"] == "ok"
        assert rec["objective_loss"] == pytest.approx(_dense_objective(rec, target, 0.7, 8), abs=1e-9)


def test_a_target_block_is_refused_with_K_or_unknown_targets():
    from shiftbench import config as sbconfig

    base = {
        "grid": {"S": [4], "K": [1], "rho": [0.7]},
        "inits": {"lru-ring": {"init": "lru-ring", "readout": "random"}},
        "targets": {"e": {"name": "exp", "lam": 0.5}},
    }
    cases = [
        ({"b": {"grid": {"S": [4], "K": [2], "rho": [0.7]}, "targets": ["e"]}}, r"blocks\.b\.grid\.K"),
        ({"b": {"grid": {"S": [4], "rho": [0.7]}}}, r"blocks\.b\.grid\.K"),
        ({"b": {"grid": {"S": [4], "rho": [0.7]}, "targets": ["nope"]}}, r"blocks\.b\.targets"),
    ]
    for blocks, key in cases:
        with pytest.raises(sbconfig.ConfigError, match=key):
            sbconfig.load_config({**base, "blocks": blocks})
    for bad, key in [
        ({"name": "exp", "lam": float("nan")}, r"targets\.e"),
        ({"name": "exp", "lam": 1.5}, r"targets\.e"),
        ({"name": "exp", "lam": 0.5, "tau": 1}, r"targets\.e"),
        ({"name": "spiral", "lam": 0.5}, r"targets\.e"),
        ({"name": "exp", "lam": "0.5"}, r"targets\.e"),
    ]:
        with pytest.raises(sbconfig.ConfigError, match=key):
            sbconfig.load_config({**base, "targets": {"e": bad}})


def test_theory_window_of_the_shift_is_its_lag():
    """The shift's window target is delta_K with window energy exactly 1 (every scored t >= K): the
    normalisation leaves today's numbers unchanged."""
    d = theory.window_target(5, 12, 7)
    assert np.array_equal(d, np.eye(12)[5]) and theory.window_energy(d, 0.7, 7) == 1.0


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("target", TARGETS[:3], ids=lambda t: t.name)
def test_jordan_optimum_of_a_target_is_the_dense_fit_on_the_jordan_span(target, rho):
    """The real family's closure at coinciding poles for any target: ``targets.optimum(repeated="jordan")``
    of a pole p repeated m times against dense least squares on the kernels binom(k + j - 1, j - 1) p^k,
    j = 1..m (the span a Jordan chain reaches); merged, the same poles count once (a different, higher value)."""
    n, m = 4096, 3
    for p in (0.6, 0.85):
        k = np.arange(n)
        cols = np.stack(
            [np.array([math.comb(int(i) + j - 1, j - 1) for i in k], float) * p**k for j in range(1, m + 1)], 1
        )
        A, y = dense.colour_t(cols, rho), dense.colour_t(target.sequence(n), rho)
        w, *_ = np.linalg.lstsq(A, y, rcond=None)
        want = float(np.sum((A @ w - y) ** 2) / (y @ y))
        got = targets.optimum(np.full(m, p, dtype=complex), target, rho, repeated="jordan").loss
        assert got == pytest.approx(want, abs=1e-10)
        merged = targets.optimum(np.full(m, p, dtype=complex), target, rho).loss
        assert merged > got + 1e-6 or got < 1e-12


@pytest.mark.parametrize("target", TARGETS[:3], ids=lambda t: t.name)
def test_evaluate_target_on_an_lru_layer_is_the_loss_of_the_modules_own_kernel(tmp_path, target):
    """``shiftbench evaluate LAYER --target SPEC`` on a real lru-pytorch layer (its feed-through D included):
    the loss equals that of the module's own impulse response, run through the module's forward outside
    the project, against the target by the dense coloured quadratic; its poles' optimum is not above it."""
    from shiftbench import cli

    LRU = pytest.importorskip("LRU_pytorch").LRU  # lru-pytorch==0.1.3, in the `test` extra
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        module = LRU(1, 1, 8, rmin=0.4, rmax=0.95)  # moduli <= 0.95: decayed below 1e-26 by lag 1200
        n = 1200
        impulse = torch.zeros(1, n, 1)
        impulse[0, 0, 0] = 1.0
        with torch.no_grad():
            c = module(impulse)[0, :, 0].numpy().copy()  # the module's own kernel, feed-through at lag 0
    finally:
        torch.set_default_dtype(previous)
    path, out = tmp_path / "lru.pt", tmp_path / "eval.csv"
    torch.save(module.state_dict(), path)
    spec = json.dumps(target.spec)
    assert cli.main(["evaluate", str(path), "--target", spec, "--rho", "0", "0.7", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    for row in table.itertuples():
        d = target.sequence(n)
        ye, yd = dense.colour_t(c - d, row.rho), dense.colour_t(d, row.rho)
        assert row.loss == pytest.approx(float(ye @ ye / (yd @ yd)), rel=1e-9), row.rho
        assert row.optimal_loss_d <= row.optimal_loss + 1e-12 and np.isnan(row.lower_bound)


@pytest.mark.parametrize(
    "spec, message",
    [
        ('{"name": "exp", "lam": 0.9', "not a JSON object"),
        ('{"lam": 0.9}', "needs a 'name' key"),
        ('{"name": "spiral", "lam": 0.9}', "unknown target 'spiral'"),
        ('{"name": "exp", "lam": 1.5}', "lam must"),
        ('{"name": "exp", "lam": NaN}', "lam must"),
        ("nope", "is not a target of"),
    ],
)
def test_evaluate_refuses_a_bad_target_with_one_line_and_writes_nothing(tmp_path, spec, message, caplog):
    """A malformed JSON spec, a spec without a name, an unknown target, a value out of range or NaN, an id the
    config does not hold: exit status 2, one line naming it, and no output file."""
    from shiftbench import cli

    a = poles(4, 0)
    layer, out = tmp_path / "layer.npz", tmp_path / "eval.csv"
    np.savez(layer, a=a, b=readout(a, 1))
    config = tmp_path / "config.yaml"
    config.write_text("targets: {e: {name: exp, lam: 0.5}}\n")
    args = ["evaluate", str(layer), "--target", spec, "--config", str(config), "--out", str(out)]
    assert cli.main(args) == 2
    assert message in caplog.text and not out.exists()
    assert cli.main(["evaluate", str(layer), "--target", "e", "--config", str(config), "--out", str(out)]) == 0
    assert out.exists()
