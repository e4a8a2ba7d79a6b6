"""The study configuration: its schema, validation, defaults and the grid it spans.

``workflow/schemas/config.schema.yaml`` is the one definition of every config key: its type, range,
default and meaning. Code that needs a default reads it from there (``defaults``), and the enums that
name things in code (inits, readouts, objectives, schedules) are checked against their registries by
the tests. ``load_config`` does what the Snakefile does (JSON schema with defaults, every number
finite, then the cross-field rules of ``check_config``), so a bad config is refused with the same
message with or without Snakemake, before any job runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import yaml

from . import inits

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


@functools.cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


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
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(SCHEMA))
    except WorkflowError:
        raise ConfigError(explain_schema_error(config)) from None
    check_finite(config)
    check_config(config)


def _error(path, message) -> str:
    key = ".".join(map(str, path)) or "(top level)"
    allowed = _description(path)
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
            inits.check_init(v["init"], v["readout"], v["params"])
        except ValueError as err:
            raise ConfigError(f"invalid config key inits.{vid}: {err}") from None
    fig, grid = config["figures"], config["grid"]
    if "kernels_S" in fig and fig["kernels_S"] not in grid["S"]:
        raise ConfigError(f"invalid config key figures.kernels_S: {fig['kernels_S']} is not in grid.S={grid['S']}")
    if "curves" in fig:
        c = fig["curves"]
        if (c.get("rho"), c.get("S"), c.get("K")) not in cells(config):
            raise ConfigError(
                f"invalid config key figures.curves: {c} is not a (rho, S, K) cell of the grid; cells: {cells(config)}"
            )


# -- the grid ---------------------------------------------------------------------------------------


def K_values(config, S: int) -> list[int]:
    g = config["grid"]
    return [m * S for m in g["K"]] if g["K_is_multiple_of_S"] else list(g["K"])


def cells(config) -> list[tuple[float, int, int]]:
    """Every (rho, S, K) of the grid."""
    g = config["grid"]
    return [(rho, S, K) for rho in g["rho"] for S in g["S"] for K in K_values(config, S)]


def sequence_length(config, K: int) -> int:
    """Length N = K + t_eval of the paper's protocol: the last t_eval steps are scored."""
    return K + config["data"]["t_eval"]


def rho_label(rho: float) -> str:
    """The text of rho in file names and run ids: the shortest decimal that reads back as the same float.

    Unique per value (two rhos that agree to six digits still get different labels), and never parsed
    back: jobs get rho itself from the config.
    """
    return np.format_float_positional(float(rho), trim="-")


def canonical(obj) -> str:
    """Deterministic JSON text (sorted keys): the form hashed and passed to jobs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def config_hash(config) -> str:
    """A stable digest of the whole config (never Python's salted ``hash()``)."""
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:16]


def train_job(config, objective: str, rho: float, S: int, variant: str, data_seed: int) -> dict:
    """The JSON job of one training rule: every K of the grid at this S, every seed and lr.

    It carries the variant and the ``train`` section whole, so a new training option is a schema
    entry and a ``RunSpec`` field, nothing here.
    """
    return {
        "objective": objective,
        "rho": rho,
        "S": S,
        "Ks": K_values(config, S),
        "variant": variant,
        "data_seed": data_seed,
        "init": config["inits"][variant],
        "train": config["train"],
        "t_eval": config["data"]["t_eval"],
    }
