# Helpers shared by the rules: config validation and the grid, as file paths.
import json
import subprocess

from shiftbench import config as sbconfig
from shiftbench.storage import dataset_file

# JSON schema (types, ranges, unknown keys; fills in defaults) plus the cross-field rules, before any job.
try:
    sbconfig.validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
except sbconfig.ConfigError as err:
    raise WorkflowError(f"Invalid config: {err}")

TABLES = ["runs", "curves", "params", "theory", "summary"]
FIGURES = [
    "claims.html",
    "fig1_kernels.png",
    "fig2_frequency_window.png",
    "fig3_white_noise_terms.png",
    "fig4_learning_curves.png",
    "fig5_spectral_density.png",
    "fig6_loss_vs_S_over_K.png",
    "fig7_loss_vs_smoothness.png",
    "fig8_width_vs_K_over_S.png",
]
RHOS = {f"{r:g}": r for r in config["grid"]["rho"]}  # wildcard text -> value


wildcard_constraints:
    rho=r"[0-9.e+-]+",
    S=r"\d+",
    N=r"\d+",
    seed=r"\d+",
    split="train|test",
    objective="sampled|exact",
    variant=r"[A-Za-z0-9_.-]+",


ALL_K = sorted({K for S in config["grid"]["S"] for K in sbconfig.K_values(config, S)})


def dataset(rho, K, split, seed, suffix=".npy"):
    """A dataset (or, with suffix=".json", its sidecar); rho and seed may be wildcard patterns."""
    path = dataset_file(f"results/data/rho{rho}", sbconfig.sequence_length(config, K), split, seed)
    return str(path.with_suffix(suffix))


def datasets_for(w, split):
    return [dataset(w.rho, K, split, w.seed) for K in sbconfig.K_values(config, int(w.S))]


def train_outputs():
    return expand(
        "results/runs/{objective}/rho{rho}/S{S}/{variant}_data{seed}.json",
        objective=config["objectives"], rho=RHOS, S=config["grid"]["S"],
        variant=config["inits"], seed=config["data"]["seeds"],
    )


def theory_outputs():
    return expand("results/theory/rho{rho}.json", rho=RHOS)


def figure(name, caption, category):
    """A report figure with its caption (paths relative to the .smk files)."""
    return report(f"reports/figures/{name}", caption=f"../report/{caption}.rst", category=category)


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=workflow.basedir)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=workflow.basedir).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"
