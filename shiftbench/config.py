"""The study configuration: schema validation, cross-field rules and the grid it spans.

``load_config`` is what the Snakefile does (JSON schema with defaults, then ``check_config``), so a
bad config is refused with the same message with or without Snakemake, before any job runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from . import inits

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def load_config(path_or_dict, schema=SCHEMA) -> dict:
    """Validate (filling defaults) and check a config; raises ConfigError naming key, value and range."""
    config = yaml.safe_load(open(path_or_dict)) if isinstance(path_or_dict, (str, Path)) else path_or_dict
    validate_config(config, schema)
    return config


def validate_config(config, schema=SCHEMA):
    """Snakemake's schema validation (it also fills in defaults), with a one-paragraph error."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(schema))
    except WorkflowError:
        raise ConfigError(explain_schema_error(config, schema)) from None
    check_config(config)


def explain_schema_error(config, schema=SCHEMA) -> str:
    """'key: problem (value). Allowed: <schema description>' for the most relevant schema error."""
    import jsonschema

    schema = yaml.safe_load(open(schema))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    node, allowed = schema, None
    for step in list(error.absolute_schema_path)[:-1]:  # walk to the failing keyword, keep the last description
        if isinstance(node, dict) and step not in node and "$ref" in node:  # jsonschema follows $ref silently
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        node = node[step]
        if isinstance(node, dict) and "description" in node:
            allowed = node["description"]
    return f"invalid config key {key}: {error.message}." + (f" Allowed: {allowed}" if allowed else "")


def K_values(config, S: int) -> list[int]:
    g = config["grid"]
    return [m * S for m in g["K"]] if g.get("K_is_multiple_of_S", True) else list(g["K"])


def cells(config) -> list[tuple[float, int, int]]:
    """Every (rho, S, K) of the grid."""
    g = config["grid"]
    return [(rho, S, K) for rho in g["rho"] for S in g["S"] for K in K_values(config, S)]


def sequence_length(config, K: int) -> int:
    """Length N = K + t_eval of the paper's protocol: the last t_eval steps are scored."""
    return K + config["data"]["t_eval"]


def check_config(config):
    """Rules a JSON schema cannot express; each message names the key, the value and what is allowed."""
    for vid, v in config["inits"].items():
        try:
            inits.check_init(v["init"], v.get("readout", "optimal"), v.get("params", {}))
        except ValueError as err:
            raise ConfigError(f"inits.{vid}: {err}") from None
        p = v.get("params", {})
        if v["init"] == "lru-ring" and p.get("r_min", 0.0) > p.get("r_max", 1.0):
            raise ConfigError(f"inits.{vid}.params: r_min={p['r_min']} must not exceed r_max={p.get('r_max', 1.0)}")
    for rho, S, K in cells(config):
        if K < 1:
            raise ConfigError(f"grid.K: K={K} at S={S} is not a positive integer")
    fig = config.get("figures", {})
    grid = config["grid"]
    if "kernels_S" in fig and fig["kernels_S"] not in grid["S"]:
        raise ConfigError(f"figures.kernels_S={fig['kernels_S']} is not in grid.S={grid['S']}")
    if "curves" in fig:
        c = fig["curves"]
        if (c.get("rho"), c.get("S"), c.get("K")) not in cells(config):
            raise ConfigError(f"figures.curves={c} is not a (rho, S, K) cell of the grid; cells: {cells(config)}")


def canonical(obj) -> str:
    """Deterministic JSON text (sorted keys): the form hashed and passed to jobs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def config_hash(config) -> str:
    """A stable digest of the whole config (never Python's salted ``hash()``)."""
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:16]


def train_job(config, objective: str, rho: float, S: int, variant: str, data_seed: int) -> dict:
    """The JSON job of one training rule: every K of the grid at this S, every seed and lr."""
    v, t = config["inits"][variant], config["train"]
    return {
        "objective": objective, "rho": rho, "S": S, "Ks": K_values(config, S), "variant": variant,
        "init": v["init"], "init_params": v.get("params", {}), "readout": v.get("readout", "optimal"),
        "lrs": t["lr"], "seeds": t["seeds"], "steps": t["steps"], "batch_size": t["batch_size"],
        "schedule": t["schedule"], "clip": t["clip"], "log_every": t["log_every"], "device": t["device"],
        "t_eval": config["data"]["t_eval"], "data_seed": data_seed,
    }
