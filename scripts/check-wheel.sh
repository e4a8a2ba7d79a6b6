#!/usr/bin/env bash
# Installable anywhere: build a wheel of this checkout, install it (not editable, with its
# dependencies) into a fresh virtual environment outside the checkout, and use it from an empty
# directory, where nothing of the checkout can be read:
#   - `shiftbench --help` and `import shiftbench.train` (the config schema is package data);
#   - `shiftbench evaluate` of an npz layer at S = 250, K = 250, rho = 0 (complex poles, exact
#     objective), whose reference column must be the committed reference (package data);
#   - `shiftbench reference` of a small cell (a search with the schema's default options), and
#     `--save`, which an installed wheel refuses in one line (it writes into a source checkout).
# Run by hand: scripts/check-wheel.sh (PYTHON=python3.12 to pick the interpreter). CI runs it from
# .ci/run. pip's own cache is used as usual; torch==2.13.0 installs its CPU build from local disk.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/shiftbench-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# The source as git sees it (tracked and untracked files, nothing ignored), built in a copy: no
# build/ or stale egg-info of the checkout enters the wheel, and the build writes nothing there.
"$python" - "$repo" "$work/src" <<'EOF'
import shutil, subprocess, sys
from pathlib import Path

repo, dest = map(Path, sys.argv[1:])
names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       cwd=repo, capture_output=True, check=True).stdout.decode().split("\0")
for name in filter(None, names):
    if (repo / name).is_file():  # not a file deleted in the work tree
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, dest / name)
EOF

"$python" -m venv "$work/venv"
venv="$work/venv/bin"
"$venv/pip" wheel -q --no-deps -w "$work/dist" "$work/src"
wheel=("$work"/dist/shiftbench-*.whl)
"$venv/pip" install -q "${wheel[0]}"
echo "check-wheel: built and installed $(basename "${wheel[0]}") ($((SECONDS - started)) s)"

mkdir "$work/run"
cd "$work/run"
export PATH="$venv:$PATH"
unset PYTHONPATH
"$venv/python" - <<'EOF'
import shiftbench, shiftbench.train  # noqa: F401  (train reads the schema's defaults on import)
from pathlib import Path

assert "site-packages" in shiftbench.__file__, f"not the installed wheel: {shiftbench.__file__}"
print("check-wheel: imports shiftbench from", Path(shiftbench.__file__).parent)
EOF
shiftbench --help >/dev/null

# A layer at a cell with a committed reference: the construction's poles and their optimal readout.
python - <<'EOF'
import numpy as np
from shiftbench import theory

a = theory.construction(250, 250)[0]
np.savez("layer.npz", a=a, b=theory.optimal_readout(a, 250, 0.0))
EOF
shiftbench evaluate layer.npz --K 250 --rho 0 --out eval.csv >/dev/null 2>evaluate.log || { cat evaluate.log; exit 1; }
python - "$repo/shiftbench/references/complex_exact_rho0_S250_K250.json" <<'EOF'
import json, math, sys
import pandas as pd

(row,) = pd.read_csv("eval.csv").itertuples()
committed = json.loads(open(sys.argv[1]).read())["value"]
assert math.isfinite(row.reference) and row.reference == committed, (row.reference, committed)
assert 0 < row.recovered_optimal < 1, row.recovered_optimal
print(f"check-wheel: evaluate at S=K=250, rho=0: reference {row.reference:.6f} (the committed one),"
      f" recovered_optimal {row.recovered_optimal:.4f}")
EOF

# A reference search of a small cell, with the schema's default options.
cells='[[4, 8]]'
shiftbench reference --objective exact --rho 0 --cells "$cells" --out ref.json 2>reference.log \
    || { cat reference.log; exit 1; }
python - <<'EOF'
import json, math

(ref,) = json.loads(open("ref.json").read())["references"]
assert (ref["S"], ref["K"], ref["committed"]) == (4, 8, False) and 0 < ref["value"] < 1, ref
assert math.isfinite(ref["lower_bound"]) and ref["value"] >= ref["lower_bound"] - 1e-12, ref
print(f"check-wheel: reference S=4, K=8, rho=0 searched: {ref['value']:.6f} ({ref['n_starts']} starts)")
EOF
# --save writes into a source checkout; an installed wheel refuses it: one error line, status 2.
status=0
shiftbench reference --objective exact --rho 0 --cells "$cells" --save 2>save.log || status=$?
if [[ $status -ne 2 || $(grep -c ERROR save.log) -ne 1 ]] || grep -q Traceback save.log \
    || ! grep -q "not run from one" save.log; then
    echo "check-wheel: reference --save from the wheel: status $status, expected 2 and one error line:"
    cat save.log
    exit 1
fi
echo "check-wheel: ok ($((SECONDS - started)) s)"
