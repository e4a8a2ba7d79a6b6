# Helpers shared by the rules: config validation, the grid as file paths, and values by wildcard.
import re
import shlex
import subprocess

from shiftbench import config as sbconfig
from shiftbench import reference as sbreference
from shiftbench.layout import BASELINE, FAMILIES
from shiftbench.objectives import OBJECTIVES, STATIONARY
from shiftbench.outputs import FIGURES, KERNEL_FIGURES, KERNEL_TABLES, REPORT_TABLES, TABLES, stem
from shiftbench.signals import AR1
from shiftbench.storage import dataset_file

# JSON schema (types, ranges, unknown keys; fills in defaults), finite numbers and the cross-field
# rules, before any job.
try:
    sbconfig.validate_config(config)
except sbconfig.ConfigError as err:
    raise WorkflowError(f"Invalid config: {err}")

# The study's blocks by name: the main block, then those of `blocks`.
BLOCKS = {block.name: block for block in sbconfig.blocks(config)}
CELLS = sbconfig.all_cells(config)
# Wildcard text -> value. The text only names files; every job gets the value itself via params.
RHOS = {sbconfig.float_label(rho): rho for b in BLOCKS.values() for rho in b.grid["rho"]}
UNITS = [sbconfig.SHIFT, *config["targets"]]  # what a reference job is of: the shift's cells, or one target's
# Datasets: every sequence length of the units (the shift at each K, or a target) trained on an objective
# of stored sequences (sampled), at every rho.
SEQUENCE_BLOCKS = [b for b in BLOCKS.values() if any(OBJECTIVES[o].sequences for o in b.objectives)]
SAMPLED_CELLS = sorted({cell for b in SEQUENCE_BLOCKS for cell in b.cells()})  # of the shift: theory's windows
DATASET_RHOS = {sbconfig.float_label(rho): rho for b in SEQUENCE_BLOCKS for rho in b.grid["rho"]}
DATASET_LENGTHS = sorted(
    {sbconfig.unit_length(config, K, spec) for b in SEQUENCE_BLOCKS for S in b.grid["S"] for K, _, spec in b.units(S)}
)
WINDOW = {k: config["data"][k] for k in ("t_eval", "burn_in")}  # of the objectives of stored sequences
KERNEL_TARGETS = list(config["kernels"]["targets"])  # the memory kernels of the config's `kernels`


wildcard_constraints:
    block="|".join(map(re.escape, BLOCKS)),
    rho="|".join(map(re.escape, RHOS)),
    S=r"\d+",
    seed=r"\d+",
    objective="|".join(map(re.escape, OBJECTIVES)),
    family="|".join(map(re.escape, FAMILIES)),
    target="|".join(map(re.escape, KERNEL_TARGETS)) or "none",
    unit="|".join(map(re.escape, UNITS)),


def dataset(rho, length, split, seed, suffix=".npy"):
    """A dataset of sequences of ``length`` steps (or, with suffix=".json", its sidecar); rho and seed may be
    wildcard patterns."""
    return str(dataset_file(f"results/data/rho{rho}", length, split, seed).with_suffix(suffix))


def datasets_for(w, split):
    """The datasets of a training job: one per unit (K or target) of its block at its S (objectives of stored
    sequences only)."""
    if not OBJECTIVES[w.objective].sequences:
        return []
    units = BLOCKS[w.block].units(int(w.S))
    return [dataset(w.rho, sbconfig.unit_length(config, K, spec), split, w.seed) for K, _, spec in units]


def train_mem_mb(w):
    """Memory of a training job: its largest batched model (``config.batch_memory_mb``) plus 1 GB."""
    b, S = BLOCKS[w.block], int(w.S)
    return 1000 + max(sbconfig.batch_memory_mb(config, b, w.objective, S, K, spec) for K, _, spec in b.units(S))


def train_outputs():
    return [
        path
        for b in BLOCKS.values()
        for path in expand(
            "results/runs/{block}/{objective}/rho{rho}/S{S}/data{seed}.json",
            block=b.name,
            objective=b.objectives,
            rho=[sbconfig.float_label(rho) for rho in b.grid["rho"]],
            S=b.grid["S"],
            seed=config["data"]["seeds"],
        )
    ]


