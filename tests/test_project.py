"""The project's own house rules: one definition of each fact, no import cycle, declared dependencies,
nothing that points outside the repository, and CI that cannot skip what it must run."""

import ast
import dataclasses
import re
import subprocess
import sys
import tomllib

import pytest
from conftest import REPO, cannot_run

from shiftbench import config, inits, layout, outputs, plots, train

# -- one definition of each fact -----------------------------------------------------------------

SCHEMA_TYPES = {"integer": "int", "number": "float", "boolean": "bool", "string": "str"}


def annotation(prop: dict) -> str:
    """The Python annotation a schema property maps to (enums are strings, nullable adds | None)."""
    if "enum" in prop:
        return "str"
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    return " | ".join(SCHEMA_TYPES.get(t, "None") for t in types)


def test_run_spec_fields_are_the_schema_train_options():
    """Names, types and defaults of every train option agree between the schema and RunSpec."""
    fields = {f.name: f for f in dataclasses.fields(train.RunSpec)}
    sweeps = {"seeds": "seed", "lr": "lr", "methods": "method"}  # a list in the config, one value per run
    for key, prop in config.schema_node("train")["properties"].items():
        name = sweeps.get(key, key)
        assert name in fields, f"train.{key} has no RunSpec field"
        expected = annotation(prop["items"] if key in sweeps else prop)
        assert fields[name].type == expected, (key, fields[name].type, expected)
        if key not in sweeps:
            assert fields[name].default == prop["default"], key
    others = {"S", "K", "rho", "init", "readout", "init_params", "family", "objective", "t_eval", "burn_in"}
    assert set(fields) == {sweeps.get(k, k) for k in config.schema_node("train")["properties"]} | others
    assert fields["t_eval"].default == config.defaults("data")["t_eval"]
    assert fields["burn_in"].default == config.defaults("data")["burn_in"]
    assert fields["readout"].default == config.defaults("inits", "any-variant")["readout"]
    assert fields["family"].default == config.defaults("inits", "any-variant")["family"]


@pytest.mark.parametrize(
    "path,registry",
    [
        (("inits", "v", "init"), set(inits.POLE_INITS)),
        (("inits", "v", "readout"), set(inits.READOUTS)),
        (("inits", "v", "family"), set(layout.FAMILIES)),
        (("train", "parameterisation"), set(layout.PARAMETERISATIONS)),
        (("objectives", 0), set(train.OBJECTIVES)),
        (("train", "methods", 0), set(train.METHODS)),
        (("train", "schedule"), set(train.SCHEDULES)),
        (("train", "device"), set(train.DEVICES)),
    ],
)
def test_schema_enums_are_the_registries(path, registry):
    assert set(config.schema_node(*path)["enum"]) == registry


def test_every_figure_has_its_drawing_function_and_caption():
    for name in outputs.FIGURES:
        assert callable(getattr(plots, outputs.stem(name))), name
        assert (REPO / "workflow" / "report" / f"{outputs.stem(name)}.rst").exists(), name


# -- layout ------------------------------------------------------------------------------------------


def package_imports():
    """{module: {shiftbench modules it imports, at any depth in the file}}."""
    graph = {}
    for path in (REPO / "shiftbench").rglob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shiftbench."):
                deps.add(node.module.split(".")[1])
        graph[path.stem] = deps - {path.stem}
    return graph


def test_no_import_cycle():
    graph = package_imports()

    def visit(module, stack):
        assert module not in stack, f"import cycle: {' -> '.join([*stack, module])}"
        for dep in graph.get(module, ()):
            visit(dep, [*stack, module])

    for module in graph:
        visit(module, [])


def test_cli_only_parses_arguments():
    """Every function of cli.py but main is an adapter of at most two statements into the library."""
    tree = ast.parse((REPO / "shiftbench" / "cli.py").read_text())
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name != "main"):
        body = [n for n in fn.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
        assert len(body) <= 2, f"cli.{fn.name} holds logic; it belongs in the library"


# -- declarations ------------------------------------------------------------------------------------

IMPORT_NAMES = {"pyyaml": "yaml"}
NOT_IMPORTED = {"pyarrow"}  # pandas' parquet engine: used, never imported by name


def third_party_imports(paths):
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"shiftbench", "__future__"}


def test_dependencies_are_exactly_what_the_package_imports():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[\[<>=!~ ]", d)[0].lower() for d in declared}
    imported = third_party_imports((REPO / "shiftbench").glob("*.py"))
    assert {IMPORT_NAMES.get(n, n) for n in names - NOT_IMPORTED} == imported


# -- standing on its own -----------------------------------------------------------------------------

OUTSIDE = [
    r"\.\./" + "shared",
    "shared/" + "notes",
    r"/work" + "/",
    r"/root" + "/",
    r"\bissues? #?" + r"\d",
    r"\(" + "notes",
]


def test_nothing_points_outside_the_repository():
    """No path on some machine, no issue tracker, no file outside the repository (docs/ holds the theory)."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        path = REPO / name
        if path.suffix in {".png", ".npy", ".parquet"} or name.startswith(".ci/") or not path.is_file():
            continue
        for i, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            hits += [f"{name}:{i}: {line.strip()}" for pattern in OUTSIDE if re.search(pattern, line)]
    assert not hits, "\n".join(hits)


def test_docs_hold_the_sections_the_code_cites():
    docs = (REPO / "docs" / "theory.md").read_text()
    sections = set(re.findall(r"^#+ (\d+(?:\.\d+)?)\b", docs, flags=re.M))
    for path in (REPO / "shiftbench").rglob("*.py"):
        for cited in re.findall(r"theory\.md section (\d+(?:\.\d+)?)", path.read_text()):
            assert cited in sections, f"{path.name} cites docs/theory.md section {cited}, which does not exist"


# -- CI cannot go green by skipping ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "True", "yes", "on"])
def test_a_test_that_cannot_run_fails_under_any_truthy_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception):
        cannot_run("no cluster here")


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_a_test_that_cannot_run_skips_outside_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception):
        cannot_run("no cluster here")
