rule reference:
    """The reference of every (S, K) cell of one (pole family, objective, rho) and unit (the shift, or one target):
    an independent search over poles that depends on nothing learned. A committed reference (shiftbench/references/) is loaded and
    re-verified from its poles instead; a file that does not match its poles fails the job."""
    input:
        committed=committed_references,
    output:
        "results/reference/{family}/{objective}/rho{rho}/{unit}.json",
    log:
        "logs/reference/{family}/{objective}/rho{rho}/{unit}.log",
    benchmark:
        "results/benchmarks/reference/{family}/{objective}/rho{rho}/{unit}.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=lambda w, attempt: 60 * attempt,
    params:
        rho=lambda w: RHOS[w.rho],
        cells=lambda w: sbconfig.canonical(reference_job_cells(w)),
        options=sbconfig.canonical(config["theory"]["reference"]),
        window=lambda w: (
            f"--window {shlex.quote(sbconfig.canonical(WINDOW))}" if OBJECTIVES[w.objective].sequences else ""
        ),
    shell:
        "shiftbench reference --family {wildcards.family} --objective {wildcards.objective} --rho {params.rho}"
        " --cells {params.cells:q}"
        " --options {params.options:q} {params.window} --out {output} > {log} 2>&1"
