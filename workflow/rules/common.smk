# Helpers shared by the rules: config validation, the grid as file paths, and values by wildcard.
import subprocess

from shiftbench import config as sbconfig
from shiftbench.outputs import FIGURES, REPORT_TABLES, TABLES, stem
from shiftbench.storage import dataset_file

# JSON schema (types, ranges, unknown keys; fills in defaults), finite numbers and the cross-field
# rules, before any job.
try:
    sbconfig.validate_config(config)
except sbconfig.ConfigError as err:
    raise WorkflowError(f"Invalid config: {err}")

# Wildcard text -> value. The text only names files; every job gets the value itself via params.
RHOS = {sbconfig.rho_label(r): r for r in config["grid"]["rho"]}
ALL_K = sorted({K for S in config["grid"]["S"] for K in sbconfig.K_values(config, S)})


wildcard_constraints:
    rho="|".join(RHOS),
    S=r"\d+",
    seed=r"\d+",
    objective="|".join(config["objectives"]),
    variant="|".join(config["inits"]),


def dataset(rho, K, split, seed, suffix=".npy"):
    """A dataset (or, with suffix=".json", its sidecar); rho and seed may be wildcard patterns."""
    path = dataset_file(f"results/data/rho{rho}", sbconfig.sequence_length(config, K), split, seed)
    return str(path.with_suffix(suffix))


def datasets_for(w, split):
    return [dataset(w.rho, K, split, w.seed) for K in sbconfig.K_values(config, int(w.S))]


def train_outputs():
    return expand(
        "results/runs/{objective}/rho{rho}/S{S}/{variant}_data{seed}.json",
        objective=config["objectives"],
        rho=RHOS,
        S=config["grid"]["S"],
        variant=config["inits"],
        seed=config["data"]["seeds"],
    )


def theory_outputs():
    return expand("results/theory/rho{rho}.json", rho=RHOS)


def figure(name):
    """A report figure of shiftbench.outputs.FIGURES with its caption (paths relative to the .smk files)."""
    return report(f"reports/figures/{name}", caption=f"../report/{stem(name)}.rst", category=FIGURES[name])


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
