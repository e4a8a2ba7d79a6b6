"""The extension recipes run as written: docs/extending.md (an init, a pole family and a training
method, each one registry entry plus its own code) and the README's init example, executed from the
Markdown itself."""

import re

from conftest import REPO

from shiftbench import config, inits

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    """The ```python code blocks of Markdown text, in order."""
    return FENCE.findall(text)


def test_docs_extending_runs_as_written(scratch_registries):
    blocks = python_blocks((REPO / "docs" / "extending.md").read_text())
    assert len(blocks) >= 4  # an init, a family, a method, and the check that they run
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/extending.md", "exec"), namespace)
    assert namespace["record"]["status"] == "ok"
    assert {"my-init", "signed-ladder"} <= set(inits.POLE_INITS)


def test_readme_init_example_needs_no_schema_edit(scratch_registries):
    section = (REPO / "README.md").read_text().split("## Extending", 1)[1].split("\n## ", 1)[0]
    (block,) = python_blocks(section)
    exec(compile(block, "README.md", "exec"), {})
    cfg = config.load_config(
        {"grid": {"S": [4], "K": [2], "rho": [0.0]}, "inits": {"mine": {"init": "my-init", "params": {"spread": 2}}}}
    )
    assert cfg["inits"]["mine"]["readout"] == "optimal"
    assert "my-init (spread=1)" in config.schema_node("inits", "v", "params")["description"]
