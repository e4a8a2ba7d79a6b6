"""A normal training run prints no library warning into its log.

Each case runs in a fresh interpreter: torch prints some warnings once per process (TORCH_WARN_ONCE), so
an earlier test in the same process could hide one. The cases are those where a layout has an empty
parameter tensor (a torch gradient of size 0 has stride 0 and breaks torch's gradient layout contract
when it accumulates): the complex family at even S has no real pole (nu_real and b_real of size 0),
the real family has no pair (nu, theta, b_re, b_im of size 0), under both parameterisations.
"""

import subprocess
import sys

import pytest

CASES = [  # (family, init, S, method, parameterisation)
    ("complex", "lru-ring", 6, "projected", "exp-exp"),
    ("complex", "lru-ring", 6, "reseed", "exp-exp"),
    ("complex", "lru-ring", 6, "joint", "exp-exp"),
    ("real", "s4d-real", 3, "projected", "zoh"),
    ("real", "s4d-real", 3, "projected", "exp-exp"),
    ("real", "s4d-real", 3, "joint", "zoh"),
]

CODE = """
import sys
from shiftbench.train import RunSpec, train_run
family, init, S, method, parameterisation = sys.argv[1:]
spec = RunSpec(S=int(S), K=6, rho=0.7, lr=0.01, steps=8, seed=0, init=init, family=family, readout="random",
               objective="exact", method=method, parameterisation=parameterisation)
for _ in range(2):  # a second run in the same process: what accumulates across runs shows too
    record = train_run(spec)
    assert record["status"] == "ok", record
"""


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_a_training_run_prints_no_warning(case):
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", CODE, *map(str, case)],
        capture_output=True,
        text=True,
        env={"OMP_NUM_THREADS": "1", "PATH": ""},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warning" not in proc.stderr and "warn" not in proc.stderr.lower(), proc.stderr[-3000:]


@pytest.mark.slow
def test_no_library_warning_in_the_logs_of_the_tiny_study(tiny_run):
    """Every job's log of the tiny study (the session's end-to-end run) is free of Python and torch warnings."""
    logs = sorted((tiny_run / "logs").rglob("*.log"))
    assert logs
    warned = [
        f"{log.relative_to(tiny_run)}: {line.strip()}"
        for log in logs
        for line in log.read_text(errors="replace").splitlines()
        if "Warning" in line or "warnings.warn" in line
    ]
    assert not warned, "\n".join(warned[:20])
