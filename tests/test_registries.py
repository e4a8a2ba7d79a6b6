"""One registry per concept: inits, pole families, methods, objectives, parameterisations and readout
rules are each defined once, with their properties, and every consumer reads the registry.

The schema file names no entry (its enums are filled from the registries), every default it gives is
a registered name, no consumer module or workflow rule names an entry in its own code, and a toy
entry registered at run time is accepted by the config, the CLI, training, the Claims and the
figures without another edit."""

import ast
import re

import pandas as pd
import pytest
from conftest import REPO

from shiftbench import claims, cli, config, inits, jobs, layout, plots, readers, targets, train
from shiftbench.layout import FAMILIES, PARAMETERISATIONS, Family
from shiftbench.methods import METHODS, Method
from shiftbench.objectives import OBJECTIVES, Objective, Stationary

# x-registry name -> the registry's names, as the code defines them
NAMES = {
    "inits": lambda: list(inits.POLE_INITS),
    "init_params": lambda: list(inits.POLE_INITS),
    "readouts": lambda: list(inits.READOUTS),
    "families": lambda: list(FAMILIES),
    "parameterisations": lambda: list(PARAMETERISATIONS),
    "objectives": lambda: list(OBJECTIVES),
    "methods": lambda: list(METHODS),
    "targets": lambda: list(targets.TARGETS),
}


