"""Training-step timings of the linear RNN: kernel+FFT vs a sequential loop vs lru-pytorch.

1. One training step's forward+backward (MSE of the last t_eval outputs against x_{t-K}, as
   ``shiftbench.train.sampled_mse``; no optimiser step) at (batch, length, S) = (16, 8192, 256) and
   (16, 2250, 250), float64, side by side in one process:
     (a) ``shiftbench.model.LinearRNN`` (kernel by Vandermonde + rfft/irfft convolution);
     (b) the reference recurrence ``shiftbench.model.sequential_forward`` with autograd, same poles;
     (c) PyPI ``lru-pytorch==0.1.3`` (``LRU_pytorch.LRU``, 1 input, 1 output, N = S/2 complex modes
         with a real readout = S real-system poles), built and run with float64 as torch's default
         dtype. It loops over batch and time in Python.
   (a) is the median of 3 x 7 calls spread before, between and after (b) and (c), so all three see
   the same machine load; (b) is the median of 3 calls, (c) one call (~25 s), all at the full
   length (nothing extrapolated). Target: (a) >= 20x faster than (b) and (c) at (16, 8192, 256).
2. Exact-objective training steps per second at S = 256, K = 2048, rho = 0 and 0.7, of
   ``train.train_run`` itself with the joint method (Adam on poles and readout) and the projected one
   (the readout set to b*(a) before every step, Adam on the poles), side by side. Targets: joint
   >= 100 steps/s, projected >= 20 steps/s.
3. Wall time of one default training run (S=16, K=128, rho=0.7, 400 sampled steps).
4. The run axis (``--runs`` runs this section alone): runs x steps per second of R = 1, 4, 16 and 64
   runs of the sampled objective trained as one batched model (``LinearRNN`` of R runs,
   ``train.Sequences``, ``train.RunAdam``: one kernel build, FFT and update a step), against a loop
   over the same R runs as one-run models (the R = 1 case of the same code), side by side in one
   process, at S = 16, K = 64 (L = 128) and S = 250, K = 2000 (the paper's sampled window, L = 2250),
   batch 16, seeds 0..R-1. Only training steps are timed (no init, curve or final metrics). Targets:
   batched >= 8x the loop at S = 16, R = 16 and >= 2x at S = 250, R = 9 (R = 9 measured there too).
5. Projected training's run axis (``--projected`` runs this section alone): ``projection.fit_runs`` on one
   model of R lru-ring runs (exact objective, rho = 0.7, lrs 0.01 and 0.02) against a loop over the same
   runs as one-run models (the R = 1 case of the same code: what ``train.train_runs`` did before, each
   projected run a batch of its own), alternated batched, loop, batched, ... and the median taken; at
   S = 32, K = 128, R = 6 and S = 250, K = 2000, R = 6; then a profile of one batched S = 250 fit (where a
   step's time goes: b*(a) per run, the batched loss and backward, the rest). Only ``fit_runs`` is timed
   (no init, curve or final metrics). Target: batched >= 3x the loop at S = 32, R = 6.

Everything runs twice, at torch.set_num_threads(2) (the machine's core count) and at 1 thread: on a
shared 2-core machine, torch's OpenMP threads busy-wait for each other and small ops get up to 10x
slower when another process holds a core, so the 1-thread figures are the load-robust ones.

    python benchmarks/bench_model.py            # full run (~4 minutes)
    python benchmarks/bench_model.py --quick    # small sizes, under a minute
    python benchmarks/bench_model.py --runs --threads 1   # section 4 alone
    python benchmarks/bench_model.py --projected --threads 1   # section 5 alone
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from shiftbench import inits, signals
from shiftbench.model import LinearRNN, sequential_forward
from shiftbench.objectives import Window
from shiftbench.targets import Shift
from shiftbench.train import RunAdam, RunSpec, Sequences, sampled_mse, train_run


def run_ms(fn, repeats):
    """Wall times (ms) of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t))
    return times


def ours_step(model, x, K, t_eval):
    model.zero_grad()
    loss = sampled_mse(model, x, K, t_eval)
    loss.backward()
    return loss.item()


