rule aggregate:
    """The tables of shiftbench.outputs.TABLES, checked: no learned stationary loss below a rigorous lower bound.
    The references are inputs, never outputs: nothing learned changes them."""
    input:
        runs=train_outputs() + long_outputs(),  # the long-budget runs' files say so (budget: long)
        theory=theory_outputs(),
        references=reference_outputs(),
    output:
        parquet=expand("results/tables/{table}.parquet", table=TABLES),
        csv=[table(t) for t in TABLES],
    log:
        "logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "shiftbench aggregate --runs {input.runs} --theory {input.theory} --references {input.references}"
        " --outdir results/tables > {log} 2>&1"
