rule theory:
    """Lower bound, the construction over the alpha grid (both readouts) and the best known, per K."""
    output:
        "results/theory/rho{rho}/S{S}.json",
    params:
        K=lambda w: " ".join(map(str, sbconfig.K_values(config, int(w.S)))),
        alphas=" ".join(map(str, config["theory"]["alphas"])),
        best_known=sbconfig.canonical(config["theory"]["best_known"]),
    log:
        "logs/theory/rho{rho}_S{S}.log",
    threads: 1
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=lambda w, attempt: 30 * attempt,
    conda:
        "../envs/shiftbench.yaml"
    shell:
        "{PY} -m shiftbench theory --S {wildcards.S} --K {params.K} --rho {wildcards.rho}"
        " --alphas {params.alphas} --best-known {params.best_known:q} --out {output} > {log} 2>&1"
