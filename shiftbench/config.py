"""The study configuration: its schema, validation, defaults and the grid it spans.

``shiftbench/schemas/config.schema.yaml`` is the one definition of every config key: its type, range,
default and meaning. It is package data, read with ``importlib.resources`` (an installed wheel carries
it), and the workflow validates with this same schema through ``validate_config``. Code that needs a
default reads it from there (``defaults``). The keys that name a registered thing (inits, readout
rules, pole families, parameterisations, objectives, methods) carry ``x-registry: <name>`` instead of
an enum: ``schema`` fills in the enum from that registry (``registries``) and appends each entry's
summary to the description, so adding an entry edits no schema (docs/extending.md); the tests hold
each default to its registry. ``load_config`` does what
the Snakefile does (JSON schema with defaults, every number finite, then the cross-field rules of
``check_config``), so a bad config is refused with the same message with or without Snakemake, before
any job runs. A missing or broken schema file is a ConfigError naming the file.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from . import inits, layout, methods, objectives, targets

SCHEMA = resources.files("shiftbench") / "schemas" / "config.schema.yaml"  # package data


class ConfigError(ValueError):
    pass


def registries() -> dict:
    """``x-registry`` name -> (where the registry is, {entry: one-line summary}, whether it is an enum).

    Read afresh on each call: an entry registered at run time is in the schema at once.
    """
    return {
        "inits": ("shiftbench.inits.POLE_INITS", {n: inits.summary(n) for n in inits.POLE_INITS}, True),
        "init_params": ("shiftbench.inits.POLE_INITS", {n: _params(n) for n in inits.POLE_INITS}, False),
        "readouts": ("shiftbench.inits.READOUTS", dict(inits.READOUTS), True),
        "families": ("shiftbench.layout.FAMILIES", {n: f.summary for n, f in layout.FAMILIES.items()}, True),
        "parameterisations": (
            "shiftbench.layout.PARAMETERISATIONS",
            {
                n: p.summary + ("; needs an init with a step Delta" if p.needs_delta else "")
                for n, p in layout.PARAMETERISATIONS.items()
            },
            True,
        ),
        "objectives": (
            "shiftbench.objectives.OBJECTIVES",
            {
                n: o.summary + ("; a closed-form optimal readout b*(a)" if o.closed_form_readout else "")
                for n, o in objectives.OBJECTIVES.items()
            },
            True,
        ),
        "targets": (
            "shiftbench.targets.TARGETS",
            {n: cls.__doc__.strip().splitlines()[0] for n, cls in targets.TARGETS.items()},
            True,
        ),
        "methods": (
            "shiftbench.methods.METHODS",
            {
                n: m.summary + ("; needs an objective with a closed-form optimal readout" if m.projected else "")
                for n, m in methods.METHODS.items()
            },
            True,
        ),
    }


def _params(name) -> str:
    """'alpha=1' for init ``name``: its parameters and their defaults, '-' where it has none."""
    shown = {k: f"{v:g}" if isinstance(v, float) else v for k, v in inits.parameters(name).items()}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "-"


@functools.cache
def _raw_schema() -> dict:
    """The schema file as written; ConfigError naming the file where it is missing, unreadable or not a schema."""
    try:
        loaded = yaml.safe_load(SCHEMA.read_text())
        if not (isinstance(loaded, dict) and isinstance(loaded.get("properties"), dict)):
            raise ValueError("no mapping of properties at its top level")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as err:
        raise ConfigError(schema_error(err)) from None
    return loaded


@functools.cache
def _filled_schema(state) -> dict:
    """The schema file with each ``x-registry`` node filled from ``state`` (``registries``, frozen)."""
    found = {key: (where, dict(entries), enum) for key, where, entries, enum in state}
    filled = copy.deepcopy(_raw_schema())

    def fill(node):
        if isinstance(node, dict):
            if "x-registry" in node:
                if node["x-registry"] not in found:
                    reason = f"x-registry {node['x-registry']!r} is none of {list(found)}"
                    raise ConfigError(f"{SCHEMA}: not a readable config schema ({reason})")
                where, entries, enum = found[node["x-registry"]]
                if enum:
                    node.get("items", node)["enum"] = list(entries)  # an array's items, else the node's own
                known = "; ".join(f"{name} ({summary})" for name, summary in entries.items())
                node["description"] = f"{node.get('description', '')} Registered ({where}): {known}.".lstrip()
            for value in node.values():
                fill(value)
        elif isinstance(node, list):
            for value in node:
                fill(value)

    fill(filled)
    return filled


def schema() -> dict:
    """The config schema, its ``x-registry`` enums and descriptions from the registries as they are now;
    ConfigError naming the file where it is missing, unreadable or not a schema."""
    state = tuple((key, where, tuple(entries.items()), enum) for key, (where, entries, enum) in registries().items())
    return _filled_schema(state)


def _clear_schema_cache():
    _raw_schema.cache_clear()
    _filled_schema.cache_clear()


schema.cache_clear = _clear_schema_cache  # a test that points SCHEMA elsewhere clears both


def schema_error(err) -> str:
    """'<schema file>: not a readable config schema (<reason on one line>)'."""
    mark = getattr(err, "problem_mark", None)
    if mark is not None:  # YAML: the problem and where
        reason = f"{err.problem} at line {mark.line + 1}, column {mark.column + 1}"
    elif hasattr(err, "json_path"):  # not a JSON schema: what and where
        reason = f"{err.message} at {err.json_path}"
    else:  # a missing file, not text, no properties
        reason = getattr(err, "strerror", None) or " ".join(str(err).split())
    return f"{SCHEMA}: not a readable config schema ({reason or type(err).__name__})"


def _resolve(node: dict) -> dict:
    """Follow a local ``$ref`` (a JSON pointer such as ``#/definitions/name``)."""
    while isinstance(node, dict) and "$ref" in node:
        target = schema()
        for key in node["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        node = target
    return node


def _walk(path) -> list[dict]:
    """The schema nodes (unresolved) from the root along ``path``, as far as the schema goes."""
    nodes = [schema()]
    for key in path:
        node = _resolve(nodes[-1])
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        if isinstance(key, str) and key in props:
            nodes.append(props[key])
        elif isinstance(key, int) and "items" in node:
            nodes.append(node["items"])
        elif isinstance(extra, dict):
            nodes.append(extra)
        else:
            break
    return nodes


def schema_node(*path) -> dict:
    """The schema of the config value at ``path`` (keys, list indices or variant ids)."""
    nodes = _walk(path)
    if len(nodes) != len(path) + 1:
        raise KeyError(f"the config schema has no key {'.'.join(map(str, path))}")
    return _resolve(nodes[-1])


def defaults(*path) -> dict:
    """The schema's defaults of the object at ``path``, e.g. ``defaults("train")``."""
    return {k: v["default"] for k, v in schema_node(*path).get("properties", {}).items() if "default" in v}


def _description(path) -> str | None:
    """The most specific schema description along ``path`` (what is allowed there)."""
    found = None
    for node in _walk(path)[1:]:
        found = node.get("description") or _resolve(node).get("description") or found
    return found


def load_config(path_or_dict) -> dict:
    """Validate (filling defaults) and check a config; raises ConfigError naming key, value and range."""
    if isinstance(path_or_dict, (str, Path)):
        path_or_dict = yaml.safe_load(Path(path_or_dict).read_text())
    validate_config(path_or_dict)
    return path_or_dict


def validate_config(config):
    """Snakemake's schema validation (it also fills in defaults), finiteness, then the cross-field rules."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:  # a broken schema file: one ConfigError naming it, before Snakemake reads it
        jsonschema.Draft202012Validator.check_schema(schema())
    except jsonschema.exceptions.SchemaError as err:
        raise ConfigError(schema_error(err)) from None
    try:  # Snakemake validates a file: the schema as filled from the registries
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "config.schema.json"
            path.write_text(json.dumps(schema()))
            validate(config, str(path))
    except WorkflowError:
        raise ConfigError(explain_schema_error(config)) from None
    check_finite(config)
    check_config(config)


def _error(path, message, schema_path=None) -> str:
    """'invalid config key <path>: <message>. Allowed: <description of schema_path (default: path)>'."""
    key = ".".join(map(str, path)) or "(top level)"
    allowed = _description(path if schema_path is None else schema_path)
    return f"invalid config key {key}: {message}." + (f" Allowed: {allowed}" if allowed else "")


def explain_schema_error(config) -> str:
    """'key: problem (value). Allowed: <schema description>' for the most relevant schema error."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(config))
    return _error(list(error.absolute_path), error.message)


def kernel_section(config) -> dict:
    """The config's ``kernels`` section with its target ids resolved to their specs (``targets``)."""
    kernels = config["kernels"]
    return {**kernels, "targets": {tid: config["targets"][tid] for tid in kernels["targets"]}}


def check_finite(config, path=()):
    """Refuse NaN and infinities anywhere (JSON-schema range checks let NaN through)."""
    if isinstance(config, dict):
        for key, value in config.items():
            check_finite(value, (*path, key))
    elif isinstance(config, list):
        for i, value in enumerate(config):
            check_finite(value, (*path, i))
    elif isinstance(config, float) and not math.isfinite(config):
        raise ConfigError(_error(path, f"{config} is not a finite number"))


def _check_targets(config):
    """Every target builds (its parameters real, finite and in range), and every target a block or the
    kernels section names is one of them."""
    for tid, spec in config["targets"].items():
        try:
            targets.make_target(**spec)
        except (TypeError, ValueError) as err:
            raise ConfigError(_error(["targets", tid], str(err), ["targets"])) from None
    named = [(["kernels", "targets"], config["kernels"]["targets"])]
    named += [(["blocks", name, "targets"], b.get("targets", [])) for name, b in config["blocks"].items()]
    for path, ids in named:
        unknown = sorted(set(ids) - set(config["targets"]))
        if unknown:
            raise ConfigError(_error(path, f"{unknown} are not targets of the top-level targets map "
                                           f"{sorted(config['targets'])}"))  # fmt: skip
    for name, b in config["blocks"].items():
        if ("targets" in b) == ("K" in b["grid"]):
            what = "has both targets and a grid K (a target carries its own lags: drop K)" if "targets" in b else (
                "has neither targets nor a grid K (the shift needs its lags K)")  # fmt: skip
            raise ConfigError(_error(["blocks", name, "grid", "K"], f"block {name!r} {what}"))


def _check_kernels(kernels):
    """Every rule is an init of its family."""
    for rid, rule in kernels["inits"].items():
        try:
            inits.check_init(rule["init"], "zero", rule["params"], rule["family"])
        except ValueError as err:
            raise ConfigError(f"invalid config key kernels.inits.{rid}: {err}") from None
    if kernels["targets"] and not kernels["inits"]:
        raise ConfigError("invalid config key kernels.inits: the kernel targets need at least one rule to score")


def _check_pruning(config):
    """The pruning block is a block of the study, and its orders within pruning.max_S (its cost)."""
    p = config["pruning"]
    if p["block"] is None:
        return
    found = {b.name: b for b in blocks(config)}
    if p["block"] not in found:
        raise ConfigError(_error(["pruning", "block"], f"{p['block']!r} is not a block of the study {sorted(found)}"))
    largest = max(found[p["block"]].grid["S"])
    if largest > p["max_S"]:
        raise ConfigError(
            _error(["pruning", "block"], f"block {p['block']!r} has S = {largest} > pruning.max_S = {p['max_S']}")
        )


def check_config(config):
    """Rules a JSON schema cannot express; each message names the key, the value and what is allowed."""
    for vid, v in config["inits"].items():
        try:
            inits.check_init(v["init"], v["readout"], v["params"], v["family"])
        except ValueError as err:
            raise ConfigError(f"invalid config key inits.{vid}: {err}") from None
    _check_targets(config)
    _check_kernels(config["kernels"])
    _check_pruning(config)
    for name, block in config["blocks"].items():
        unknown = set(block.get("inits", [])) - set(config["inits"])
        if unknown:
            raise ConfigError(_error(["blocks", name, "inits"], f"{sorted(unknown)} are not variants of inits"))
        _check_block_train(config, name)
    for block in blocks(config):
        train = ["train"] if block.name == MAIN else ["blocks", block.name, "train"]
        no_delta = [vid for vid in block.variants if config["inits"][vid]["init"] not in inits.DELTA_INITS]
        parameterisation = block.train["parameterisation"]
        if layout.PARAMETERISATIONS[parameterisation].needs_delta and no_delta:
            others = [n for n, p in layout.PARAMETERISATIONS.items() if not p.needs_delta]
            raise ConfigError(
                _error(
                    [*train, "parameterisation"],
                    f"{parameterisation} (a = exp(Delta A)) needs an init with a step Delta "
                    f"{sorted(inits.DELTA_INITS)}; the variants {no_delta} of this block have none: put them in "
                    f"a block trained with {' or '.join(others)}",
                    ["train", "parameterisation"],
                )
            )
        _check_budget_factor(block, [*train, "budget_factor"])
        path = [*train, "methods"]
        unsupported = set(block.objectives) - set(projected_objectives())
        projected = sorted(m for m in block.train["methods"] if methods.METHODS[m].projected)
        if projected and unsupported:
            raise ConfigError(
                _error(
                    path,
                    f"{projected} need the closed-form readout b*(a) of a population objective "
                    f"{projected_objectives()}; this block also trains {sorted(unsupported)}: put those runs in a "
                    "block of their own",
                )
            )
    ref = config["theory"]["reference"]
    if ref["construction_starts"] + ref["random_starts"] < 1:
        raise ConfigError(
            _error(
                ["theory", "reference"], "construction_starts + random_starts = 0: the search needs at least one start"
            )
        )
    longest = max(unit_length(config, K, spec) for block in blocks(config) for S in block.grid["S"]
                  for K, _, spec in block.units(S))  # fmt: skip
    if longest > config["data"]["max_length"]:
        raise ConfigError(
            _error(
                ["data", "burn_in"],
                f"sequences of burn_in + K (a target's horizon) + t_eval = {longest} steps exceed "
                f"data.max_length = {config['data']['max_length']}",
            )
        )
    check_batch_memory(config)
    devices = {block.train["device"] for block in blocks(config)}
    if "cuda" in devices:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(_error(["train", "device"], "cuda is asked for but torch sees no CUDA device"))
    fig, study = config["figures"], all_cells(config)
    if "kernels_S" in fig and fig["kernels_S"] not in {S for _, S, _ in study}:
        raise ConfigError(_error(["figures", "kernels_S"], f"{fig['kernels_S']} is not an S of the study"))
    if "curves" in fig:
        c = fig["curves"]
        if (c.get("rho"), c.get("S"), c.get("K")) not in study:
            raise ConfigError(_error(["figures", "curves"], f"{c} is not a (rho, S, K) cell of the study: {study}"))


def batch_memory_mb(config, block: Block, objective: str, S: int, K: int, spec=None) -> float:
    """Estimated peak memory (MiB) of the batched model of one K of a training job.

    At most R = variants x len(seeds) x len(lr) runs share one model (the variants of one pole family;
    projected runs too).
    Sampled: per step the minibatch spectra, their product with the kernels' and its gradient,
    complex (R, batch_size, F) with F = (N + t_eval) / 2 + 1, the real outputs (R, batch_size,
    N + t_eval), and the stored spectra (n_train, F). Exact: the white-noise Gram matrices, their
    square and the gradients, complex (R, S, S).
    """
    t = block.train
    R = len(block.variants) * len(t["seeds"]) * len(t["lr"])
    if not objectives.OBJECTIVES[objective].sequences:  # the population loss: Gram matrices
        return 4 * 16 * R * S * S / 2**20
    n_fft = unit_length(config, K, spec) + config["data"]["t_eval"]
    F, B = n_fft // 2 + 1, t["batch_size"]
    return (16 * (4 * R * B * F + config["data"]["n_train"] * F) + 2 * 8 * R * B * n_fft) / 2**20


def check_batch_memory(config):
    """Refuse a study whose largest batched model would exceed ``data.max_batch_mb``, naming the keys."""
    limit = config["data"]["max_batch_mb"]
    for block in blocks(config):
        for objective in block.objectives:
            for S, K, spec in [(order, K, spec) for order in block.grid["S"] for K, _, spec in block.units(order)]:
                mb = batch_memory_mb(config, block, objective, S, K, spec)
                if mb > limit:
                    train = "train" if block.name == MAIN else f"blocks.{block.name}.train"
                    raise ConfigError(
                        _error(
                            ["data", "max_batch_mb"],
                            f"the batched model of block {block.name!r} at S={S}, K={K} ({objective}) would take "
                            f"about {mb:.0f} MiB > {limit:g}; it grows with its init variants x {train}.seeds x "
                            f"{train}.lr ({len(block.variants)} x {len(block.train['seeds'])} x "
                            f"{len(block.train['lr'])} runs), {train}.batch_size, "
                            "data.t_eval and K (sampled) or S^2 (exact): lower those, or raise data.max_batch_mb",
                        )
                    )


def _check_budget_factor(block, path):
    """train.budget_factor: an integer >= 2 (not a float such as 2.0, nor a bool), on a block that trains runs."""
    factor = block.train.get("budget_factor")
    if factor is None:
        return
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise ConfigError(_error(path, f"{factor!r} is not an integer >= 2", ["train", "budget_factor"]))
    if not (block.objectives and block.variants and block.unit_cells()):
        raise ConfigError(_error(path, f"block {block.name!r} trains no steps: there is no run to train longer",
                                 ["train", "budget_factor"]))  # fmt: skip


def _check_block_train(config, name):
    """A block's train overrides, checked as the top-level train section they replace keys of."""
    import jsonschema

    merged = {**config, "train": {**config["train"], **config["blocks"][name]["train"]}}
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(merged))
    if error is not None:
        path = list(error.absolute_path)
        key = ["blocks", name, *path] if path[:1] == ["train"] else path
        raise ConfigError(_error(key, error.message, path))


# -- the study: blocks and their cells ---------------------------------------------------------------

MAIN = "main"  # the block of the top-level grid, objectives and train section
SHIFT = "shift"  # the target id of the shift at the grid's K (the blocks without targets)


def projected_objectives() -> list[str]:
    """The objectives a projected method can train: those with a closed-form optimal readout b*(a)."""
    return [n for n, o in objectives.OBJECTIVES.items() if o.closed_form_readout]


@dataclass(frozen=True)
class Block:
    """One full product of a grid, objectives, init variants and training sweeps."""

    name: str
    grid: dict
    objectives: list
    variants: list
    train: dict
    targets: dict = field(default_factory=dict)  # target id -> spec; empty: the shift at the grid's K

    def K_values(self, S: int) -> list[int]:
        """The shift's lags at order S; a target block's lag scales (``targets.scale``), one per target."""
        if self.targets:
            return [K for K, _, _ in self.units(S)]
        g = self.grid
        return [m * S for m in g["K"]] if g["K_is_multiple_of_S"] else list(g["K"])

    def units(self, S: int) -> list[tuple[int, str, dict | None]]:
        """(K, target id, spec) of every target trained at order S: the shift at each K of the grid
        (id ``SHIFT``, spec None), or each target of a target block with K its lag scale."""
        if self.targets:
            return [(targets.scale(spec), tid, spec) for tid, spec in self.targets.items()]
        return [(K, SHIFT, None) for K in self.K_values(S)]

    def unit_cells(self) -> list[tuple[float, int, int, str]]:
        """Every (rho, S, K, target id) the block trains: its cells of the shift, or of its targets."""
        return [(rho, S, K, tid) for rho in self.grid["rho"] for S in self.grid["S"] for K, tid, _ in self.units(S)]

    def cells(self) -> list[tuple[float, int, int]]:
        """Every (rho, S, K) of the shift on the block's grid (none in a target block: see ``units``)."""
        if self.targets:
            return []
        return [(rho, S, K) for rho in self.grid["rho"] for S in self.grid["S"] for K in self.K_values(S)]


def blocks(config) -> list[Block]:
    """The main block (the top level), then those of ``blocks``, each complete: a block's missing
    objectives and inits are the main ones, and its train section overrides the main one key by key."""
    main = Block(MAIN, config["grid"], config["objectives"], list(config["inits"]), config["train"])
    return [main] + [
        Block(
            name,
            b["grid"],
            b.get("objectives", main.objectives),
            b.get("inits", main.variants),
            {**main.train, **b["train"]},
            {tid: config["targets"][tid] for tid in b.get("targets", [])},
        )
        for name, b in config["blocks"].items()
    ]


def all_cells(config) -> list[tuple[float, int, int]]:
    """Every (rho, S, K) of the study, over all blocks, sorted."""
    return sorted({cell for block in blocks(config) for cell in block.cells()})


def sequence_length(config, K: int) -> int:
    """Length N = burn_in + K + t_eval of a stored sequence: the last t_eval steps are scored."""
    return config["data"]["burn_in"] + K + config["data"]["t_eval"]


def unit_length(config, K: int, spec=None) -> int:
    """The sequence length of the shift at K (``sequence_length``) or of a target: burn_in + its horizon
    (``targets.Target.horizon``) + t_eval."""
    return sequence_length(config, K if spec is None else targets.make_target(**spec).horizon)


def float_label(x: float) -> str:
    """The text of a number (rho, lr) in file names and run ids: the shortest decimal that reads back
    as the same float. Unique per value (two rhos that agree to six digits still get different
    labels), and never parsed back: jobs get the value itself from the config."""
    return np.format_float_positional(float(x), trim="-")


def canonical(obj) -> str:
    """Deterministic JSON text (sorted keys): the form hashed and passed to jobs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def config_hash(config) -> str:
    """A stable digest of the whole config (never Python's salted ``hash()``)."""
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:16]


def train_job(config, block: Block, objective: str, rho: float, S: int, data_seed: int) -> dict:
    """The JSON job of one training rule: every K (or target) of the block at this S, every init variant,
    method, lr and seed.

    It carries the variants and the block's ``train`` section whole, so a new training option is a
    schema entry and a ``RunSpec`` field, nothing here.
    """
    job = {
        "block": block.name,
        "objective": objective,
        "rho": rho,
        "S": S,
        "Ks": block.K_values(S),
        "variants": {vid: config["inits"][vid] for vid in block.variants},
        "data_seed": data_seed,
        "train": block.train,
        "t_eval": config["data"]["t_eval"],
        "burn_in": config["data"]["burn_in"],
    }
    if block.targets:  # [id, spec] of each target, beside its lag scale in Ks
        job["targets"] = [[tid, spec] for _, tid, spec in block.units(S)]
    return job
