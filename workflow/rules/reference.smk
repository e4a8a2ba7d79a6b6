rule reference:
    """The reference of every K of one (pole family, objective, rho, S): an independent search over poles that
    depends on nothing learned. A committed reference (shiftbench/references/) is loaded and
    re-verified from its poles instead; a file that does not match its poles fails the job."""
    input:
        committed=committed_references,
    output:
        "results/reference/{family}/{objective}/rho{rho}/S{S}.json",
    log:
        "logs/reference/{family}/{objective}/rho{rho}/S{S}.log",
    benchmark:
        "results/benchmarks/reference/{family}/{objective}/rho{rho}/S{S}.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=lambda w, attempt: 60 * attempt,
    params:
        rho=lambda w: RHOS[w.rho],
        S=lambda w: int(w.S),
        Ks=lambda w: " ".join(map(str, reference_Ks(w))),
        options=sbconfig.canonical(config["theory"]["reference"]),
        window=lambda w: f"--window {shlex.quote(sbconfig.canonical(WINDOW))}" if w.objective == "sampled" else "",
    shell:
        "shiftbench reference --family {wildcards.family} --objective {wildcards.objective} --rho {params.rho} --S {params.S} --Ks {params.Ks}"
        " --options {params.options:q} {params.window} --out {output} > {log} 2>&1"
