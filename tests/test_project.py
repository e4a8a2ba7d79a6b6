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

from shiftbench import config, inits, layout, methods, objectives, outputs, plots, train

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
    others = {"S", "K", "target_spec", "rho", "init", "readout", "init_params", "family", "objective", "t_eval"}
    others.add("burn_in")
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
        (("objectives", 0), set(objectives.OBJECTIVES)),
        (("train", "methods", 0), set(methods.METHODS)),
        (("train", "schedule"), set(train.SCHEDULES)),
        (("train", "device"), set(train.DEVICES)),
    ],
)
def test_schema_enums_are_the_registries(path, registry):
    """Schedules and devices are enums of the schema file; the others are filled from their registries
    (tests/test_registries.py)."""
    assert set(config.schema_node(*path)["enum"]) == registry


def test_every_figure_has_its_drawing_function_and_caption():
    for name in outputs.FIGURES:
        assert callable(getattr(plots, outputs.stem(name))), name
        assert (REPO / "workflow" / "report" / f"{outputs.stem(name)}.rst").exists(), name


# -- layout ------------------------------------------------------------------------------------------


PACKAGE = REPO / "shiftbench"


def module_name(path, package=PACKAGE) -> str:
    """The dotted name of a file of the package: shiftbench.readers.npz, shiftbench.readers (its __init__)."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(package=PACKAGE):
    """{module: {modules of the package it imports, at any depth in the file}}, every module keyed by its
    dotted name, subpackages included. ``from X import y`` depends on X.y where that is a module, else on
    X (a name defined in X); relative imports are resolved from the importing module's package."""
    paths = sorted(package.rglob("*.py"))
    modules = {module_name(p, package) for p in paths}
    graph = {}
    for path in paths:
        name = module_name(path, package)
        here = name if path.stem == "__init__" else name.rpartition(".")[0]  # the package of this file
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.split(".")[0] == "shiftbench"}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[: len(here.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").split(".")[0] == "shiftbench":
                    source = node.module
                else:
                    continue
                for alias in node.names:
                    deps.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
        unknown = deps - modules
        assert not unknown, f"{name} imports {sorted(unknown)}, which is no module of the package"
        graph[name] = deps - {name}
    return graph


def test_import_graph_sees_every_module_subpackages_included():
    graph = package_imports()
    assert set(graph) == {module_name(p) for p in PACKAGE.rglob("*.py")}
    assert {"shiftbench.readers", "shiftbench.readers.npz", "shiftbench.formulas"} <= set(graph)
    assert "shiftbench.theory" in graph["shiftbench.readers.layer"]  # from ..theory import kernel
    assert "shiftbench.readers.layer" in graph["shiftbench.readers.npz"]  # from .layer import ...
    assert "shiftbench.readers" in graph["shiftbench.evaluate"]  # from .readers import Layer, LayerError


def find_cycle(graph):
    """An import cycle of the graph as a list of modules (first = last), or None."""

    def visit(module, stack):
        if module in stack:
            return [*stack[stack.index(module) :], module]
        for dep in sorted(graph.get(module, ())):
            if cycle := visit(dep, [*stack, module]):
                return cycle
        return None

    return next((c for m in sorted(graph) if (c := visit(m, []))), None)


def test_no_import_cycle():
    cycle = find_cycle(package_imports())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_import_graph_finds_a_cycle_inside_a_subpackage(tmp_path):
    """The cycle test's own check: a cycle between two modules of a subpackage is seen."""
    (tmp_path / "shiftbench" / "sub").mkdir(parents=True)
    (tmp_path / "shiftbench" / "__init__.py").write_text("")
    (tmp_path / "shiftbench" / "sub" / "__init__.py").write_text("")
    (tmp_path / "shiftbench" / "sub" / "a.py").write_text("from .b import f\n")
    (tmp_path / "shiftbench" / "sub" / "b.py").write_text("from .. import top\nfrom . import a\n")
    (tmp_path / "shiftbench" / "top.py").write_text("")
    graph = package_imports(tmp_path / "shiftbench")
    assert graph["shiftbench.sub.a"] == {"shiftbench.sub.b"}
    assert graph["shiftbench.sub.b"] == {"shiftbench.top", "shiftbench.sub.a"}
    assert find_cycle(graph) == ["shiftbench.sub.a", "shiftbench.sub.b", "shiftbench.sub.a"]


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
    imported = third_party_imports((REPO / "shiftbench").rglob("*.py"))  # subpackages (readers/) included
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
