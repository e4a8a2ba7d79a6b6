# What each pole of the learned layers is worth (config `pruning`, docs/pruning.md): the field's
# per-mode pruning scores graded against the exact leave-one-out costs, on the runs of one block.
# Off unless pruning.block is set; the block is checked against the study before any job.
from shiftbench.outputs import PRUNING_TABLES

PRUNING = config["pruning"]
# The runs JSON of the pruning block, and the table where the config names a block.
PRUNING_RUNS = [path for path in train_outputs() if path.startswith(f"results/runs/{PRUNING['block']}/")]
PRUNING_OUTPUTS = [f"results/tables/{t}.csv" for t in PRUNING_TABLES] if PRUNING["block"] else []


rule pruning:
    """The pruning table: per (objective, method, init variant, target) and score, the mean Kendall tau against
    the exact leave-one-out costs and the excess loss of the sublayers each score keeps (shiftbench.pruning)."""
    input:
        PRUNING_RUNS,
    output:
        "results/tables/pruning.csv",
    log:
        "logs/pruning.log",
    benchmark:
        "results/benchmarks/pruning.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        options=sbconfig.canonical({"block": PRUNING["block"], "scores": PRUNING["scores"]}),
    shell:
        "shiftbench pruning --runs {input} --options {params.options:q} --out {output} > {log} 2>&1"
