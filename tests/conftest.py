import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from shiftbench.outputs import TABLES

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "configs" / "tiny.yaml"


def in_ci() -> bool:
    """CI is set to a truthy value: anything but empty, 0, false, no or off (in any case)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}


def cannot_run(reason):
    """Skip on a developer machine; in CI a test that cannot run is a failure, never a silent skip."""
    if in_ci():
        pytest.fail(f"CI={os.environ['CI']} but this test cannot run: {reason}")
    pytest.skip(reason)


def snakemake_env():
    """The test interpreter's bin first on PATH, so jobs find `shiftbench` and `snakemake`."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def snakemake(workdir, *args, configfile=TINY, timeout=900, check=True):
    """Run the real Snakemake on the repo's Snakefile in ``workdir`` (with the tiny config by default)."""
    exe = shutil.which("snakemake", path=snakemake_env()["PATH"])
    cmd = ["timeout", "-k", "30", str(timeout), exe, "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--configfile", str(configfile), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=snakemake_env())
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def read_tables(workdir):
    return {t: pd.read_parquet(Path(workdir) / "results" / "tables" / f"{t}.parquet") for t in TABLES}


def assert_tables_equal(a, b, rtol=0.0):
    """Identical tables apart from timing columns (wall_time); floats to rtol (0: bit-identical)."""
    for name in TABLES:
        x, y = (
            a[name].drop(columns=["wall_time"], errors="ignore"),
            b[name].drop(columns=["wall_time"], errors="ignore"),
        )
        pd.testing.assert_frame_equal(x, y, check_exact=rtol == 0, rtol=rtol or 1e-5, obj=name)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One complete run of the tiny study (the reference for the other end-to-end tests)."""
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture
def scratch_registries():
    """Every registry as it is, restored in place after the test: a test may register toy entries."""
    from shiftbench import config, inits, layout, methods, objectives, targets

    registries = [
        targets.TARGETS,
        layout.FAMILIES,
        layout.PARAMETERISATIONS,
        methods.METHODS,
        objectives.OBJECTIVES,
        inits.POLE_INITS,
        inits.FAMILIES,
        inits.DELTA_INITS,
        inits.TABULATED,
        inits.READOUTS,
    ]
    saved = [r.copy() for r in registries]
    yield
    for registry, copy in zip(registries, saved):
        registry.clear()
        registry.update(copy)
    config.schema.cache_clear()
