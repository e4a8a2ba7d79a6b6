rule figures:
    """Every figure of shiftbench.outputs.FIGURES, with its caption and report category."""
    input:
        rules.aggregate.output.parquet,
    output:
        [figure(name) for name in FIGURES],
    log:
        "logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=sbconfig.canonical(config),
    shell:
        "shiftbench figures --tables results/tables --config {params.config:q} --outdir reports/figures > {log} 2>&1"


rule provenance:
    output:
        report("reports/figures/provenance.html", caption="../report/provenance.rst", category="6. Provenance"),
    log:
        "logs/provenance.log",
    benchmark:
        "results/benchmarks/provenance.tsv"
    localrule: True
    conda:
        "../envs/shiftbench.yaml"
    params:
        commit=git_commit(),
        config=sbconfig.canonical(config),
    shell:
        "shiftbench provenance --config {params.config:q} --commit {params.commit} --out {output} > {log} 2>&1"
