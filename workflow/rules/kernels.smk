rule kernels:
    """The memory kernels' outputs alone: snakemake --configfile config.yaml configs/kernels.yaml kernels"""
    input:
        kernel_outputs(),


rule kernel:
    """One memory kernel of the config's `kernels` section (shiftbench.kernels): the reference of each pole
    family at every (S, rho) and the score of every pole-placement rule at initialisation. No training."""
    output:
        "results/kernels/{target}.json",
    log:
        "logs/kernels/{target}.log",
    benchmark:
        "results/benchmarks/kernels/{target}.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=lambda w, attempt: 60 * attempt,
    params:
        job=kernel_job,
    shell:
        "shiftbench kernel --job {params.job:q} --out {output} > {log} 2>&1"


rule kernel_report:
    """The kernel tables (scores at initialisation, references, claims) and their figure."""
    input:
        expand("results/kernels/{target}.json", target=KERNEL_TARGETS),
    output:
        csv=[table(t) for t in KERNEL_TABLES],
        figure=figure(KERNEL_FIGURE),
    log:
        "logs/kernel_report.log",
    benchmark:
        "results/benchmarks/kernel_report.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=sbconfig.canonical(config),
    shell:
        "shiftbench kernel-report --jobs {input} --config {params.config:q} --outdir results/tables"
        " --figure {output.figure} > {log} 2>&1"
