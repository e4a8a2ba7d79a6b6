"""The run axis: runs trained as one batched model give the records they give alone.

References by another route: each run trained alone (the R = 1 model, its own loop); ``RunAdam``
against torch's own ``torch.optim.Adam``, ``clip_grad_norm_`` and ``CosineAnnealingLR``, one
optimiser per run.
"""

import math

import numpy as np
import pytest
import torch

from shiftbench import objectives, signals, train
from shiftbench.model import LinearRNN

# Reassociation only (a batched matrix product, sums over a run axis): float64 rounding, amplified by
# at most a few hundred Adam steps. Every run is checked on its own, field by field.
RTOL, ATOL = 1e-8, 1e-10


def spec(**over):
    fields = dict(S=6, K=12, rho=0.5, init="lru-ring", readout="random", objective="exact", method="joint", lr=1e-2,
                  steps=60, seed=0, log_every=10, t_eval=16, init_params={"r_min": 0.5, "r_max": 0.95})  # fmt: skip
    return train.RunSpec(**{**fields, **over})


def assert_same_record(batched: dict, alone: dict):
    assert batched["batch_runs"] >= 1 and alone["batch_runs"] == 1
    for key in ["status", "diverged_step", "steps_done", "seed", "lr", "method"]:
        assert batched[key] == alone[key], key
    for key in ["objective_loss", "stationary_loss", "objective_optimal_loss", "final_train_loss", "test_mse",
                "initial_objective_loss", "filter_width"]:  # fmt: skip
        np.testing.assert_allclose(batched[key], alone[key], rtol=RTOL, atol=ATOL, err_msg=key)
    assert len(batched["curve"]) == len(alone["curve"])
    np.testing.assert_allclose(np.array(batched["curve"], float), np.array(alone["curve"], float),
                               rtol=RTOL, atol=ATOL)  # fmt: skip
    if alone["status"] == "ok":
        np.testing.assert_allclose(batched["learned_poles"], alone["learned_poles"], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(batched["learned_readout"], alone["learned_readout"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("objective", ["sampled", "exact"])
@pytest.mark.parametrize("family", ["complex", "real"])
def test_batched_runs_equal_runs_trained_alone(objective, family):
    """Seeds x lrs x methods in one call, one run diverging (lr 1e3); each record equals its run alone."""
    methods = ["joint"] if objective == "sampled" else ["joint", "projected", "reseed"]
    if family == "real":
        methods = [m for m in methods if m != "reseed"]
    init = {
        "complex": {},
        "real": {"init": "real-ring", "family": "real", "init_params": {"r_min": 0.5, "r_max": 0.95}},
    }
    specs = [spec(objective=objective, method=m, lr=lr, seed=s, clip=1.0 if s == 1 else None, **init[family])
             for m in methods for lr in [3e-3, 3e-2, 1e3] for s in [0, 1, 2]]  # fmt: skip
    N = specs[0].burn_in + specs[0].K + specs[0].t_eval
    rng = np.random.default_rng(0)
    x = signals.AR1(0.5).sample(64, N, rng) if objective == "sampled" else None
    xt = signals.AR1(0.5).sample(32, N, rng) if objective == "sampled" else None
    batched = train.train_runs(specs, x, xt)
    assert any(r["status"] == "diverged" for r in batched) and any(r["status"] == "ok" for r in batched)
    for method in methods:  # one model held the runs of each method with equal options (projected ones too)
        same = [r for r in batched if r["method"] == method and r["clip"] is None]
        assert all(r["batch_runs"] == len(same) for r in same), method
    for s, rec in zip(specs, batched):
        assert_same_record(rec, train.train_run(s, x, xt))


def test_a_diverging_run_stops_alone():
    """The other runs of the batch are those of a batch without it, step for step."""
    good = [spec(lr=1e-2, seed=s) for s in range(3)]
    with_bad = train.train_runs([*good[:1], spec(lr=1e4, seed=7), *good[1:]])
    without = train.train_runs(good)
    assert with_bad[1]["status"] == "diverged" and with_bad[1]["diverged_step"] >= 1
    for a, b in zip([with_bad[0], *with_bad[2:]], without):
        np.testing.assert_allclose(np.array(a["curve"]), np.array(b["curve"]), rtol=0, atol=1e-13)


@pytest.mark.parametrize("clip", [None, 0.05])
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_run_adam_matches_torch_adam_per_run(clip, schedule):
    """R runs stepped by RunAdam with lrs (R,) = R torch.optim.Adam, one per run (with torch's per-run
    clip_grad_norm_ and CosineAnnealingLR), on the exact loss of each run's own poles and readout."""
    K, rho, steps, lrs = 9, 0.6, 25, [1e-3, 1e-2, 5e-2]
    rng = np.random.default_rng(3)
    p = rng.uniform(0.5, 0.9, (3, 2)) * np.exp(1j * rng.uniform(0, 3, (3, 2)))
    a = np.concatenate([p, p.conj(), rng.uniform(-0.9, 0.9, (3, 1))], 1)
    bp = rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))
    b = np.concatenate([bp, bp.conj(), rng.standard_normal((3, 1))], 1)
    batched = LinearRNN(a, b)
    opt = train.RunAdam(batched.parameters(), torch.tensor(lrs, dtype=torch.float64))
    alive = torch.ones(3, dtype=torch.bool)
    for step in range(steps):
        opt.zero_grad()
        batched.exact_loss(K, rho).sum().backward()
        if clip:
            opt.clip(clip)
        opt.step(0.5 * (1 + math.cos(math.pi * step / steps)) if schedule == "cosine" else 1.0, alive)
    for r, lr in enumerate(lrs):
        m = LinearRNN(a[r], b[r])
        ref = torch.optim.Adam(m.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref, steps) if schedule == "cosine" else None
        for _ in range(steps):
            ref.zero_grad()
            m.exact_loss(K, rho).backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
            ref.step()
            if sched is not None:
                sched.step()
        np.testing.assert_allclose(batched.poles()[r], m.poles(), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(batched.readout()[r], m.readout(), rtol=1e-12, atol=1e-13)


def test_batched_losses_are_each_runs_own():
    """The model's per-run losses and kernels equal those of R one-run models (no mixing across runs)."""
    rng = np.random.default_rng(1)
    R, K, rho = 4, 10, 0.4  # S = 7: 3 pairs and a real pole
    p = rng.uniform(0.3, 0.95, (R, 3)) * np.exp(1j * rng.uniform(0, 3, (R, 3)))
    a = np.concatenate([p, p.conj(), rng.uniform(-0.9, 0.9, (R, 1))], 1)
    bp = rng.standard_normal((R, 3)) + 1j * rng.standard_normal((R, 3))
    b = np.concatenate([bp, bp.conj(), rng.standard_normal((R, 1))], 1)
    m = LinearRNN(a, b)
    x = torch.from_numpy(rng.standard_normal((R, 5, 40)))
    y, exact, window = m(x), m.exact_loss(K, rho), objectives.Window(K, rho, 40, 16).torch_loss(m)
    for r in range(R):
        one = LinearRNN(a[r], b[r])
        np.testing.assert_allclose(y[r].detach(), one(x[r]).detach(), atol=1e-12)
        np.testing.assert_allclose(exact[r].item(), one.exact_loss(K, rho).item(), rtol=1e-13)
        np.testing.assert_allclose(
            window[r].item(), objectives.Window(K, rho, 40, 16).torch_loss(one).item(), rtol=1e-13
        )


def test_white_form_gradient_is_torchs():
    """WhiteForm's closed-form backward against torch.autograd.gradcheck (finite differences), and its
    value against the plain formula, on (R, S) complex inputs."""
    from shiftbench.model import WhiteForm
    from shiftbench.signals import AR1

    rng = np.random.default_rng(4)
    a = torch.tensor(rng.uniform(0.2, 0.9, (2, 5)) * np.exp(1j * rng.uniform(-3, 3, (2, 5))), requires_grad=True)
    beta = torch.tensor(rng.standard_normal((2, 5)) + 1j * rng.standard_normal((2, 5)), requires_grad=True)
    assert torch.autograd.gradcheck(WhiteForm.apply, (a, beta))
    np.testing.assert_allclose(WhiteForm.apply(a, beta).detach(), AR1.white_form(a, beta).detach(), rtol=1e-13)


@pytest.mark.parametrize("objective", ["sampled", "exact"])
def test_batched_step_on_cpu_equals_the_step_on_the_auto_device(objective):
    """One batched step (loss, gradients, RunAdam update) on cpu and on what device 'auto' resolves to
    (a GPU where torch sees one): the same numbers in float64, to reassociation. Without a GPU both
    sides are the CPU and the test only runs the step; it compares devices where one is present."""
    device = train.resolve_device("auto")
    rng = np.random.default_rng(5)
    p = rng.uniform(0.5, 0.95, (3, 3)) * np.exp(1j * rng.uniform(0, 3, (3, 3)))
    a = np.concatenate([p, p.conj(), rng.uniform(-0.9, 0.9, (3, 1))], 1)
    bp = 0.1 * (rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3)))
    b = np.concatenate([bp, bp.conj(), rng.standard_normal((3, 1))], 1)
    x = signals.AR1(0.6).sample(20, 40, rng)
    out = {}
    for dev in ["cpu", device]:
        m = LinearRNN(a, b).to(dev)
        opt = train.RunAdam(m.parameters(), torch.tensor([1e-3, 1e-2, 1e-1], dtype=torch.float64, device=dev))
        idx = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [0, 2, 4, 6]], device=dev)
        loss = (
            m.exact_loss(12, 0.6)
            if objective == "exact"
            else train.Sequences(x, objectives.Window(12, 0.6, 40, 16), dev).mse(m, idx)
        )
        loss.sum().backward()
        opt.step(1.0, torch.ones(3, dtype=torch.bool, device=dev))
        out[str(dev)] = loss.detach().cpu().numpy(), m.poles(), m.readout()
    for got, want in zip(out[str(device)], out["cpu"]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_a_run_its_seed_cannot_change_is_trained_once():
    """Exact objective: the uncertainty init with its optimal readout is the same for every seed (one run,
    marked seed_invariant, seed 0); lru-ring's random poles are not. The sampled objective draws
    minibatches by seed, so every seed is trained there."""
    from shiftbench import jobs

    variants = {
        "uncertainty": {"init": "uncertainty", "params": {"alpha": 1.0}, "readout": "optimal"},
        "lru-ring": {"init": "lru-ring", "params": {"r_min": 0.5, "r_max": 0.95}, "readout": "random"},
    }
    train_opts = {"seeds": [0, 1, 2], "lr": [0.01, 0.03], "methods": ["joint", "projected"], "steps": 5}
    job = {"S": 4, "rho": 0.5, "Ks": [8], "variants": variants, "t_eval": 16, "burn_in": 0}
    runs = jobs.run_specs({**job, "objective": "exact", "train": train_opts})[0]
    for variant, n in [("uncertainty", 1), ("lru-ring", 3)]:
        mine = [(s, once) for v, s, once in runs if v == variant]
        assert len(mine) == n * 2 * 2  # seeds x lrs x methods
        assert all(once == (n == 1) for _, once in mine)
        assert {s.seed for s, _ in mine} == ({0} if n == 1 else {0, 1, 2})
    sampled = jobs.run_specs({**job, "objective": "sampled", "train": {**train_opts, "methods": ["joint"]}})[0]
    assert len(sampled) == 2 * 3 * 2 and not any(once for _, _, once in sampled)


def test_projected_batch_with_failing_runs_equals_runs_alone():
    """Real poles of S4D-Real at S = 16, K = 64 crowd: some runs of the batch fail (b*(a) or the final loss
    overflows float64), the others go on; every record equals that of its run alone, field by field."""
    init = dict(family="real", readout="random", S=16, K=64, rho=0.7, steps=40, log_every=10, method="projected")
    specs = [spec(**init, init="s4d-real", init_params={"dt": "log-uniform"}, seed=s) for s in range(3)]
    specs += [spec(**init, init="real-ring", init_params={"r_min": 0.5, "r_max": 0.95}, seed=0, lr=lr)
              for lr in [3e-3, 3e-2]]  # fmt: skip
    batched = train.train_runs(specs)
    assert {r["status"] for r in batched} == {"ok", "failed"}
    assert all(r["batch_runs"] == len(specs) for r in batched)
    for s, rec in zip(specs, batched):
        alone = train.train_run(s)
        assert rec["error"] == alone["error"]
        assert_same_record(rec, alone)


@pytest.mark.parametrize("family,parameterisation,S", [("complex", "exp-exp", 7), ("complex", "zoh", 6),
                                                       ("real", "exp-exp", 5), ("real", "zoh", 5)])  # fmt: skip
@pytest.mark.parametrize(
    "target",
    [12, {"name": "exp", "lam": 0.8}, {"name": "bump", "K": 8, "sigma": 1.0}, {"name": "power", "tau": 3.0, "p": 1.5}],
)
def test_projected_batched_loss_is_the_objectives_loss(family, parameterisation, S, target):
    """Projected training's padded, run-by-run-exact loss (``projection.batched_loss``) against the
    objective's own differentiable loss (``Stationary.torch_loss``, the model's WhiteForm): value and
    gradient of every run; its rounding estimate against ``formulas.rounding`` on the numpy Gram matrix."""
    from shiftbench import formulas, projection, targets

    rng = np.random.default_rng(6)
    R, h = 3, (S // 2 if family == "complex" else 0)
    p = rng.uniform(0.3, 0.9, (R, h)) * np.exp(1j * rng.uniform(0.1, 3, (R, h)))
    a = np.concatenate([p, p.conj(), rng.uniform(0.1, 0.9, (R, S - 2 * h))], 1)
    bp = rng.standard_normal((R, h)) + 1j * rng.standard_normal((R, h))
    b = np.concatenate([bp, bp.conj(), rng.standard_normal((R, S - 2 * h))], 1)
    log_dt = None if parameterisation == "exp-exp" else np.log(rng.uniform(0.05, 0.5, R))
    m = LinearRNN(a, b, family, parameterisation, log_dt)
    objective = objectives.Stationary(targets.as_target(target), 0.6)
    want = objective.torch_loss(m)
    want_grad = torch.autograd.grad(want.sum(), m.pole_parameters())
    a_pad, dummy = projection.padded_poles(m)
    np.testing.assert_allclose(a_pad.detach().numpy()[:, ~dummy], m.poles(), rtol=1e-14)
    got, rounding = projection.batched_loss(objective, a_pad, torch.from_numpy(projection.padded_readout(m, b)))
    got_grad = torch.autograd.grad(got.sum(), m.pole_parameters())
    for r in range(R):
        np.testing.assert_allclose(got[r].item(), want[r].item(), rtol=1e-12, atol=1e-13)
        for g, w in zip(got_grad, want_grad):
            np.testing.assert_allclose(g[r].numpy(), w[r].numpy(), rtol=1e-10, atol=1e-12)
        G, v = objective.gram_and_cross(m.poles()[r])
        expected = formulas.rounding(G, v, m.readout()[r]) / objective.target.energy(0.6)
        np.testing.assert_allclose(rounding[r].item(), expected, rtol=1e-10)
