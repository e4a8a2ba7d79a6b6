"""Put one trained diagonal layer on the map: its losses next to the optimum of its poles, the
reference of its family and the rigorous bound (``shiftbench evaluate``, docs/layers.md).

The layer is y_t = sum_k c_k x_{t-k} + d x_t with c_k = sum_s b_s a_s^k (``readers.Layer``). The
feed-through only changes lag 0 of the kernel, e -> e + d delta_0, so for AR(1) input
(gamma(j) = rho^|j|) the stationary loss of section 2 of docs/theory.md gains two terms:

    L(a, b, d) = L(a, b) + d^2 + 2 d (Re sum_s b_s / (1 - rho a_s) - rho^K).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from . import formulas, reference, targets, theory
from .layout import FAMILIES
from .objectives import STATIONARY
from .readers import Layer, LayerError

log = logging.getLogger("shiftbench")

COLUMNS = [
    "K",
    "rho",
    "S",
    "family",
    "loss",  # the layer as it is, feed-through included
    "optimal_loss",  # its poles, readout refit, no feed-through (the study's model: theory.optimal_loss)
    "optimal_loss_d",  # its poles, readout and feed-through refit
    "reference",  # the family's reference for (S, K, rho), NaN where none
    "lower_bound",  # rigorous, for any order-S filter without feed-through (theory.lower_bound)
    "recovered",  # (1 - loss) / (1 - reference)
    "recovered_optimal",  # (1 - optimal_loss) / (1 - reference)
    "recovered_own",  # (1 - loss) / (1 - optimal_loss): how much of its own poles' optimum it reaches
]


def stationary_loss(layer: Layer, K: int, rho: float) -> float:
    """The exact stationary loss of the layer, feed-through included (module docstring)."""
    try:
        loss = theory.exact_loss(layer.a, layer.b, K, rho)
    except FloatingPointError as err:
        raise LayerError(f"{layer.source}: {err}") from None
    if layer.d == 0:
        return loss
    cross = np.real(np.sum(layer.b / (1 - rho * layer.a))) - float(rho) ** K  # sum_k e_k gamma(k)
    return float(loss + layer.d**2 + 2 * layer.d * cross)


def target_loss(layer: Layer, target: targets.Target, rho: float) -> float:
    """The exact stationary loss of the layer for any target, feed-through included, normalised by the
    target's energy E (docs/layers.md): the feed-through adds (d^2 + 2 d (Re sum_s b_s / (1 - rho a_s)
    - (Gamma t)_0)) / E, with (Gamma t)_0 = sum_j rho^j t_j the target's cross term at a pole 0."""
    try:
        loss = targets.loss(layer.a, layer.b, target, rho)
    except FloatingPointError as err:
        raise LayerError(f"{layer.source}: {err}") from None
    if layer.d == 0:
        return loss
    cross = np.real(np.sum(layer.b / (1 - rho * layer.a))) - np.real(target.cross(np.zeros(1), rho)[0])
    return float(loss + (layer.d**2 + 2 * layer.d * cross) / target.energy(rho))


def window_loss(layer: Layer, K, rho: float, t_eval: int) -> float:
    """The finite-window loss (zero initial state, the last ``t_eval`` of K + t_eval steps scored).

    The feed-through is a pole at 0 with readout d: its kernel is d at lag 0 and nothing after. ``K``: a
    lag (the shift) or a ``targets.Target``, whose window is its horizon + t_eval steps and which, like the
    layer, sees the sequence from its start.
    """
    a = np.append(layer.a, 0.0)
    b = np.append(layer.b, layer.d)
    if isinstance(K, targets.Target):
        n = K.horizon + t_eval
        return theory.finite_window_loss(a, b, K.sequence(n), rho, n, t_eval)
    return theory.finite_window_loss(a, b, K, rho, K + t_eval, t_eval)


def optimal_loss_with_feedthrough(a, K: int, rho: float) -> float:
    """min over (b, d) of the stationary loss for the poles a: 1 - |f|^2 (docs/layers.md).

    In the whitened problem of docs/theory.md section 3, the readout alone spans the hyperplane of
    the (S+1)-dimensional Takenaka-Malmquist space with poles (rho, a) that has no feed-through;
    with d refit the model spans the whole space (for distinct non-zero poles), so the
    rank-one correction |f . l|^2 / |l|^2 drops out. A pole at 0 already is a feed-through.
    """
    a, _ = formulas.distinct(theory.check_poles(a))
    f, _ = theory.orthonormal_coordinates(a[a != 0], K, float(rho))
    return float(1 - np.sum(np.abs(f) ** 2))


