rule theory:
    """Per grid cell of one rho: lower bound, construction over the alpha grid (both readouts), best known."""
    output:
        "results/theory/rho{rho}.json",
    log:
        "logs/theory/rho{rho}.log",
    benchmark:
        "results/benchmarks/theory/rho{rho}.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=lambda w, attempt: 60 * attempt,
    params:
        rho=lambda w: RHOS[w.rho],
        cells=" ".join(f"{S}:{K}" for S in config["grid"]["S"] for K in sbconfig.K_values(config, S)),
        alphas=" ".join(map(str, config["theory"]["alphas"])),
        best_known=sbconfig.canonical(config["theory"]["best_known"]),
    shell:
        "shiftbench theory --rho {params.rho} --cells {params.cells}"
        " --alphas {params.alphas} --best-known {params.best_known:q} --out {output} > {log} 2>&1"