def long_outputs():
    """The long-budget runs (train.budget_factor, rule train_long) of every training job of a block that sets it."""
    return [
        path
        for b in BLOCKS.values()
        if b.train["budget_factor"] is not None
        for path in expand(
            "results/runs_long/{block}/{objective}/rho{rho}/S{S}/data{seed}.json",
            block=b.name,
            objective=b.objectives,
            rho=[sbconfig.float_label(rho) for rho in b.grid["rho"]],
            S=b.grid["S"],
            seed=config["data"]["seeds"],
        )
    ]


def theory_outputs():
    pairs = sorted({(sbconfig.float_label(rho), S) for rho, S, _ in CELLS})
    return [f"results/theory/rho{rho}/S{S}.json" for rho, S in pairs]


def reference_cells():
    """(family, objective, rho, S, K, target) of every reference the summary needs: the baseline family's
    stationary one of every cell of the shift (the stationary columns, and what the other families are set
    against), and that of each objective and pole family trained at each unit (the shift at K, or a target:
    K its lag scale)."""
    cells = {(BASELINE, STATIONARY, rho, S, K, sbconfig.SHIFT) for rho, S, K in CELLS}
    for b in BLOCKS.values():
        families = {config["inits"][v]["family"] for v in b.variants} | {BASELINE}
        cells |= {(f, o, *u) for f in families for o in [*b.objectives, STATIONARY] for u in b.unit_cells()}
    return sorted(cells)


def reference_outputs():
    jobs = sorted({(f, o, sbconfig.float_label(rho), unit) for f, o, rho, _, _, unit in reference_cells()})
    return [f"results/reference/{f}/{o}/rho{rho}/{unit}.json" for f, o, rho, unit in jobs]


def reference_job_cells(w):
    """[[S, K], ...] of one reference job: every cell of its (family, objective, rho, unit); [S, K, target id,
    spec] for a target (one job per target: their searches run in parallel)."""
    cells = [c for c in reference_cells() if c[:3] == (w.family, w.objective, RHOS[w.rho]) and c[5] == w.unit]
    return [[S, K] if tid == sbconfig.SHIFT else [S, K, tid, config["targets"][tid]] for *_, S, K, tid in cells]


def committed_references(w):
    """The committed references of a reference job's cells (its inputs: a changed file reruns it), the
    very files the job reads: the installed package's data (the checkout's own with pip install -e)."""
    window = WINDOW if OBJECTIVES[w.objective].sequences else None
    cells = [c for c in reference_job_cells(w) if len(c) == 2]  # committed references are the shift's
    keys = [sbreference.cell_key(w.objective, RHOS[w.rho], S, K, window, w.family) for S, K in cells]
    return [str(p) for p in map(sbreference.committed_file, keys) if p.is_file()]


def theory_Ks(w):
    return sorted({K for rho, S, K in CELLS if rho == RHOS[w.rho] and S == int(w.S)})


def theory_window(w):
    """--window with the window of the stored sequences where some block trains on them at this (rho, S)."""
    sampled = any(rho == RHOS[w.rho] and S == int(w.S) for rho, S, _ in SAMPLED_CELLS)
    return f"--window {shlex.quote(sbconfig.canonical(WINDOW))}" if sampled else ""


def figure(name):
    """A report figure of shiftbench.outputs (FIGURES, KERNEL_FIGURES) with its caption (paths relative to
    the .smk files)."""
    category = {**FIGURES, **KERNEL_FIGURES}[name]
    return report(f"reports/figures/{name}", caption=f"../report/{stem(name)}.rst", category=category)


# The memory kernels (config `kernels`): one job per target, every value through params.
(KERNEL_FIGURE,) = KERNEL_FIGURES


def kernel_job(w):
    k = config["kernels"]
    job = {"target": w.target, "spec": config["targets"][w.target], "S": k["S"], "rho": k["rho"], "inits": k["inits"],
           "seeds": k["seeds"], "reference": k["reference"]}  # fmt: skip
    return sbconfig.canonical(job)


def kernel_outputs():
    """The kernel tables and figure, where the config names kernel targets."""
    if not KERNEL_TARGETS:
        return []
    return [f"results/tables/{t}.csv" for t in KERNEL_TABLES] + [f"reports/figures/{KERNEL_FIGURE}"]


def table(name):
    """A csv table; those of REPORT_TABLES also go into the report."""
    path = f"results/tables/{name}.csv"
    if name in REPORT_TABLES:
        return report(path, caption="../report/tables.rst", category="5. Tables", labels={"table": name})
    return path


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=workflow.basedir)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=workflow.basedir,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"