def loop_step(model, x, K, t_eval):
    model.zero_grad()
    targets = torch.from_numpy(Shift(K).outputs(x.numpy(), t_eval))
    a, b = model.pole_tensors()
    loss = ((sequential_forward(a, b, x)[..., -t_eval:] - targets) ** 2).mean()
    loss.backward()
    return loss.item()


def make_lru(S):
    """lru-pytorch's LRU with S/2 complex modes in float64, or the reason it cannot be used."""
    try:
        from LRU_pytorch import LRU
    except ImportError as err:
        return None, f"not installed ({err}); pip install lru-pytorch==0.1.3 --no-deps"
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # its parameters, state and output buffers follow the default
    try:
        torch.manual_seed(0)
        lru = LRU(1, 1, S // 2, rmin=0.9, rmax=0.999)
    finally:
        torch.set_default_dtype(previous)
    return lru, None


def lru_step(lru, x, K, t_eval):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        lru.zero_grad()
        targets = torch.from_numpy(Shift(K).outputs(x.numpy(), t_eval))
        y = lru(x[..., None])[..., 0]  # (batch, length, features=1)
        loss = ((y[..., -t_eval:] - targets) ** 2).mean()
        loss.backward()
        assert y.dtype == torch.float64 and lru.B.dtype == torch.complex128
        return loss.item()
    finally:
        torch.set_default_dtype(previous)


def bench_steps(configs, repeats):
    print(
        "1. forward+backward of one training step, float64 (ms). ours: median of 3 x repeats calls spread\n"
        "   before, between and after the others (same load); loop: median of 3; lru: 1 call; all at full length"
    )
    head = (
        f"{'batch':>5} {'length':>6} {'S':>4} {'K':>5} {'t_eval':>6} {'ours ms':>9} {'loop ms':>10} "
        f"{'lru ms':>10} {'loop/ours':>9} {'lru/ours':>9}  {'|loss ours-loop|':>16}"
    )
    print(head + "\n" + "-" * len(head))
    ratios = {}
    for B, L, S, K, t_eval in configs:
        a, b = inits.initialise("uncertainty", S, K, 0, "optimal", 0.0)
        model = LinearRNN(a, b)
        x = torch.from_numpy(signals.sample_ar1(0.0, B, L, 0))
        ours = lambda: ours_step(model, x, K, t_eval)
        ours()  # warm-up
        t_ours = run_ms(ours, repeats)
        t_loop = statistics.median(run_ms(lambda: loop_step(model, x, K, t_eval), 3))
        t_ours += run_ms(ours, repeats)
        diff = abs(ours_step(model, x, K, t_eval) - loop_step(model, x, K, t_eval)) if L <= 4096 else float("nan")
        lru, why = make_lru(S)
        t_lru = float("nan")
        if lru is not None:
            try:
                t_lru = run_ms(lambda: lru_step(lru, x, K, t_eval), 1)[0]
            except Exception as err:  # report and carry on
                why = f"failed: {type(err).__name__}: {err}"
        t_ours = statistics.median(t_ours + run_ms(ours, repeats))
        ratios[B, L, S] = (t_loop / t_ours, t_lru / t_ours)
        print(
            f"{B:>5} {L:>6} {S:>4} {K:>5} {t_eval:>6} {t_ours:9.1f} {t_loop:10.1f} {t_lru:10.1f} "
            f"{t_loop / t_ours:9.0f} {t_lru / t_ours:9.0f}  {diff:16.2e}",
            flush=True,
        )
        if why:
            print(f"  lru-pytorch: {why}")
    print("  (|loss ours-loop| is checked up to length 4096 only; lru-pytorch ran in float64 / complex128)")
    return ratios


def bench_exact(S, K, steps):
    """Exact-objective steps per second of train_run itself, joint and projected side by side.

    Each rate is steps / (wall of a run of 1 + `steps` steps - wall of the same run with 1 step), so
    the one-off work of a run (init, final metrics) is not counted; the two methods alternate.
    """
    print(f"\n2. exact-objective training steps (train_run, Adam), S={S}, K={K}: joint vs projected (b*(a) every step)")
    rates = {}
    for rho in [0.0, 0.7]:
        warm = RunSpec(S=S, K=K, rho=rho, init="uncertainty", objective="exact", method="joint", lr=1e-5, seed=0)
        train_run(replace(warm, steps=2))  # the first Adam step of a process imports torch._dynamo (~1.6 s)
        walls = {}
        for method in ["joint", "projected", "joint", "projected"]:
            spec = RunSpec(
                S=S,
                K=K,
                rho=rho,
                init="uncertainty",
                readout="optimal",
                objective="exact",
                method=method,
                lr=1e-5,
                seed=0,
            )
            timing = [train_run(replace(spec, steps=n, log_every=n))["wall_time"] for n in (1, 1 + steps)]
            walls.setdefault(method, []).append(timing[1] - timing[0])
        for method, w in walls.items():
            rates[rho, method] = steps / statistics.median(w)
            print(
                f"  rho={rho} {method:>9}: {rates[rho, method]:7.1f} steps/s ({1e3 / rates[rho, method]:.2f} ms/step)"
            )
    return rates


def bench_train(steps):
    spec = RunSpec(
        S=16,
        K=128,
        rho=0.7,
        init="uncertainty",
        readout="optimal",
        objective="sampled",
        method="joint",
        steps=steps,
        batch_size=16,
        t_eval=64,
        lr=0.003,
        schedule="cosine",
        seed=0,
    )
    train_x = signals.sample_ar1(0.7, 256, 192, 0)
    test_x = signals.sample_ar1(0.7, 512, 192, 1)
    print(f"\n3. one default training run: {spec}")
    t = time.perf_counter()
    rec = train_run(spec, train_x, test_x)
    wall = time.perf_counter() - t
    print(
        f"  wall {wall:.2f} s (record wall_time {rec['wall_time']:.2f} s), status {rec['status']}, "
        f"window loss {rec['initial_objective_loss']:.4f} -> {rec['objective_loss']:.4f}, "
        f"test MSE {rec['test_mse']:.4f}"
    )


def run_axis_rate(S, K, t_eval, R, steps, path: str) -> float:
    """Runs x steps per second of R sampled-objective runs trained by ``path``:

    - ``batched``: one model of R runs (``train.Sequences``, ``train.RunAdam``);
    - ``loop``: R one-run models of the same code, one after the other at each step;
    - ``previous``: R one-run models stepped as the previous main did, the minibatch's inputs
      transformed at every step (``train.sampled_mse``, FFTs of 2L points) and torch's Adam.
    """
    rng = np.random.default_rng(0)
    N = K + t_eval
    x = signals.AR1(0.7).sample(256, N, rng)
    data, xt = Sequences(x, Window(K, 0.7, N, t_eval), "cpu"), torch.from_numpy(x)
    starts = [inits.initialise("lru-ring", S, K, seed, "random", 0.7, r_min=0.9, r_max=0.999) for seed in range(R)]
    a, b = np.array([s[0] for s in starts]), np.array([s[1] for s in starts])  # (R, S)
    groups = [(a, b, list(range(R)))] if path == "batched" else [(a[r : r + 1], b[r : r + 1], [r]) for r in range(R)]
    models = [(LinearRNN(ga, gb) if path != "previous" else LinearRNN(ga[0], gb[0]), seeds) for ga, gb, seeds in groups]
    if path == "previous":
        optims = [torch.optim.Adam(m.parameters(), lr=1e-2, foreach=True) for m, _ in models]
        scheds = [torch.optim.lr_scheduler.CosineAnnealingLR(o, steps) for o in optims]
    else:
        optims = [RunAdam(m.parameters(), torch.full((len(seeds),), 1e-2, dtype=torch.float64)) for m, seeds in models]
    gens = [[torch.Generator().manual_seed(s) for s in seeds] for _, seeds in models]
    t = time.perf_counter()
    for step in range(steps):
        for i, ((model, seeds), opt, gen) in enumerate(zip(models, optims, gens)):
            idx = torch.stack([torch.randint(data.n, (16,), generator=g) for g in gen])  # (R, B)
            opt.zero_grad()
            if path == "previous":
                sampled_mse(model, xt[idx[0]], K, t_eval).backward()
                opt.step()
                scheds[i].step()
            else:
                data.mse(model, idx).sum().backward()
                opt.step(0.5 * (1 + math.cos(math.pi * step / steps)), torch.ones(len(seeds), dtype=torch.bool))
    return R * steps / (time.perf_counter() - t)


def bench_run_axis(quick: bool) -> dict:
    """Section 4: {(S, R): (batched / loop, batched / previous)} of runs x steps per second."""
    sizes = [(16, 64, 64, [1, 4, 16, 64], 100), (250, 2000, 250, [1, 4, 9, 16, 64], 10)]
    if quick:
        sizes = [(16, 64, 64, [1, 4, 16], 30), (250, 2000, 250, [1, 9], 3)]
    ratios = {}
    print("\n4. The run axis: runs x steps per second; batched model, loop over one-run models of the same")
    print("   code, and the previous main's one-run step (inputs transformed every step, torch's Adam)")
    for S, K, t_eval, Rs, steps in sizes:
        for R in Rs:
            rate = {path: run_axis_rate(S, K, t_eval, R, steps, path) for path in ["previous", "loop", "batched"]}
            ratios[S, R] = rate["batched"] / rate["loop"], rate["batched"] / rate["previous"]
            print(f"  S={S:3d} K={K:4d} L={K + t_eval:4d} R={R:2d}: batched {rate['batched']:7.0f}, "
                  f"loop {rate['loop']:7.0f}, previous {rate['previous']:7.0f} run-steps/s; "
                  f"batched/loop {ratios[S, R][0]:5.2f}x, batched/previous {ratios[S, R][1]:5.2f}x")  # fmt: skip
    return ratios


def projected_fit_seconds(S, K, R, steps, batched: bool) -> float:
    """Seconds of ``projection.fit_runs`` over R lru-ring runs: one R-run model, or R one-run models."""
    from shiftbench import objectives, projection

    objective = objectives.Stationary(K, 0.7)
    starts = [inits.initialise("lru-ring", S, K, seed // 2, "random", 0.7, r_min=0.9, r_max=0.999) for seed in range(R)]
    lrs = [0.01 if r % 2 == 0 else 0.02 for r in range(R)]  # seeds 0, 0, 1, 1, ... at two lrs
    a, b = np.array([s[0] for s in starts]), np.array([s[1] for s in starts])
    groups = [(a, b, lrs)] if batched else [(a[r : r + 1], b[r : r + 1], lrs[r : r + 1]) for r in range(R)]
    t = time.perf_counter()
    for ga, gb, glr in groups:
        projection.fit_runs(LinearRNN(ga, gb), objective, steps, glr, log_every=steps)
    return time.perf_counter() - t


def bench_projected(quick: bool) -> dict:
    """Section 5: {(S, R): batched / loop} of projected training, then a profile of the batched S = 250 fit."""
    import cProfile
    import pstats

    sizes = [(32, 128, 6, 100, 3), (250, 2000, 6, 10, 2)] if not quick else [(32, 128, 6, 30, 2)]
    ratios = {}
    print("\n5. Projected training (projection.fit_runs): R runs as one model against the loop of one-run models")
    for S, K, R, steps, repeats in sizes:
        times = {True: [], False: []}
        for _ in range(repeats):
            for batched in (True, False):
                times[batched].append(projected_fit_seconds(S, K, R, steps, batched))
        tb, tl = statistics.median(times[True]), statistics.median(times[False])
        ratios[S, R] = tl / tb
        print(f"  S={S:3d} K={K:4d} R={R}: {steps} steps, median of {repeats}: batched {tb:6.2f} s, loop {tl:6.2f} s; "
              f"per run-step batched {1e3 * tb / R / steps:6.2f} ms, alone {1e3 * tl / R / steps:6.2f} ms; "
              f"loop/batched {tl / tb:.2f}x")  # fmt: skip
    if not quick:
        S, K, R, steps = 250, 2000, 6, 10
        prof = cProfile.Profile()
        prof.runcall(projected_fit_seconds, S, K, R, steps, True)
        stats = pstats.Stats(prof)
        total = stats.total_tt
        parts = {
            "b*(a): Stationary.optimal_filter (orthonormal coordinates, per run)": "optimal_filter",
            "  of which basis.shift_coordinates (S first-order IIR filters of K + 1 taps)": "shift_coordinates",
            "  of which basis.residues (partial fractions, O(S^2))": "residues",
            "the batched loss (padded poles, WhiteFormReal, cross term)": "batched_loss",
            "its backward (one autograd pass for the R runs)": "grad",
            "re-seeding moves (crowded-pair moves after 3 rejections)": "_crowded_move",
        }
        cum = {}
        for (path, _, name), row in stats.stats.items():
            for label, fn in parts.items():
                if name == fn and (fn != "grad" or "autograd" in path):
                    cum[label] = cum.get(label, 0.0) + row[3]
        print(f"\n  profile of one batched fit at S={S}, K={K}, R={R}, {steps} steps (cProfile, {total:.2f} s in all,"
              f" {1e3 * total / R / steps:.1f} ms per run-step):")  # fmt: skip
        for label in parts:
            print(f"    {label:<78s} {cum.get(label, 0.0):6.2f} s  {100 * cum.get(label, 0.0) / total:5.1f}%")
    return ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and a short training run")
    ap.add_argument("--threads", default="2,1", help="torch thread counts to run everything at (default 2,1)")
    ap.add_argument("--runs", action="store_true", help="section 4 (the run axis) alone")
    ap.add_argument("--projected", action="store_true", help="section 5 (projected training's run axis) alone")
    args = ap.parse_args()
    print(
        f"bench_model: {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, nproc={os.cpu_count()}, "
        f"1-min load average {os.getloadavg()[0]:.2f} (other processes share these cores), torch {torch.__version__}"
    )
    if args.quick:
        configs, repeats, exact_S, exact_steps, steps = [(4, 1024, 64, 512, 64)], 3, 64, 20, 50
    else:
        configs, repeats, exact_S, exact_steps, steps = (
            [(16, 8192, 256, 2048, 64), (16, 2250, 250, 2000, 250)],
            7,
            256,
            100,
            400,
        )
    if args.projected:
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            print(f"\n=== torch.set_num_threads({threads}) ===")
            ratios = bench_projected(args.quick)
            if (32, 6) in ratios:
                ok = ratios[32, 6] >= 3
                print(f"\nTarget\n  [{threads} threads] projected batched >= 3x the loop at S=32, R=6: "
                      f"{ratios[32, 6]:.2f}x  {'PASS' if ok else 'FAIL'}")  # fmt: skip
        return
    if args.runs:
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            print(f"\n=== torch.set_num_threads({threads}) ===")
            ratios = bench_run_axis(args.quick)
            print("\nTargets")
            for (S, R), target in [((16, 16), 8), ((250, 9), 2)]:
                if (S, R) in ratios:
                    for ratio, against in zip(ratios[S, R], ["the loop", "the previous step"]):
                        print(f"  [{threads} threads] batched >= {target}x {against} at S={S}, R={R}: "
                              f"{ratio:.2f}x  {'PASS' if ratio >= target else 'FAIL'}")  # fmt: skip
        return
    results = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        print(f"\n=== torch.set_num_threads({threads}): torch.get_num_threads() = {torch.get_num_threads()} ===\n")
        results[threads] = bench_steps(configs, repeats), bench_exact(exact_S, 8 * exact_S, exact_steps)
        bench_train(steps)
        print(f"\n(1-min load average now: {os.getloadavg()[0]:.2f})")

    print("\nTargets")
    for threads, (ratios, rates) in results.items():
        if (16, 8192, 256) in ratios:
            loop, lru = ratios[16, 8192, 256]
            ok = loop >= 20 and lru >= 20  # NaN (lru unavailable) fails
            print(
                f"  [{threads} threads] ours >= 20x faster than loop and lru at (16, 8192, 256): "
                f"loop/ours {loop:.0f}x, "
                f"lru/ours {lru:.0f}x  {'PASS' if ok else 'FAIL'}"
            )
        else:
            print(f"  [{threads} threads] (16, 8192, 256) not measured (--quick)")
        label = f"S={exact_S}, K={8 * exact_S}" + ("" if exact_S == 256 else " (quick size, not the target's)")
        for (rho, method), rate in rates.items():
            target = 100 if method == "joint" else 20
            print(
                f"  [{threads} threads] exact-objective {method} >= {target} steps/s at {label}, rho={rho}: "
                f"{rate:.0f}/s  {'PASS' if rate >= target else 'FAIL'}"
            )


if __name__ == "__main__":
    main()
