rule aggregate:
    """The five tables, checked: no learned stationary loss below a rigorous lower bound."""
    input:
        runs=train_outputs(),
        theory=theory_outputs(),
    output:
        parquet=expand("results/tables/{table}.parquet", table=TABLES),
        csv=[
            report(f"results/tables/{t}.csv", caption="../report/tables.rst", category="5. Tables", labels={"table": t})
            if t in ("summary", "theory")
            else f"results/tables/{t}.csv"
            for t in TABLES
        ],
    log:
        "logs/aggregate.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/shiftbench.yaml"
    shell:
        "shiftbench aggregate --runs {input.runs} --theory {input.theory} --outdir results/tables > {log} 2>&1"
