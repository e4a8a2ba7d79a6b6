"""What the package reads at run time is package data: the config schema and the committed references.

Each is declared in pyproject.toml, read with importlib.resources, and a missing or broken file is one
line naming it (status 2 on the command line), never a traceback. scripts/check-wheel.sh checks the
same from a wheel installed outside the checkout.
"""

import fnmatch
import json
import logging
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from conftest import REPO

from shiftbench import cli, config, reference, theory

# -- declared and defined once -------------------------------------------------------------------------


def test_every_data_file_of_the_package_is_declared_package_data():
    """Every file of shiftbench/ that is not Python lies under a package-data glob of pyproject.toml."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = subprocess.run(["git", "ls-files", "shiftbench"], cwd=REPO, capture_output=True, text=True, check=True)
    data = [f.removeprefix("shiftbench/") for f in files.stdout.split() if not f.endswith(".py")]
    assert any(f.startswith("schemas/") for f in data) and any(f.startswith("references/") for f in data)
    undeclared = [f for f in data if not any(fnmatch.fnmatch(f, g) for g in declared["shiftbench"])]
    assert not undeclared, f"not package data in pyproject.toml: {undeclared}"


def test_the_schema_is_one_file_inside_the_package():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert [f for f in files if f.endswith("config.schema.yaml")] == ["shiftbench/schemas/config.schema.yaml"]
    assert config.SCHEMA.is_file() and config.schema()["properties"]


# -- a broken schema -------------------------------------------------------------------------------------

BROKEN_SCHEMAS = {
    "missing": None,
    "not yaml": "properties: {train: [unclosed\n",
    "not a mapping": "- just\n- a list\n",
    "truncated": "$schema: x\n",
    "binary": b"\xff\xfe\x00garbage",
}


@pytest.fixture
def broken_schema(request, tmp_path, monkeypatch):
    """config.SCHEMA pointed at a broken copy (the schema's cache cleared before and after)."""
    path = tmp_path / "config.schema.yaml"
    content = BROKEN_SCHEMAS[request.param]
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    monkeypatch.setattr(config, "SCHEMA", path)
    config.schema.cache_clear()
    yield path
    config.schema.cache_clear()


def one_error_line(argv, caplog, capsys) -> str:
    """Run the command line: status 2, exactly one error line and no traceback; that line."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="shiftbench"):
        assert cli.main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0], caplog.text
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return errors[0]


@pytest.mark.parametrize("broken_schema", list(BROKEN_SCHEMAS), indirect=True)
def test_a_broken_schema_is_one_line_naming_it(broken_schema, caplog, capsys):
    with pytest.raises(config.ConfigError) as err:
        config.defaults("train")
    assert str(broken_schema) in str(err.value) and "\n" not in str(err.value)
    # a job that needs the schema's defaults (here the search options of a reference job)
    line = one_error_line(["reference", "--objective", "exact", "--rho", "0", "--cells", "[[3, 6]]"], caplog, capsys)
    assert str(broken_schema) in line and "not a readable config schema" in line
    # and the help needs no schema
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0


@pytest.mark.parametrize("broken_schema", ["not a mapping"], indirect=True)
def test_a_config_is_not_validated_against_a_broken_schema(broken_schema, tmp_path):
    with pytest.raises(config.ConfigError, match="not a readable config schema"):
        config.load_config(REPO / "configs" / "tiny.yaml")
    # valid YAML, but no JSON schema: refused by the meta-schema, naming the file
    broken_schema.write_text("properties:\n  train:\n    type: 5\n")
    config.schema.cache_clear()
    with pytest.raises(config.ConfigError) as err:
        config.load_config(REPO / "configs" / "tiny.yaml")
    assert str(broken_schema) in str(err.value) and "\n" not in str(err.value)


def test_a_broken_schema_read_on_import_is_one_line_on_stderr(tmp_path):
    """The real command line in its own process: `train` imports shiftbench.train, which reads the
    schema's defaults on import; stderr is exactly one line naming the file, the status 2."""
    broken = tmp_path / "config.schema.yaml"
    broken.write_text("properties: [\n")
    code = (
        "import pathlib, sys\n"
        "from shiftbench import cli, config\n"
        "config.SCHEMA = pathlib.Path(sys.argv[1])\n"
        "sys.exit(cli.main(sys.argv[2:]))\n"
    )
    argv = ["train", "--job", "{}", "--out", str(tmp_path / "runs.json")]
    proc = subprocess.run([sys.executable, "-c", code, str(broken), *argv], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(broken) in lines[0] and "not a readable config schema" in lines[0], proc.stderr


# -- a broken committed reference --------------------------------------------------------------------------

S = K = 250  # a cell with a committed reference (complex family, exact objective, rho = 0)
KEY = reference.cell_key("exact", 0.0, S, K)


@pytest.fixture
def committed(tmp_path, monkeypatch):
    """reference.committed_dir pointed at a copy of the committed reference of the cell (S, K, rho = 0)."""
    folder = tmp_path / "references"
    folder.mkdir()
    (folder / f"{KEY}.json").write_text(reference.committed_file(KEY).read_text())
    monkeypatch.setattr(reference, "committed_dir", lambda: folder)
    return folder / f"{KEY}.json"


def corrupt(text: str, how: str) -> str:
    ref = json.loads(text)
    if how == "truncated":
        return text[: len(text) // 2]
    if how == "value changed":
        ref["value"] += 1e-6
    elif how == "poles not numbers":
        ref["poles"] = "one two three"
    elif how == "no poles":
        del ref["poles"]
    elif how == "another cell":
        ref["K"] = 2 * K
    return json.dumps(ref)


@pytest.fixture(scope="module")
def layer_file(tmp_path_factory):
    a = theory.construction(S, K)[0]
    path = tmp_path_factory.mktemp("layer") / "layer.npz"
    np.savez(path, a=a, b=theory.optimal_readout(a, K, 0.0))
    return str(path)


def test_the_committed_reference_is_read_from_the_package_data(committed, layer_file, capsys):
    """The copy is what is read: the monkeypatch reaches lookup and the command line."""
    assert reference.lookup(S, K, 0.0)["value"] == json.loads(committed.read_text())["value"]
    assert cli.main(["evaluate", layer_file, "--K", str(K), "--rho", "0"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("how", ["truncated", "value changed", "poles not numbers", "no poles", "another cell"])
def test_a_broken_committed_reference_is_one_line_naming_it(committed, how, layer_file, caplog, capsys):
    committed.write_text(corrupt(committed.read_text(), how))
    with pytest.raises(reference.InvalidReference) as err:
        reference.lookup(S, K, 0.0)
    assert str(committed) in str(err.value) and "\n" not in str(err.value)
    line = one_error_line(["evaluate", layer_file, "--K", str(K), "--rho", "0"], caplog, capsys)
    assert str(committed) in line


def test_missing_committed_references_are_one_line_naming_the_folder(tmp_path, monkeypatch, layer_file, caplog, capsys):
    """No references folder at all (package data left out of an installation): not silently no reference."""
    missing = tmp_path / "site-packages" / "shiftbench" / "references"
    monkeypatch.setattr(reference, "committed_dir", lambda: missing)
    with pytest.raises(reference.InvalidReference, match="missing from this shiftbench installation"):
        reference.lookup(S, K, 0.0)
    line = one_error_line(["evaluate", layer_file, "--K", str(K), "--rho", "0"], caplog, capsys)
    assert str(missing) in line


def test_save_writes_into_the_checkout_and_is_refused_elsewhere(monkeypatch, tmp_path):
    """``reference --save`` (a developer action) writes the source tree's shiftbench/references/; an
    installed copy of the package (no pyproject.toml beside it) refuses to commit into itself."""
    assert reference.committed_path(KEY) == REPO / "shiftbench" / "references" / f"{KEY}.json"
    installed = tmp_path / "site-packages" / "shiftbench"
    installed.mkdir(parents=True)
    monkeypatch.setattr(reference, "__file__", str(installed / "reference.py"))
    with pytest.raises(ValueError, match="not run from one"):
        reference.committed_path(KEY)
