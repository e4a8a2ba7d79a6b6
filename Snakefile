# shiftbench: the memory of linear RNNs on the shift-K task.
# Thin on purpose: the science lives in the `shiftbench` package, the rules in workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the default study; a --configfile (e.g. configs/paper.yaml) replaces it instead of
# being merged into it, so its init variants are exactly those it lists. --config still overrides keys.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/aggregation.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/kernels.smk"
include: "workflow/rules/pruning.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        expand("results/tables/{table}.{ext}", table=TABLES, ext=["parquet", "csv"]),
        expand("reports/figures/{name}", name=FIGURES),
        "reports/figures/provenance.html",
        kernel_outputs(),
        PRUNING_OUTPUTS,