def _check(Ks, rhos, window):
    """Lags, rhos and window as ints and floats, or ValueError naming the bad values."""
    Ks, rhos = list(Ks), [float(r) for r in rhos]
    bad = [K for K in Ks if isinstance(K, bool) or not float(K).is_integer() or K < 1]
    if not Ks or bad:
        raise ValueError(f"every lag K must be an integer >= 1, got {bad or 'none'}")
    bad = [r for r in rhos if not (np.isfinite(r) and 0 <= r < 1)]
    if not rhos or bad:
        raise ValueError(f"every rho must lie in [0, 1), got {bad or 'none'}")
    if window is not None and (not float(window).is_integer() or window < 1):
        raise ValueError(f"the window T must be an integer >= 1, got {window!r}")
    return [int(K) for K in Ks], rhos, None if window is None else int(window)


def _fraction(x: float, y: float) -> float:
    """x / y, NaN where y is 0 or NaN (no reference, or a reference that recovers nothing)."""
    return float(x / y) if y != 0 and np.isfinite(y) else float("nan")


def evaluate(layer: Layer, Ks, rhos, window: int | None = None) -> pd.DataFrame:
    """One row per (K, rho): the columns of ``COLUMNS`` (and ``window``, ``window_loss`` with a window)."""
    Ks, rhos, window = _check(Ks, rhos, window)
    rows = []
    for K in Ks:
        for rho in rhos:
            loss = stationary_loss(layer, K, rho)
            optimum = theory.optimal_loss(layer.a, K, rho)
            found = reference.lookup(layer.S, K, rho, objective=STATIONARY, family=layer.family)
            ref = np.nan if found is None else float(found["value"])
            row = {
                "K": K,
                "rho": rho,
                "S": layer.S,
                "family": layer.family,
                "loss": loss,
                "optimal_loss": optimum,
                "optimal_loss_d": optimal_loss_with_feedthrough(layer.a, K, rho),
                "reference": ref,
                "lower_bound": theory.lower_bound(layer.S, K, rho),
                "recovered": _fraction(1 - loss, 1 - ref),
                "recovered_optimal": _fraction(1 - optimum, 1 - ref),
                "recovered_own": _fraction(1 - loss, 1 - optimum),
            }
            if window is not None:
                row["window"] = window
                row["window_loss"] = window_loss(layer, K, rho, window)
            rows.append(row)
    return pd.DataFrame(rows)


def given_reference(references, layer: Layer, target, rho: float) -> float:
    """The value of the stationary reference of the layer's family and order for ``target`` (a Target, or
    a lag K: the shift) and rho among ``references`` (reference records: a study's
    results/reference/**/*.json), NaN where none matches."""
    target = targets.as_target(target)
    for r in references:
        spec = r.get("kernel") or {"name": "shift", "K": r.get("K")}
        if (r.get("objective"), r.get("family", "complex"), r.get("S"), r.get("rho")) != (
            STATIONARY, layer.family, layer.S, rho):  # fmt: skip
            continue
        try:
            if targets.as_target(spec) == target:
                return float(r["value"])
        except (TypeError, ValueError):
            continue
    return float("nan")


def read_references(paths) -> list[dict]:
    """The reference records of reference files (a study's results/reference/*.json, or one reference),
    read as JSON data; ValueError naming a file that is not one."""
    from pathlib import Path

    found = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable reference file ({err})") from None
        records = data.get("references", [data]) if isinstance(data, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) and "value" in r for r in records):
            raise ValueError(f"{path}: not a reference file (no reference records)")
        found += records
    return found


