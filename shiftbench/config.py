"""The study configuration: its schema, validation, defaults and the grid it spans.

``shiftbench/schemas/config.schema.yaml`` is the one definition of every config key: its type, range,
default and meaning. It is package data, read with ``importlib.resources`` (an installed wheel carries
it), and the workflow validates with this same file through ``validate_config``. Code that needs a
default reads it from there (``defaults``), and the enums that name things in code (inits, readouts,
objectives, schedules) are checked against their registries by the tests. ``load_config`` does what
the Snakefile does (JSON schema with defaults, every number finite, then the cross-field rules of
``check_config``), so a bad config is refused with the same message with or without Snakemake, before
any job runs. A missing or broken schema file is a ConfigError naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from . import inits

SCHEMA = resources.files("shiftbench") / "schemas" / "config.schema.yaml"  # package data


class ConfigError(ValueError):
    pass


@functools.cache
def schema() -> dict:
    """The config schema; ConfigError naming the file where it is missing, unreadable or not a schema."""
    try:
        loaded = yaml.safe_load(SCHEMA.read_text())
        if not (isinstance(loaded, dict) and isinstance(loaded.get("properties"), dict)):
            raise ValueError("no mapping of properties at its top level")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as err:
        raise ConfigError(schema_error(err)) from None
    return loaded


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
    """Follow a local ``$ref`` (``#/definitions/name``)."""
    while isinstance(node, dict) and "$ref" in node:
        node = schema()["definitions"][node["$ref"].rsplit("/", 1)[-1]]
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
    try:
        with resources.as_file(SCHEMA) as path:
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


def check_config(config):
    """Rules a JSON schema cannot express; each message names the key, the value and what is allowed."""
    for vid, v in config["inits"].items():
        try:
            inits.check_init(v["init"], v["readout"], v["params"], v["family"])
        except ValueError as err:
            raise ConfigError(f"invalid config key inits.{vid}: {err}") from None
    for name, block in config["blocks"].items():
        unknown = set(block.get("inits", [])) - set(config["inits"])
        if unknown:
            raise ConfigError(_error(["blocks", name, "inits"], f"{sorted(unknown)} are not variants of inits"))
        _check_block_train(config, name)
    for block in blocks(config):
        train = ["train"] if block.name == MAIN else ["blocks", block.name, "train"]
        no_delta = [vid for vid in block.variants if config["inits"][vid]["init"] not in inits.DELTA_INITS]
        if block.train["parameterisation"] == "zoh" and no_delta:
            raise ConfigError(
                _error(
                    [*train, "parameterisation"],
                    f"zoh (a = exp(Delta A)) needs an init with a step Delta {sorted(inits.DELTA_INITS)}; "
                    f"the variants {no_delta} of this block have none: put them in a block trained with exp-exp",
                    ["train", "parameterisation"],
                )
            )
        path = [*train, "methods"]
        unsupported = set(block.objectives) - set(PROJECTED_OBJECTIVES)
        projected = {"projected", "reseed"} & set(block.train["methods"])
        if projected and unsupported:
            raise ConfigError(
                _error(
                    path,
                    f"{sorted(projected)} need the readout b*(a) of a population objective {PROJECTED_OBJECTIVES}; "
                    f"this block also trains {sorted(unsupported)}: put those runs in a block of their own",
                )
            )
    ref = config["theory"]["reference"]
    if ref["construction_starts"] + ref["random_starts"] < 1:
        raise ConfigError(
            _error(
                ["theory", "reference"], "construction_starts + random_starts = 0: the search needs at least one start"
            )
        )
    longest = max(sequence_length(config, K) for _, _, K in all_cells(config))
    if longest > config["data"]["max_length"]:
        raise ConfigError(
            _error(
                ["data", "burn_in"],
                f"sequences of burn_in + K + t_eval = {longest} steps exceed "
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


def batch_memory_mb(config, block: Block, objective: str, S: int, K: int) -> float:
    """Estimated peak memory (MiB) of the batched model of one K of a training job.

    At most R = variants x len(seeds) x len(lr) runs share one model (the variants of one pole family;
    projected runs train one at a time, smaller).
    Sampled: per step the minibatch spectra, their product with the kernels' and its gradient,
    complex (R, batch_size, F) with F = (N + t_eval) / 2 + 1, the real outputs (R, batch_size,
    N + t_eval), and the stored spectra (n_train, F). Exact: the white-noise Gram matrices, their
    square and the gradients, complex (R, S, S).
    """
    t = block.train
    R = len(block.variants) * len(t["seeds"]) * len(t["lr"])
    if objective == "exact":
        return 4 * 16 * R * S * S / 2**20
    n_fft = sequence_length(config, K) + config["data"]["t_eval"]
    F, B = n_fft // 2 + 1, t["batch_size"]
    return (16 * (4 * R * B * F + config["data"]["n_train"] * F) + 2 * 8 * R * B * n_fft) / 2**20


def check_batch_memory(config):
    """Refuse a study whose largest batched model would exceed ``data.max_batch_mb``, naming the keys."""
    limit = config["data"]["max_batch_mb"]
    for block in blocks(config):
        for objective in block.objectives:
            for _, S, K in block.cells():
                mb = batch_memory_mb(config, block, objective, S, K)
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
PROJECTED_OBJECTIVES = ("exact",)  # projected needs the closed-form b*(a) of the objective it trains


@dataclass(frozen=True)
class Block:
    """One full product of a grid, objectives, init variants and training sweeps."""

    name: str
    grid: dict
    objectives: list
    variants: list
    train: dict

    def K_values(self, S: int) -> list[int]:
        g = self.grid
        return [m * S for m in g["K"]] if g["K_is_multiple_of_S"] else list(g["K"])

    def cells(self) -> list[tuple[float, int, int]]:
        """Every (rho, S, K) of the block's grid."""
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
        )
        for name, b in config["blocks"].items()
    ]


def all_cells(config) -> list[tuple[float, int, int]]:
    """Every (rho, S, K) of the study, over all blocks, sorted."""
    return sorted({cell for block in blocks(config) for cell in block.cells()})


def sequence_length(config, K: int) -> int:
    """Length N = burn_in + K + t_eval of a stored sequence: the last t_eval steps are scored."""
    return config["data"]["burn_in"] + K + config["data"]["t_eval"]


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
    """The JSON job of one training rule: every K of the block at this S, every init variant, method,
    lr and seed.

    It carries the variants and the block's ``train`` section whole, so a new training option is a
    schema entry and a ``RunSpec`` field, nothing here.
    """
    return {
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