def registry_nodes(node, path=()):
    """(path, node) of every schema node that carries ``x-registry``."""
    if isinstance(node, dict):
        if "x-registry" in node:
            yield path, node
        for key, value in node.items():
            yield from registry_nodes(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from registry_nodes(value, (*path, i))


def test_every_registry_is_in_the_schema_and_the_file_names_no_entry():
    raw = list(registry_nodes(config._raw_schema()))
    assert {node["x-registry"] for _, node in raw} == set(NAMES) == set(config.registries())
    for path, node in raw:
        assert "enum" not in node and "enum" not in node.get("items", {}), f"{path}: an enum written in the file"


def test_schema_enums_and_descriptions_are_the_registries():
    filled = list(registry_nodes(config.schema()))
    assert len(filled) == len(list(registry_nodes(config._raw_schema())))
    for path, node in filled:
        names = NAMES[node["x-registry"]]()
        enum = node.get("items", node).get("enum")
        assert enum == (None if node["x-registry"] == "init_params" else names), path
        for name in names:
            assert f"{name} (" in node["description"], (path, name)


def with_defaults(node, path=()):
    """(path, node, default) of every schema node that gives a default, its ``$ref`` followed."""
    if isinstance(node, dict):
        if "default" in node:
            yield path, {**config._resolve(node), **{k: v for k, v in node.items() if k != "$ref"}}, node["default"]
        for key, value in node.items():
            yield from with_defaults(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from with_defaults(value, (*path, i))


def test_every_schema_default_at_a_registry_key_is_registered():
    checked = []
    for path, node, default in with_defaults(config.schema()):
        if node.get("x-registry", "init_params") != "init_params":
            given = default if isinstance(default, list) else [default]
            assert set(given) <= set(NAMES[node["x-registry"]]()), (path, given)
            checked.append(node["x-registry"])
    assert sorted(set(checked)) == ["families", "methods", "objectives", "parameterisations", "readouts"]
    assert checked.count("families") == 2  # an init variant's and a kernel rule's


def test_the_roles_are_registered_entries():
    from shiftbench import objectives

    assert layout.BASELINE in FAMILIES and FAMILIES[layout.BASELINE].paired
    assert objectives.STATIONARY in OBJECTIVES
    assert isinstance(objectives.population(objectives.STATIONARY, 8, 0.5, 4, 0), Stationary)
    assert all(m.improves_on in METHODS for m in METHODS.values() if m.improves_on)
    assert inits.TABULATED <= set(inits.POLE_INITS) and inits.DELTA_INITS <= set(inits.POLE_INITS)
    assert all(set(fs) <= set(FAMILIES) for fs in inits.FAMILIES.values())
    assert config.projected_objectives() == [n for n, o in OBJECTIVES.items() if o.closed_form_readout]


def test_every_method_has_its_own_line_style_none_of_the_theorys():
    styles = [plots.method_style(m) for m in METHODS]
    theory = {plots.REFERENCE_STYLE, plots.BOUND_STYLE, plots.LIMIT_STYLE}
    assert len(set(styles)) == len(styles) and not set(styles) & theory
    assert len(plots.METHOD_STYLES) > len(METHODS)  # room for one more method before styles repeat
    assert len(set(plots.METHOD_STYLES)) == len(plots.METHOD_STYLES) and not set(plots.METHOD_STYLES) & theory


# -- no consumer names an entry ------------------------------------------------------------------------

# Modules that may name entries: the registries themselves, and the code of an entry (an init's own
# family, a parameterisation's own map), each with why.
MAY_NAME = {
    "layout.py": "the families' and parameterisations' registry",
    "methods.py": "the methods' registry",
    "objectives.py": "the objectives' registry and their population losses",
    "inits.py": "each init's own code names the family it builds; the registry of inits and readouts",
    "model.py": "each parameterisation's own map from parameters to poles",
    "projection.py": "the pair moves of the complex family and the exp-exp phase weights: projection's own code",
    "reference.py": "the reference search's own code: the real family's coinciding-pole search, the window rule",
    "theory.py": "closed forms: no registry",
    "readers/layer.py": "a layer's family is classified by its pole values (complex, real, or real-signed)",
    "evaluate.py": "the warning on a layer of real poles of both signs names the real family it is not",
}
NOT_A_NAME = ["mannwhitneyu"]  # scipy's method="exact": an exact test, no objective


def docstrings(tree) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            out.add(id(body[0].value))
    return out


def test_no_consumer_names_a_registered_entry():
    names = set().union(*(NAMES[k]() for k in ("families", "parameterisations", "objectives", "methods")))
    package = REPO / "shiftbench"
    hits = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        if name in MAY_NAME:
            continue
        source = path.read_text()
        lines, tree = source.splitlines(), ast.parse(source)
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in skip:
                line = lines[node.lineno - 1]
                if not any(ok in line for ok in NOT_A_NAME):
                    hits.append(f"shiftbench/{name}:{node.lineno}: {line.strip()}")
    alternatives = "|".join(map(re.escape, sorted(names)))
    quoted = re.compile(rf"""["']({alternatives})["']""")
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if quoted.search(line):
                hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, "read the registry's properties instead:\n" + "\n".join(hits)


def test_the_scan_sees_a_consumer_that_names_an_entry():
    """The scan's own check: a comparison with a method's name in a module is found, a docstring is not."""
    tree = ast.parse('"""projected, in a docstring"""\nif method == "projected":\n    pass\n')
    found = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docstrings(tree)]
    assert found == ["projected"]


# -- a toy entry is accepted everywhere ----------------------------------------------------------------

GRID = {"S": [4], "K": [2], "rho": [0.0]}


def cli_accepts(*argv) -> bool:
    """Whether the command line accepts these arguments (checked up to --help, before any work)."""
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    return exit_.value.code == 0


def test_a_new_method_is_one_entry(scratch_registries, capsys):
    METHODS["toy"] = Method("toy", "a toy learner", improves_on="joint")
    cfg = config.load_config({"grid": GRID, "inits": {"u": {"init": "uncertainty"}}, "train": {"methods": ["toy"]}})
    assert cfg["train"]["methods"] == ["toy"]
    assert "toy (a toy learner)" in config.schema_node("train", "methods")["description"]
    spec = train.RunSpec(S=4, K=8, rho=0.0, init="uncertainty", objective="sampled", method="toy", lr=0.01, seed=0)
    assert spec.method == "toy"
    assert plots.method_style("toy") not in {plots.method_style(m) for m in METHODS if m != "toy"}
    METHODS["toy-projected"] = Method("toy-projected", "a toy projected learner", projected=True)
    with pytest.raises(config.ConfigError, match=r"\['toy-projected'\] need the closed-form readout"):
        config.load_config(
            {"grid": GRID, "inits": {"u": {"init": "uncertainty"}}, "objectives": ["sampled"],
             "train": {"methods": ["toy-projected"]}}
        )  # fmt: skip


def test_a_new_method_is_compared_with_the_one_it_improves_on(scratch_registries):
    METHODS["toy"] = Method("toy", "a toy learner", improves_on="joint")
    cells = [(4, K, 0.0) for K in (4, 8, 16, 32, 64, 128)]
    runs = pd.DataFrame(
        [{"block": "main", "S": S, "K": K, "rho": rho, "objective": "exact", "method": method, "variant": "u",
          "seed": seed, "objective_loss": loss, "status": "ok"}
         for S, K, rho in cells for seed in range(3) for method, loss in [("joint", 0.5), ("toy", 0.3)]]
    )  # fmt: skip
    summary = (
        runs.groupby(["S", "K", "rho", "objective", "method", "variant"], as_index=False)
        .objective_loss.mean()
        .assign(recovered=lambda d: 1 - d.objective_loss)
    )
    (claim, verdict, _), *_ = claims._method_claims(runs, runs, summary, 0.05)
    assert claim == "[exact] toy (a toy learner) recovers more than joint, from u" and verdict == "supported"


def test_a_new_family_is_one_entry(scratch_registries, capsys):
    FAMILIES["toy-family"] = Family("toy-family", False, "any", "toy real poles")

    @inits.pole_init("toy-init", families=("toy-family",))
    def toy_init(S, K, rng):
        return layout.Layout.of("toy-family", S).assemble((), [(-0.5) ** (n + 1) for n in range(S)])

    variant = {"init": "toy-init", "family": "toy-family"}
    assert config.load_config({"grid": GRID, "inits": {"t": variant}})["inits"]["t"]["readout"] == "optimal"
    assert cli_accepts("reference", "--objective", "exact", "--family", "toy-family")
    assert not cli_accepts("reference", "--objective", "exact", "--family", "no-such-family")
    reference = pd.DataFrame(
        [{"family": f, "objective": "exact", "S": 4, "K": 8, "rho": 0.0, "value": v}
         for f, v in [("complex", 0.5), ("real", 0.6), ("toy-family", 0.8)]]
    )  # fmt: skip
    gains = claims.family_gains(reference).set_index("family").family_gain
    assert gains.to_dict() == pytest.approx({"real": 0.8, "toy-family": 0.4})
    assert plots.look(FAMILIES, "toy-family", plots.FAMILY_LOOKS) not in [
        plots.look(FAMILIES, f, plots.FAMILY_LOOKS) for f in ("complex", "real")
    ]


def test_a_new_objective_is_offered_by_the_schema_and_the_cli(scratch_registries, capsys):
    OBJECTIVES["toy-objective"] = Objective(
        "toy-objective", "a toy", "toy loss", lambda K, rho, t_eval, burn_in: Stationary(K, rho), False, True
    )
    cfg = config.load_config(
        {"grid": GRID, "inits": {"u": {"init": "uncertainty"}}, "objectives": ["toy-objective"],
         "train": {"methods": ["projected"]}}
    )  # fmt: skip
    assert cfg["objectives"] == ["toy-objective"] and "toy-objective" in config.projected_objectives()
    assert cli_accepts("reference", "--objective", "toy-objective")
    assert plots.objective_name("toy-objective") == "toy-objective objective (toy loss)"


def test_a_new_init_is_one_entry_and_the_theory_table_tabulates_it_if_asked(scratch_registries):
    @inits.pole_init("toy-init", tabulated=True)
    def toy_init(S, K, rng, radius=0.9):
        return inits.POLE_INITS["uncertainty"](S, K, rng) * radius

    cfg = config.load_config({"grid": GRID, "inits": {"t": {"init": "toy-init", "params": {"radius": 0.5}}}})
    assert cfg["inits"]["t"]["params"] == {"radius": 0.5}
    assert "toy-init (radius=0.9)" in config.schema_node("inits", "v", "params")["description"]
    with pytest.raises(config.ConfigError, match="no parameter"):
        config.load_config({"grid": GRID, "inits": {"t": {"init": "toy-init", "params": {"alpha": 1.0}}}})
    cell = jobs.theory_cell(4, 8, 0.0, [1.0])
    assert list(cell["init_optimal_loss"]) == [n for n in inits.POLE_INITS if n in inits.TABULATED]
    assert "toy-init" in cell["init_optimal_loss"]


def test_an_init_of_an_unknown_family_is_refused_when_it_is_registered():
    with pytest.raises(ValueError, match="must be pole families"):
        inits.pole_init("toy", families=("no-such-family",))


# -- the README's lists of what a registry holds -------------------------------------------------------------

# Each list of a registry's entries in the README sits between <!-- registry:KEY --> and <!-- /registry -->,
# its entries written **`name`**; every registry below is listed at least once, and each list is exactly it.
LISTED = {
    "readers": lambda: list(readers.READERS),
    "families": lambda: list(FAMILIES),
    "methods": lambda: list(METHODS),
    "targets": lambda: list(targets.TARGETS),
    "parameterisations": lambda: list(PARAMETERISATIONS),
    "objectives": lambda: list(OBJECTIVES),
    "inits": lambda: list(inits.POLE_INITS),
    "readouts": lambda: list(inits.READOUTS),
}
MARKED = re.compile(r"<!-- registry:([\w-]+) -->(.*?)<!-- /registry -->", re.S)
ENTRY = re.compile(r"\*\*`([^`]+)`\*\*")


def drift(text: str) -> list[str]:
    """What the marked lists of ``text`` get wrong against the registries as they are now ([] if nothing)."""
    found = [(key, ENTRY.findall(span)) for key, span in MARKED.findall(text)]
    problems = [f"no list of the registry {key!r}" for key in LISTED if key not in {k for k, _ in found}]
    for key, names in found:
        if key not in LISTED:
            problems.append(f"a list of the unknown registry {key!r}")
            continue
        registered = LISTED[key]()
        missing, extra = sorted(set(registered) - set(names)), sorted(set(names) - set(registered))
        if missing or extra or len(names) != len(set(names)):
            problems.append(f"{key}: not listed {missing}, listed but not registered {extra}, listed {names}")
    return problems


def test_the_readme_lists_every_registered_entry():
    assert drift((REPO / "README.md").read_text()) == []


def test_docs_layers_has_a_section_per_registered_reader():
    text = (REPO / "docs" / "layers.md").read_text()
    formats = text.split("\n## The formats\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^### `([^`]+)`$", formats, re.M) == list(readers.READERS)


@pytest.mark.parametrize("key", LISTED)
def test_an_entry_registered_and_not_listed_is_drift(key, monkeypatch):
    """Each registry with a toy entry added: the README's list of it no longer holds (the check can fail)."""
    registry = {
        "readers": readers.READERS, "families": FAMILIES, "methods": METHODS, "targets": targets.TARGETS,
        "parameterisations": PARAMETERISATIONS, "objectives": OBJECTIVES, "inits": inits.POLE_INITS,
        "readouts": inits.READOUTS,
    }[key]  # fmt: skip
    text = (REPO / "README.md").read_text()
    assert not any(p.startswith(f"{key}:") for p in drift(text))
    monkeypatch.setitem(registry, "toy-entry", object())
    assert any(p.startswith(f"{key}:") and "toy-entry" in p for p in drift(text))
    monkeypatch.undo()  # and a name listed but not registered
    listed = text.replace("<!-- /registry -->", "**`toy-entry`**<!-- /registry -->")
    assert any(p.startswith(f"{key}:") and "toy-entry" in p for p in drift(listed))