def evaluate_target(layer: Layer, target, rhos, window: int | None = None, references=()) -> pd.DataFrame:
    """One row per rho for a memory target (``targets.Target``): the layer's exact stationary loss for it
    (feed-through included, ``target_loss``), the optimum of its poles without and with a feed-through
    (``targets.optimum``), the family reference where ``references`` hold one, and the recovered
    fractions; ``K`` is the target's lag scale, and no rigorous lower bound is known (NaN)."""
    target = targets.as_target(target)
    _, rhos, window = _check([1], rhos, window)
    rows = []
    for rho in rhos:
        loss = target_loss(layer, target, rho)
        best = targets.optimum(layer.a, target, rho)
        ref = given_reference(references, layer, target, rho)
        row = {
            "target": json.dumps(target.spec, sort_keys=True),
            "K": targets.scale(target),
            "rho": rho,
            "S": layer.S,
            "family": layer.family,
            "loss": loss,
            "optimal_loss": best.loss,
            "optimal_loss_d": best.with_feedthrough,
            "reference": ref,
            "lower_bound": float("nan"),  # reference.NO_BOUND: the shift's bound does not carry over
            "recovered": _fraction(1 - loss, 1 - ref),
            "recovered_optimal": _fraction(1 - best.loss, 1 - ref),
            "recovered_own": _fraction(1 - loss, 1 - best.loss),
        }
        if window is not None:
            row["window"] = window
            row["window_loss"] = window_loss(layer, target, rho, window)
        rows.append(row)
    return pd.DataFrame(rows)


def parse_target(text: str, config_path=None) -> targets.Target:
    """A target from the CLI: a JSON spec such as '{"name": "exp", "lam": 0.9}', or the id of a target of
    the config's ``targets`` map (``config_path``, default config.yaml); ValueError naming what is wrong."""
    from pathlib import Path

    if text.lstrip().startswith("{"):
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"--target: not a JSON object ({err})") from None
        if not isinstance(spec, dict) or "name" not in spec:
            raise ValueError(f"--target: a JSON spec needs a 'name' key, got {text!r}")
        return targets.make_target(**spec)
    import yaml

    path = Path(config_path or "config.yaml")
    try:
        known = (yaml.safe_load(path.read_text()) or {}).get("targets") or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"--target {text!r}: a target id needs a readable config ({path}: {err})") from None
    if text not in known:
        raise ValueError(f"--target {text!r} is not a target of {path} (its targets: {sorted(known)}); "
                         "or give a JSON spec such as '{\"name\": \"exp\", \"lam\": 0.9}'")  # fmt: skip
    return targets.make_target(**known[text])


def plot_kernels(layer: Layer, Ks, rhos, path) -> None:
    """One panel per (K, rho): the layer's kernel, that of the optimal readout for its poles, the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .storage import atomic_path

    Ks, rhos, _ = _check(Ks, rhos, None)
    sns.set_theme(context="notebook", style="whitegrid")
    fig, axes = plt.subplots(len(Ks), len(rhos), figsize=(5 * len(rhos), 3 * len(Ks)), squeeze=False)
    for row, K in enumerate(Ks):
        lags = np.arange(2 * K + 1)
        own = layer.kernel(lags.size)
        for col, rho in enumerate(rhos):
            ax = axes[row, col]
            ax.plot(lags, own, lw=1.2, label="layer")
            try:
                best = theory.kernel(layer.a, theory.optimal_readout(layer.a, K, rho), lags.size).real
                ax.plot(lags, best, lw=1.2, label="optimal readout, its poles")
            except (FloatingPointError, ValueError) as err:  # b* overflows for crowded poles: say so
                log.warning("no optimal-readout kernel at K=%d, rho=%g: %s", K, rho, err)
            ax.vlines([K], 0, 1, colors="k", lw=1, label=f"target (lag {K})")
            ax.set_xlim(0, 2 * K)
            ax.set_title(f"S = {layer.S}, K = {K}, rho = {rho:g}", fontsize=10)
            ax.set_xlabel("lag k")
            if col == 0:
                ax.set_ylabel("kernel c_k")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=str(path).rsplit(".", 1)[-1] if "." in str(path) else "png")
    plt.close(fig)


def evaluate_file(path, fmt=None, channel=None, Ks=(), rhos=(0.0,), window=None, out=None, plot=None, target=None,
                  references=()) -> pd.DataFrame:  # fmt: skip
    """``shiftbench evaluate``: read the layer, evaluate it (the shift at each K, or ``target``, a
    ``targets.Target``), write the CSV (atomically) and the plot. ``references``: reference files of a
    study (``read_references``) that may hold the family's reference where none is committed."""
    from .readers import read_layer
    from .storage import atomic_path

    if target is None:
        Ks, rhos, window = _check(Ks, rhos, window)  # before reading: a bad K needs no file
    else:
        _, rhos, window = _check([1], rhos, window)
    given = read_references(references)
    layer = read_layer(path, fmt, channel)
    log.info("layer %s: S = %d poles (%s), feed-through d = %.6g", layer.source, layer.S, layer.family, layer.d)
    if layer.family not in FAMILIES:
        log.warning("layer %s: real poles of both signs belong to no pole family of the study (its real family "
                    "is positive: %s); the reference column stays empty", layer.source,
                    FAMILIES["real"].summary)  # fmt: skip
    if target is None:
        table = evaluate(layer, Ks, rhos, window)
        if given:  # where no reference is committed, one of the given files may hold it
            missing = table.reference.isna()
            table.loc[missing, "reference"] = [given_reference(given, layer, int(K), rho)
                                               for K, rho in zip(table.K[missing], table.rho[missing])]  # fmt: skip
            for col, num in [("recovered", "loss"), ("recovered_optimal", "optimal_loss")]:
                table[col] = [_fraction(1 - x, 1 - r) for x, r in zip(table[num], table.reference)]
    else:
        table = evaluate_target(layer, target, rhos, window, given)
    if out is not None:
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False, float_format="%.17g")
    if plot is not None:
        if target is None:
            plot_kernels(layer, Ks, rhos, plot)
        else:
            plot_target_kernels(layer, target, rhos, plot)
    return table


def plot_target_kernels(layer: Layer, target, rhos, path) -> None:
    """One panel per rho: the layer's kernel, that of the optimal readout of its poles for the target, and
    the target kernel itself, over twice the target's horizon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .storage import atomic_path

    sns.set_theme(context="notebook", style="whitegrid")
    fig, axes = plt.subplots(1, len(rhos), figsize=(5 * len(rhos), 3.2), squeeze=False)
    lags = np.arange(2 * target.horizon + 1)
    for ax, rho in zip(axes[0], rhos):
        ax.plot(lags, layer.kernel(lags.size), lw=1.2, label="layer")
        try:
            best = theory.kernel(layer.a, targets.optimal_readout(layer.a, target, rho), lags.size).real
            ax.plot(lags, best, lw=1.2, label="optimal readout, its poles")
        except (FloatingPointError, ValueError) as err:
            log.warning("no optimal-readout kernel at rho=%g: %s", rho, err)
        ax.plot(lags, target.sequence(lags.size), "k--", lw=1, label=f"target ({target.name})")
        ax.set_title(f"S = {layer.S}, {target.name} {json.dumps(target.spec)[1:-1]}, rho = {rho:g}", fontsize=9)
        ax.set_xlabel("lag k")
    axes[0, 0].set_ylabel("kernel c_k")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=str(path).rsplit(".", 1)[-1] if "." in str(path) else "png")
    plt.close(fig)


def evaluate_command(args) -> None:
    """``shiftbench evaluate`` with its parsed arguments (``cli``): the shift at each ``--K`` or one
    ``--target``; with any of the pruning options (docs/pruning.md), those are checked before anything
    is written. Prints the table, then the per-unit tables and the grades."""
    if (args.target is None) == (args.K is None):
        raise ValueError("evaluate needs either --K (the shift at those lags) or --target (a memory kernel)")
    target = None if args.target is None else parse_target(args.target, args.config)

    pruning = None
    if args.per_pole or args.ladder or args.ladder_plot or args.grades or args.prune:  # checked before any write
        from . import pruning as pr

        units = [target] if target is not None else [pr.as_target(None, K) for K in args.K]
        cells = [(unit, rho) for unit in units for rho in args.rho]
        prune = None if args.prune is None else (pr.parse_k(args.prune[0]), args.prune[1])
        pruning = pr.request(args.layer, args.format, args.channel, cells, args.scores, args.per_pole, args.ladder,
                             args.ladder_plot, args.grades, prune)  # fmt: skip
    table = evaluate_file(args.layer, args.format, args.channel, args.K or (), args.rho, args.window, args.out,
                          args.plot, target, args.reference or ())  # fmt: skip
    print(table.to_string(index=False, float_format=lambda x: f"{x:.6g}"))
    if pruning is not None:
        print(f"\n{pr.show(pruning.run())}")
